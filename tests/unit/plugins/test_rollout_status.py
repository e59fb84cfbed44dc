"""Readiness rules of restart.rollout_status (kubectl rollout status semantics) and the patch body."""

import pytest

from ansible_collections.mcp_gateway.platform.plugins.module_utils.k8s import restart


def sts(generation=2, observed=2, replicas=1, updated=1, ready=1, current="r2", update="r2", strategy=None):
    spec = {"replicas": replicas}
    if strategy:
        spec["updateStrategy"] = strategy
    return {"kind": "StatefulSet", "metadata": {"name": "hubspot-mcp", "namespace": "default", "generation": generation},
            "spec": spec, "status": {"observedGeneration": observed, "updatedReplicas": updated,
                                     "readyReplicas": ready, "currentRevision": current, "updateRevision": update}}


def deploy(generation=3, observed=3, replicas=2, total=2, updated=2, available=2, conditions=()):
    return {"kind": "Deployment", "metadata": {"name": "web", "namespace": "ns", "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
                       "availableReplicas": available, "conditions": list(conditions)}}


def ds(generation=1, observed=1, desired=3, updated=3, available=3):
    return {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system", "generation": generation},
            "spec": {}, "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                                   "updatedNumberScheduled": updated, "numberAvailable": available}}


@pytest.mark.parametrize("obj,done,reason", [
    (sts(), True, "rolled out"),
    (sts(generation=3, observed=2), False, "spec update not observed yet (generation 3, observed 2)"),
    (sts(updated=0, ready=1), False, "0/1 replicas updated"),
    (sts(ready=0), False, "0/1 replicas ready"),
    (sts(current="r1", update="r2"), False, "update revision r2 not yet current (current r1)"),
    (sts(strategy={"type": "OnDelete"}), False,
     "rollout status is only available for the RollingUpdate strategy (has OnDelete)"),
    (sts(replicas=3, updated=1, ready=3, current="r1",
         strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}), True, "rolled out"),
    (deploy(), True, "rolled out"),
    (deploy(updated=1), False, "1/2 replicas updated"),
    (deploy(total=3), False, "1 old replicas pending termination"),
    (deploy(available=1), False, "1/2 updated replicas available"),
    (deploy(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]), False,
     "exceeded its progress deadline"),
    (deploy(observed=None), False, "spec update not observed yet (generation 3, observed none)"),
    (ds(), True, "rolled out"),
    (ds(updated=1), False, "1/3 pods updated"),
    (ds(available=2), False, "2/3 updated pods available"),
])
def test_rollout_status(obj, done, reason):
    assert restart.rollout_status(obj) == (done, reason)


def test_unknown_kind_is_refused():
    with pytest.raises(restart.RestartError):
        restart.rollout_status({"kind": "Job", "metadata": {}, "status": {"observedGeneration": 0}})


def test_restart_patch_is_kubectls():
    assert restart.restart_patch("2026-11-25T12:00:00Z") == {
        "spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-11-25T12:00:00Z"}}}}}
    assert restart.now_rfc3339().endswith("Z") and len(restart.now_rfc3339()) == 20
