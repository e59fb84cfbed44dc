"""The defaults kube-apiserver applies to built-in kinds on decode (pkg/apis/*/v1/defaults.go).

Functions mutate the (already copied) decoded object in place. Applying them twice changes nothing,
so re-applying a manifest yields the object the server stored.
Not here, on purpose: Service clusterIP(s)/ipFamilies allocation and Secret stringData folding (the
server core does those), and controller-written fields (status, Job selectors).
"""

from __future__ import annotations

from typing import Any, Dict


def _set(obj: Dict[str, Any], key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = value


def image_pull_policy(image: str) -> str:
    """Always for ``:latest`` or untagged images, IfNotPresent otherwise (digests count as tagged)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _probe(probe: Dict[str, Any]) -> None:
    _set(probe, "timeoutSeconds", 1)
    _set(probe, "periodSeconds", 10)
    _set(probe, "successThreshold", 1)
    _set(probe, "failureThreshold", 3)
    _handler(probe)


def _handler(handler: Dict[str, Any]) -> None:
    if isinstance(handler.get("httpGet"), dict):
        _set(handler["httpGet"], "path", "/")
        _set(handler["httpGet"], "scheme", "HTTP")


def _container(c: Dict[str, Any]) -> None:
    _set(c, "terminationMessagePath", "/dev/termination-log")
    _set(c, "terminationMessagePolicy", "File")
    if c.get("image") and not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = image_pull_policy(c["image"])
    _set(c, "resources", {})
    for port in c.get("ports") or []:
        _set(port, "protocol", "TCP")
    for env in c.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            _set(field_ref, "apiVersion", "v1")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(c.get(key), dict):
            _probe(c[key])
    lifecycle = c.get("lifecycle") or {}
    for key in ("postStart", "preStop"):
        if isinstance(lifecycle.get(key), dict):
            _handler(lifecycle[key])


def _volume(vol: Dict[str, Any]) -> None:
    for key in ("secret", "configMap", "projected", "downwardAPI"):
        if isinstance(vol.get(key), dict):
            _set(vol[key], "defaultMode", 420)
    if isinstance(vol.get("downwardAPI"), dict):
        for item in vol["downwardAPI"].get("items") or []:
            if isinstance(item.get("fieldRef"), dict):
                _set(item["fieldRef"], "apiVersion", "v1")
    for source in ((vol.get("projected") or {}).get("sources") or []):
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):
            _set(token, "expirationSeconds", 3600)
    if isinstance(vol.get("hostPath"), dict):
        _set(vol["hostPath"], "type", "")


def pod_spec(spec: Dict[str, Any]) -> None:
    _set(spec, "restartPolicy", "Always")
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "securityContext", {})
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        _container(c)
    for vol in spec.get("volumes") or []:
        _volume(vol)


def pod_template(template: Dict[str, Any]) -> None:
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        pod_spec(template.setdefault("spec", {}))


def _pvc_spec(spec: Dict[str, Any]) -> None:
    _set(spec, "volumeMode", "Filesystem")


def deployment(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _set(spec, "replicas", 1)
    strategy = spec.setdefault("strategy", {})
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        _set(rolling, "maxUnavailable", "25%")
        _set(rolling, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    pod_template(spec.get("template"))


def statefulset(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _set(strategy.setdefault("rollingUpdate", {}), "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    _set(retention, "whenDeleted", "Retain")
    _set(retention, "whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        _pvc_spec(claim.setdefault("spec", {}))
        claim.setdefault("status", {"phase": "Pending"})
    pod_template(spec.get("template"))


def daemonset(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        _set(rolling, "maxUnavailable", 1)
        _set(rolling, "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    pod_template(spec.get("template"))


def replicaset(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _set(spec, "replicas", 1)
    pod_template(spec.get("template"))


def job_spec(spec: Dict[str, Any], top_level: bool) -> None:
    if top_level:
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
            spec["parallelism"] = 1
        _set(spec, "parallelism", 1)
        _set(spec, "backoffLimit", 6)
        _set(spec, "completionMode", "NonIndexed")
        _set(spec, "suspend", False)
        if spec.get("podFailurePolicy") is None:
            _set(spec, "podReplacementPolicy", "TerminatingOrFailed")
        else:
            _set(spec, "podReplacementPolicy", "Failed")
    pod_template(spec.get("template"))


def job(obj: Dict[str, Any]) -> None:
    job_spec(obj.setdefault("spec", {}), top_level=True)


def cronjob(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _set(spec, "concurrencyPolicy", "Allow")
    _set(spec, "suspend", False)
    _set(spec, "successfulJobsHistoryLimit", 3)
    _set(spec, "failedJobsHistoryLimit", 1)
    template = spec.setdefault("jobTemplate", {})
    template.setdefault("metadata", {})
    job_spec(template.setdefault("spec", {}), top_level=False)


def service(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    for port in spec.get("ports") or []:
        _set(port, "protocol", "TCP")
        if port.get("targetPort") is None and "port" in port:
            port["targetPort"] = port["port"]
    if spec["type"] != "ExternalName":
        _set(spec, "internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)
    if spec.get("sessionAffinity") == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        _set(config, "timeoutSeconds", 10800)


def secret(obj: Dict[str, Any]) -> None:
    _set(obj, "type", "Opaque")


def pvc(obj: Dict[str, Any]) -> None:
    _pvc_spec(obj.setdefault("spec", {}))


def _subjects(obj: Dict[str, Any]) -> None:
    for subject in obj.get("subjects") or []:
        if subject.get("apiGroup") is None and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = "rbac.authorization.k8s.io"


def network_policy(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for port in rule.get("ports") or []:
            _set(port, "protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def namespace(obj: Dict[str, Any]) -> None:
    meta = obj.setdefault("metadata", {})
    if meta.get("name"):
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]


def pod(obj: Dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    _set(spec, "enableServiceLinks", True)
    _set(spec, "priority", 0)


APPLY = {
    "Deployment": deployment,
    "StatefulSet": statefulset,
    "DaemonSet": daemonset,
    "ReplicaSet": replicaset,
    "Job": job,
    "CronJob": cronjob,
    "Service": service,
    "Secret": secret,
    "PersistentVolumeClaim": pvc,
    "RoleBinding": _subjects,
    "ClusterRoleBinding": _subjects,
    "NetworkPolicy": network_policy,
    "Namespace": namespace,
    "Pod": pod,
}


def apply(obj: Dict[str, Any], kind: str) -> None:
    fn = APPLY.get(kind)
    if fn is not None:
        fn(obj)
