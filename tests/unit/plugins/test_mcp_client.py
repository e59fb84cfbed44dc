"""mcp_client against a real MCP server (the `mcp` package) and a real OpenID authority on loopback."""

import socket
import threading

import pytest

from ansible_collections.mcp_gateway.platform.plugins.module_utils.mcp_client import (
    SUPPORTED_PROTOCOL_VERSIONS, McpClient, McpError, make_ssl_context, parse_sse)
from peers.mcp_server import McpTestServer
from peers.oidc_authority import OidcAuthority


@pytest.fixture(scope="module")
def authority():
    with OidcAuthority() as auth:
        yield auth


@pytest.fixture(scope="module")
def open_server():
    with McpTestServer(page_size=2, extra_tools=3) as server:
        yield server


@pytest.fixture(scope="module")
def protected_server(authority):
    with McpTestServer(authority=authority, json_response=True) as server:
        yield server


def test_initialize_list_tools_paginated_over_sse(open_server):
    with McpClient(open_server.url) as client:
        result = client.initialize()
        assert client.protocol_version == SUPPORTED_PROTOCOL_VERSIONS[0] == result["protocolVersion"]
        assert client.server_info == {"name": "probe-peer", "version": "1.2.3"}
        assert client.session_id
        names = [t["name"] for t in client.list_tools()]
    # 6 tools in pages of 2: the cursor was followed to the end, in order
    assert names == ["echo", "add", "server_time", "extra_00", "extra_01", "extra_02"]
    assert client.session_id is None  # closed with DELETE


def test_session_is_deleted_on_close(open_server):
    client = McpClient(open_server.url)
    client.initialize()
    session = client.session_id
    assert client.close() is True
    # The server forgot the session: reusing its id is a 404 naming the URL
    stale = McpClient(open_server.url)
    stale.session_id, stale.protocol_version = session, client.protocol_version
    with pytest.raises(McpError) as info:
        stale.list_tools()
    assert info.value.status == 404 and open_server.url in str(info.value) and "session" in str(info.value)


@pytest.mark.parametrize("asked", ["2025-06-18", "2025-03-26", "2024-11-05"])
def test_older_versions_are_negotiated(open_server, asked):
    with McpClient(open_server.url, protocol_version=asked) as client:
        client.initialize()
        assert client.protocol_version == asked
        assert len(client.list_tools()) == 6


def test_unknown_requested_version_gets_the_servers_counter_offer(open_server):
    with McpClient(open_server.url, protocol_version="2099-01-01") as client:
        client.initialize()
        assert client.protocol_version in SUPPORTED_PROTOCOL_VERSIONS


def test_401_without_token_names_url_and_status(protected_server):
    with pytest.raises(McpError) as info:
        McpClient(protected_server.url).initialize()
    assert info.value.status == 401 and info.value.kind == "http"
    assert protected_server.url in str(info.value) and "HTTP 401" in str(info.value)


def test_401_with_token_from_another_audience(protected_server, authority):
    token = authority.issue_token(audience="api://someone-else")
    with pytest.raises(McpError) as info:
        McpClient(protected_server.url, bearer_token=token).initialize()
    assert info.value.status == 401
    assert token not in str(info.value)


def test_401_with_expired_token(protected_server, authority):
    token = authority.issue_token(lifetime=-120)
    with pytest.raises(McpError) as info:
        McpClient(protected_server.url, bearer_token=token).initialize()
    assert info.value.status == 401


def test_real_jwt_is_accepted_json_responses(protected_server, authority):
    before = protected_server.verifier.verified
    with McpClient(protected_server.url, bearer_token=authority.issue_token()) as client:
        client.initialize()
        assert [t["name"] for t in client.list_tools()] == ["echo", "add", "server_time"]
    assert protected_server.verifier.verified > before


def test_404_wrong_path(open_server):
    url = open_server.url.replace("/mcp", "/nope")
    with pytest.raises(McpError) as info:
        McpClient(url).initialize()
    assert info.value.status == 404 and "no MCP endpoint at this URL" in str(info.value)


def test_timeout_on_a_server_that_never_answers():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    url = "http://127.0.0.1:%d/mcp" % listener.getsockname()[1]
    try:
        with pytest.raises(McpError) as info:
            McpClient(url, timeout=0.3).initialize()
        assert info.value.kind == "timeout" and "timed out after 0.3s" in str(info.value) and url in str(info.value)
    finally:
        listener.close()


def test_connection_refused():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(McpError) as info:
        McpClient("http://127.0.0.1:%d/mcp" % port, timeout=2).initialize()
    assert info.value.kind == "connection"


def test_tls_verification_with_and_without_the_ca(authority):
    # The authority is an HTTPS server: TLS must fail without its CA and pass with it (then 404: not MCP).
    url = authority.base_url + "/" + authority.tenant_id + "/mcp"
    with pytest.raises(McpError) as info:
        McpClient(url, ssl_context=make_ssl_context()).initialize()
    assert info.value.kind == "tls"
    with pytest.raises(McpError) as info:
        McpClient(url, ssl_context=make_ssl_context(ca_path=authority.ca_file)).initialize()
    assert info.value.kind == "http" and info.value.status == 404


def test_parse_sse():
    body = ": comment\nevent: message\nid: 1\ndata: {\"a\":\ndata: 1}\n\ndata: second\n\n"
    assert parse_sse(body) == ["{\"a\":\n1}", "second"]


def test_parse_sse_skips_a_priming_event():
    # MCP 2025-11-25: a server may open the stream with an event id and an empty data field (the reference
    # "everything" server does); such an event is not dispatched, the response that follows is.
    body = "id: 0e3c\ndata: \n\nevent: message\nid: 5f1a\ndata: {\"id\": 1}\n\n"
    assert parse_sse(body) == ["{\"id\": 1}"]
    assert parse_sse("data:\n\n") == []
