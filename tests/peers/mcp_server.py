"""A real MCP server (the `mcp` package's MCPServer, Streamable HTTP) on 127.0.0.1 for probe tests.

Not a double: this is the reference SDK serving MCP. Tools: ``echo(text)``, ``add(a, b)`` and
``server_time()`` (plus ``extra_tools`` more, to exercise pagination). With ``page_size`` the
tools/list answer is paginated (``nextCursor``). With ``authority`` (an ``OidcAuthority``) every
request needs ``Authorization: Bearer <RS256 JWT>`` whose signature is checked against the
authority's JWKS (fetched over HTTPS with its CA), and whose ``iss``, ``aud`` and ``exp`` are
checked too; anything else gets 401. Bearer tokens seen are recorded in ``verified`` /
``rejected`` (counts only, never the tokens). ``json_response=True`` makes it answer
``application/json`` instead of ``text/event-stream``.
"""

import asyncio
import ssl
import threading
import time

import jwt
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp_types import ListToolsResult


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


class _PagedServer(MCPServer):
    """MCPServer whose tools/list is paginated when ``page_size`` is set."""

    page_size = None

    async def _handle_list_tools(self, ctx, params):
        tools = await self.list_tools()
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
                 version="1.2.3", required_role=None, json_response=False):
        self.authority = authority
        self.audience = audience
        self.page_size = page_size
        self.extra_tools = extra_tools
        self.name = name
        self.version = version
        self.required_role = required_role
        self.json_response = json_response
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
