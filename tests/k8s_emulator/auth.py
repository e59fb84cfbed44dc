"""Authentication and authorization of the Kubernetes API emulator, as kube-apiserver does them.

* :class:`TokenIssuer` signs ServiceAccount tokens: real RS256 JWTs with the claims kube-apiserver puts
  in bound tokens (``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` and the
  ``kubernetes.io`` claim naming the namespace, the ServiceAccount and its uid, and an optional bound
  Pod or Secret), plus legacy tokens for ``kubernetes.io/service-account-token`` Secrets.
* :class:`Authenticator` maps a request's ``Authorization`` header to a :class:`UserInfo`: the admin
  bearer token (user ``admin``, group ``system:masters``), bound ServiceAccount tokens (signature, expiry,
  audience, and that the ServiceAccount -- and a bound object -- still exists with the uid in the token),
  legacy Secret tokens, and anonymous requests (``system:anonymous``) when no credentials are sent.
* :class:`Authorizer` is the RBAC authorizer: ``system:masters`` may do everything; everyone else gets
  what (Cluster)RoleBindings grant. On construction it writes the bootstrap policy a fresh cluster has
  (cluster-admin, admin/edit/view with their aggregation, system:discovery, system:public-info-viewer,
  system:basic-user, system:service-account-issuer-discovery and their bindings).
* :func:`handle_review` answers the create-only review APIs: SelfSubjectAccessReview (``kubectl auth
  can-i``), SubjectAccessReview, TokenReview and SelfSubjectReview (``kubectl auth whoami``).
* :func:`forbidden_message` / :func:`forbidden_status` build kube-apiserver's 403 answer.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from k8s_emulator.controllers import new_metadata, selector_matches
from k8s_emulator.store import AlreadyExists, Conflict, NotFound

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
LEGACY_ISSUER = "kubernetes/serviceaccount"
DEFAULT_TOKEN_SECONDS = 3600

RBAC = "rbac.authorization.k8s.io"
CLUSTER_ROLES = (RBAC, "clusterroles")
CLUSTER_ROLE_BINDINGS = (RBAC, "clusterrolebindings")
ROLES = (RBAC, "roles")
ROLE_BINDINGS = (RBAC, "rolebindings")
SERVICE_ACCOUNTS = ("", "serviceaccounts")
SECRETS = ("", "secrets")
PODS = ("", "pods")

SA_PREFIX = "system:serviceaccount:"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


class ServiceAccountNotFound(LookupError):
    """TokenRequest for a ServiceAccount that does not exist (the server answers 404)."""


@dataclass
class UserInfo:
    name: str
    groups: List[str] = field(default_factory=list)
    uid: str = ""
    extra: Dict[str, List[str]] = field(default_factory=dict)

    def to_api(self) -> dict:
        """The ``UserInfo`` object of the authentication.k8s.io API (TokenReview, SelfSubjectReview)."""
        out: dict = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


@dataclass
class RequestAttributes:
    """What a request asks to do, as kube-apiserver's RequestInfo resolves it.

    For list/watch with a ``metadata.name=<x>`` field selector, ``name`` is ``<x>`` (kube-apiserver does
    the same, so that ``resourceNames`` rules can grant such watches).
    """

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True


# -- tokens -----------------------------------------------------------------------------------------

def _rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenIssuer:
    """Signs and verifies ServiceAccount JWTs with one RSA key kept in ``key_dir/sa.key``.

    ``store`` (optional; an :class:`Authenticator` built on this issuer attaches its store) lets
    :meth:`mint` look up the ServiceAccount's uid, as the TokenRequest API binds it into the token.
    """

    def __init__(self, key_dir: str, store=None, issuer: str = ISSUER, api_audiences: Iterable[str] = API_AUDIENCES):
        self.issuer = issuer
        self.api_audiences = list(api_audiences)
        self.store = store
        path = os.path.join(key_dir, "sa.key")
        if os.path.exists(path):
            with open(path, "rb") as handle:
                self._key = serialization.load_pem_private_key(handle.read(), password=None)
        else:
            os.makedirs(key_dir, exist_ok=True)
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        self.public_key = self._key.public_key()
        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        # kube-apiserver's key id: unpadded base64url of the SHA-256 of the DER public key.
        self.kid = _b64url(hashlib.sha256(der).digest())

    # -- minting ---------------------------------------------------------------------------------
    def mint(self, namespace: str, sa_name: str, audiences: Optional[Iterable[str]] = None,
             expiration_seconds: Optional[int] = None, uid: Optional[str] = None,
             bound_object: Optional[dict] = None, now: Optional[float] = None) -> Tuple[str, str]:
        """A bound token (TokenRequest): returns ``(token, expirationTimestamp)``.

        ``uid`` is the ServiceAccount's uid; when omitted it is read from the attached store (raising
        :class:`ServiceAccountNotFound` if the ServiceAccount does not exist). ``bound_object`` is a
        TokenRequest ``boundObjectRef`` (kind Pod or Secret, name, uid).
        """
        if uid is None and self.store is not None:
            sa = self.store.get(SERVICE_ACCOUNTS, namespace, sa_name)
            if sa is None:
                raise ServiceAccountNotFound(f'serviceaccounts "{sa_name}" not found')
            uid = sa["metadata"].get("uid", "")
        issued = int(now if now is not None else time.time())
        expires = issued + int(expiration_seconds or DEFAULT_TOKEN_SECONDS)
        k8s_claim: dict = {"namespace": namespace, "serviceaccount": {"name": sa_name, "uid": uid or ""}}
        if bound_object:
            kind = bound_object.get("kind", "")
            k8s_claim[kind.lower()] = {"name": bound_object.get("name", ""), "uid": bound_object.get("uid", "")}
        claims = {
            "aud": list(audiences) if audiences else list(self.api_audiences),
            "exp": expires,
            "iat": issued,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": k8s_claim,
            "nbf": issued,
            "sub": f"{SA_PREFIX}{namespace}:{sa_name}",
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        return token, _rfc3339(expires)

    def mint_legacy(self, namespace: str, sa_name: str, sa_uid: str, secret_name: str) -> str:
        """A never-expiring legacy token, as the token controller writes into service-account-token Secrets."""
        claims = {
            "iss": LEGACY_ISSUER,
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": sa_name,
            "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
            "sub": f"{SA_PREFIX}{namespace}:{sa_name}",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    # -- verification ----------------------------------------------------------------------------
    def verify_signature(self, token: str) -> Optional[dict]:
        """The claims of a token this issuer signed, or None (bad signature, not a JWT)."""
        try:
            return jwt.decode(token, self.public_key, algorithms=["RS256"],
                              options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                       "verify_iat": False, "verify_iss": False})
        except jwt.PyJWTError:
            return None

    # -- service account issuer discovery ---------------------------------------------------------
    def jwks(self) -> dict:
        """``/openid/v1/jwks``."""
        numbers = self.public_key.public_numbers()

        def enc(value: int) -> str:
            return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {"keys": [{"use": "sig", "kty": "RSA", "kid": self.kid, "alg": "RS256",
                          "n": enc(numbers.n), "e": enc(numbers.e)}]}

    def openid_configuration(self) -> dict:
        """``/.well-known/openid-configuration``."""
        return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/openid/v1/jwks",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}


# -- authentication ---------------------------------------------------------------------------------

def _header(headers, name: str) -> Optional[str]:
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and isinstance(headers, dict):
        for key, val in headers.items():
            if key.lower() == name.lower():
                return val
    return value


def sa_groups(namespace: str) -> List[str]:
    return ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]


_AUTHENTICATORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Authenticator:
    """Bearer-token authentication: the admin token, ServiceAccount JWTs, anonymous requests."""

    def __init__(self, store, admin_token: str, issuer: TokenIssuer, anonymous: bool = True):
        self.store = store
        self.admin_token = admin_token
        self.issuer = issuer
        self.anonymous = anonymous
        if issuer.store is None:
            issuer.store = store
        _AUTHENTICATORS[store] = self

    def authenticate(self, headers) -> Optional[UserInfo]:
        """The requesting user, or None when the credentials are invalid (the server answers 401).

        No ``Authorization`` header at all means ``system:anonymous`` (group ``system:unauthenticated``)
        as with kube-apiserver's default ``--anonymous-auth=true``; RBAC then allows only what the
        bootstrap policy grants anonymous users (``/healthz``, ``/livez``, ``/readyz``, ``/version``).
        """
        value = _header(headers, "Authorization")
        if not value or not value.strip():
            if self.anonymous:
                return UserInfo("system:anonymous", ["system:unauthenticated"])
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        user, _audiences, _error = self.authenticate_token(token.strip())
        return user

    def authenticate_token(self, token: str, audiences: Optional[Iterable[str]] = None
                           ) -> Tuple[Optional[UserInfo], List[str], str]:
        """``(user or None, audiences the token is good for, error)``, as TokenReview reports it."""
        requested = list(audiences) if audiences else list(self.issuer.api_audiences)
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return UserInfo("admin", ["system:masters", "system:authenticated"]), requested, ""
        claims = self.issuer.verify_signature(token)
        if claims is None:
            return None, [], "invalid bearer token"
        if claims.get("iss") == LEGACY_ISSUER:
            return self._legacy(token, claims, requested)
        if claims.get("iss") != self.issuer.issuer:
            return None, [], "invalid bearer token"
        return self._bound(claims, requested)

    def _bound(self, claims: dict, requested: List[str]) -> Tuple[Optional[UserInfo], List[str], str]:
        now = time.time()
        if claims.get("exp") is None or now > claims["exp"]:
            return None, [], "[invalid bearer token, service account token has expired]"
        if claims.get("nbf") is not None and now + 60 < claims["nbf"]:
            return None, [], "[invalid bearer token, service account token is not valid yet]"
        token_auds = claims.get("aud") or []
        if isinstance(token_auds, str):
            token_auds = [token_auds]
        matched = [aud for aud in requested if aud in token_auds]
        if not matched:
            return None, [], ("[invalid bearer token, token audiences %s is invalid for the target audiences %s]"
                              % (json.dumps(token_auds), json.dumps(requested)))
        k8s = claims.get("kubernetes.io") or {}
        namespace = k8s.get("namespace", "")
        sa_ref = k8s.get("serviceaccount") or {}
        sa = self.store.get(SERVICE_ACCOUNTS, namespace, sa_ref.get("name", ""))
        if sa is None:
            return None, [], f'[invalid bearer token, serviceaccounts "{sa_ref.get("name", "")}" not found]'
        sa_uid = sa["metadata"].get("uid", "")
        if sa["metadata"].get("deletionTimestamp"):
            return None, [], f"[invalid bearer token, service account {namespace}/{sa_ref.get('name')} has been deleted]"
        if sa_uid != sa_ref.get("uid"):
            return None, [], f"[invalid bearer token, service account UID ({sa_uid}) does not match claim ({sa_ref.get('uid')})]"
        extra: Dict[str, List[str]] = {}
        for kind, resource in (("pod", PODS), ("secret", SECRETS)):
            ref = k8s.get(kind)
            if not ref:
                continue
            bound = self.store.get(resource, namespace, ref.get("name", ""))
            if bound is None or bound["metadata"].get("deletionTimestamp"):
                return None, [], f'[invalid bearer token, {resource[1]} "{ref.get("name", "")}" not found]'
            if bound["metadata"].get("uid") != ref.get("uid"):
                return None, [], (f"[invalid bearer token, {kind} UID ({bound['metadata'].get('uid')}) "
                                  f"does not match claim ({ref.get('uid')})]")
            if kind == "pod":
                extra["authentication.kubernetes.io/pod-name"] = [ref.get("name", "")]
                extra["authentication.kubernetes.io/pod-uid"] = [ref.get("uid", "")]
        if claims.get("jti"):
            extra[CREDENTIAL_ID] = [f"JTI={claims['jti']}"]
        user = UserInfo(f"{SA_PREFIX}{namespace}:{sa_ref.get('name')}", sa_groups(namespace), sa_uid, extra)
        return user, matched, ""

    def _legacy(self, token: str, claims: dict, requested: List[str]) -> Tuple[Optional[UserInfo], List[str], str]:
        namespace = claims.get("kubernetes.io/serviceaccount/namespace", "")
        secret_name = claims.get("kubernetes.io/serviceaccount/secret.name", "")
        sa_name = claims.get("kubernetes.io/serviceaccount/service-account.name", "")
        sa_uid = claims.get("kubernetes.io/serviceaccount/service-account.uid", "")
        secret = self.store.get(SECRETS, namespace, secret_name)
        if secret is None or secret["metadata"].get("deletionTimestamp"):
            return None, [], "[invalid bearer token, Token has been invalidated]"
        stored = (secret.get("data") or {}).get("token", "")
        if base64.b64decode(stored or "").decode("utf-8", "replace") != token:
            return None, [], "[invalid bearer token, Token does not match server's copy]"
        sa = self.store.get(SERVICE_ACCOUNTS, namespace, sa_name)
        if sa is None:
            return None, [], f'[invalid bearer token, serviceaccounts "{sa_name}" not found]'
        if sa["metadata"].get("uid", "") != sa_uid:
            return None, [], f"[invalid bearer token, ServiceAccount UID ({sa['metadata'].get('uid')}) does not match claim ({sa_uid})]"
        extra = {CREDENTIAL_ID: [f"JTI={hashlib.sha256(token.encode()).hexdigest()[:32]}"]}
        return UserInfo(f"{SA_PREFIX}{namespace}:{sa_name}", sa_groups(namespace), sa_uid, extra), requested, ""


# -- authorization (RBAC) ---------------------------------------------------------------------------

def _verb_matches(rule: dict, verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def _group_matches(rule: dict, group: str) -> bool:
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def _resource_matches(rule: dict, combined: str, subresource: str) -> bool:
    for resource in rule.get("resources") or []:
        if resource == "*" or resource == combined:
            return True
        if subresource and resource == "*/" + subresource:
            return True
    return False


def _name_matches(rule: dict, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def _url_matches(rule: dict, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: dict, attrs: RequestAttributes) -> bool:
    """rbac/v1 RuleAllows: one PolicyRule against one request."""
    if attrs.resource_request:
        combined = attrs.resource + ("/" + attrs.subresource if attrs.subresource else "")
        return (_verb_matches(rule, attrs.verb) and _group_matches(rule, attrs.api_group)
                and _resource_matches(rule, combined, attrs.subresource) and _name_matches(rule, attrs.name))
    return _verb_matches(rule, attrs.verb) and _url_matches(rule, attrs.path)


def _subject_applies(subject: dict, user: UserInfo, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == f"{SA_PREFIX}{namespace}:{subject.get('name')}"
    return False


def _describe_subject(subject: dict, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or binding_namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class Authorizer:
    """The RBAC authorizer (plus the system:masters short-cut every kube-apiserver has)."""

    def __init__(self, store, bootstrap: bool = True):
        self.store = store
        if bootstrap:
            ensure_bootstrap_policy(store)

    def _role_rules(self, role_ref: dict, namespace: str) -> Tuple[Optional[List[dict]], str]:
        kind, name = role_ref.get("kind"), role_ref.get("name", "")
        if kind == "ClusterRole":
            role = self.store.get(CLUSTER_ROLES, "", name)
            if role is None:
                return None, f'clusterrole.rbac.authorization.k8s.io "{name}" not found'
        elif kind == "Role" and namespace:
            role = self.store.get(ROLES, namespace, name)
            if role is None:
                return None, f'role.rbac.authorization.k8s.io "{name}" not found'
        else:
            return None, f"unsupported role reference kind: {kind!r}"
        return role.get("rules") or [], ""

    def _bindings(self, user: UserInfo, namespace: str):
        """Yield ``(describer, rules or None, error)`` for every binding that applies to ``user``."""
        bindings, _ = self.store.list(CLUSTER_ROLE_BINDINGS)
        for binding in bindings:
            for subject in binding.get("subjects") or []:
                if _subject_applies(subject, user, ""):
                    rules, error = self._role_rules(binding.get("roleRef") or {}, "")
                    describer = (f'ClusterRoleBinding "{binding["metadata"]["name"]}" of ClusterRole '
                                 f'"{(binding.get("roleRef") or {}).get("name")}" to {_describe_subject(subject, "")}')
                    yield describer, rules, error
                    break
        if not namespace:
            return
        bindings, _ = self.store.list(ROLE_BINDINGS, namespace)
        for binding in bindings:
            for subject in binding.get("subjects") or []:
                if _subject_applies(subject, user, namespace):
                    ref = binding.get("roleRef") or {}
                    rules, error = self._role_rules(ref, namespace)
                    describer = (f'RoleBinding "{binding["metadata"]["name"]}/{namespace}" of {ref.get("kind")} '
                                 f'"{ref.get("name")}" to {_describe_subject(subject, namespace)}')
                    yield describer, rules, error
                    break

    def authorize(self, user: UserInfo, attrs: RequestAttributes) -> Tuple[bool, str]:
        """``(allowed, reason)``. A denial's reason is empty unless bindings point at missing roles."""
        if "system:masters" in user.groups:
            return True, ""
        errors: List[str] = []
        for describer, rules, error in self._bindings(user, attrs.namespace if attrs.resource_request else ""):
            if rules is None:
                errors.append(error)
                continue
            if any(rule_allows(rule, attrs) for rule in rules):
                return True, f"RBAC: allowed by {describer}"
        if not errors:
            return False, ""
        joined = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        return False, f"RBAC: {joined}"


def forbidden_message(user: UserInfo, attrs: RequestAttributes, reason: str = "") -> str:
    """kube-apiserver's 403 Status message for a denied request."""
    name = user.name if user else ""
    if not attrs.resource_request:
        detail = f'User "{name}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = attrs.resource + ("/" + attrs.subresource if attrs.subresource else "")
        if attrs.namespace:
            detail = (f'User "{name}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" '
                      f'in the namespace "{attrs.namespace}"')
        else:
            detail = (f'User "{name}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" '
                      f'at the cluster scope')
    if reason:
        detail = f"{detail}: {reason}"
    if not attrs.resource_request or not attrs.resource:
        return f"forbidden: {detail}"
    qualified = attrs.resource + ("." + attrs.api_group if attrs.api_group else "")
    if attrs.name:
        return f'{qualified} "{attrs.name}" is forbidden: {detail}'
    return f"{qualified} is forbidden: {detail}"


def forbidden_status(user: UserInfo, attrs: RequestAttributes, reason: str = "") -> dict:
    """The whole ``Status`` object of a 403 answer."""
    details: dict = {}
    if attrs.resource_request and attrs.resource:
        if attrs.name:
            details["name"] = attrs.name
        if attrs.api_group:
            details["group"] = attrs.api_group
        details["kind"] = attrs.resource
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": forbidden_message(user, attrs, reason), "reason": "Forbidden"}
    if details:
        status["details"] = details
    status["code"] = 403
    return status


# -- bootstrap policy -------------------------------------------------------------------------------

def _rule(groups, resources, verbs, names=None) -> dict:
    rule = {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def _url_rule(urls, verbs) -> dict:
    return {"nonResourceURLs": list(urls), "verbs": list(verbs)}


READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")
AGG = "rbac.authorization.k8s.io/aggregate-to-"

# (name, labels, rules, aggregation label or None) -- after plugin/pkg/auth/authorizer/rbac/bootstrappolicy.
_CLUSTER_ROLES = (
    ("cluster-admin", {}, [_rule(["*"], ["*"], ["*"]), _url_rule(["*"], ["*"])], None),
    ("admin", {}, [], AGG + "admin"),
    ("edit", {AGG + "admin": "true"}, [], AGG + "edit"),
    ("view", {AGG + "edit": "true"}, [], AGG + "view"),
    ("system:aggregate-to-admin", {AGG + "admin": "true"}, [
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _rule([RBAC], ["rolebindings", "roles"], WRITE + READ),
    ], None),
    ("system:aggregate-to-edit", {AGG + "edit": "true"}, [
        _rule([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], READ),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
        _rule([""], ["pods/eviction"], ["create"]),
        _rule([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                     "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"], WRITE),
        _rule([""], ["serviceaccounts/token"], ["create"]),
        _rule(["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                         "replicasets/scale", "statefulsets", "statefulsets/scale"], WRITE),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
        _rule(["batch"], ["cronjobs", "jobs"], WRITE),
        _rule(["policy"], ["poddisruptionbudgets"], WRITE),
        _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
        _rule(["coordination.k8s.io"], ["leases"], WRITE + READ),
    ], None),
    ("system:aggregate-to-view", {AGG + "view": "true"}, [
        _rule([""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
                     "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                     "services/status"], READ),
        _rule([""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
                     "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"], READ),
        _rule([""], ["namespaces"], READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], READ),
        _rule(["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                         "deployments/status", "replicasets", "replicasets/scale", "replicasets/status",
                         "statefulsets", "statefulsets/scale", "statefulsets/status"], READ),
        _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
        _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
        _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
        _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
    ], None),
    ("system:discovery", {}, [_url_rule(["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                         "/openapi/*", "/readyz", "/version", "/version/"], ["get"])], None),
    ("system:public-info-viewer", {}, [_url_rule(["/healthz", "/livez", "/readyz", "/version", "/version/"],
                                                 ["get"])], None),
    ("system:basic-user", {}, [
        _rule(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
        _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ], None),
    ("system:service-account-issuer-discovery", {}, [
        _url_rule(["/.well-known/openid-configuration", "/.well-known/openid-configuration/",
                   "/openid/v1/jwks", "/openid/v1/jwks/"], ["get"])], None),
    ("system:auth-delegator", {}, [
        _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
    ], None),
)

_CLUSTER_ROLE_BINDINGS = (
    ("cluster-admin", "cluster-admin", ["system:masters"]),
    ("system:discovery", "system:discovery", ["system:authenticated"]),
    ("system:public-info-viewer", "system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
    ("system:basic-user", "system:basic-user", ["system:authenticated"]),
    ("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", ["system:serviceaccounts"]),
)

_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_BOOTSTRAP_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def ensure_bootstrap_policy(store) -> None:
    """Create the default ClusterRoles and ClusterRoleBindings that are missing, then aggregate."""
    for name, labels, rules, aggregate_label in _CLUSTER_ROLES:
        if store.get(CLUSTER_ROLES, "", name) is not None:
            continue
        role = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
                "metadata": new_metadata(name, labels=dict(_BOOTSTRAP_LABELS, **labels), annotations=_BOOTSTRAP_ANNOTATIONS)}
        if aggregate_label:
            role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {aggregate_label: "true"}}]}
        role["rules"] = [dict(rule) for rule in rules]
        try:
            store.create(CLUSTER_ROLES, role)
        except AlreadyExists:
            pass
    for name, role_name, groups in _CLUSTER_ROLE_BINDINGS:
        if store.get(CLUSTER_ROLE_BINDINGS, "", name) is not None:
            continue
        binding = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
                   "metadata": new_metadata(name, labels=_BOOTSTRAP_LABELS, annotations=_BOOTSTRAP_ANNOTATIONS),
                   "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
                   "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": group} for group in groups]}
        try:
            store.create(CLUSTER_ROLE_BINDINGS, binding)
        except AlreadyExists:
            pass
    aggregate_cluster_roles(store)


def aggregate_cluster_roles(store) -> int:
    """The clusterrole-aggregation controller: set each aggregated ClusterRole's rules to the union of
    the rules of the ClusterRoles its ``aggregationRule`` selects. Repeats until nothing changes (an
    aggregated role may itself be selected by another); returns how many updates were written."""
    writes = 0
    for _ in range(10):
        changed = False
        roles, _ = store.list(CLUSTER_ROLES)
        for role in roles:
            selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors")
            if not selectors:
                continue
            rules: List[dict] = []
            for other in roles:
                if other["metadata"]["name"] == role["metadata"]["name"]:
                    continue
                if any(selector_matches(sel, other["metadata"].get("labels")) for sel in selectors):
                    for rule in other.get("rules") or []:
                        if rule not in rules:
                            rules.append(rule)
            if rules != (role.get("rules") or []):
                role["rules"] = rules
                try:
                    store.update(CLUSTER_ROLES, role, expected_rv=role["metadata"]["resourceVersion"])
                except (Conflict, NotFound):
                    pass
                changed = True
                writes += 1
        if not changed:
            break
    return writes


# -- review APIs ------------------------------------------------------------------------------------

def _review_kind(rt) -> str:
    return getattr(rt, "kind", rt)


def _attributes_from_spec(spec: dict) -> RequestAttributes:
    resource_attrs = spec.get("resourceAttributes")
    if resource_attrs is not None:
        return RequestAttributes(verb=resource_attrs.get("verb", ""), api_group=resource_attrs.get("group", ""),
                                 resource=resource_attrs.get("resource", ""),
                                 subresource=resource_attrs.get("subresource", ""),
                                 namespace=resource_attrs.get("namespace", ""), name=resource_attrs.get("name", ""),
                                 resource_request=True)
    non_resource = spec.get("nonResourceAttributes") or {}
    return RequestAttributes(verb=non_resource.get("verb", ""), path=non_resource.get("path", ""),
                             resource_request=False)


def handle_review(rt, body: dict, user: UserInfo, authz: Authorizer, authn: Optional[Authenticator] = None) -> dict:
    """Answer the create of a review object (never stored): the request body with ``status`` filled in.

    ``rt`` is the ResourceType (or its kind). TokenReview needs the :class:`Authenticator`; when not
    passed, the one built on ``authz``'s store is used. Raises ValueError for an invalid review (the
    server answers 400/422 with the message).
    """
    kind = _review_kind(rt)
    spec = dict(body.get("spec") or {})
    out = {"kind": kind, "apiVersion": body.get("apiVersion") or (getattr(rt, "api_version", "") or ""),
           "metadata": dict(body.get("metadata") or {}), "spec": spec}
    out["metadata"].setdefault("creationTimestamp", None)
    if kind in ("SelfSubjectAccessReview", "SubjectAccessReview"):
        has_resource = spec.get("resourceAttributes") is not None
        has_non_resource = spec.get("nonResourceAttributes") is not None
        if has_resource == has_non_resource:
            raise ValueError(f"{kind}.authorization.k8s.io is invalid: spec.resourceAttributes: Invalid value: "
                             f'"null": exactly one of nonResourceAttributes or resourceAttributes must be specified')
        if kind == "SelfSubjectAccessReview":
            subject = user
        else:
            if not spec.get("user") and not spec.get("groups"):
                raise ValueError("SubjectAccessReview.authorization.k8s.io is invalid: spec.user: Invalid value: "
                                 '"": at least one of user or group must be specified')
            subject = UserInfo(spec.get("user", ""), list(spec.get("groups") or []), spec.get("uid", ""),
                               dict(spec.get("extra") or {}))
        allowed, reason = authz.authorize(subject, _attributes_from_spec(spec))
        status: dict = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        out["status"] = status
        return out
    if kind == "TokenReview":
        authn = authn or _AUTHENTICATORS.get(authz.store)
        token = spec.get("token", "")
        if not token:
            raise ValueError('TokenReview.authentication.k8s.io is invalid: spec.token: Required value')
        if authn is None:
            out["status"] = {"user": {}, "error": "token authentication is not configured"}
            return out
        reviewed, audiences, error = authn.authenticate_token(token, spec.get("audiences") or None)
        if reviewed is None:
            out["status"] = {"user": {}, "error": error}
        else:
            out["status"] = {"authenticated": True, "user": reviewed.to_api(), "audiences": audiences}
        return out
    if kind == "SelfSubjectReview":
        out.pop("spec", None)
        out["status"] = {"userInfo": user.to_api()}
        return out
    raise ValueError(f"{kind} is not a review API")
