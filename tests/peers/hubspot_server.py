"""A local HubSpot OAuth token endpoint — a TEST DOUBLE of https://api.hubapi.com/oauth/v1/token.

HubSpot cannot be reached from here, so this is a real HTTP server on 127.0.0.1 that speaks
HubSpot's documented refresh-token grant:

* ``POST /oauth/v1/token`` with a form body ``grant_type=refresh_token&client_id&client_secret&
  refresh_token`` -> 200 ``{"token_type": "bearer", "refresh_token": ..., "access_token": ...,
  "expires_in": 1800}``; every success issues a new access token (and, with ``rotate_refresh``,
  a new refresh token that replaces the accepted one);
* a wrong refresh token -> 400 ``{"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown
  refresh token", "correlationId": ..., "requestId": ...}`` as HubSpot sends it; a wrong client
  id / secret -> 400 ``BAD_CLIENT_ID`` / ``BAD_CLIENT_SECRET``;
* scripted faults, consumed in order by the next requests: ``("429", retry_after)`` (HubSpot's
  ``RATE_LIMIT`` body with a ``Retry-After`` header), ``("500",)``, ``("503",)``,
  ``("slow", seconds)`` (sleep before answering normally), ``("invalid_grant",)``.

It records what it was asked (``requests``): method, path, content type and the form fields with
every secret value masked, plus the status it answered. Issued access tokens are kept in
``issued`` so tests can prove they never leak into output.
"""

import json
import secrets
import threading
import time
import uuid

from peers._loopback import LoopbackPeer

SECRET_FIELDS = ("client_secret", "refresh_token")
TOKEN_PATH = "/oauth/v1/token"


def _error_body(status, message):
    return {
        "status": status,
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "requestId": uuid.uuid4().hex,
    }


class HubSpotServer(LoopbackPeer):
    """Test double of HubSpot's OAuth token endpoint on loopback (see module docstring)."""

    def __init__(self, client_id="client-id-123", client_secret=None, refresh_token=None,
                 expires_in=1800, rotate_refresh=False):
        self.client_id = client_id
        self.client_secret = client_secret or "cs-" + secrets.token_hex(16)
        self.refresh_token = refresh_token or "rt-" + secrets.token_hex(16)
        self.expires_in = expires_in
        self.rotate_refresh = rotate_refresh
        self.requests = []
        self.issued = []
        self._script = []
        self._lock = threading.Lock()

    # -- control -------------------------------------------------------------------------
    def script(self, *actions):
        """Queue faults for the next requests, e.g. script(("429", 1), ("500",), ("slow", 2))."""
        with self._lock:
            self._script.extend(actions)

    def clear(self):
        with self._lock:
            self._script = []
            self.requests = []

    @property
    def url(self):
        return "http://127.0.0.1:%d%s" % (self.port, TOKEN_PATH)

    # -- behaviour -----------------------------------------------------------------------
    def _record(self, handler, form, status):
        masked = {}
        for key, values in form.items():
            value = values[0] if values else ""
            masked[key] = "********" if key in SECRET_FIELDS and value else value
        with self._lock:
            self.requests.append({
                "method": handler.command,
                "path": handler.path,
                "content_type": handler.headers.get("Content-Type", ""),
                "form": masked,
                "status": status,
                "time": time.time(),
            })

    def handle(self, handler, form):
        form = form or {}
        with self._lock:
            action = self._script.pop(0) if self._script else None
        if handler.command != "POST" or handler.path.split("?")[0] != TOKEN_PATH:
            self._record(handler, form, 404)
            return handler.send_json(404, _error_body("NOT_FOUND", "not found"))
        if action and action[0] == "slow":
            time.sleep(action[1])
            action = None
        if action and action[0] == "429":
            self._record(handler, form, 429)
            return handler.send_json(429, {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
            }, {"Retry-After": str(action[1])})
        if action and action[0] in ("500", "502", "503"):
            status = int(action[0])
            self._record(handler, form, status)
            return handler.send_json(status, _error_body("error", "internal error"))
        if action and action[0] == "invalid_grant":
            self._record(handler, form, 400)
            return handler.send_json(400, _error_body("BAD_REFRESH_TOKEN", "missing or unknown refresh token"))

        def field(name):
            return (form.get(name) or [""])[0]

        if field("grant_type") != "refresh_token":
            self._record(handler, form, 400)
            return handler.send_json(400, _error_body("BAD_GRANT_TYPE", "unsupported grant_type"))
        if field("client_id") != self.client_id:
            self._record(handler, form, 400)
            return handler.send_json(400, _error_body("BAD_CLIENT_ID", "missing or unknown client_id"))
        if field("client_secret") != self.client_secret:
            self._record(handler, form, 400)
            return handler.send_json(400, _error_body("BAD_CLIENT_SECRET", "missing or unknown client_secret"))
        with self._lock:
            if field("refresh_token") != self.refresh_token:
                ok = False
            else:
                ok = True
                access = "CN" + secrets.token_urlsafe(48)
                self.issued.append(access)
                if self.rotate_refresh:
                    self.refresh_token = "rt-" + secrets.token_hex(16)
                refresh = self.refresh_token
        if not ok:
            self._record(handler, form, 400)
            return handler.send_json(400, _error_body("BAD_REFRESH_TOKEN", "missing or unknown refresh token"))
        self._record(handler, form, 200)
        return handler.send_json(200, {
            "token_type": "bearer",
            "refresh_token": refresh,
            "access_token": access,
            "expires_in": self.expires_in,
        })
