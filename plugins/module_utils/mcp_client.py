# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Model Context Protocol client over the Streamable HTTP transport.

Enough of MCP to probe a server: ``initialize`` (version negotiation), the
``notifications/initialized`` notification, ``tools/list`` with pagination, and closing the
session with HTTP DELETE. Responses may be ``application/json`` or ``text/event-stream`` (SSE);
the ``Mcp-Session-Id`` the server assigns is sent back on every later request together with the
``MCP-Protocol-Version`` header. The bearer token, when given, is never part of an error message.

HTTP goes through ``ansible.module_utils.urls`` (only the ``mcp_probe`` module uses this client,
so Ansible is always there); errors are still urllib's, as that wrapper raises them unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import ssl
import urllib.error

from ansible.module_utils.urls import Request

# Newest first: offered in that order; the first is what ``initialize`` asks for.
SUPPORTED_PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
CLIENT_INFO = {"name": "mcp_gateway.platform", "version": "1.0.0"}
USER_AGENT = "mcp-gateway-platform-probe/1.0"
MAX_PAGES = 100
# An auth-param of a WWW-Authenticate challenge (RFC 9110 section 11.2): token=token or token="quoted".
CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class McpError(Exception):
    """Probe failure. ``status`` is the HTTP status when there was one, ``kind`` one of
    http, timeout, connection, tls, protocol, rpc."""

    def __init__(self, message, status=None, kind="protocol", www_authenticate=None):
        super(McpError, self).__init__(message)
        self.status = status
        self.kind = kind
        self.www_authenticate = www_authenticate


def bearer_challenge(header):
    """The auth-params (lower-case names) of the Bearer challenge in a WWW-Authenticate value; None when the
    value has no Bearer challenge. RFC 9728 section 5.1 adds ``resource_metadata`` (the metadata URL)."""
    found = re.search(r"(?i)(?:^|,\s*)Bearer(?:\s+|$)(.*)", header or "")
    if not found:
        return None
    return {m.group(1).lower(): (m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3))
            for m in CHALLENGE_PARAM.finditer(found.group(1))}


def resource_metadata_problems(document, resource, issuer=None):
    """What is wrong with an RFC 9728 protected-resource metadata document for the protected resource
    ``resource`` (section 3.3: its ``resource`` must be that URL) whose tokens ``issuer`` issues."""
    if not isinstance(document, dict):
        return ["the protected-resource metadata is not a JSON object"]
    problems = []
    if document.get("resource") != resource:
        problems.append("its resource is %s, not the server's URL %s" % (json.dumps(document.get("resource")), resource))
    servers = document.get("authorization_servers")
    if not (isinstance(servers, list) and servers):
        problems.append("it names no authorization_servers (got %s)" % json.dumps(servers))
    elif issuer and issuer not in servers:
        problems.append("its authorization_servers %s do not name the tenant issuer %s" % (json.dumps(servers), issuer))
    return problems


def fetch_json(url, timeout=10.0, ssl_context=None):
    """GET ``url`` and parse its JSON body (for the metadata documents the MCP authorization spec names)."""
    try:
        response = Request().open("GET", url, headers={"Accept": "application/json"}, timeout=timeout,
                                  context=ssl_context, http_agent=USER_AGENT, use_netrc=False)
        with response:
            body = response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        raise McpError("GET %s failed: HTTP %d %s" % (url, err.code, err.reason), status=err.code, kind="http")
    except (urllib.error.URLError, OSError) as err:
        raise McpError("cannot GET %s: %s" % (url, getattr(err, "reason", err)), kind="connection")
    try:
        return json.loads(body)
    except ValueError:
        raise McpError("GET %s: the answer is not JSON" % url)


def make_ssl_context(validate_certs=True, ca_path=None):
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()


def parse_sse(text):
    """The ``data`` payloads of a text/event-stream body, one string per event.

    An event whose data is empty is not dispatched (as the HTML event-stream rules say): MCP 2025-11-25 servers
    may open a stream with such a priming event (an ``id`` and an empty ``data``) for resumption."""
    events, data = [], []
    for line in text.splitlines():
        if not line:
            if "".join(data):
                events.append("\n".join(data))
            data = []
            continue
        if line.startswith(":"):
            continue
        field, _sep, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
    if "".join(data):
        events.append("\n".join(data))
    return events


class McpClient:
    """One MCP session with a Streamable HTTP endpoint. Use as a context manager."""

    def __init__(self, url, bearer_token=None, timeout=10.0, ssl_context=None, protocol_version=None):
        self.url = url
        self.bearer_token = bearer_token
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.requested_version = protocol_version or SUPPORTED_PROTOCOL_VERSIONS[0]
        self.session_id = None
        self.protocol_version = None
        self.server_info = {}
        self.capabilities = {}
        self._next_id = 0

    # -- transport ----------------------------------------------------------------------
    def _headers(self, with_body=True):
        headers = {"Accept": "application/json, text/event-stream", "User-Agent": USER_AGENT}
        if with_body:
            headers["Content-Type"] = "application/json"
        if self.bearer_token:
            headers["Authorization"] = "Bearer " + self.bearer_token
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    def _http_error(self, err, method):
        status = err.code
        hint = {
            401: "unauthorized (missing or invalid bearer token)",
            403: "forbidden (the token is not allowed to use this server)",
            404: "not found" + (" (session expired or unknown)" if self.session_id else " (no MCP endpoint at this URL)"),
            405: "method not allowed",
        }.get(status, err.reason or "error")
        detail = ""
        challenge = err.headers.get("WWW-Authenticate") if err.headers else None
        if status in (401, 403) and challenge:
            detail = "; WWW-Authenticate: %s" % challenge
        return McpError("MCP %s to %s failed: HTTP %d %s%s" % (method, self.url, status, hint, detail),
                        status=status, kind="http", www_authenticate=challenge)

    def _send(self, http_method, headers, data=None):
        """One HTTP exchange; urllib's exceptions (HTTPError, URLError, timeouts) propagate."""
        return Request().open(http_method, self.url, data=data, headers=headers, timeout=self.timeout,
                              context=self.ssl_context, http_agent=USER_AGENT, use_netrc=False)

    def _open(self, data, method):
        try:
            return self._send("POST", self._headers(), data)
        except urllib.error.HTTPError as err:
            raise self._http_error(err, method)
        except (socket.timeout, TimeoutError):
            raise McpError("MCP %s to %s timed out after %ss" % (method, self.url, self.timeout), kind="timeout")
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise McpError("MCP %s to %s timed out after %ss" % (method, self.url, self.timeout), kind="timeout")
            if isinstance(reason, ssl.SSLError):
                raise McpError("TLS error talking to %s: %s" % (self.url, reason), kind="tls")
            raise McpError("cannot connect to %s: %s" % (self.url, reason), kind="connection")
        except OSError as err:
            raise McpError("cannot connect to %s: %s" % (self.url, err), kind="connection")

    def _post(self, message):
        method = message.get("method")
        response = self._open(json.dumps(message).encode("utf-8"), method)
        with response:
            try:
                body = response.read().decode("utf-8")
            except (socket.timeout, TimeoutError):
                raise McpError("MCP %s to %s timed out after %ss reading the response"
                               % (method, self.url, self.timeout), kind="timeout")
            status = response.status
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            session_id = response.headers.get("Mcp-Session-Id")
        return status, content_type, body, session_id

    def _rpc(self, method, params=None):
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        status, content_type, body, session_id = self._post(message)
        if session_id and method == "initialize":
            self.session_id = session_id
        if content_type == "application/json":
            candidates = [body]
        elif content_type == "text/event-stream":
            candidates = parse_sse(body)
        else:
            raise McpError("MCP %s to %s: unexpected response (HTTP %d, Content-Type %r)"
                           % (method, self.url, status, content_type or None))
        for candidate in candidates:
            try:
                payload = json.loads(candidate)
            except ValueError:
                raise McpError("MCP %s to %s: response is not JSON" % (method, self.url))
            for item in payload if isinstance(payload, list) else [payload]:
                if not isinstance(item, dict) or item.get("id") != self._next_id:
                    continue  # notifications or server requests interleaved on the stream
                if "error" in item:
                    error = item["error"] or {}
                    raise McpError("MCP %s to %s: server error %s: %s"
                                   % (method, self.url, error.get("code"), error.get("message")), kind="rpc")
                if "result" not in item:
                    raise McpError("MCP %s to %s: response has neither result nor error" % (method, self.url))
                return item["result"]
        raise McpError("MCP %s to %s: no response to request id %d" % (method, self.url, self._next_id))

    def _notify(self, method):
        message = {"jsonrpc": "2.0", "method": method}
        status, _ct, _body, _sid = self._post(message)
        if status not in (200, 202, 204):
            raise McpError("MCP %s to %s: unexpected HTTP %d" % (method, self.url, status))

    # -- protocol -----------------------------------------------------------------------
    def initialize(self):
        result = self._rpc("initialize", {
            "protocolVersion": self.requested_version,
            "capabilities": {},
            "clientInfo": CLIENT_INFO,
        })
        version = result.get("protocolVersion")
        if version not in SUPPORTED_PROTOCOL_VERSIONS:
            # The spec: a client that does not support the server's counter-offer disconnects.
            self.close()
            raise McpError("MCP server at %s offered protocol version %r; this client supports %s"
                           % (self.url, version, ", ".join(SUPPORTED_PROTOCOL_VERSIONS)))
        self.protocol_version = version
        self.server_info = result.get("serverInfo") or {}
        self.capabilities = result.get("capabilities") or {}
        self._notify("notifications/initialized")
        return result

    def list_tools(self):
        """Every tool (dicts as the server sent them), following nextCursor."""
        tools, cursor, seen = [], None, set()
        for _page in range(MAX_PAGES):
            result = self._rpc("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(result.get("tools") or [])
            cursor = result.get("nextCursor")
            if not cursor:
                return tools
            if cursor in seen:
                raise McpError("MCP tools/list at %s: server repeated cursor %r" % (self.url, cursor))
            seen.add(cursor)
        raise McpError("MCP tools/list at %s: more than %d pages" % (self.url, MAX_PAGES))

    def close(self):
        """End the session with HTTP DELETE (a 405 means the server does not allow it: fine)."""
        if not self.session_id:
            return False
        headers = self._headers(with_body=False)
        session, self.session_id = self.session_id, None
        try:
            with self._send("DELETE", headers):
                return True
        except urllib.error.HTTPError as err:
            if err.code in (404, 405):
                return False
            raise McpError("MCP session %s close at %s: HTTP %d" % (session[:8] + "...", self.url, err.code),
                           status=err.code, kind="http")
        except (urllib.error.URLError, OSError):
            return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.close()
        except McpError:
            if exc[0] is None:
                raise
