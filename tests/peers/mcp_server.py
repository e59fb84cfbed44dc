"""A real MCP server (the `mcp` package's MCPServer, Streamable HTTP) on 127.0.0.1 for probe tests.

Not a double: this is the reference SDK serving MCP. Tools: ``echo(text)``, ``add(a, b)`` and
``server_time()`` (plus ``extra_tools`` more, to exercise pagination). With ``page_size`` the
tools/list answer is paginated (``nextCursor``). With ``authority`` (an ``OidcAuthority``) every
request needs ``Authorization: Bearer <RS256 JWT>`` whose signature is checked against the
authority's JWKS (fetched over HTTPS with its CA), and whose ``iss``, ``aud`` and ``exp`` are
checked too; anything else gets 401. Bearer tokens seen are recorded in ``verified`` /
``rejected`` (counts only, never the tokens). ``json_response=True`` makes it answer
``application/json`` instead of ``text/event-stream``.

With ``authority``, the SDK itself speaks the MCP authorization spec: a request without a token gets 401
with ``WWW-Authenticate: Bearer ... resource_metadata="<base>/.well-known/oauth-protected-resource/mcp"``
(RFC 9728 section 5.1), and that document (``resource``, ``authorization_servers`` = the authority's
issuer, ``scopes_supported``) is served there.

``authorization_rules`` makes it a double of agentgateway's data plane for per-tool authorization (the data
plane cannot run here): the CEL allow rules an AgentgatewayPolicy carries (``spec.backend.mcp.authorization``)
are evaluated with the token's claims by the same CEL implementation agentgateway uses and with its
semantics (plugins/module_utils/mcp_authorization.py): ``tools/list`` drops what no rule allows and
``tools/call`` of such a tool is refused.
"""

import asyncio
import os
import ssl
import sys
import threading
import time

import jwt
import uvicorn
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".collections"))
from ansible_collections.mcp_gateway.platform.plugins.module_utils.mcp_authorization import allowed  # noqa: E402
from mcp.server.auth.middleware.auth_context import get_access_token  # noqa: E402
from mcp.server.auth.provider import AccessToken  # noqa: E402
from mcp.server.auth.settings import AuthSettings  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp_types import CallToolResult, ListToolsResult, TextContent  # noqa: E402


class JwksTokenVerifier:
    """Verifies RS256 JWTs against an OpenID authority's JWKS (real signature check)."""

    def __init__(self, jwks_uri, issuer, audience, ca_file, required_role=None):
        self.issuer = issuer
        self.audience = audience
        self.required_role = required_role
        context = ssl.create_default_context(cafile=ca_file)
        self._jwks = jwt.PyJWKClient(jwks_uri, ssl_context=context, cache_keys=True)
        self.verified = 0
        self.rejected = 0

    def _verify(self, token):
        key = self._jwks.get_signing_key_from_jwt(token)
        return jwt.decode(token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer,
                          options={"require": ["exp", "iat", "iss", "aud"]})

    async def verify_token(self, token):
        try:
            claims = await asyncio.to_thread(self._verify, token)
        except jwt.PyJWTError:
            self.rejected += 1
            return None
        if self.required_role and self.required_role not in (claims.get("roles") or []):
            self.rejected += 1
            return None
        self.verified += 1
        return AccessToken(token=token, client_id=claims.get("azp") or claims.get("appid") or "unknown",
                           scopes=[], expires_at=claims.get("exp"), subject=claims.get("sub"))


def _claims():
    """The claims of the request's bearer token (the verifier checked its signature before this runs)."""
    token = get_access_token()
    return jwt.decode(token.token, options={"verify_signature": False}) if token else {}


class _PagedServer(MCPServer):
    """MCPServer whose tools/list is paginated when ``page_size`` is set, and filtered (tools/call refused)
    by ``authorization_rules`` as agentgateway does."""

    page_size = None
    authorization_rules = ()

    def _allowed(self, name):
        return allowed(self.authorization_rules, _claims(), "tool", name)

    async def _handle_call_tool(self, ctx, params):
        if not self._allowed(params.name):
            return CallToolResult(content=[TextContent(type="text", text="Unknown tool: %s" % params.name)],
                                  is_error=True)
        return await super()._handle_call_tool(ctx, params)

    async def _handle_list_tools(self, ctx, params):
        tools = [tool for tool in await self.list_tools() if self._allowed(tool.name)]
        if not self.page_size:
            return ListToolsResult(tools=tools)
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + self.page_size
        return ListToolsResult(tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None)


def _extra_tool(index):
    def extra(value: str = "") -> str:
        return "extra-%d:%s" % (index, value)
    return extra


class McpTestServer:
    """A real MCP server on loopback (see module docstring). Context manager; ``url`` is the endpoint."""

    def __init__(self, authority=None, audience=None, page_size=None, extra_tools=0, name="probe-peer",
                 version="1.2.3", required_role=None, json_response=False, authorization_rules=()):
        self.authority = authority
        self.audience = audience
        self.page_size = page_size
        self.extra_tools = extra_tools
        self.name = name
        self.version = version
        self.required_role = required_role
        self.json_response = json_response
        self.authorization_rules = list(authorization_rules)
        self.verifier = None
        self._server = None
        self._thread = None

    def _build(self, port):
        kwargs = {}
        if self.authority is not None:
            self.verifier = JwksTokenVerifier(self.authority.jwks_uri, self.authority.issuer,
                                              self.audience or self.authority.default_audience(),
                                              self.authority.ca_file, self.required_role)
            kwargs = dict(token_verifier=self.verifier,
                          auth=AuthSettings(issuer_url=self.authority.issuer,
                                            resource_server_url="http://127.0.0.1:%d/mcp" % port,
                                            validate_token_resource=False))
        server = _PagedServer(name=self.name, version=self.version, log_level="WARNING", **kwargs)
        server.page_size = self.page_size
        server.authorization_rules = self.authorization_rules

        @server.tool()
        def echo(text: str) -> str:
            """Return the text unchanged."""
            return text

        @server.tool()
        def add(a: int, b: int) -> int:
            """Add two integers."""
            return a + b

        @server.tool()
        def server_time() -> str:
            """The server's clock (UTC, RFC 3339)."""
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        for index in range(self.extra_tools):
            server.add_tool(_extra_tool(index), name="extra_%02d" % index, description="Extra tool %d." % index)
        return server

    @property
    def url(self):
        return "http://127.0.0.1:%d/mcp" % self.port

    def start(self):
        sock = __import__("socket").socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        app = self._build(self.port).streamable_http_app(host="127.0.0.1", json_response=self.json_response)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("MCP test server did not start")
            time.sleep(0.02)
        return self

    def stop(self):
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
