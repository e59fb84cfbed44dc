"""A local OpenID authority shaped like Azure AD (Entra ID) v2.0 — a TEST DOUBLE of login.microsoftonline.com.

Azure AD cannot be reached from here, so this is a real HTTPS server on 127.0.0.1 with its own
generated CA (``ca_file``) serving, per tenant id:

* ``GET /<tenant>/v2.0/.well-known/openid-configuration`` (what msal's tenant discovery reads);
* ``GET /<tenant>/discovery/v2.0/keys`` — the JWKS (one RSA key, ``kid`` set);
* ``POST /<tenant>/oauth2/v2.0/token`` — the client-credentials grant: with the registered client id
  and secret and a scope ``<resource>/.default`` it issues a real RS256 JWT (``aud`` = resource,
  ``iss`` = ``https://127.0.0.1:<port>/<tenant>/v2.0``, ``tid``, ``azp``/``appid``, ``roles``,
  ``iat``/``nbf``/``exp``); failures answer with Azure AD's error body shape and AADSTS codes:
  AADSTS7000215 (bad secret, 401 invalid_client), AADSTS700016 (unknown client, 400
  unauthorized_client), AADSTS70011 (bad scope, 400 invalid_scope), AADSTS90002 (unknown tenant,
  400 invalid_request, also on discovery).

It records what it was asked (``requests``: method, path, form fields with ``client_secret``
masked, status). ``issue_token()`` mints tokens directly for tests that need one (e.g. the MCP
server's bearer-token check), and ``issued`` keeps every token handed out.
"""

import base64
import datetime
import os
import json
import ssl
import tempfile
import threading
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

import trustme
from peers._loopback import LoopbackPeer


def _b64url_uint(value):
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class OidcAuthority(LoopbackPeer):
    """Test double of Azure AD v2.0 on loopback HTTPS (see module docstring)."""

    def __init__(self, tenant_id=None, client_id=None, client_secret=None, roles=("MCP.Access",), expires_in=3599):
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = client_secret or "cs~" + uuid.uuid4().hex
        self.roles = list(roles)
        self.expires_in = expires_in
        self.kid = uuid.uuid4().hex[:16]
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.requests = []
        self.issued = []
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="oidc-authority-")
        # A fresh CA and a serving certificate for 127.0.0.1 (trustme).
        ca = trustme.CA()
        self.ca_file = os.path.join(self._tmp.name, "ca.crt")
        ca.cert_pem.write_to_path(self.ca_file)
        self._server_cert = ca.issue_cert("127.0.0.1")

    # -- addresses -------------------------------------------------------------------------
    @property
    def base_url(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def authority(self):
        """What msal takes as ``authority``."""
        return "%s/%s" % (self.base_url, self.tenant_id)

    @property
    def issuer(self):
        return "%s/%s/v2.0" % (self.base_url, self.tenant_id)

    @property
    def jwks_uri(self):
        return "%s/%s/discovery/v2.0/keys" % (self.base_url, self.tenant_id)

    def default_audience(self):
        return "api://%s" % self.client_id

    def collection_vars(self):
        """The auth_policy role's variables that point the platform at this authority instead of Azure AD."""
        with open(self.ca_file, encoding="ascii") as handle:
            ca_pem = handle.read()
        return {"auth_policy_tenant_id": self.tenant_id, "auth_policy_client_id": self.client_id,
                "auth_policy_authority_host": "127.0.0.1", "auth_policy_jwks_port": self.port,
                "auth_policy_issuer": self.issuer, "auth_policy_jwks_ca_certificate": ca_pem}

    # -- tokens ----------------------------------------------------------------------------
    def jwks(self):
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}]}

    def issue_token(self, audience=None, lifetime=None, roles=None, client_id=None):
        now = int(time.time())
        claims = {
            "aud": audience or self.default_audience(),
            "iss": self.issuer,
            "iat": now, "nbf": now, "exp": now + (lifetime if lifetime is not None else self.expires_in),
            "tid": self.tenant_id,
            "azp": client_id or self.client_id, "appid": client_id or self.client_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id or self.client_id)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id or self.client_id)),
            "roles": list(self.roles if roles is None else roles),
            "ver": "2.0",
            "uti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})
        with self._lock:
            self.issued.append(token)
        return token

    # -- server ----------------------------------------------------------------------------
    def start(self):
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_cert.configure_cert(self.ssl_context)
        return super().start()

    def stop(self):
        super().stop()
        self._tmp.cleanup()

    def _record(self, handler, form, status):
        fields = None
        if form is not None:
            fields = dict((k, "********" if k in ("client_secret", "client_assertion") else (v[0] if v else ""))
                          for k, v in form.items())
        with self._lock:
            self.requests.append({"method": handler.command, "path": handler.path.split("?")[0],
                                  "form": fields, "status": status})

    def _aad_error(self, handler, form, status, error, code, description):
        self._record(handler, form, status)
        handler.send_json(status, {
            "error": error,
            "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s" % (
                code, description, uuid.uuid4(), uuid.uuid4(),
                datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")),
            "error_codes": [code],
            "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        })

    def handle(self, handler, form):
        parts = [p for p in handler.path.split("?")[0].split("/") if p]
        tenant = parts[0] if parts else ""
        rest = "/".join(parts[1:])
        if tenant != self.tenant_id:
            return self._aad_error(handler, form, 400, "invalid_request", 90002,
                                   "Tenant '%s' not found." % tenant)
        if handler.command == "GET" and rest == "v2.0/.well-known/openid-configuration":
            base = "%s/%s" % (self.base_url, tenant)
            self._record(handler, form, 200)
            return handler.send_json(200, {
                "issuer": self.issuer,
                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                "token_endpoint": base + "/oauth2/v2.0/token",
                "jwks_uri": self.jwks_uri,
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                          "client_secret_basic"],
                "tenant_region_scope": "EU",
            })
        if handler.command == "GET" and rest == "discovery/v2.0/keys":
            self._record(handler, form, 200)
            return handler.send_json(200, self.jwks())
        if handler.command == "POST" and rest == "oauth2/v2.0/token":
            return self._token(handler, form)
        self._record(handler, form, 404)
        return handler.send_json(404, {"error": "not_found"})

    def _token(self, handler, form):
        def field(name):
            return (form.get(name) or [""])[0]

        if field("grant_type") != "client_credentials":
            return self._aad_error(handler, form, 400, "unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type '%s'." % field("grant_type"))
        if field("client_id") != self.client_id:
            return self._aad_error(handler, form, 400, "unauthorized_client", 700016,
                                   "Application with identifier '%s' was not found in the directory '%s'."
                                   % (field("client_id"), self.tenant_id))
        if field("client_secret") != self.client_secret:
            return self._aad_error(handler, form, 401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being sent in the request "
                                   "is the client secret value, not the client secret ID, for a secret added to "
                                   "app '%s'." % self.client_id)
        scopes = field("scope").split()
        resources = [s[: -len("/.default")] for s in scopes if s.endswith("/.default")]
        if len(resources) != 1 or len(scopes) != len(resources) + len([s for s in scopes if s in (
                "openid", "profile", "offline_access")]):
            return self._aad_error(handler, form, 400, "invalid_scope", 70011,
                                   "The provided request must include a 'scope' input parameter. The provided "
                                   "value for the input parameter 'scope' is not valid. The scope %s is not valid."
                                   % field("scope"))
        token = self.issue_token(audience=resources[0])
        self._record(handler, form, 200)
        return handler.send_json(200, {"token_type": "Bearer", "expires_in": self.expires_in,
                                       "ext_expires_in": self.expires_in, "access_token": token})
