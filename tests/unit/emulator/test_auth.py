"""Authentication (admin token, ServiceAccount JWTs, legacy Secret tokens), RBAC and the review APIs
of the API emulator, driven through its store directly (no HTTP)."""

import base64
import time

import jwt
import pytest

from k8s_emulator.auth import (
    Authenticator, Authorizer, RequestAttributes, ServiceAccountNotFound, TokenIssuer, UserInfo,
    forbidden_message, forbidden_status, handle_review,
)
from k8s_emulator.controllers import new_metadata
from k8s_emulator.registry import Registry
from k8s_emulator.store import Store

ADMIN_TOKEN = "admin-token-for-unit-tests"
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("sa-key"))


@pytest.fixture()
def store():
    return Store()


@pytest.fixture()
def issuer(key_dir):
    return TokenIssuer(key_dir)


@pytest.fixture()
def authn(store, issuer):
    return Authenticator(store, ADMIN_TOKEN, issuer)


@pytest.fixture()
def authz(store):
    return Authorizer(store)


def add_sa(store, namespace, name):
    return store.create(("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": new_metadata(name, namespace)})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# -- authentication ---------------------------------------------------------------------------------

def test_admin_token(authn):
    user = authn.authenticate(bearer(ADMIN_TOKEN))
    assert user.name == "admin" and user.groups == ["system:masters", "system:authenticated"]
    assert authn.authenticate({"authorization": f"bearer {ADMIN_TOKEN}"}).name == "admin"
    assert authn.authenticate(bearer(ADMIN_TOKEN + "x")) is None
    assert authn.authenticate({"Authorization": "Basic YWRtaW46YWRtaW4="}) is None


def test_no_credentials_is_anonymous_unless_disabled(store, issuer, authn):
    user = authn.authenticate({})
    assert (user.name, user.groups) == ("system:anonymous", ["system:unauthenticated"])
    assert Authenticator(store, ADMIN_TOKEN, issuer, anonymous=False).authenticate({}) is None


def test_service_account_token_claims_like_kube_apiserver(store, issuer, authn):
    sa = add_sa(store, "mcp", "refresher")
    token, expiration = issuer.mint("mcp", "refresher", None, 3600)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == issuer.kid
    # Verify with the published JWKS, as an external OIDC consumer would.
    jwk = jwt.PyJWKSet.from_dict(issuer.jwks()).keys[0]
    claims = jwt.decode(token, jwk.key, algorithms=["RS256"], audience="https://kubernetes.default.svc.cluster.local",
                        issuer="https://kubernetes.default.svc.cluster.local")
    assert claims["sub"] == "system:serviceaccount:mcp:refresher"
    assert claims["kubernetes.io"] == {"namespace": "mcp", "serviceaccount": {"name": "refresher", "uid": sa["metadata"]["uid"]}}
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert expiration == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))

    user = authn.authenticate(bearer(token))
    assert user.name == "system:serviceaccount:mcp:refresher"
    assert user.groups == ["system:serviceaccounts", "system:serviceaccounts:mcp", "system:authenticated"]
    assert user.uid == sa["metadata"]["uid"]
    assert user.extra == {"authentication.kubernetes.io/credential-id": [f"JTI={claims['jti']}"]}


def test_key_is_persisted_and_reused(key_dir, issuer):
    assert TokenIssuer(key_dir).kid == issuer.kid


def test_token_request_for_missing_service_account(issuer, authn):
    with pytest.raises(ServiceAccountNotFound, match='serviceaccounts "ghost" not found'):
        issuer.mint("mcp", "ghost", None, 600)


def test_expired_token_rejected(store, issuer, authn):
    add_sa(store, "mcp", "refresher")
    token, _ = issuer.mint("mcp", "refresher", None, 600, now=time.time() - 601)
    assert authn.authenticate(bearer(token)) is None
    user, _, error = authn.authenticate_token(token)
    assert user is None and "service account token has expired" in error


def test_wrong_audience_rejected_and_custom_audience_reviewable(store, issuer, authn, authz):
    add_sa(store, "mcp", "refresher")
    token, _ = issuer.mint("mcp", "refresher", ["vault"], 600)
    assert authn.authenticate(bearer(token)) is None
    review = handle_review("TokenReview", {"apiVersion": "authentication.k8s.io/v1", "spec": {"token": token}},
                           UserInfo("admin", ["system:masters"]), authz)
    assert "status" in review and review["status"].get("authenticated") is None
    assert 'token audiences ["vault"] is invalid for the target audiences ["https://kubernetes.default.svc.cluster.local"]' \
        in review["status"]["error"]
    review = handle_review("TokenReview", {"spec": {"token": token, "audiences": ["vault", "other"]}},
                           UserInfo("admin", ["system:masters"]), authz)
    assert review["status"]["authenticated"] is True
    assert review["status"]["audiences"] == ["vault"]
    assert review["status"]["user"]["username"] == "system:serviceaccount:mcp:refresher"


def test_deleted_or_recreated_service_account_invalidates_token(store, issuer, authn):
    add_sa(store, "mcp", "refresher")
    token, _ = issuer.mint("mcp", "refresher", None, 600)
    assert authn.authenticate(bearer(token)) is not None
    store.delete(("", "serviceaccounts"), "mcp", "refresher")
    assert authn.authenticate(bearer(token)) is None
    assert 'serviceaccounts "refresher" not found' in authn.authenticate_token(token)[2]
    add_sa(store, "mcp", "refresher")  # same name, new uid
    assert authn.authenticate(bearer(token)) is None
    assert "does not match claim" in authn.authenticate_token(token)[2]


def test_token_from_another_key_rejected(store, authn, tmp_path):
    add_sa(store, "mcp", "refresher")
    stranger = TokenIssuer(str(tmp_path), store=store)
    token, _ = stranger.mint("mcp", "refresher", None, 600)
    assert authn.authenticate(bearer(token)) is None
    assert authn.authenticate(bearer("not-a-jwt")) is None


def test_pod_bound_token_dies_with_its_pod(store, issuer, authn):
    add_sa(store, "mcp", "refresher")
    pod = store.create(("", "pods"), {"apiVersion": "v1", "kind": "Pod", "metadata": new_metadata("p", "mcp")})
    token, _ = issuer.mint("mcp", "refresher", None, 600,
                           bound_object={"kind": "Pod", "name": "p", "uid": pod["metadata"]["uid"]})
    user = authn.authenticate(bearer(token))
    assert user.extra["authentication.kubernetes.io/pod-name"] == ["p"]
    store.delete(("", "pods"), "mcp", "p")
    assert authn.authenticate(bearer(token)) is None


def test_legacy_secret_token(store, issuer, authn):
    sa = add_sa(store, "mcp", "legacy")
    token = issuer.mint_legacy("mcp", "legacy", sa["metadata"]["uid"], "legacy-token")
    store.create(("", "secrets"), {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                                   "metadata": new_metadata("legacy-token", "mcp"),
                                   "data": {"token": base64.b64encode(token.encode()).decode()}})
    assert authn.authenticate(bearer(token)).name == "system:serviceaccount:mcp:legacy"
    store.delete(("", "secrets"), "mcp", "legacy-token")
    assert authn.authenticate(bearer(token)) is None
    assert "Token has been invalidated" in authn.authenticate_token(token)[2]


# -- RBAC -------------------------------------------------------------------------------------------

def make_role(store, kind, name, rules, namespace=None):
    plural = "roles" if kind == "Role" else "clusterroles"
    store.create((RBAC, plural), {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": new_metadata(name, namespace),
                                  "rules": rules})


def make_binding(store, kind, name, role_kind, role_name, subjects, namespace=None):
    plural = "rolebindings" if kind == "RoleBinding" else "clusterrolebindings"
    store.create((RBAC, plural), {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": new_metadata(name, namespace),
                                  "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
                                  "subjects": subjects})


SA_USER = UserInfo("system:serviceaccount:mcp:refresher",
                   ["system:serviceaccounts", "system:serviceaccounts:mcp", "system:authenticated"])


def res(verb, resource, namespace="mcp", name="", group="", subresource=""):
    return RequestAttributes(verb, group, resource, subresource, namespace, name, "", True)


@pytest.fixture()
def refresher_rbac(store, authz):
    """The token-refresh CronJob's permissions: one Secret by name, one StatefulSet by name (patch)."""
    make_role(store, "Role", "refresher", [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["hubspot-access-token"],
         "verbs": ["get", "list", "watch", "update", "patch"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["hubspot-mcp"],
         "verbs": ["get", "patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments/status", "*/scale"], "verbs": ["get"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["*"]},
    ], "mcp")
    make_binding(store, "RoleBinding", "refresher", "Role", "refresher",
                 [{"kind": "ServiceAccount", "name": "refresher"}], "mcp")
    return authz


@pytest.mark.parametrize("attrs, allowed", [
    (res("get", "secrets", name="hubspot-access-token"), True),
    (res("patch", "secrets", name="hubspot-access-token"), True),
    (res("get", "secrets", name="other"), False),
    (res("list", "secrets"), False),                      # resourceNames never match a list ...
    (res("watch", "secrets"), False),                     # ... or a watch without a name
    (res("watch", "secrets", name="hubspot-access-token"), True),  # watch with metadata.name field selector
    (res("create", "secrets"), False),                    # ... or a create
    (res("deletecollection", "secrets"), False),
    (res("delete", "secrets", name="hubspot-access-token"), False),
    (res("get", "secrets", namespace="default", name="hubspot-access-token"), False),  # other namespace
    (res("patch", "statefulsets", name="hubspot-mcp", group="apps"), True),
    (res("patch", "statefulsets", name="hubspot-mcp", group="apps", subresource="status"), False),
    (res("patch", "statefulsets", name="hubspot-mcp", group=""), False),  # wrong API group
    (res("get", "deployments", name="x", group="apps", subresource="status"), True),
    (res("get", "deployments", name="x", group="apps"), False),
    (res("get", "statefulsets", name="x", group="apps", subresource="scale"), True),  # */scale
    (res("get", "statefulsets", name="x", group="apps", subresource="status"), False),
    (res("delete", "jobs", name="any", group="batch"), True),  # verbs "*"
    (res("list", "jobs", namespace="", group="batch"), False),  # all namespaces needs a cluster binding
])
def test_rbac_matrix(refresher_rbac, attrs, allowed):
    assert refresher_rbac.authorize(SA_USER, attrs)[0] is allowed


def test_allowed_reason_names_the_binding(refresher_rbac):
    allowed, reason = refresher_rbac.authorize(SA_USER, res("get", "secrets", name="hubspot-access-token"))
    assert allowed
    assert reason == 'RBAC: allowed by RoleBinding "refresher/mcp" of Role "refresher" to ServiceAccount "refresher/mcp"'


def test_system_masters_allowed_everything(authz):
    assert authz.authorize(UserInfo("admin", ["system:masters", "system:authenticated"]),
                           res("deletecollection", "customresourcedefinitions", namespace="", group="apiextensions.k8s.io"))[0]


def test_cluster_role_binding_to_user_and_group(store, authz):
    make_binding(store, "ClusterRoleBinding", "ops-view", "ClusterRole", "view", [{"kind": "Group", "name": "ops"}])
    make_binding(store, "ClusterRoleBinding", "alice-crd", "ClusterRole", "crd-reader", [{"kind": "User", "name": "alice"}])
    make_role(store, "ClusterRole", "crd-reader", [{"apiGroups": ["apiextensions.k8s.io"], "resources": ["*"], "verbs": ["get"]}])
    bob = UserInfo("bob", ["ops", "system:authenticated"])
    assert authz.authorize(bob, res("list", "deployments", namespace="", group="apps"))[0]  # aggregated view rules
    assert not authz.authorize(bob, res("get", "secrets", name="x"))[0]  # view excludes secrets
    alice = UserInfo("alice", ["system:authenticated"])
    assert authz.authorize(alice, res("get", "customresourcedefinitions", namespace="", name="x", group="apiextensions.k8s.io"))[0]
    assert not authz.authorize(alice, res("list", "customresourcedefinitions", namespace="", group="apiextensions.k8s.io"))[0]


def test_role_binding_to_cluster_role_is_namespaced(store, authz):
    make_binding(store, "RoleBinding", "dev-edit", "ClusterRole", "edit", [{"kind": "User", "name": "dev"}], "mcp")
    dev = UserInfo("dev", ["system:authenticated"])
    assert authz.authorize(dev, res("create", "deployments", group="apps"))[0]
    assert authz.authorize(dev, res("get", "secrets", name="s"))[0]
    assert not authz.authorize(dev, res("create", "deployments", namespace="default", group="apps"))[0]
    assert not authz.authorize(dev, res("create", "roles", group=RBAC))[0]  # only admin may


def test_missing_role_is_reported_in_reason(store, authz):
    make_binding(store, "RoleBinding", "dangling", "Role", "gone", [{"kind": "User", "name": "dev"}], "mcp")
    allowed, reason = authz.authorize(UserInfo("dev", ["system:authenticated"]), res("get", "pods", name="p"))
    assert not allowed and reason == 'RBAC: role.rbac.authorization.k8s.io "gone" not found'


@pytest.mark.parametrize("path, anonymous_allowed, authenticated_allowed", [
    ("/version", True, True), ("/healthz", True, True), ("/readyz", True, True),
    ("/api", False, True), ("/apis/apps/v1", False, True), ("/openapi/v3", False, True),
    ("/metrics", False, False),
])
def test_non_resource_urls(authz, path, anonymous_allowed, authenticated_allowed):
    attrs = RequestAttributes("get", path=path, resource_request=False)
    assert authz.authorize(UserInfo("system:anonymous", ["system:unauthenticated"]), attrs)[0] is anonymous_allowed
    assert authz.authorize(SA_USER, attrs)[0] is authenticated_allowed
    assert not authz.authorize(SA_USER, RequestAttributes("post", path=path, resource_request=False))[0]


def test_bootstrap_is_idempotent(store, authz):
    before = store.current_rv()
    Authorizer(store)
    assert store.current_rv() == before


def test_aggregation_follows_new_labelled_roles(store, authz):
    from k8s_emulator.auth import aggregate_cluster_roles
    store.create((RBAC, "clusterroles"), {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
                 "metadata": new_metadata("gateway-view", labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
                 "rules": [{"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "verbs": ["get"]}]})
    assert aggregate_cluster_roles(store) == 3  # view, then edit, then admin
    for role in ("view", "edit", "admin"):
        rules = store.get((RBAC, "clusterroles"), "", role)["rules"]
        assert {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "verbs": ["get"]} in rules


# -- forbidden messages and reviews -----------------------------------------------------------------

def test_forbidden_messages_match_kube_apiserver():
    assert forbidden_message(SA_USER, res("get", "secrets", name="db")) == (
        'secrets "db" is forbidden: User "system:serviceaccount:mcp:refresher" cannot get resource "secrets" '
        'in API group "" in the namespace "mcp"')
    assert forbidden_message(SA_USER, res("list", "deployments", namespace="", group="apps")) == (
        'deployments.apps is forbidden: User "system:serviceaccount:mcp:refresher" cannot list resource '
        '"deployments" in API group "apps" at the cluster scope')
    assert forbidden_message(SA_USER, res("patch", "statefulsets", name="x", group="apps", subresource="scale")) == (
        'statefulsets.apps "x" is forbidden: User "system:serviceaccount:mcp:refresher" cannot patch resource '
        '"statefulsets/scale" in API group "apps" in the namespace "mcp"')
    assert forbidden_message(UserInfo("system:anonymous"), RequestAttributes("get", path="/api", resource_request=False)) == (
        'forbidden: User "system:anonymous" cannot get path "/api"')
    status = forbidden_status(SA_USER, res("get", "secrets", name="db"), "RBAC: x")
    assert status["code"] == 403 and status["reason"] == "Forbidden" and status["message"].endswith(": RBAC: x")
    assert status["details"] == {"name": "db", "kind": "secrets"}


def test_self_subject_access_review(refresher_rbac):
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "mcp", "verb": "patch", "group": "apps",
                                            "resource": "statefulsets", "name": "hubspot-mcp"}}}
    registry = Registry()
    rt = registry.lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
    review = handle_review(rt, body, SA_USER, refresher_rbac)
    assert review["kind"] == "SelfSubjectAccessReview" and review["status"]["allowed"] is True
    assert review["spec"] == body["spec"]
    body["spec"]["resourceAttributes"]["name"] = "other"
    assert handle_review(rt, body, SA_USER, refresher_rbac)["status"] == {"allowed": False}
    with pytest.raises(ValueError, match="exactly one of nonResourceAttributes or resourceAttributes"):
        handle_review(rt, {"spec": {}}, SA_USER, refresher_rbac)
    nonres = {"spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}}}
    assert handle_review(rt, nonres, SA_USER, refresher_rbac)["status"]["allowed"] is True


def test_subject_access_review_for_another_user(refresher_rbac):
    body = {"spec": {"user": SA_USER.name, "groups": SA_USER.groups,
                     "resourceAttributes": {"namespace": "mcp", "verb": "get", "resource": "secrets",
                                            "name": "hubspot-access-token"}}}
    review = handle_review("SubjectAccessReview", body, UserInfo("admin", ["system:masters"]), refresher_rbac)
    assert review["status"]["allowed"] is True and review["status"]["reason"].startswith("RBAC: allowed by RoleBinding")


def test_self_subject_review_is_whoami(store, issuer, authn, authz):
    add_sa(store, "mcp", "refresher")
    token, _ = issuer.mint("mcp", "refresher", None, 600)
    user = authn.authenticate(bearer(token))
    review = handle_review("SelfSubjectReview", {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                           user, authz)
    info = review["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:mcp:refresher" and info["uid"] == user.uid
    assert info["groups"] == user.groups and "authentication.kubernetes.io/credential-id" in info["extra"]
