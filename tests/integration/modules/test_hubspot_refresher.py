"""The CronJob's refresher program, run as its container would run it, against the real control plane.

Same command line and environment as the token_refresh CronJob: ``python3 hubspot_refresher.py``
with PYTHONPATH set to a directory holding the two ConfigMap files side by side, and the
service-account mount in SERVICEACCOUNT_DIR: a real ServiceAccount token (TokenRequest API), the
cluster's CA and the namespace. KUBERNETES_SERVICE_HOST/PORT point at the real kube-apiserver on
127.0.0.1, so real authentication and real RBAC decide: the ServiceAccount may only get/update Secret
hubspot-access-token and get/patch StatefulSet hubspot-mcp (proven with ``kubectl auth can-i``), and
what it did is read back from the API server's audit log. Only HubSpot is a double (tests/peers).
``-S`` keeps site-packages off sys.path, proving it needs nothing beyond the standard library.

Not tested here: the retry on 409 Conflict. The refresher GETs and PUTs the Secret back to back, after
the HubSpot exchange, so no real concurrent write can be placed between the two deterministically
without mocking the API server (the emulator's injected 409 is gone with it; a real fault proxy will
come). The module's own 409 retry is tested for real in test_hubspot_token.py.
"""

import base64
import os
import shutil
import subprocess
import sys
import urllib.parse
import uuid

import pytest

from peers.hubspot_server import HubSpotServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
REFRESHER = os.path.join(ROOT, "roles", "token_refresh", "files", "hubspot_refresher.py")
OAUTH = os.path.join(ROOT, "plugins", "module_utils", "hubspot_oauth.py")
SA = "hubspot-token-refresher"


def sts(name):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "registry.example/%s:1" % name}]}}}}


def rbac(ns):
    """The Role/RoleBinding the token_refresh role must render (see the refresher's docstring)."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": SA, "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["hubspot-access-token"],
                       "verbs": ["get", "update"]},
                      {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["hubspot-mcp"],
                       "verbs": ["get", "patch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": SA, "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SA},
               "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": ns}]}
    return role, binding


class Namespace:
    """The CronJob's namespace on the real cluster; reads and raw calls go through ``cluster.http``."""

    def __init__(self, cluster, ns):
        self.cluster, self.ns = cluster, ns
        self.sa_token = None

    def call(self, method, path, body=None, token=None, expect=None, content_type="application/json"):
        status, _h, answer = self.cluster.http(method, path, body, token=token, content_type=content_type)
        if expect is not None:
            assert status == expect, (method, path, status, answer)
        return status, answer

    def secret(self, name="hubspot-access-token"):
        return self.call("GET", "/api/v1/namespaces/%s/secrets/%s" % (self.ns, name), expect=200)[1]

    def statefulset(self, name="hubspot-mcp"):
        return self.call("GET", "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (self.ns, name), expect=200)[1]

    def can_i(self, verb, resource, namespace=None, subresource=None):
        """Whether the API server's authorizer lets the ServiceAccount do it (admin impersonating it)."""
        extra = ["--subresource=" + subresource] if subresource else []
        proc = self.cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace or self.ns, *extra,
                                    "--as=system:serviceaccount:%s:%s" % (self.ns, SA), check=False)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.returncode == 0


@pytest.fixture(scope="module")
def hubspot():
    with HubSpotServer() as server:
        yield server


@pytest.fixture(scope="module")
def site(cluster):
    ns = "refresh-" + uuid.uuid4().hex[:6]
    c = Namespace(cluster, ns)
    c.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, expect=201)
    c.call("POST", "/api/v1/namespaces/%s/serviceaccounts" % ns,
           {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA}}, expect=201)
    for name, value in (("hubspot-access-token", "placeholder"), ("other-secret", "not-for-the-refresher")):
        c.call("POST", "/api/v1/namespaces/%s/secrets" % ns,
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "data": {"access_token": base64.b64encode(value.encode()).decode()}}, expect=201)
    for name in ("hubspot-mcp", "other-sts"):
        c.call("POST", "/apis/apps/v1/namespaces/%s/statefulsets" % ns, sts(name), expect=201)
    role, binding = rbac(ns)
    c.call("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles" % ns, role, expect=201)
    c.call("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings" % ns, binding, expect=201)
    c.sa_token = cluster.token(SA, ns)
    return c


@pytest.fixture
def container(tmp_path, site, cluster, hubspot):
    """The container's filesystem and environment: /opt/refresher and the service-account mount."""
    program = tmp_path / "opt-refresher"
    program.mkdir()
    shutil.copy(REFRESHER, program / "hubspot_refresher.py")
    shutil.copy(OAUTH, program / "hubspot_oauth.py")
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(site.sa_token)
    shutil.copy(cluster.ca_file, sa_dir / "ca.crt")
    (sa_dir / "namespace").write_text(site.ns)
    server = urllib.parse.urlsplit(cluster.server)
    assert server.hostname == "127.0.0.1"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(program),
        "HUBSPOT_CLIENT_ID": hubspot.client_id,
        "HUBSPOT_CLIENT_SECRET": hubspot.client_secret,
        "HUBSPOT_REFRESH_TOKEN": hubspot.refresh_token,
        "HUBSPOT_TOKEN_URL": hubspot.url,
        "KUBERNETES_SERVICE_HOST": server.hostname,
        "KUBERNETES_SERVICE_PORT": str(server.port),
        "SERVICEACCOUNT_DIR": str(sa_dir),
        "REQUEST_TIMEOUT_SECONDS": "5",
    }

    def run(**overrides):
        run_env = dict(env, **overrides)
        for key in [k for k, v in run_env.items() if v is None]:
            del run_env[key]
        proc = subprocess.run([sys.executable, "-S", str(program / "hubspot_refresher.py")], env=run_env,
                              capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
        output = proc.stdout + proc.stderr
        for secret in [hubspot.client_secret, hubspot.refresh_token, site.sa_token] + hubspot.issued:
            assert secret not in output, "a secret leaked into the refresher's output"
            assert base64.b64encode(secret.encode()).decode() not in output
        return proc

    return run


def restarted_at(obj):
    return (obj["spec"]["template"]["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")


def sa_events(cluster, site, offset):
    """(verb, resource, name, code) of what the ServiceAccount asked the API server, from its audit log."""
    user = "system:serviceaccount:%s:%s" % (site.ns, SA)
    return [(e["verb"], e["objectRef"].get("resource"), e["objectRef"].get("name"), e["responseStatus"]["code"])
            for e in cluster.audit_events(since=offset) if e["user"]["username"] == user]


def test_refresher_updates_secret_and_restarts(site, container, hubspot, cluster):
    hubspot.clear()
    before_sts = site.statefulset()
    offset = cluster.audit_offset()
    proc = container()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secret = site.secret()
    assert base64.b64decode(secret["data"]["access_token"]).decode() == hubspot.issued[-1]
    annotations = secret["metadata"]["annotations"]
    assert annotations["mcp-gateway.io/expires-at"] > annotations["mcp-gateway.io/refreshed-at"]
    after_sts = site.statefulset()
    assert restarted_at(after_sts) is not None and restarted_at(after_sts) != restarted_at(before_sts)
    assert restarted_at(after_sts) >= annotations["mcp-gateway.io/refreshed-at"]
    assert after_sts["metadata"]["generation"] == before_sts["metadata"]["generation"] + 1
    assert "updated Secret %s/hubspot-access-token" % site.ns in proc.stdout
    assert "restarted StatefulSet %s/hubspot-mcp" % site.ns in proc.stdout
    assert [r["status"] for r in hubspot.requests] == [200]
    # The API server's record: exactly these calls, made as the ServiceAccount (not as admin), all allowed
    assert sa_events(cluster, site, offset) == [
        ("get", "secrets", "hubspot-access-token", 200),
        ("update", "secrets", "hubspot-access-token", 200),
        ("patch", "statefulsets", "hubspot-mcp", 200)]


def test_serviceaccount_may_do_exactly_its_grant(site):
    """The real authorizer (RBAC), asked with ``kubectl auth can-i`` as admin impersonating the ServiceAccount."""
    allowed = [("get", "secrets/hubspot-access-token"), ("update", "secrets/hubspot-access-token"),
               ("get", "statefulsets.apps/hubspot-mcp"), ("patch", "statefulsets.apps/hubspot-mcp")]
    refused = [("get", "secrets/other-secret"), ("update", "secrets/other-secret"),
               ("patch", "secrets/hubspot-access-token"), ("delete", "secrets/hubspot-access-token"),
               ("watch", "secrets/hubspot-access-token"), ("list", "secrets"), ("create", "secrets"),
               ("get", "secrets"),
               ("update", "statefulsets.apps/hubspot-mcp"), ("delete", "statefulsets.apps/hubspot-mcp"),
               ("get", "statefulsets.apps/other-sts"), ("patch", "statefulsets.apps/other-sts"),
               ("list", "statefulsets.apps"), ("create", "statefulsets.apps"),
               ("patch", "deployments.apps/hubspot-mcp"), ("get", "configmaps"), ("get", "pods"),
               ("create", "pods"), ("get", "serviceaccounts"), ("create", "serviceaccounts/%s/token" % SA),
               ("get", "roles.rbac.authorization.k8s.io/%s" % SA), ("update", "roles.rbac.authorization.k8s.io/%s" % SA)]
    assert [v_r for v_r in allowed if not site.can_i(*v_r)] == []
    assert [v_r for v_r in refused if site.can_i(*v_r)] == []
    # nor a subresource of the granted objects
    assert site.can_i("patch", "statefulsets.apps/hubspot-mcp") and \
        not site.can_i("patch", "statefulsets.apps/hubspot-mcp", subresource="status")
    assert not site.can_i("update", "statefulsets.apps/hubspot-mcp", subresource="scale")
    # the grant is namespaced: the same names elsewhere are refused
    assert not site.can_i("get", "secrets/hubspot-access-token", namespace="default")
    assert not site.can_i("patch", "statefulsets.apps/hubspot-mcp", namespace="kube-system")


def test_serviceaccount_is_refused_everything_else(site):
    ns, token = site.ns, site.sa_token
    assert site.call("GET", "/api/v1/namespaces/%s/secrets/hubspot-access-token" % ns, token=token)[0] == 200
    assert site.call("GET", "/apis/apps/v1/namespaces/%s/statefulsets/hubspot-mcp" % ns, token=token)[0] == 200
    status, answer = site.call("GET", "/api/v1/namespaces/%s/secrets/other-secret" % ns, token=token)
    assert status == 403 and "system:serviceaccount:%s:%s" % (ns, SA) in answer["message"]
    assert site.call("GET", "/api/v1/namespaces/%s/secrets" % ns, token=token)[0] == 403
    assert site.call("DELETE", "/api/v1/namespaces/%s/secrets/hubspot-access-token" % ns, token=token)[0] == 403
    assert site.call("POST", "/api/v1/namespaces/%s/secrets" % ns,
                     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, token=token)[0] == 403
    patch = {"spec": {"template": {"metadata": {"annotations": {"x": "y"}}}}}
    assert site.call("PATCH", "/apis/apps/v1/namespaces/%s/statefulsets/other-sts" % ns, patch, token=token,
                     content_type="application/strategic-merge-patch+json")[0] == 403
    # RBAC refuses before existence is checked: 403, not 404, for a Secret that does not exist in default
    assert site.call("GET", "/api/v1/namespaces/default/secrets/hubspot-access-token", token=token)[0] == 403
    # a token that is not the API server's is not authenticated at all
    assert site.call("GET", "/api/v1/namespaces/%s/secrets/hubspot-access-token" % ns, token="not-a-token")[0] == 401


def test_hubspot_failure_leaves_everything_as_it_was(site, container, hubspot, cluster):
    before_secret, before_sts = site.secret(), site.statefulset()
    hubspot.clear()
    hubspot.script(("invalid_grant",))
    offset = cluster.audit_offset()
    proc = container()
    assert proc.returncode == 1
    assert "HubSpot exchange failed (permanent)" in proc.stdout and "BAD_REFRESH_TOKEN" in proc.stdout
    assert "left unchanged" in proc.stdout
    assert sa_events(cluster, site, offset) == []  # the Kubernetes API was not even called
    assert site.secret()["metadata"]["resourceVersion"] == before_secret["metadata"]["resourceVersion"]
    assert site.statefulset()["metadata"]["generation"] == before_sts["metadata"]["generation"]


def test_forbidden_restart_target_and_config_errors(site, container, hubspot, cluster):
    offset = cluster.audit_offset()
    proc = container(RESTART_NAME="other-sts")
    assert proc.returncode == 3
    assert "Kubernetes API error" in proc.stdout and "403" in proc.stdout and "other-sts" in proc.stdout
    assert sa_events(cluster, site, offset)[-1] == ("patch", "statefulsets", "other-sts", 403)
    proc = container(HUBSPOT_CLIENT_SECRET=None)
    assert proc.returncode == 2 and "missing environment variable(s): HUBSPOT_CLIENT_SECRET" in proc.stdout
    proc = container(RESTART_KIND="CronJob")
    assert proc.returncode == 2 and "RESTART_KIND must be one of" in proc.stdout
    proc = container(POD_NAMESPACE="default")
    assert proc.returncode == 3 and "403" in proc.stdout
