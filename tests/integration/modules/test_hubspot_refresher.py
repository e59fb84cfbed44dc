"""The CronJob's refresher program, run as its container would run it, against the API emulator.

Same command line and environment as the token_refresh CronJob: ``python3 hubspot_refresher.py``
with PYTHONPATH set to a directory holding the two ConfigMap files side by side, the ServiceAccount
token from a TokenRequest, the cluster CA and namespace in SERVICEACCOUNT_DIR, and RBAC on: the
ServiceAccount may only get/update Secret hubspot-access-token and get/patch StatefulSet hubspot-mcp.
``-S`` keeps site-packages off sys.path, proving it needs nothing beyond the standard library.
"""

import base64
import os
import shutil
import subprocess
import sys
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


class Cluster:
    def __init__(self, emulator, ns):
        self.emulator, self.ns = emulator, ns

    def call(self, method, path, body=None, token=None, expect=None, content_type="application/json"):
        status, _h, answer = self.emulator.http(method, path, body, token=token, content_type=content_type)
        if expect is not None:
            assert status == expect, (method, path, status, answer)
        return status, answer

    def secret(self, name="hubspot-access-token"):
        return self.call("GET", "/api/v1/namespaces/%s/secrets/%s" % (self.ns, name), expect=200)[1]

    def statefulset(self, name="hubspot-mcp"):
        return self.call("GET", "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (self.ns, name), expect=200)[1]


@pytest.fixture(scope="module")
def hubspot():
    with HubSpotServer() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(emulator):
    ns = "refresh-" + uuid.uuid4().hex[:6]
    c = Cluster(emulator, ns)
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
    _s, answer = c.call("POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (ns, SA),
                        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": 3600}}, expect=201)
    c.sa_token = answer["status"]["token"]
    return c


@pytest.fixture
def container(tmp_path, cluster, emulator, hubspot):
    """The container's filesystem and environment: /opt/refresher and the service-account mount."""
    program = tmp_path / "opt-refresher"
    program.mkdir()
    shutil.copy(REFRESHER, program / "hubspot_refresher.py")
    shutil.copy(OAUTH, program / "hubspot_oauth.py")
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(cluster.sa_token)
    shutil.copy(emulator.ca_file, sa_dir / "ca.crt")
    (sa_dir / "namespace").write_text(cluster.ns)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(program),
        "HUBSPOT_CLIENT_ID": hubspot.client_id,
        "HUBSPOT_CLIENT_SECRET": hubspot.client_secret,
        "HUBSPOT_REFRESH_TOKEN": hubspot.refresh_token,
        "HUBSPOT_TOKEN_URL": hubspot.url,
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(emulator.port),
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
        for secret in [hubspot.client_secret, hubspot.refresh_token, cluster.sa_token] + hubspot.issued:
            assert secret not in output, "a secret leaked into the refresher's output"
            assert base64.b64encode(secret.encode()).decode() not in output
        return proc

    return run


def restarted_at(obj):
    return (obj["spec"]["template"]["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")


def test_refresher_updates_secret_and_restarts(cluster, container, hubspot, emulator):
    hubspot.clear()
    before_sts = cluster.statefulset()
    proc = container()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secret = cluster.secret()
    assert base64.b64decode(secret["data"]["access_token"]).decode() == hubspot.issued[-1]
    annotations = secret["metadata"]["annotations"]
    assert annotations["mcp-gateway.io/expires-at"] > annotations["mcp-gateway.io/refreshed-at"]
    after_sts = cluster.statefulset()
    assert restarted_at(after_sts) is not None and restarted_at(after_sts) != restarted_at(before_sts)
    assert restarted_at(after_sts) >= annotations["mcp-gateway.io/refreshed-at"]
    assert after_sts["metadata"]["generation"] == before_sts["metadata"]["generation"] + 1
    assert "updated Secret %s/hubspot-access-token" % cluster.ns in proc.stdout
    assert "restarted StatefulSet %s/hubspot-mcp" % cluster.ns in proc.stdout
    assert [r["status"] for r in hubspot.requests] == [200]
    # The API calls were made as the ServiceAccount, not as admin
    mine = [r for r in emulator.requests() if SA in str(r.get("user", "")) and cluster.ns in r.get("path", "")]
    assert {(r["method"], r["status"] if "status" in r else r.get("code")) for r in mine} >= {("GET", 200), ("PUT", 200), ("PATCH", 200)}


def test_serviceaccount_is_refused_everything_else(cluster):
    ns, token = cluster.ns, cluster.sa_token
    assert cluster.call("GET", "/api/v1/namespaces/%s/secrets/hubspot-access-token" % ns, token=token)[0] == 200
    assert cluster.call("GET", "/apis/apps/v1/namespaces/%s/statefulsets/hubspot-mcp" % ns, token=token)[0] == 200
    status, answer = cluster.call("GET", "/api/v1/namespaces/%s/secrets/other-secret" % ns, token=token)
    assert status == 403 and "system:serviceaccount:%s:%s" % (ns, SA) in answer["message"]
    assert cluster.call("GET", "/api/v1/namespaces/%s/secrets" % ns, token=token)[0] == 403
    assert cluster.call("DELETE", "/api/v1/namespaces/%s/secrets/hubspot-access-token" % ns, token=token)[0] == 403
    assert cluster.call("POST", "/api/v1/namespaces/%s/secrets" % ns,
                        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, token=token)[0] == 403
    patch = {"spec": {"template": {"metadata": {"annotations": {"x": "y"}}}}}
    assert cluster.call("PATCH", "/apis/apps/v1/namespaces/%s/statefulsets/other-sts" % ns, patch, token=token,
                        content_type="application/strategic-merge-patch+json")[0] == 403
    assert cluster.call("GET", "/api/v1/namespaces/default/secrets/hubspot-access-token", token=token)[0] in (403, 404)


def test_hubspot_failure_leaves_everything_as_it_was(cluster, container, hubspot):
    before_secret, before_sts = cluster.secret(), cluster.statefulset()
    hubspot.clear()
    hubspot.script(("invalid_grant",))
    proc = container()
    assert proc.returncode == 1
    assert "HubSpot exchange failed (permanent)" in proc.stdout and "BAD_REFRESH_TOKEN" in proc.stdout
    assert "left unchanged" in proc.stdout
    assert cluster.secret()["metadata"]["resourceVersion"] == before_secret["metadata"]["resourceVersion"]
    assert cluster.statefulset()["metadata"]["generation"] == before_sts["metadata"]["generation"]


def test_conflict_is_retried(cluster, container, hubspot, emulator):
    emulator.inject_fault(method="PUT", path_regex="/namespaces/%s/secrets/hubspot-access-token" % cluster.ns,
                          status=409, times=1)
    try:
        proc = container()
    finally:
        emulator.clear_faults()
    assert proc.returncode == 0, proc.stdout
    assert "changed while updating it (409); re-reading" in proc.stdout
    secret = cluster.secret()
    assert base64.b64decode(secret["data"]["access_token"]).decode() == hubspot.issued[-1]


def test_forbidden_restart_target_and_config_errors(cluster, container, hubspot):
    proc = container(RESTART_NAME="other-sts")
    assert proc.returncode == 3
    assert "Kubernetes API error" in proc.stdout and "403" in proc.stdout and "other-sts" in proc.stdout
    proc = container(HUBSPOT_CLIENT_SECRET=None)
    assert proc.returncode == 2 and "missing environment variable(s): HUBSPOT_CLIENT_SECRET" in proc.stdout
    proc = container(RESTART_KIND="CronJob")
    assert proc.returncode == 2 and "RESTART_KIND must be one of" in proc.stdout
    proc = container(POD_NAMESPACE="default")
    assert proc.returncode == 3 and "403" in proc.stdout
