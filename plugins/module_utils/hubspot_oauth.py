# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HubSpot OAuth client and token-expiry bookkeeping.

STANDARD LIBRARY ONLY: this file is also shipped next to the in-cluster
refresher (``roles/token_refresh/files/hubspot_refresher.py``) on a stock
python image, where it is imported as the top-level module ``hubspot_oauth``.

Nothing here ever logs, returns in an error message or raises with a secret
(client secret, refresh token, access token) in it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import email.utils
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_TOKEN_URL = "https://api.hubapi.com/oauth/v1/token"

# Annotations recorded on the access-token Secret (shared by the module and the refresher).
ANNOTATION_EXPIRES_AT = "mcp-gateway.io/expires-at"
ANNOTATION_REFRESHED_AT = "mcp-gateway.io/refreshed-at"

# HubSpot error codes (the ``status`` field of its v1 error bodies, or the OAuth ``error``
# field) that mean "retrying cannot help": the credentials themselves are wrong.
PERMANENT_ERROR_CODES = frozenset(
    [
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "invalid_request",
        "BAD_REFRESH_TOKEN",
        "BAD_CLIENT_ID",
        "BAD_CLIENT_SECRET",
        "BAD_GRANT_TYPE",
        "INVALID_CLIENT",
        "INVALID_REFRESH_TOKEN",
    ]
)

RETRYABLE_STATUS = frozenset([429, 500, 502, 503, 504])
USER_AGENT = "mcp-gateway-platform-hubspot-oauth/1.0"


class HubSpotOAuthError(Exception):
    """The token exchange failed.

    ``permanent`` is True when retrying with the same credentials cannot succeed
    (bad refresh token, bad client); False when the last attempt failed for a transient
    reason (rate limit, server error, timeout, connection) and the retry budget ran out.
    The message never contains a secret.
    """

    def __init__(self, message, permanent=False, status=None, code=None, attempts=0):
        super(HubSpotOAuthError, self).__init__(message)
        self.permanent = permanent
        self.status = status
        self.code = code
        self.attempts = attempts


class TokenResponse:
    """A successful refresh-token grant. ``refresh_token`` is None unless HubSpot rotated it."""

    __slots__ = ("access_token", "expires_in", "refresh_token", "token_type", "attempts")

    def __init__(self, access_token, expires_in, refresh_token=None, token_type="bearer", attempts=1):
        self.access_token = access_token
        self.expires_in = expires_in
        self.refresh_token = refresh_token
        self.token_type = token_type
        self.attempts = attempts

    @property
    def refresh_token_rotated(self):
        return self.refresh_token is not None

    def __repr__(self):
        # Never show the token values.
        return "TokenResponse(token_type=%r, expires_in=%r, refresh_token_rotated=%r)" % (
            self.token_type,
            self.expires_in,
            self.refresh_token_rotated,
        )


# ---------------------------------------------------------------------------
# time and expiry bookkeeping
# ---------------------------------------------------------------------------


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def format_rfc3339(moment):
    """``2026-11-25T11:52:20Z`` (UTC, second precision, like Kubernetes timestamps)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text):
    """Parse an RFC 3339 timestamp; return an aware datetime or None when unparsable."""
    if not text or not isinstance(text, str):
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed


def expiry_annotations(expires_in, now=None):
    """The annotations to record on the Secret after a successful exchange."""
    now = now or utcnow()
    expires_at = now + datetime.timedelta(seconds=int(expires_in))
    return {
        ANNOTATION_EXPIRES_AT: format_rfc3339(expires_at),
        ANNOTATION_REFRESHED_AT: format_rfc3339(now),
    }


def remaining_validity(annotations, now=None):
    """Seconds the recorded token stays valid (negative when expired); None when unknown."""
    expires_at = parse_rfc3339((annotations or {}).get(ANNOTATION_EXPIRES_AT))
    if expires_at is None:
        return None
    now = now or utcnow()
    return int((expires_at - now).total_seconds())


def still_valid(annotations, margin, now=None):
    """True when the recorded token is valid for longer than ``margin`` seconds."""
    remaining = remaining_validity(annotations, now)
    return remaining is not None and remaining > int(margin)


# ---------------------------------------------------------------------------
# the refresh-token grant
# ---------------------------------------------------------------------------


def parse_retry_after(value, now=None):
    """Retry-After as seconds (delta-seconds or HTTP-date); None when absent or unparsable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, ((when - (now or utcnow())).total_seconds()))


def _scrub(text, secrets):
    """Remove every secret value from a text that came from the server."""
    text = text or ""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


def _error_details(body, secrets):
    """(code, message) of a HubSpot/OAuth error body, scrubbed of secrets."""
    try:
        payload = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        return None, _scrub(body[:200].decode("utf-8", "replace") if body else "", secrets)
    if not isinstance(payload, dict):
        return None, ""
    code = payload.get("error") or payload.get("status") or payload.get("category")
    message = payload.get("error_description") or payload.get("message") or ""
    return (str(code) if code else None), _scrub(str(message), secrets)


def _parse_success(body, attempts, sent_refresh_token):
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise HubSpotOAuthError("HubSpot token endpoint returned a response that is not JSON", attempts=attempts)
    if not isinstance(payload, dict) or not payload.get("access_token"):
        raise HubSpotOAuthError("HubSpot token endpoint response has no access_token", attempts=attempts)
    try:
        expires_in = int(payload.get("expires_in"))
    except (TypeError, ValueError):
        raise HubSpotOAuthError("HubSpot token endpoint response has no valid expires_in", attempts=attempts)
    # HubSpot echoes the refresh token on every success; only a different one is a rotation.
    rotated = payload.get("refresh_token")
    if rotated == sent_refresh_token:
        rotated = None
    return TokenResponse(
        access_token=payload["access_token"],
        expires_in=expires_in,
        refresh_token=rotated,
        token_type=payload.get("token_type") or "bearer",
        attempts=attempts,
    )


def _noop_log(message):
    return None


def stdlib_opener(ssl_context=None):
    """The standard library's HTTP(S) client (proxies from the environment, ``ssl_context`` for TLS)."""
    director = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl_context))

    def send(request, timeout):
        return director.open(request, timeout=timeout)

    return send


def _within(seconds, call):
    """``call()``'s result, or ``TimeoutError`` once ``seconds`` passed without it.

    A socket timeout only bounds each wait for a byte: an answer that trickles in (a byte every few seconds)
    never trips it. The call runs in a daemon thread that is left behind when it overruns (its late answer
    is dropped; the process ends soon after the retries)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as err:  # re-raised in the caller's thread
            outcome["error"] = err

    worker = threading.Thread(target=target, name="hubspot-oauth-attempt")
    worker.daemon = True
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError("no complete answer within %ss" % seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _exchange(opener, request, timeout):
    """(None, body) of a success or (HTTPError, its body) of an HTTP error; raises what urllib raises."""
    try:
        with opener(request, timeout) as response:
            return None, response.read()
    except urllib.error.HTTPError as err:
        try:
            return err, err.read()
        except (OSError, ValueError):
            return err, b""


def refresh_access_token(
    client_id,
    client_secret,
    refresh_token,
    token_url=DEFAULT_TOKEN_URL,
    timeout=10.0,
    retries=4,
    max_total_time=120.0,
    backoff_base=1.0,
    backoff_max=30.0,
    ssl_context=None,
    log=None,
    sleep=time.sleep,
    clock=time.monotonic,
    opener=None,
):
    """Exchange a HubSpot refresh token for an access token (OAuth refresh_token grant).

    Each attempt (connect, send, the whole answer) ends within ``timeout`` seconds. Transient
    failures (429, 5xx, timeouts, connection errors) are retried up to
    ``retries`` more times with exponential backoff (``backoff_base * 2**n`` capped at
    ``backoff_max``), honouring ``Retry-After``; no wait ends after ``max_total_time``
    seconds from the start, so the call returns or raises within ``max_total_time + timeout``. Permanent failures (400/401/403: bad refresh token or client)
    fail at once. Returns a ``TokenResponse``; raises ``HubSpotOAuthError``.
    ``log`` receives progress lines that never contain secrets.
    ``opener(request, timeout)`` sends one ``urllib.request.Request`` and returns the response (a context
    manager), raising ``urllib.error.HTTPError``/``URLError`` as urllib does: the Ansible module passes one
    built on ``ansible.module_utils.urls``; the default, for the in-cluster refresher, is plain urllib.
    """
    opener = opener or stdlib_opener(ssl_context)
    log = log or _noop_log
    secrets = (client_secret, refresh_token, client_id)
    for name, value in (("client_id", client_id), ("client_secret", client_secret), ("refresh_token", refresh_token)):
        if not value:
            raise HubSpotOAuthError("HubSpot %s is empty" % name, permanent=True)
    parsed_url = urllib.parse.urlparse(token_url or "")
    if parsed_url.scheme not in ("http", "https") or not parsed_url.netloc:
        raise HubSpotOAuthError("token_url %r is not an http(s) URL" % token_url, permanent=True)

    body = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
    ).encode("ascii")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded;charset=utf-8",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        retry_after = None
        request = urllib.request.Request(token_url, data=body, headers=headers, method="POST")
        try:
            err, payload = _within(timeout, lambda: _exchange(opener, request, timeout))
            if err is None:
                token = _parse_success(payload, attempt, refresh_token)
                log("HubSpot token exchange succeeded on attempt %d (expires_in=%ds)" % (attempt, token.expires_in))
                return token
            status = err.code
            code, message = _error_details(payload, secrets)
            if status not in RETRYABLE_STATUS:
                detail = " (%s)" % code if code else ""
                reason = (": " + message) if message else ""
                if status in (400, 401, 403) or (code in PERMANENT_ERROR_CODES):
                    raise HubSpotOAuthError(
                        "HubSpot rejected the refresh-token grant with HTTP %d%s%s; check the client id, "
                        "client secret and refresh token" % (status, detail, reason),
                        permanent=True,
                        status=status,
                        code=code,
                        attempts=attempt,
                    )
                raise HubSpotOAuthError(
                    "HubSpot token endpoint answered HTTP %d%s%s" % (status, detail, reason),
                    permanent=True,
                    status=status,
                    code=code,
                    attempts=attempt,
                )
            retry_after = parse_retry_after(err.headers.get("Retry-After") if err.headers else None)
            failure = "HTTP %d%s" % (status, (" (%s)" % code) if code else "")
            last_status, last_code = status, code
        except (socket.timeout, TimeoutError):
            failure, last_status, last_code = "timed out after %ss" % timeout, None, "timeout"
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                failure, last_status, last_code = "timed out after %ss" % timeout, None, "timeout"
            elif isinstance(reason, ssl.SSLCertVerificationError):
                raise HubSpotOAuthError(
                    "TLS verification of %s failed: %s" % (token_url, reason), permanent=True, attempts=attempt
                )
            else:
                failure, last_status, last_code = "connection error: %s" % reason, None, "connection"
        except (ConnectionError, OSError) as err:
            failure, last_status, last_code = "connection error: %s" % err, None, "connection"

        elapsed = clock() - started
        delay = min(backoff_max, backoff_base * (2 ** (attempt - 1)))
        if retry_after is not None:
            delay = max(delay, retry_after)
        if attempt > retries or elapsed + delay > max_total_time:
            why = "after %d attempt%s" % (attempt, "" if attempt == 1 else "s")
            if attempt <= retries:
                why += " (next wait of %.1fs would exceed the %.0fs budget)" % (delay, max_total_time)
            raise HubSpotOAuthError(
                "HubSpot token exchange at %s failed %s; last error: %s" % (token_url, why, failure),
                permanent=False,
                status=last_status,
                code=last_code,
                attempts=attempt,
            )
        log("HubSpot token exchange attempt %d failed (%s); retrying in %.1fs" % (attempt, failure, delay))
        sleep(delay)
