"""hubspot_oauth against the local HubSpot token-endpoint double (a real HTTP server)."""

import datetime
import socket

import pytest

from ansible_collections.mcp_gateway.platform.plugins.module_utils import hubspot_oauth as ho
from peers.hubspot_server import HubSpotServer


@pytest.fixture
def hubspot():
    with HubSpotServer() as server:
        yield server


class SleepRecorder:
    """Records the waits the client asks for instead of sleeping (keeps the tests fast)."""

    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


def exchange(server, **kwargs):
    params = dict(client_id=server.client_id, client_secret=server.client_secret,
                  refresh_token=server.refresh_token, token_url=server.url, timeout=5)
    params.update(kwargs)
    return ho.refresh_access_token(**params)


def assert_no_secret(text, server):
    for secret in [server.client_secret, server.refresh_token] + server.issued:
        assert secret not in text


def test_success_returns_token_and_sends_the_documented_form(hubspot):
    logs = []
    token = exchange(hubspot, log=logs.append)
    assert token.access_token == hubspot.issued[-1]
    assert token.expires_in == 1800
    assert token.token_type == "bearer"
    assert token.refresh_token_rotated is False
    assert token.attempts == 1
    [req] = hubspot.requests
    assert req["method"] == "POST" and req["path"] == "/oauth/v1/token"
    assert req["content_type"].startswith("application/x-www-form-urlencoded")
    assert req["form"] == {"grant_type": "refresh_token", "client_id": hubspot.client_id,
                           "client_secret": "********", "refresh_token": "********"}
    assert_no_secret(" ".join(logs) + repr(token), hubspot)


def test_each_exchange_issues_a_new_token(hubspot):
    first = exchange(hubspot).access_token
    second = exchange(hubspot).access_token
    assert first != second


def test_rotated_refresh_token_is_reported():
    with HubSpotServer(rotate_refresh=True) as server:
        old = server.refresh_token
        token = exchange(server)
        assert token.refresh_token_rotated
        assert token.refresh_token == server.refresh_token != old


@pytest.mark.parametrize("field,code", [("refresh_token", "BAD_REFRESH_TOKEN"),
                                        ("client_secret", "BAD_CLIENT_SECRET"),
                                        ("client_id", "BAD_CLIENT_ID")])
def test_bad_credentials_fail_permanently_without_retry(hubspot, field, code):
    sleeper = SleepRecorder()
    wrong = "wrong-" + field + "-value-xyz"
    with pytest.raises(ho.HubSpotOAuthError) as info:
        exchange(hubspot, sleep=sleeper, **{field: wrong})
    err = info.value
    assert err.permanent and err.status == 400 and err.code == code and err.attempts == 1
    assert "HTTP 400" in str(err) and code in str(err)
    assert wrong not in str(err)
    assert_no_secret(str(err), hubspot)
    assert sleeper.calls == [] and len(hubspot.requests) == 1


def test_invalid_grant_body_as_hubspot_sends_it(hubspot):
    hubspot.script(("invalid_grant",))
    with pytest.raises(ho.HubSpotOAuthError) as info:
        exchange(hubspot)
    assert info.value.permanent and "missing or unknown refresh token" in str(info.value)


def test_429_honours_retry_after_then_succeeds(hubspot):
    hubspot.script(("429", 7), ("429", 1))
    sleeper = SleepRecorder()
    token = exchange(hubspot, sleep=sleeper, backoff_base=0.5)
    assert token.attempts == 3
    assert sleeper.calls == [7.0, 1.0]  # Retry-After wins over the 0.5s/1s backoff
    assert [r["status"] for r in hubspot.requests] == [429, 429, 200]


def test_5xx_exponential_backoff_until_attempts_exhausted(hubspot):
    hubspot.script(*[("500",)] * 10)
    sleeper = SleepRecorder()
    with pytest.raises(ho.HubSpotOAuthError) as info:
        exchange(hubspot, sleep=sleeper, retries=3, backoff_base=1, backoff_max=3)
    err = info.value
    assert not err.permanent and err.status == 500 and err.attempts == 4
    assert sleeper.calls == [1, 2, 3]
    assert "failed after 4 attempts" in str(err) and "HTTP 500" in str(err)
    assert len(hubspot.requests) == 4


def test_retry_after_beyond_the_total_budget_fails_at_once(hubspot):
    hubspot.script(("429", 600))
    sleeper = SleepRecorder()
    with pytest.raises(ho.HubSpotOAuthError) as info:
        exchange(hubspot, sleep=sleeper, max_total_time=30)
    assert sleeper.calls == [] and info.value.attempts == 1
    assert "would exceed the 30s budget" in str(info.value)


def test_timeout_is_retried(hubspot):
    hubspot.script(("slow", 1.0))
    sleeper = SleepRecorder()
    token = exchange(hubspot, timeout=0.3, sleep=sleeper)
    assert token.attempts == 2 and len(sleeper.calls) == 1


def test_timeouts_exhaust_retries(hubspot):
    hubspot.script(("slow", 1.0), ("slow", 1.0))
    with pytest.raises(ho.HubSpotOAuthError) as info:
        exchange(hubspot, timeout=0.2, retries=1, sleep=SleepRecorder())
    assert info.value.code == "timeout" and "timed out after 0.2s" in str(info.value)


def test_connection_refused_is_transient_then_fails():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    sleeper = SleepRecorder()
    with pytest.raises(ho.HubSpotOAuthError) as info:
        ho.refresh_access_token("id", "secret-value", "refresh-value",
                                token_url="http://127.0.0.1:%d/oauth/v1/token" % port,
                                retries=2, sleep=sleeper)
    assert info.value.code == "connection" and info.value.attempts == 3
    assert "secret-value" not in str(info.value)


@pytest.mark.parametrize("kwargs,needle", [({"client_secret": ""}, "client_secret is empty"),
                                           ({"token_url": "ftp://x"}, "not an http(s) URL")])
def test_bad_input_fails_before_any_request(hubspot, kwargs, needle):
    with pytest.raises(ho.HubSpotOAuthError) as info:
        exchange(hubspot, **kwargs)
    assert needle in str(info.value) and hubspot.requests == []


def test_expiry_bookkeeping():
    now = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)
    ann = ho.expiry_annotations(1800, now)
    assert ann == {ho.ANNOTATION_EXPIRES_AT: "2026-11-25T12:30:00Z",
                   ho.ANNOTATION_REFRESHED_AT: "2026-11-25T12:00:00Z"}
    later = now + datetime.timedelta(minutes=20)
    assert ho.remaining_validity(ann, later) == 600
    assert ho.still_valid(ann, 300, later)
    assert not ho.still_valid(ann, 600, later)  # "longer than margin", not equal
    assert not ho.still_valid(ann, 0, now + datetime.timedelta(hours=1))
    assert not ho.still_valid({}, 0, now)
    assert not ho.still_valid({ho.ANNOTATION_EXPIRES_AT: "garbage"}, 0, now)
    assert ho.parse_rfc3339("2026-11-25T12:30:00+01:00").utcoffset() == datetime.timedelta(hours=1)
    assert ho.parse_rfc3339("2026-11-25T12:30:00") is None  # no zone: refused


def test_parse_retry_after_forms():
    now = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)
    assert ho.parse_retry_after("12") == 12.0
    assert ho.parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now) == 30.0
    assert ho.parse_retry_after("soon") is None
    assert ho.parse_retry_after(None) is None
