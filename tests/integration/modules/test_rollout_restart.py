"""rollout_restart through ansible-playbook against the real control plane.

The workloads are real: the real Deployment/StatefulSet/ReplicaSet controllers create the Pods, the
real scheduler binds them to the KWOK Node, and KWOK marks them Running/Ready (no container runs). A
restart therefore rolls out for real: a new ReplicaSet / controller revision, new Pods carrying the
restartedAt annotation, old Pods gone. Unready workloads are made the real way too: a nodeSelector no
Node matches leaves the new Pods Pending (FailedScheduling), so the rollout never completes.
"""

import json
import time
import uuid

import pytest

from modules_playbook import run_playbook

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def pod_template(app):
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "main", "image": "registry.example/mcp/%s:1.0" % app}]}}


def statefulset(name, app):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "labels": {"app": app, "tier": "mcp"}},
            "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": app}},
                     "template": pod_template(app)}}


def deployment(name, app, replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": app, "tier": "mcp"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}, "template": pod_template(app)}}


class Workloads:
    """Reads and writes apps/v1 workloads of one namespace as plain JSON (admin, over the API server's HTTPS)."""

    def __init__(self, cluster, namespace):
        self.cluster = cluster
        self.namespace = namespace

    def path(self, kind, name=""):
        plural = {"StatefulSet": "statefulsets", "Deployment": "deployments"}[kind]
        return "/apis/apps/v1/namespaces/%s/%s%s" % (self.namespace, plural, "/" + name if name else "")

    def create(self, obj):
        status, _h, body = self.cluster.http("POST", self.path(obj["kind"]), obj)
        assert status == 201, body

    def get(self, kind, name):
        status, _h, body = self.cluster.http("GET", self.path(kind, name))
        assert status == 200, body
        return body

    def wait_ready(self, kind, name, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = self.get(kind, name)
            status = obj.get("status") or {}
            if status.get("observedGeneration") == obj["metadata"]["generation"] and \
                    status.get("readyReplicas", 0) == obj["spec"]["replicas"]:
                return obj
            time.sleep(0.2)
        raise AssertionError("%s %s never became ready" % (kind, name))

    def pods(self, app):
        return self.cluster.get("pods", "-n", self.namespace, "-l", "app=" + app)["items"]


@pytest.fixture
def workloads(core, cluster):
    ns = "rr-" + uuid.uuid4().hex[:8]
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    w = Workloads(cluster, ns)
    w.create(statefulset("hubspot-mcp", "mcp-hubspot"))
    w.create(deployment("mcp-example", "mcp-example"))
    w.create(deployment("mcp-mssql", "mcp-mssql", replicas=1))
    ui = deployment("mcp-ui", "mcp-ui")
    ui["metadata"]["labels"]["tier"] = "ui"
    w.create(ui)
    w.wait_ready("StatefulSet", "hubspot-mcp")
    for name in ("mcp-example", "mcp-mssql", "mcp-ui"):
        w.wait_ready("Deployment", name)
    return w


def template_annotation(obj):
    return (obj["spec"]["template"]["metadata"].get("annotations") or {}).get(RESTARTED_AT)


def test_restart_by_name_and_by_selector_with_wait(kubeconfig, workloads, cluster):
    ns, w = workloads.namespace, workloads
    run = run_playbook([
        {"name": "by name", "mcp_gateway.platform.rollout_restart": {
            "kind": "StatefulSet", "name": "hubspot-mcp", "namespace": ns, "wait": True, "wait_timeout": 60,
            "wait_sleep": 1}},
        {"name": "by selector", "mcp_gateway.platform.rollout_restart": {
            "kind": "Deployment", "label_selectors": ["tier=mcp"], "namespace": ns, "wait": True,
            "wait_timeout": 60, "wait_sleep": 1}},
        {"name": "selector matching nothing", "mcp_gateway.platform.rollout_restart": {
            "kind": "DaemonSet", "label_selectors": ["app=none"], "namespace": ns}},
        {"name": "missing", "ignore_errors": True, "mcp_gateway.platform.rollout_restart": {
            "kind": "StatefulSet", "name": "nope", "namespace": ns}},
    ], kubeconfig=kubeconfig)
    by_name = run["by name"]
    assert by_name["changed"]
    [entry] = by_name["restarted"]
    assert entry["kind"] == "StatefulSet" and entry["name"] == "hubspot-mcp" and entry["namespace"] == ns
    sts = w.get("StatefulSet", "hubspot-mcp")
    assert template_annotation(sts) == entry["restartedAt"]
    assert by_name["status"][0]["ready"] and by_name["status"][0]["message"].endswith(": rolled out")
    # the rollout really completed per kubectl's rules
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"]
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    by_selector = run["by selector"]
    assert [r["name"] for r in by_selector["restarted"]] == ["mcp-example", "mcp-mssql"]
    assert all(s["ready"] for s in by_selector["status"])
    for name in ("mcp-example", "mcp-mssql"):
        assert template_annotation(w.get("Deployment", name)) == by_selector["restarted"][0]["restartedAt"]
    assert template_annotation(w.get("Deployment", "mcp-ui")) is None  # not selected
    # The restarts rolled out for real: every Pod now is one of the restarted template, Running and Ready,
    # made by the real controllers (a new ReplicaSet for the Deployments, a new revision for the StatefulSet).
    for app, stamp, replicas in (("mcp-hubspot", entry["restartedAt"], 1),
                                 ("mcp-example", by_selector["restarted"][0]["restartedAt"], 2),
                                 ("mcp-mssql", by_selector["restarted"][1]["restartedAt"], 1)):
        pods = [p for p in w.pods(app) if not p["metadata"].get("deletionTimestamp")]
        assert len(pods) == replicas, (app, [p["metadata"]["name"] for p in pods])
        for pod in pods:
            assert (pod["metadata"].get("annotations") or {}).get(RESTARTED_AT) == stamp, pod["metadata"]
            assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == "kwok-node-0"
            assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    [hubspot_pod] = [p for p in w.pods("mcp-hubspot") if not p["metadata"].get("deletionTimestamp")]
    assert hubspot_pod["metadata"]["labels"]["controller-revision-hash"] == sts["status"]["updateRevision"]
    replicasets = cluster.get("replicasets", "-n", ns, "-l", "app=mcp-example")["items"]
    assert sorted(rs["status"]["replicas"] for rs in replicasets) == [0, 2]
    assert run["selector matching nothing"]["changed"] is False and run["selector matching nothing"]["restarted"] == []
    assert run["missing"]["failed"] and "StatefulSet %s/nope not found" % ns in run["missing"]["msg"]


def test_check_mode_reports_without_patching(kubeconfig, workloads):
    ns, w = workloads.namespace, workloads
    before = w.get("Deployment", "mcp-example")["metadata"]["resourceVersion"]
    run = run_playbook([{"name": "check", "mcp_gateway.platform.rollout_restart": {
        "kind": "Deployment", "label_selectors": ["tier=mcp"], "namespace": ns, "wait": True}}],
        kubeconfig=kubeconfig, check=True)
    check = run["check"]
    assert check["changed"] and [r["name"] for r in check["restarted"]] == ["mcp-example", "mcp-mssql"]
    assert all(r["restartedAt"] is None for r in check["restarted"])
    after = w.get("Deployment", "mcp-example")
    assert after["metadata"]["resourceVersion"] == before and template_annotation(after) is None


def test_wait_timeout_names_each_unready_workload(kubeconfig, workloads, cluster):
    ns, w = workloads.namespace, workloads
    # Really unready: the Pods of a new template that no Node can take stay Pending.
    unschedulable = {"spec": {"template": {"spec": {"nodeSelector": {"mcp-test/no-such-node": "true"}}}}}
    for name in ("mcp-example", "mcp-mssql"):
        cluster.kubectl("patch", "deployment", name, "-n", ns, "--type=strategic", "-p", json.dumps(unschedulable))
    run = run_playbook([{"name": "restart", "ignore_errors": True, "mcp_gateway.platform.rollout_restart": {
        "kind": "Deployment", "label_selectors": ["tier=mcp"], "namespace": ns, "wait": True,
        "wait_timeout": 3, "wait_sleep": 1}}], kubeconfig=kubeconfig)
    result = run["restart"]
    assert result["failed"] and result["msg"].startswith("Timed out after 3s waiting for the rollout: ")
    assert "Deployment %s/mcp-example: " % ns in result["msg"]
    assert "Deployment %s/mcp-mssql: " % ns in result["msg"]
    assert [s["ready"] for s in result["status"]] == [False, False]
    # the patch itself was applied before waiting
    restarted = w.get("Deployment", "mcp-example")
    assert template_annotation(restarted) == result["restarted"][0]["restartedAt"] is not None
    # and the rollout is stuck for the real reason: the restarted Pods are Pending, unschedulable
    pending = [p for p in w.pods("mcp-example")
               if (p["metadata"].get("annotations") or {}).get(RESTARTED_AT) == template_annotation(restarted)]
    assert pending and all(p["status"]["phase"] == "Pending" for p in pending)
    assert all(c["reason"] == "Unschedulable" for p in pending for c in p["status"].get("conditions", [])
               if c["type"] == "PodScheduled")
    # the old Pods still serve (maxUnavailable 0 with these replica counts): nothing was taken down
    assert w.get("Deployment", "mcp-example")["status"].get("availableReplicas") == 2
