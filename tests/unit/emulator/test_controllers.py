"""The emulator's simulated controllers, driven through the store directly (no HTTP), with a 0.05 s delay.

Readiness is judged with the predicates real clients use: kubernetes.core's waiter functions (imported
from the installed collection) and a port of kubectl's rollout-status logic
(staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go).
"""

import base64
import copy
import re
import time

import pytest
from kubernetes.dynamic.resource import ResourceInstance

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import (
    daemonset_ready, deployment_ready, statefulset_ready,
)
from k8s_emulator.controllers import (
    DAEMONSETS, DEPLOYMENTS, JOBS, NAMESPACES, NODE_NAME, PODS, REPLICASETS, REVISIONS, STATEFULSETS, ControllerManager,
    new_metadata, now_rfc3339, pod_ready,
)
from k8s_emulator.registry import Registry
from k8s_emulator.store import Store

DELAY = 0.05
CONFIGMAPS = ("", "configmaps")
CRONJOBS = ("batch", "cronjobs")


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def drain(watch):
    """Every event a watch has queued so far, then stop it."""
    events = []
    while True:
        event = watch.next(timeout=0)
        if event is None:
            break
        events.append(event)
    watch.stop()
    return events


def kubectl_rollout_done(obj):
    """kubectl rollout status, as rollout_status.go decides: (done, message)."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    if obj["kind"] == "Deployment":
        if meta.get("generation", 0) <= status.get("observedGeneration", 0):
            replicas = spec.get("replicas", 1)
            if status.get("updatedReplicas", 0) < replicas:
                return False, f"{status.get('updatedReplicas', 0)} out of {replicas} new replicas have been updated"
            if status.get("replicas", 0) > status.get("updatedReplicas", 0):
                return False, "old replicas are pending termination"
            if status.get("availableReplicas", 0) < status.get("updatedReplicas", 0):
                return False, "updated replicas are available"
            return True, "successfully rolled out"
        return False, "Waiting for deployment spec update to be observed"
    if obj["kind"] == "StatefulSet":
        if not status.get("observedGeneration") or meta.get("generation", 0) > status.get("observedGeneration", 0):
            return False, "Waiting for statefulset spec update to be observed"
        if status.get("readyReplicas", 0) < spec.get("replicas", 1):
            return False, "pods to be ready"
        rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate")
        if rolling is not None:
            if status.get("updatedReplicas", 0) < spec.get("replicas", 1) - rolling.get("partition", 0):
                return False, "partitioned roll out"
            return True, "partitioned roll out complete"
        if status.get("updateRevision") != status.get("currentRevision"):
            return False, "waiting for statefulset rolling update to complete"
        return True, "statefulset rolling update complete"
    raise ValueError(obj["kind"])


def instance(obj):
    return ResourceInstance(None, obj)


class Cluster:
    """The store plus what the server core does on writes (uid, generation), for driving controllers."""

    def __init__(self):
        self.store = Store()
        self.journal = []  # every write in order: (event type, resource, name, ready-if-pod)
        self.store.subscribe(lambda kind, resource, obj: self.journal.append(
            (kind, resource, obj["metadata"]["name"], pod_ready(obj) if resource == PODS else None)))
        self.registry = Registry()
        self.cm = ControllerManager(self.store, self.registry, delay_seconds=DELAY)
        self.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mcp"},
                                 "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        self.cm.start()

    def create(self, resource, obj):
        meta = obj["metadata"]
        stamped = new_metadata(meta["name"], meta.get("namespace"), meta.get("labels"), meta.get("annotations"),
                               generation=1 if resource in (DEPLOYMENTS, STATEFULSETS, DAEMONSETS, JOBS, CRONJOBS) else None)
        for key in ("ownerReferences", "finalizers"):
            if key in meta:
                stamped[key] = meta[key]
        obj["metadata"] = stamped
        return self.store.create(resource, obj)

    def get(self, resource, name, namespace="mcp"):
        return self.store.get(resource, namespace, name)

    def update_spec(self, resource, name, mutate, namespace="mcp"):
        """A user's spec change, retried on conflict, bumping generation like the apiserver."""
        for _ in range(50):
            obj = self.get(resource, name, namespace)
            before = copy.deepcopy(obj.get("spec"))
            mutate(obj)
            if obj.get("spec") != before:
                obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            try:
                return self.store.update(resource, obj, expected_rv=obj["metadata"]["resourceVersion"])
            except Exception as exc:  # Conflict with a controller write: re-read
                if type(exc).__name__ != "Conflict":
                    raise
        raise AssertionError("update kept conflicting")

    def mark_deleted(self, resource, name, finalizers, namespace="mcp"):
        """What the server core does on DELETE with finalizers / propagationPolicy Foreground or Orphan."""
        def mutate(obj):
            obj["metadata"]["deletionTimestamp"] = now_rfc3339()
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            obj["metadata"]["finalizers"] = list(obj["metadata"].get("finalizers") or []) + finalizers
        return self.update_spec(resource, name, mutate, namespace)

    def pods(self, namespace="mcp"):
        return self.store.list(PODS, namespace)[0]


@pytest.fixture()
def cluster():
    c = Cluster()
    yield c
    c.cm.stop()


def deployment(name="mcp-example", replicas=1, image="ghcr.io/example/mcp:1.0"):
    labels = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "mcp"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "mcp", "image": image,
                                                           "ports": [{"containerPort": 8000}]}]}}}}


def statefulset(name="hubspot-mcp", replicas=1, policy="OrderedReady"):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "mcp"},
            "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                     "selector": {"matchLabels": labels},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "mcp", "image": "ghcr.io/example/hubspot:1.0"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                               "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": "1Gi"}}}}]}}


def restart(obj):
    annotations = obj["spec"]["template"]["metadata"].setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/restartedAt"] = now_rfc3339() + str(time.monotonic_ns())


def deployment_done(cluster, name="mcp-example"):
    d = cluster.get(DEPLOYMENTS, name)
    return d if kubectl_rollout_done(d)[0] and deployment_ready(instance(d)) else None


# -- pods ---------------------------------------------------------------------------------------------

def test_node_exists_and_bare_pod_becomes_ready_after_the_delay(cluster):
    node = cluster.get(("", "nodes"), NODE_NAME, namespace="")
    assert [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    cluster.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "mcp"},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    created = time.monotonic()
    pod = wait_for(lambda: (lambda p: p if pod_ready(p) else None)(cluster.get(PODS, "bare")), what="pod ready")
    assert time.monotonic() - created >= DELAY
    assert pod["spec"]["nodeName"] == NODE_NAME and pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    assert pod["status"]["podIP"].startswith("10.244.0.")
    assert {c["type"] for c in pod["status"]["conditions"]} >= {"Ready", "ContainersReady", "PodScheduled", "Initialized"}


# -- deployments --------------------------------------------------------------------------------------

def test_deployment_creates_replicaset_pods_and_reports_status(cluster):
    watch = cluster.store.watch(DEPLOYMENTS, "mcp")
    cluster.create(DEPLOYMENTS, deployment(replicas=2))
    d = wait_for(lambda: deployment_done(cluster), what="deployment rolled out")
    status = d["status"]
    assert status["observedGeneration"] == 1
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) == (2, 2, 2, 2)
    assert "unavailableReplicas" not in status
    conditions = {c["type"]: c for c in status["conditions"]}
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    assert (conditions["Available"]["status"], conditions["Available"]["reason"]) == ("True", "MinimumReplicasAvailable")
    assert (conditions["Progressing"]["status"], conditions["Progressing"]["reason"]) == ("True", "NewReplicaSetAvailable")
    for cond in conditions.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", cond["lastUpdateTime"]) and cond["lastTransitionTime"]
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert d["metadata"]["generation"] == 1 and d["spec"] == deployment(replicas=2)["spec"]

    (rs,) = cluster.store.list(REPLICASETS, "mcp")[0]
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"mcp-example-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "mcp-example", "pod-template-hash": pod_hash}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Deployment", "mcp-example", d["metadata"]["uid"], True)
    assert rs["status"]["readyReplicas"] == 2

    pods = cluster.pods()
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    for pod in pods:
        assert re.fullmatch(rf"mcp-example-{pod_hash}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", pod["metadata"]["name"])
        assert pod["metadata"]["labels"]["pod-template-hash"] == pod_hash
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]

    # Before it was done, clients saw it in progress (not yet available).
    seen = [e[1] for e in drain(watch)]
    early = [o for o in seen if (o.get("status") or {}).get("observedGeneration") == 1][0]
    assert not deployment_ready(instance(early)) and not kubectl_rollout_done(early)[0]
    assert early["status"]["unavailableReplicas"] == 2
    assert {c["type"]: c["status"] for c in early["status"]["conditions"]}["Available"] == "False"


def test_rollout_restart_creates_a_new_replicaset_and_converges(cluster):
    cluster.create(DEPLOYMENTS, deployment())
    wait_for(lambda: deployment_done(cluster), what="first rollout")
    (old_rs,) = cluster.store.list(REPLICASETS, "mcp")[0]
    (old_pod,) = cluster.pods()
    watch = cluster.store.watch(DEPLOYMENTS, "mcp")
    cluster.update_spec(DEPLOYMENTS, "mcp-example", restart)
    d = wait_for(lambda: (lambda x: x if x["status"].get("observedGeneration") == 2 and kubectl_rollout_done(x)[0]
                          and deployment_ready(instance(x)) else None)(cluster.get(DEPLOYMENTS, "mcp-example")),
                 what="restart rolled out")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["status"]["conditions"][1]["reason"] == "NewReplicaSetAvailable"
    rs_list = {rs["metadata"]["name"]: rs for rs in cluster.store.list(REPLICASETS, "mcp")[0]}
    assert len(rs_list) == 2
    assert rs_list[old_rs["metadata"]["name"]]["spec"]["replicas"] == 0
    new_rs = [rs for name, rs in rs_list.items() if name != old_rs["metadata"]["name"]][0]
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert new_rs["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    pods = wait_for(lambda: (lambda ps: ps if len(ps) == 1 else None)(cluster.pods()), what="old pod gone")
    assert pods[0]["metadata"]["name"] != old_pod["metadata"]["name"]
    assert pods[0]["metadata"]["labels"]["pod-template-hash"] == new_rs["metadata"]["labels"]["pod-template-hash"]
    # rolling update: the old pod goes only once the new one is Ready
    journal = cluster.journal
    new_ready = journal.index(("MODIFIED", PODS, pods[0]["metadata"]["name"], True))
    assert journal.index(("DELETED", PODS, old_pod["metadata"]["name"], True)) > new_ready

    seen = [e[1] for e in drain(watch)]
    messages = [kubectl_rollout_done(o)[1] for o in seen]
    assert "Waiting for deployment spec update to be observed" in messages
    assert any("new replicas have been updated" in m or "pending termination" in m for m in messages)
    assert messages[-1] == "successfully rolled out"


def test_scale_to_zero_and_back(cluster):
    cluster.create(DEPLOYMENTS, deployment(replicas=2))
    wait_for(lambda: deployment_done(cluster), what="rolled out")

    def scale(n):
        def mutate(obj):
            obj["spec"]["replicas"] = n
        return mutate

    cluster.update_spec(DEPLOYMENTS, "mcp-example", scale(0))
    wait_for(lambda: not cluster.pods(), what="pods deleted")
    d = wait_for(lambda: (lambda x: x if x["status"].get("observedGeneration") == 2 and deployment_ready(instance(x))
                          else None)(cluster.get(DEPLOYMENTS, "mcp-example")), what="scaled to 0")
    assert "replicas" not in d["status"] and "availableReplicas" not in d["status"]
    assert kubectl_rollout_done(d)[0]
    assert len(cluster.store.list(REPLICASETS, "mcp")[0]) == 1  # scaling is not a new revision
    cluster.update_spec(DEPLOYMENTS, "mcp-example", scale(1))
    d = wait_for(lambda: (lambda x: x if x["status"].get("availableReplicas") == 1 else None)(
        cluster.get(DEPLOYMENTS, "mcp-example")), what="scaled to 1")
    assert deployment_ready(instance(d)) and len(cluster.pods()) == 1


def test_recreate_strategy_scales_old_down_first(cluster):
    spec = deployment()
    spec["spec"]["strategy"] = {"type": "Recreate"}
    cluster.create(DEPLOYMENTS, spec)
    wait_for(lambda: deployment_done(cluster), what="rolled out")
    (old_pod,) = cluster.pods()
    watch = cluster.store.watch(PODS, "mcp")
    cluster.update_spec(DEPLOYMENTS, "mcp-example", lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="x:2"))
    wait_for(lambda: (lambda x: x if x["status"].get("observedGeneration") == 2 and kubectl_rollout_done(x)[0]
                      and deployment_ready(instance(x)) else None)(cluster.get(DEPLOYMENTS, "mcp-example")), what="recreated")
    events = [(e[0], e[1]["metadata"]["name"]) for e in drain(watch)]
    deleted = events.index(("DELETED", old_pod["metadata"]["name"]))
    added = [i for i, (kind, name) in enumerate(events) if kind == "ADDED"]
    assert added and all(i > deleted for i in added)  # the new pod only after the old one is gone


# -- statefulsets ---------------------------------------------------------------------------------------

def sts_done(cluster, name="hubspot-mcp"):
    s = cluster.get(STATEFULSETS, name)
    return s if kubectl_rollout_done(s)[0] and statefulset_ready(instance(s)) else None


def test_statefulset_ordered_pods_revisions_and_pvcs(cluster):
    watch = cluster.store.watch(PODS, "mcp")
    cluster.create(STATEFULSETS, statefulset(replicas=2))
    s = wait_for(lambda: sts_done(cluster), what="statefulset ready")
    status = s["status"]
    assert (status["replicas"], status["readyReplicas"], status["currentReplicas"], status["updatedReplicas"],
            status["availableReplicas"], status["observedGeneration"]) == (2, 2, 2, 2, 2, 1)
    assert status["currentRevision"] == status["updateRevision"]
    (rev,) = cluster.store.list(REVISIONS, "mcp")[0]
    assert rev["metadata"]["name"] == status["updateRevision"] and rev["revision"] == 1
    assert rev["metadata"]["name"].startswith("hubspot-mcp-")
    assert rev["metadata"]["ownerReferences"][0]["uid"] == s["metadata"]["uid"]
    pods = {p["metadata"]["name"]: p for p in cluster.pods()}
    assert sorted(pods) == ["hubspot-mcp-0", "hubspot-mcp-1"]
    pod1 = pods["hubspot-mcp-1"]
    assert pod1["metadata"]["labels"]["controller-revision-hash"] == rev["metadata"]["name"]
    assert pod1["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert pod1["spec"]["hostname"] == "hubspot-mcp-1" and pod1["spec"]["subdomain"] == "hubspot-mcp"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-hubspot-mcp-1"}} in pod1["spec"]["volumes"]
    pvc = cluster.get(("", "persistentvolumeclaims"), "data-hubspot-mcp-1")
    assert pvc["status"]["phase"] == "Bound" and pvc["status"]["capacity"] == {"storage": "1Gi"}
    # OrderedReady: pod 1 was created only after pod 0 was Ready
    order = [(e[0], e[1]["metadata"]["name"], pod_ready(e[1])) for e in drain(watch)]
    pod0_ready = order.index(("MODIFIED", "hubspot-mcp-0", True))
    assert order.index(("ADDED", "hubspot-mcp-1", False)) > pod0_ready


def test_statefulset_restart_rolls_pods_to_the_new_revision(cluster):
    cluster.create(STATEFULSETS, statefulset(replicas=2, policy="Parallel"))
    first = wait_for(lambda: sts_done(cluster), what="ready")["status"]["updateRevision"]
    cluster.update_spec(STATEFULSETS, "hubspot-mcp", restart)
    s = cluster.get(STATEFULSETS, "hubspot-mcp")
    assert not kubectl_rollout_done(s)[0]  # spec update not yet observed
    mid = wait_for(lambda: (lambda x: x if x["status"].get("updateRevision") != first else None)(
        cluster.get(STATEFULSETS, "hubspot-mcp")), what="new update revision")
    assert mid["status"]["updateRevision"] != first
    s = wait_for(lambda: (lambda x: x if x["status"].get("currentRevision") != first and sts_done(cluster) else None)(
        cluster.get(STATEFULSETS, "hubspot-mcp")), what="rolled")
    new = s["status"]["updateRevision"]
    assert s["status"]["currentRevision"] == new and s["status"]["updatedReplicas"] == 2
    assert all(p["metadata"]["labels"]["controller-revision-hash"] == new for p in cluster.pods())
    assert sorted(r["revision"] for r in cluster.store.list(REVISIONS, "mcp")[0]) == [1, 2]


def test_statefulset_scale_down_removes_highest_ordinal(cluster):
    cluster.create(STATEFULSETS, statefulset(replicas=2, policy="Parallel"))
    wait_for(lambda: sts_done(cluster), what="ready")
    cluster.update_spec(STATEFULSETS, "hubspot-mcp", lambda o: o["spec"].update(replicas=1))
    wait_for(lambda: (lambda x: x if x["status"].get("observedGeneration") == 2 and sts_done(cluster) else None)(
        cluster.get(STATEFULSETS, "hubspot-mcp")), what="scaled down")
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["hubspot-mcp-0"]
    assert cluster.get(("", "persistentvolumeclaims"), "data-hubspot-mcp-1") is not None  # PVCs are retained


# -- daemonsets and jobs ----------------------------------------------------------------------------------

def test_daemonset_runs_one_pod_on_the_node(cluster):
    labels = {"app": "agent"}
    cluster.create(DAEMONSETS, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "mcp"},
                                "spec": {"selector": {"matchLabels": labels},
                                         "template": {"metadata": {"labels": labels},
                                                      "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}}})
    ds = wait_for(lambda: (lambda x: x if x.get("status") and daemonset_ready(instance(x)) else None)(
        cluster.get(DAEMONSETS, "agent")), what="daemonset ready")
    assert (ds["status"]["desiredNumberScheduled"], ds["status"]["currentNumberScheduled"], ds["status"]["numberReady"],
            ds["status"]["numberMisscheduled"], ds["status"]["numberAvailable"]) == (1, 1, 1, 0, 1)
    (pod,) = cluster.pods()
    assert pod["metadata"]["name"].startswith("agent-") and pod["spec"]["nodeName"] == NODE_NAME


def test_job_from_cronjob_gets_a_running_pod_and_start_time(cluster):
    template = {"spec": {"template": {"metadata": {"labels": {"app": "refresh"}},
                                      "spec": {"restartPolicy": "OnFailure",
                                               "containers": [{"name": "r", "image": "python:3.13-slim"}]}}}}
    cron = cluster.create(CRONJOBS, {"apiVersion": "batch/v1", "kind": "CronJob",
                                     "metadata": {"name": "hubspot-token-refresh", "namespace": "mcp"},
                                     "spec": {"schedule": "*/23 * * * *", "jobTemplate": template}})
    job = copy.deepcopy(template)
    job.update({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "manual-1", "namespace": "mcp",
                             "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hubspot-token-refresh",
                                                  "uid": cron["metadata"]["uid"], "controller": True}]}})
    created = cluster.create(JOBS, job)
    j = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("ready") == 1 else None)(cluster.get(JOBS, "manual-1")),
                 what="job pod ready")
    assert j["status"]["active"] == 1 and j["status"]["startTime"]
    assert "conditions" not in j["status"]  # never completes: pods cannot run programs here
    (pod,) = cluster.pods()
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "manual-1"
    assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == created["metadata"]["uid"]
    assert cluster.get(JOBS, "manual-1") is not None  # its owner (the CronJob) exists: not collected


# -- garbage collection ------------------------------------------------------------------------------------

def test_background_deletion_collects_replicasets_and_pods(cluster):
    cluster.create(DEPLOYMENTS, deployment(replicas=2))
    wait_for(lambda: deployment_done(cluster), what="rolled out")
    cluster.store.delete(DEPLOYMENTS, "mcp", "mcp-example")
    wait_for(lambda: not cluster.store.list(REPLICASETS, "mcp")[0] and not cluster.pods(), what="dependents collected")


def test_foreground_deletion_removes_dependents_first(cluster):
    cluster.create(DEPLOYMENTS, deployment())
    wait_for(lambda: deployment_done(cluster), what="rolled out")
    watch = cluster.store.watch(DEPLOYMENTS, "mcp")
    cluster.mark_deleted(DEPLOYMENTS, "mcp-example", ["foregroundDeletion"])
    wait_for(lambda: cluster.get(DEPLOYMENTS, "mcp-example") is None, what="owner deleted")
    assert not cluster.store.list(REPLICASETS, "mcp")[0] and not cluster.pods()
    deletions = [(resource, name) for kind, resource, name, _ in cluster.journal if kind == "DELETED"]
    assert deletions[-1] == (DEPLOYMENTS, "mcp-example")  # the owner goes last
    assert {resource for resource, _ in deletions[:-1]} == {REPLICASETS, PODS}
    kinds = [e[0] for e in drain(watch)]
    assert kinds[-1] == "DELETED"


def test_orphan_deletion_keeps_dependents_without_owner_reference(cluster):
    cluster.create(DEPLOYMENTS, deployment())
    wait_for(lambda: deployment_done(cluster), what="rolled out")
    (rs,) = cluster.store.list(REPLICASETS, "mcp")[0]
    cluster.mark_deleted(REPLICASETS, rs["metadata"]["name"], ["orphan"])
    wait_for(lambda: cluster.get(REPLICASETS, rs["metadata"]["name"]) is None
             or cluster.get(REPLICASETS, rs["metadata"]["name"])["metadata"]["uid"] != rs["metadata"]["uid"],
             what="orphaning owner deleted")
    orphans = [p for p in cluster.pods() if not p["metadata"].get("ownerReferences")]
    assert len(orphans) == 1 and orphans[0]["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"]["pod-template-hash"]


def test_dependent_of_absent_owner_is_collected_and_dangling_reference_dropped(cluster):
    keeper = cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keeper", "namespace": "mcp"}})
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}
    cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "orphaned", "namespace": "mcp", "ownerReferences": [ghost]}})
    live_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": keeper["metadata"]["uid"]}
    cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "shared", "namespace": "mcp", "ownerReferences": [ghost, live_ref]}})
    wait_for(lambda: cluster.get(CONFIGMAPS, "orphaned") is None, what="collected")
    shared = wait_for(lambda: (lambda x: x if len(x["metadata"]["ownerReferences"]) == 1 else None)(
        cluster.get(CONFIGMAPS, "shared")), what="dangling reference dropped")
    assert shared["metadata"]["ownerReferences"] == [live_ref]


# -- namespaces --------------------------------------------------------------------------------------------

def test_namespace_deletion_removes_content_then_namespace(cluster):
    cluster.create(DEPLOYMENTS, deployment())
    cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "namespace": "mcp",
                                                                                   "finalizers": ["example.com/hold"]}})
    wait_for(lambda: deployment_done(cluster), what="rolled out")

    def terminate(obj):
        obj["metadata"]["deletionTimestamp"] = now_rfc3339()
    cluster.update_spec(NAMESPACES, "mcp", terminate, namespace="")
    ns = wait_for(lambda: (lambda n: n if any(c["type"] == "NamespaceFinalizersRemaining" and c["status"] == "True"
                                              for c in (n.get("status") or {}).get("conditions") or []) else None)(
        cluster.get(NAMESPACES, "mcp", namespace="")), what="waiting on a finalizer")
    assert ns["status"]["phase"] == "Terminating"
    remaining = {c["type"]: c["message"] for c in ns["status"]["conditions"]}
    assert remaining["NamespaceContentRemaining"] == "Some resources are remaining: configmaps has 1 resource instances"
    assert "example.com/hold in 1 resource instances" in remaining["NamespaceFinalizersRemaining"]
    assert not cluster.pods() and cluster.get(DEPLOYMENTS, "mcp-example") is None
    assert cluster.get(CONFIGMAPS, "held")["metadata"]["deletionTimestamp"]

    def release(obj):
        obj["metadata"]["finalizers"] = []
    cluster.update_spec(CONFIGMAPS, "held", release)  # the server core then deletes it; do so here
    cluster.store.delete(CONFIGMAPS, "mcp", "held")
    wait_for(lambda: cluster.get(NAMESPACES, "mcp", namespace="") is None, what="namespace removed")


# -- legacy token secrets and aggregation --------------------------------------------------------------------

def test_legacy_service_account_token_secret_is_populated(tmp_path):
    from k8s_emulator.auth import Authenticator, TokenIssuer

    store, registry = Store(), Registry()
    issuer = TokenIssuer(str(tmp_path))
    cm = ControllerManager(store, registry, delay_seconds=DELAY, issuer=issuer, ca_pem="-----BEGIN CERTIFICATE-----\n")
    cm.start()
    try:
        store.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": new_metadata("mcp")})
        store.create(("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": new_metadata("ci", "mcp")})
        meta = new_metadata("ci-token", "mcp", annotations={"kubernetes.io/service-account.name": "ci"})
        store.create(("", "secrets"), {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                                       "metadata": meta})
        secret = wait_for(lambda: (lambda s: s if (s.get("data") or {}).get("token") else None)(
            store.get(("", "secrets"), "mcp", "ci-token")), what="token filled")
        token = base64.b64decode(secret["data"]["token"]).decode()
        assert base64.b64decode(secret["data"]["namespace"]).decode() == "mcp"
        assert secret["data"]["ca.crt"]
        user = Authenticator(store, "admin-token", issuer).authenticate({"Authorization": f"Bearer {token}"})
        assert user.name == "system:serviceaccount:mcp:ci"
        # a token Secret for a ServiceAccount that does not exist is deleted, as the token controller does
        store.create(("", "secrets"), {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                                       "metadata": new_metadata("nobody-token", "mcp",
                                                                annotations={"kubernetes.io/service-account.name": "nobody"})})
        wait_for(lambda: store.get(("", "secrets"), "mcp", "nobody-token") is None, what="stray token secret deleted")
    finally:
        cm.stop()


def test_cluster_role_aggregation_runs_as_a_controller(cluster):
    from k8s_emulator.auth import Authorizer

    Authorizer(cluster.store)
    rbac = ("rbac.authorization.k8s.io", "clusterroles")
    rule = {"apiGroups": ["agentgateway.dev"], "resources": ["agentgatewaybackends"], "verbs": ["get", "list"]}
    cluster.store.create(rbac, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "rules": [rule],
                                "metadata": new_metadata("agw-view", labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"})})
    wait_for(lambda: rule in cluster.store.get(rbac, "", "admin")["rules"], what="aggregated into admin")


def test_stop_stops_reconciling():
    c = Cluster()
    c.cm.stop()
    c.create(DEPLOYMENTS, deployment())
    time.sleep(0.2)
    assert not c.store.list(REPLICASETS, "mcp")[0]
    c.cm.start()  # a restart resyncs from the store
    try:
        wait_for(lambda: deployment_done(c), what="rolled out after restart")
    finally:
        c.cm.stop()


def test_events_are_recorded(cluster):
    cluster.create(DEPLOYMENTS, deployment())
    wait_for(lambda: deployment_done(cluster), what="rolled out")
    reasons = {(e["involvedObject"]["kind"], e["reason"]) for e in cluster.store.list(("", "events"), "mcp")[0]}
    assert {("Deployment", "ScalingReplicaSet"), ("ReplicaSet", "SuccessfulCreate")} <= reasons
