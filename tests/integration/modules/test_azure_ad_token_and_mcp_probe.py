"""azure_ad_token against the local OpenID authority (a double of Azure AD, tests/peers), mcp_probe
against the local MCP server double (tests/peers), both through ansible-playbook. No Kubernetes needed: these
tests never start the control plane.

The discovery and per-tool checks run against real local peers: the reference MCP SDK answering 401 with
RFC 9728 ``resource_metadata`` and serving that document (issuer = the Azure AD double's), with tokens signed
by the double's real RS256 key; and, for per-tool rules, that server as a double of agentgateway's data plane,
filtering tools/list by the CEL rules the collection renders (same CEL implementation as agentgateway)."""

import http.server
import os
import threading
import uuid

import jwt
import pytest

from modules_playbook import run_playbook
from peers.mcp_server import McpTestServer
# peers.mcp_server puts the checkout's .collections on sys.path
from ansible_collections.mcp_gateway.platform.plugins.module_utils.mcp_authorization import authorization_rules  # noqa: E402,I001
from peers.oidc_authority import OidcAuthority


@pytest.fixture(scope="module")
def authority():
    with OidcAuthority() as auth:
        yield auth


@pytest.fixture(scope="module")
def protected_mcp(authority):
    with McpTestServer(authority=authority, required_role="MCP.Access") as server:
        yield server


def aad_task(name, peer, register, **overrides):
    args = {"tenant_id": peer.tenant_id, "client_id": peer.client_id,
            "client_secret": peer.client_secret, "authority": peer.authority,
            "validate_authority": False, "ca_path": peer.ca_file}
    args.update(overrides)
    return {"name": name, "mcp_gateway.platform.azure_ad_token": args, "register": register,
            "no_log": True, "ignore_errors": True}


def show(register):
    """A follow-up task exposing the non-secret fields of a no_log result."""
    return {"name": "show " + register, "ansible.builtin.debug": {"msg": {
        "failed": "{{ %s.failed | default(false) }}" % register,
        "msg": "{{ %s.msg | default('') }}" % register,
        "error_codes": "{{ %s.error_codes | default([]) }}" % register,
        "expires_in": "{{ %s.expires_in | default(None) }}" % register,
        "token_type": "{{ %s.token_type | default(None) }}" % register,
        "has_token": "{{ %s.access_token is defined }}" % register}}}


def test_azure_ad_token_then_mcp_probe_with_the_real_jwt(tmp_path, authority, protected_mcp):
    token_file = str(tmp_path / "token")
    tasks = [
        aad_task("get token", authority, "aad"),
        show("aad"),
        {"name": "keep the token for verification", "no_log": True,
         "ansible.builtin.copy": {"content": "{{ aad.access_token }}", "dest": token_file, "mode": "0600"}},
        {"name": "probe with token", "register": "probe", "no_log": True,
         "mcp_gateway.platform.mcp_probe": {"url": protected_mcp.url, "bearer_token": "{{ aad.access_token }}",
                                            "expected_tools": ["echo", "add"]}},
        {"name": "show probe", "ansible.builtin.debug": {"msg": "{{ probe | dict2items | rejectattr('key', 'equalto', 'invocation') | items2dict }}"}},
    ]
    run = run_playbook(tasks, verbosity=3)
    assert run.rc == 0, run.output[-3000:]
    shown = run["show aad"]["msg"]
    assert shown["failed"] is False and shown["has_token"] is True
    assert shown["token_type"] == "Bearer" and int(shown["expires_in"]) == authority.expires_in
    # The token is a real RS256 JWT from the authority, for the default scope api://<client_id>
    with open(token_file) as handle:
        token = handle.read()
    key = jwt.PyJWK(authority.jwks()["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="api://%s" % authority.client_id,
                        issuer=authority.issuer)
    assert claims["tid"] == authority.tenant_id and claims["azp"] == authority.client_id
    token_request = [r for r in authority.requests if r["path"].endswith("/oauth2/v2.0/token")][-1]
    assert token_request["form"]["grant_type"] == "client_credentials"
    assert token_request["form"]["client_secret"] == "********"
    assert token_request["form"]["scope"] == "api://%s/.default" % authority.client_id
    probe = run["show probe"]["msg"]
    assert probe["tools"] == ["echo", "add", "server_time"]
    assert probe["server_info"] == {"name": "probe-peer", "version": "1.2.3"}
    assert probe["protocol_version"] == "2025-11-25" and probe["session_id_present"] is True
    # Neither the client secret nor the token appears anywhere, even at -vvv
    run.assert_no_secret(authority.client_secret, token)


def test_azure_ad_token_failures(authority):
    other = str(uuid.uuid4())
    tasks = [
        aad_task("bad secret", authority, "bad_secret", client_secret="not-the-secret-value"),
        show("bad_secret"),
        aad_task("unknown client", authority, "unknown_client", client_id=other),
        show("unknown_client"),
        aad_task("unknown tenant", authority, "unknown_tenant", tenant_id=other,
                 authority=authority.base_url + "/" + other),
        show("unknown_tenant"),
        aad_task("bad scope", authority, "bad_scope", scopes=["api://a/.default", "api://b/.default"]),
        show("bad_scope"),
        aad_task("not a guid", authority, "not_guid", client_id="my-app"),
        show("not_guid"),
        aad_task("no CA", authority, "no_ca", ca_path=None),
        show("no_ca"),
        dict(aad_task("without no_log", authority, "loud"), no_log=False),
        {"name": "show loud", "ansible.builtin.debug": {"msg": "{{ loud.msg }}"}},
    ]
    run = run_playbook(tasks, verbosity=3)
    assert run.rc == 0
    bad_secret = run["show bad_secret"]["msg"]
    assert bad_secret["failed"] is True and "AADSTS7000215" in bad_secret["msg"]
    assert "invalid_client" in bad_secret["msg"] and bad_secret["error_codes"] == [7000215]
    assert "AADSTS700016" in run["show unknown_client"]["msg"]["msg"]
    assert "AADSTS90002" in run["show unknown_tenant"]["msg"]["msg"]
    assert "AADSTS70011" in run["show bad_scope"]["msg"]["msg"]
    assert "client_id must be a GUID" in run["show not_guid"]["msg"]["msg"]
    assert "TLS verification" in run["show no_ca"]["msg"]["msg"]
    assert "set no_log: true on the task" in run["show loud"]["msg"]
    assert not run["without no_log"].get("access_token")
    run.assert_no_secret(authority.client_secret, "not-the-secret-value", *authority.issued)


def test_mcp_probe_failures(authority, protected_mcp):
    tasks = [
        {"name": "no token", "register": "anon", "ignore_errors": True,
         "mcp_gateway.platform.mcp_probe": {"url": protected_mcp.url}},
        {"name": "wrong audience", "register": "aud", "ignore_errors": True, "no_log": True,
         "mcp_gateway.platform.mcp_probe": {"url": protected_mcp.url,
                                            "bearer_token": authority.issue_token(audience="api://other")}},
        {"name": "show aud", "ansible.builtin.debug": {"msg": "{{ aud.status }} {{ aud.msg }}"}},
        {"name": "missing role", "register": "norole", "ignore_errors": True, "no_log": True,
         "mcp_gateway.platform.mcp_probe": {"url": protected_mcp.url,
                                            "bearer_token": authority.issue_token(roles=[])}},
        {"name": "show norole", "ansible.builtin.debug": {"msg": "{{ norole.status }}"}},
        {"name": "wrong path", "register": "notfound", "ignore_errors": True,
         "mcp_gateway.platform.mcp_probe": {"url": protected_mcp.url.replace("/mcp", "/missing")}},
        {"name": "missing tool", "register": "missing", "ignore_errors": True, "no_log": True,
         "mcp_gateway.platform.mcp_probe": {"url": protected_mcp.url, "bearer_token": authority.issue_token(),
                                            "expected_tools": ["echo", "drop_database"]}},
        {"name": "show missing", "ansible.builtin.debug": {"msg": "{{ missing.msg }}"}},
    ]
    run = run_playbook(tasks)
    anon = run["no token"]
    assert anon["failed"] and anon["status"] == 401 and protected_mcp.url in anon["msg"]
    assert run["show aud"]["msg"].startswith("401 ")
    assert run["show norole"]["msg"] == 401
    assert run["wrong path"]["status"] == 404 and "/missing" in run["wrong path"]["msg"]
    assert "drop_database" in run["show missing"]["msg"] and "echo" in run["show missing"]["msg"].split("lists:")[1]
    run.assert_no_secret(*authority.issued)


def test_mcp_probe_check_mode_and_timeout(tmp_path):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    silent = "http://127.0.0.1:%d/mcp" % listener.getsockname()[1]
    try:
        with McpTestServer() as server:
            run = run_playbook([
                {"name": "open", "register": "r", "mcp_gateway.platform.mcp_probe": {"url": server.url}},
                {"name": "silent", "register": "s", "ignore_errors": True,
                 "mcp_gateway.platform.mcp_probe": {"url": silent, "timeout": 1}},
            ], check=True)
    finally:
        listener.close()
    assert run["open"]["changed"] is False and run["open"]["tools"] == ["echo", "add", "server_time"]
    assert run["silent"]["failed"] and "timed out after 1.0s" in run["silent"]["msg"] and silent in run["silent"]["msg"]


# The readable form an mcp_server_servers entry carries, rendered as the collection renders it for the CRD.
RULES = authorization_rules({"tools": {"add": ["MCP.Admin"]}, "default": ["MCP.Access"]})


@pytest.fixture(scope="module")
def gateway_double(authority):
    with McpTestServer(authority=authority, authorization_rules=RULES) as server:
        yield server


class _BareChallenge(http.server.BaseHTTPRequestHandler):
    """401 with a Bearer challenge that names no resource_metadata (a server without RFC 9728 discovery)."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="mcp"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_mcp_probe_discovery_follows_the_401_to_the_protected_resource_metadata(authority, gateway_double):
    bare = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BareChallenge)
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    probe = {"url": gateway_double.url, "expect_unauthorized": True, "expect_resource_metadata": True}
    try:
        with McpTestServer() as open_server:
            run = run_playbook([
                {"name": "discovery", "register": "found",
                 "mcp_gateway.platform.mcp_probe": dict(probe, expected_issuer=authority.issuer)},
                {"name": "other tenant", "register": "other", "ignore_errors": True,
                 "mcp_gateway.platform.mcp_probe": dict(probe, expected_issuer="https://login.microsoftonline.com/x/v2.0")},
                {"name": "other resource", "register": "moved", "ignore_errors": True,
                 "mcp_gateway.platform.mcp_probe": dict(probe, expected_resource="https://mcp.example.com/mcp")},
                {"name": "no metadata", "register": "bare", "ignore_errors": True,
                 "mcp_gateway.platform.mcp_probe": dict(probe, url="http://127.0.0.1:%d/mcp" % bare.server_port)},
                {"name": "not refused", "register": "open", "ignore_errors": True,
                 "mcp_gateway.platform.mcp_probe": {"url": open_server.url, "expect_unauthorized": True}},
            ])
    finally:
        bare.shutdown()
        bare.server_close()
    found = run["discovery"]
    assert run.rc == 0 and not found.get("failed") and found["status"] == 401, found
    assert found["resource_metadata_url"] == gateway_double.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    assert found["resource_metadata"]["resource"] == gateway_double.url
    assert authority.issuer in found["resource_metadata"]["authorization_servers"]
    assert "resource_metadata=" in found["www_authenticate"]
    assert run["other tenant"]["failed"] and "do not name the tenant issuer https://login.microsoftonline.com/x/v2.0" in (
        run["other tenant"]["msg"])
    assert run["other resource"]["failed"] and "not the server's URL https://mcp.example.com/mcp" in run["other resource"]["msg"]
    assert run["no metadata"]["failed"] and run["no metadata"]["error_kind"] == "no_resource_metadata"
    assert 'Bearer realm="mcp"' in run["no metadata"]["msg"]
    assert run["not refused"]["failed"] and run["not refused"]["error_kind"] == "not_refused"


def test_mcp_probe_sees_tools_list_filtered_by_the_tokens_roles(authority, gateway_double):
    admin = authority.issue_token(roles=["MCP.Access", "MCP.Admin"])
    reader = authority.issue_token(roles=["MCP.Access"])
    probe = {"url": gateway_double.url, "unexpected_tools": ["add"]}
    run = run_playbook([
        {"name": "admin", "register": "admin", "no_log": True,
         "mcp_gateway.platform.mcp_probe": {"url": gateway_double.url, "bearer_token": admin}},
        {"name": "show admin", "ansible.builtin.debug": {"msg": "{{ admin.tools }}"}},
        {"name": "reader", "register": "reader", "no_log": True,
         "mcp_gateway.platform.mcp_probe": dict(probe, bearer_token=reader)},
        {"name": "show reader", "ansible.builtin.debug": {"msg": "{{ reader.tools }}"}},
        {"name": "admin sees add", "register": "seen", "ignore_errors": True, "no_log": True,
         "mcp_gateway.platform.mcp_probe": dict(probe, bearer_token=admin)},
        {"name": "show seen", "ansible.builtin.debug": {"msg": "{{ seen.msg }}"}},
    ])
    assert run.rc == 0, run.output[-3000:]
    assert run["show admin"]["msg"] == ["echo", "add", "server_time"]
    assert run["show reader"]["msg"] == ["echo", "server_time"]
    assert "lists the tool(s) add, which this token must not see" in run["show seen"]["msg"]
    run.assert_no_secret(admin, reader)
