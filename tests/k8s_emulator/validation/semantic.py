"""The semantic validations kube-apiserver runs on built-in kinds (pkg/apis/*/validation), for the kinds
a platform deployment creates. Input is the decoded, defaulted object; output is a list of field errors.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Callable, Dict, Iterable, List, Optional

from . import errors as fe
from . import names
from .metadata import validate_labels, validate_object_meta

Causes = List[fe.Cause]
RBAC_GROUP = "rbac.authorization.k8s.io"
MAX_SECRET_SIZE = 1024 * 1024


# -- names per kind --------------------------------------------------------------------------------
def _cronjob_name(value: str) -> List[str]:
    errs = names.is_dns1123_subdomain(value)
    if len(value) > 52:
        errs.append(names.max_len_error(52))
    return errs


NAME_FNS: Dict[str, Callable[[str], List[str]]] = {
    "Namespace": names.is_dns1123_label,
    "Service": names.is_dns1035_label,
    "CronJob": _cronjob_name,
    "Role": names.is_valid_path_segment_name,
    "ClusterRole": names.is_valid_path_segment_name,
    "RoleBinding": names.is_valid_path_segment_name,
    "ClusterRoleBinding": names.is_valid_path_segment_name,
}


def name_fn(kind: str) -> Callable[[str], List[str]]:
    return NAME_FNS.get(kind, names.is_dns1123_subdomain)


# -- label selectors -------------------------------------------------------------------------------
def selector_matches(selector: dict, labels: dict) -> bool:
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def validate_label_selector(selector: dict, path: str) -> Causes:
    causes: Causes = []
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        p = fe.index(fe.child(path, "matchExpressions"), i)
        op = expr.get("operator")
        values = expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            causes.append(fe.required(fe.child(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            causes.append(fe.forbidden(fe.child(p, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            causes.append(fe.invalid(fe.child(p, "operator"), op, "not a valid selector operator"))
        for msg in names.is_qualified_name(expr.get("key") or ""):
            causes.append(fe.invalid(fe.child(p, "key"), expr.get("key") or "", msg))
    causes += validate_labels(selector.get("matchLabels"), fe.child(path, "matchLabels"))
    return causes


# -- pod spec --------------------------------------------------------------------------------------
def _enum(causes: Causes, obj: dict, key: str, path: str, allowed) -> None:
    if key in obj and obj[key] not in allowed:
        causes.append(fe.not_supported(fe.child(path, key), obj[key], allowed))


def _containers(containers, path: str, volumes: set, seen: set, is_pod: bool) -> Causes:
    causes: Causes = []
    for i, c in enumerate(containers or []):
        p = fe.index(path, i)
        causes += names.unique_name_errors(c.get("name") or "", fe.child(p, "name"), names.is_dns1123_label, seen)
        image = c.get("image")
        if is_pod and not image:
            causes.append(fe.required(fe.child(p, "image")))
        elif image and image != image.strip():
            causes.append(fe.invalid(fe.child(p, "image"), image, "must not have leading or trailing whitespace"))
        _enum(causes, c, "imagePullPolicy", p, ("Always", "IfNotPresent", "Never"))
        _enum(causes, c, "terminationMessagePolicy", p, ("File", "FallbackToLogsOnError"))
        port_names = set()
        for j, port in enumerate(c.get("ports") or []):
            pp = fe.index(fe.child(p, "ports"), j)
            if "name" in port and port["name"] != "":
                for msg in names.is_valid_port_name(port["name"]):
                    causes.append(fe.invalid(fe.child(pp, "name"), port["name"], msg))
                if port["name"] in port_names:
                    causes.append(fe.duplicate(fe.child(pp, "name"), port["name"]))
                port_names.add(port["name"])
            for msg in names.is_valid_port_num(port.get("containerPort", 0)):
                causes.append(fe.invalid(fe.child(pp, "containerPort"), port.get("containerPort", 0), msg))
            if port.get("hostPort"):
                for msg in names.is_valid_port_num(port["hostPort"]):
                    causes.append(fe.invalid(fe.child(pp, "hostPort"), port["hostPort"], msg))
            if "protocol" in port:
                if port["protocol"] == "":
                    causes.append(fe.required(fe.child(pp, "protocol")))
                else:
                    _enum(causes, port, "protocol", pp, ("SCTP", "TCP", "UDP"))
        for j, env in enumerate(c.get("env") or []):
            ep = fe.index(fe.child(p, "env"), j)
            if not env.get("name"):
                causes.append(fe.required(fe.child(ep, "name")))
            else:
                for msg in names.is_env_var_name(env["name"]):
                    causes.append(fe.invalid(fe.child(ep, "name"), env["name"], msg))
            if "value" in env and env.get("value") and env.get("valueFrom"):
                causes.append(fe.invalid(fe.child(ep, "valueFrom"), "", "may not be specified when `value` is not empty"))
        for j, mount in enumerate(c.get("volumeMounts") or []):
            mp = fe.index(fe.child(p, "volumeMounts"), j)
            if not mount.get("name"):
                causes.append(fe.required(fe.child(mp, "name")))
            elif mount["name"] not in volumes:
                causes.append(fe.not_found(fe.child(mp, "name"), mount["name"]))
            if not mount.get("mountPath"):
                causes.append(fe.required(fe.child(mp, "mountPath")))
    return causes


def validate_pod_spec(spec: dict, path: str, is_pod: bool = False, claim_names: Iterable[str] = ()) -> Causes:
    """``claim_names``: a StatefulSet's volumeClaimTemplates, which its containers may mount by name."""
    causes: Causes = []
    volumes = set()
    for i, vol in enumerate(spec.get("volumes") or []):
        vp = fe.index(fe.child(path, "volumes"), i)
        causes += names.unique_name_errors(vol.get("name") or "", fe.child(vp, "name"), names.is_dns1123_label, volumes)
        sources = [k for k in vol if k != "name"]
        if len(sources) > 1:
            causes.append(fe.forbidden(fe.child(vp, sources[1]), "may not specify more than 1 volume type"))
    mountable = volumes | set(claim_names)
    if not spec.get("containers"):
        causes.append(fe.required(fe.child(path, "containers")))
    seen: set = set()
    causes += _containers(spec.get("initContainers"), fe.child(path, "initContainers"), mountable, seen, is_pod)
    causes += _containers(spec.get("containers"), fe.child(path, "containers"), mountable, seen, is_pod)
    _enum(causes, spec, "restartPolicy", path, ("Always", "OnFailure", "Never"))
    _enum(causes, spec, "dnsPolicy", path, ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"))
    for key in ("terminationGracePeriodSeconds", "activeDeadlineSeconds"):
        if isinstance(spec.get(key), int) and spec[key] < 0:
            causes.append(fe.invalid(fe.child(path, key), spec[key], "must be greater than or equal to 0"))
    if spec.get("serviceAccountName"):
        for msg in names.is_dns1123_subdomain(spec["serviceAccountName"]):
            causes.append(fe.invalid(fe.child(path, "serviceAccountName"), spec["serviceAccountName"], msg))
    return causes


def validate_pod_template(template: dict, path: str, claim_names: Iterable[str] = ()) -> Causes:
    meta = template.get("metadata") or {}
    causes = validate_labels(meta.get("labels"), fe.child(fe.child(path, "metadata"), "labels"))
    return causes + validate_pod_spec(template.get("spec") or {}, fe.child(path, "spec"), claim_names=claim_names)


def _non_negative(causes: Causes, spec: dict, key: str, path: str) -> None:
    if isinstance(spec.get(key), int) and spec[key] < 0:
        causes.append(fe.invalid(fe.child(path, key), spec[key], "must be greater than or equal to 0"))


# -- workloads -------------------------------------------------------------------------------------
def _workload(obj: dict, kind: str) -> Causes:
    spec = obj.get("spec") or {}
    causes: Causes = []
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        _non_negative(causes, spec, key, "spec")
    selector = spec.get("selector")
    template = spec.get("template") or {}
    if isinstance(selector, dict):
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            causes.append(fe.invalid("spec.selector", selector, f"empty selector is invalid for {kind.lower()}"))
        else:
            causes += validate_label_selector(selector, "spec.selector")
            labels = (template.get("metadata") or {}).get("labels") or {}
            if not selector_matches(selector, labels):
                causes.append(fe.invalid("spec.template.metadata.labels", labels,
                                         "`selector` does not match template `labels`"))
    if "template" in spec:
        claims = [((c.get("metadata") or {}).get("name") or "") for c in spec.get("volumeClaimTemplates") or []] \
            if kind == "StatefulSet" else []
        causes += validate_pod_template(template, "spec.template", claim_names=claims)
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy is not None and policy != "Always":
            causes.append(fe.not_supported("spec.template.spec.restartPolicy", policy, ["Always"]))
    if kind == "Deployment":
        strategy = spec.get("strategy") or {}
        _enum(causes, strategy, "type", "spec.strategy", ("Recreate", "RollingUpdate"))
        if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
            causes.append(fe.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
        pds, mrs = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
        if isinstance(pds, int) and pds <= mrs:
            causes.append(fe.invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    if kind == "StatefulSet":
        _enum(causes, spec, "podManagementPolicy", "spec", ("OrderedReady", "Parallel"))
        _enum(causes, spec.get("updateStrategy") or {}, "type", "spec.updateStrategy", ("RollingUpdate", "OnDelete"))
    if kind == "DaemonSet":
        _enum(causes, spec.get("updateStrategy") or {}, "type", "spec.updateStrategy", ("RollingUpdate", "OnDelete"))
    return causes


def _job_spec(spec: dict, path: str) -> Causes:
    causes: Causes = []
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        _non_negative(causes, spec, key, path)
    template = spec.get("template") or {}
    causes += validate_pod_template(template, fe.child(path, "template"))
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(fe.not_supported(fe.child(path, "template.spec.restartPolicy"), policy or "", ["OnFailure", "Never"]))
    return causes


_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_CRON_NAMES = ({}, {}, {}, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
               {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())})
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def cron_schedule_error(schedule: str) -> Optional[str]:
    """The robfig/cron standard parser's verdict on a 5-field schedule (None when valid)."""
    text = schedule.strip()
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        text = text.split(None, 1)[1] if " " in text else ""
    if text in _CRON_MACROS:
        return None
    if text.startswith("@every "):
        return None
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for fld, (low, high), aliases in zip(fields, _CRON_RANGES, _CRON_NAMES):
        for part in fld.split(","):
            rng, _, step = part.partition("/")
            if step and not step.isdigit():
                return f'failed to parse int from {step}: strconv.Atoi: parsing "{step}": invalid syntax'
            if rng in ("*", "?"):
                continue
            bounds = rng.split("-")
            if len(bounds) > 2:
                return f"too many hyphens: {rng}"
            nums = []
            for b in bounds:
                value = aliases.get(b.lower()) if not b.isdigit() else int(b)
                if value is None:
                    return f'failed to parse int from {b}: strconv.Atoi: parsing "{b}": invalid syntax'
                nums.append(value)
            if nums[0] < low:
                return f"beginning of range ({nums[0]}) below minimum ({low}): {part}"
            if nums[-1] > high:
                return f"end of range ({nums[-1]}) above maximum ({high}): {part}"
            if nums[0] > nums[-1]:
                return f"beginning of range ({nums[0]}) beyond end of range ({nums[-1]}): {part}"
    return None


def _cronjob(obj: dict) -> Causes:
    spec = obj.get("spec") or {}
    causes: Causes = []
    schedule = spec.get("schedule") or ""
    if not schedule:
        causes.append(fe.required("spec.schedule"))
    else:
        err = cron_schedule_error(schedule)
        if err:
            causes.append(fe.invalid("spec.schedule", schedule, err))
    _enum(causes, spec, "concurrencyPolicy", "spec", ("Allow", "Forbid", "Replace"))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        _non_negative(causes, spec, key, "spec")
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    causes += _job_spec(job_spec, "spec.jobTemplate.spec")
    return causes


# -- services, config ------------------------------------------------------------------------------
def _service(obj: dict) -> Causes:
    spec = obj.get("spec") or {}
    causes: Causes = []
    svc_type = spec.get("type", "ClusterIP")
    _enum(causes, spec, "type", "spec", ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"))
    _enum(causes, spec, "sessionAffinity", "spec", ("ClientIP", "None"))
    ports = spec.get("ports") or []
    if not ports and svc_type != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(fe.required("spec.ports"))
    if svc_type == "ExternalName":
        if not spec.get("externalName"):
            causes.append(fe.required("spec.externalName"))
    seen_names = set()
    for i, port in enumerate(ports):
        p = fe.index("spec.ports", i)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            causes.append(fe.required(fe.child(p, "name")))
        elif name:
            for msg in names.is_dns1123_label(name):
                causes.append(fe.invalid(fe.child(p, "name"), name, msg))
            if name in seen_names:
                causes.append(fe.duplicate(fe.child(p, "name"), name))
            seen_names.add(name)
        for msg in names.is_valid_port_num(port.get("port", 0)):
            causes.append(fe.invalid(fe.child(p, "port"), port.get("port", 0), msg))
        if "protocol" in port:
            _enum(causes, port, "protocol", p, ("SCTP", "TCP", "UDP"))
        target = port.get("targetPort")
        if isinstance(target, str):
            for msg in names.is_valid_port_name(target):
                causes.append(fe.invalid(fe.child(p, "targetPort"), target, msg))
        elif isinstance(target, int):
            for msg in names.is_valid_port_num(target):
                causes.append(fe.invalid(fe.child(p, "targetPort"), target, msg))
        if port.get("nodePort") and svc_type not in ("NodePort", "LoadBalancer"):
            causes.append(fe.forbidden(fe.child(p, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
    causes += validate_labels(spec.get("selector"), "spec.selector")
    return causes


def _data_keys(data, path: str, causes: Causes) -> int:
    total = 0
    for k, v in (data or {}).items():
        for msg in names.is_config_map_key(k):
            causes.append(fe.invalid(fe.key(path, k), k, msg))
        total += len(v) if isinstance(v, str) else 0
    return total


def _secret(obj: dict) -> Causes:
    causes: Causes = []
    data = obj.get("data") or {}
    size = 0
    for k, v in data.items():
        for msg in names.is_config_map_key(k):
            causes.append(fe.invalid(fe.key("data", k), k, msg))
        try:
            size += len(base64.b64decode(v, validate=True)) if isinstance(v, str) else 0
        except ValueError:
            pass
    if size > MAX_SECRET_SIZE:
        causes.append(fe.too_long("data", MAX_SECRET_SIZE))
    secret_type = obj.get("type") or "Opaque"
    if secret_type == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                causes.append(fe.required(fe.key("data", key)))
    elif secret_type == "kubernetes.io/dockerconfigjson":
        raw = data.get(".dockerconfigjson")
        if raw is None:
            causes.append(fe.required(fe.key("data", ".dockerconfigjson")))
        else:
            try:
                json.loads(base64.b64decode(raw))
            except ValueError as exc:
                causes.append(fe.invalid(fe.key("data", ".dockerconfigjson"), "<secret contents redacted>", str(exc)))
    elif secret_type == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            causes.append(fe.required(fe.key("data", "username")))
    elif secret_type == "kubernetes.io/service-account-token":
        if not ((obj.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/service-account.name"):
            causes.append(fe.required("metadata.annotations[kubernetes.io/service-account.name]"))
    return causes


def _configmap(obj: dict) -> Causes:
    causes: Causes = []
    _data_keys(obj.get("data"), "data", causes)
    _data_keys(obj.get("binaryData"), "binaryData", causes)
    for k in set(obj.get("data") or {}) & set(obj.get("binaryData") or {}):
        causes.append(fe.invalid(fe.key("data", k), k, "duplicate of key present in binaryData"))
    return causes


# -- RBAC --------------------------------------------------------------------------------------------
def _rules(obj: dict, namespaced: bool) -> Causes:
    causes: Causes = []
    for i, rule in enumerate(obj.get("rules") or []):
        p = fe.index("rules", i)
        if not rule.get("verbs"):
            causes.append(fe.required(fe.child(p, "verbs"), "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs") or []
        if urls:
            if namespaced:
                causes.append(fe.invalid(fe.child(p, "nonResourceURLs"), urls, "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                causes.append(fe.invalid(fe.child(p, "nonResourceURLs"), urls, "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            causes.append(fe.required(fe.child(p, "apiGroups"), "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            causes.append(fe.required(fe.child(p, "resources"), "resource rules must supply at least one resource"))
    return causes


def _binding(obj: dict, cluster: bool) -> Causes:
    causes: Causes = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != RBAC_GROUP:
        causes.append(fe.not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
    kinds = ["ClusterRole"] if cluster else ["Role", "ClusterRole"]
    if ref.get("kind") not in kinds:
        causes.append(fe.not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        causes.append(fe.required("roleRef.name"))
    else:
        for msg in names.is_valid_path_segment_name(ref["name"]):
            causes.append(fe.invalid("roleRef.name", ref["name"], msg))
    for i, subject in enumerate(obj.get("subjects") or []):
        p = fe.index("subjects", i)
        name, kind = subject.get("name") or "", subject.get("kind")
        if not name:
            causes.append(fe.required(fe.child(p, "name")))
        if kind == "ServiceAccount":
            if subject.get("apiGroup", ""):
                causes.append(fe.not_supported(fe.child(p, "apiGroup"), subject["apiGroup"], [""]))
            if name:
                for msg in names.is_dns1123_subdomain(name):
                    causes.append(fe.invalid(fe.child(p, "name"), name, msg))
            if cluster and not subject.get("namespace"):
                causes.append(fe.required(fe.child(p, "namespace")))
        elif kind in ("User", "Group"):
            if subject.get("apiGroup") != RBAC_GROUP:
                causes.append(fe.not_supported(fe.child(p, "apiGroup"), subject.get("apiGroup", ""), [RBAC_GROUP]))
        else:
            causes.append(fe.not_supported(fe.child(p, "kind"), kind or "", ["ServiceAccount", "User", "Group"]))
    return causes


def _pvc(obj: dict, path: str = "spec") -> Causes:
    spec = obj.get("spec") or {}
    causes: Causes = []
    modes = spec.get("accessModes") or []
    if not modes:
        causes.append(fe.required(fe.child(path, "accessModes"), "at least 1 access mode is required"))
    for i, mode in enumerate(modes):
        if mode not in ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"):
            causes.append(fe.not_supported(fe.index(fe.child(path, "accessModes"), i), mode,
                                           ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]))
    if not spec.get("dataSourceRef") and "storage" not in ((spec.get("resources") or {}).get("requests") or {}):
        causes.append(fe.required(fe.key(fe.child(path, "resources"), "storage")))
    return causes


def _statefulset_claims(obj: dict) -> Causes:
    causes: Causes = []
    for i, claim in enumerate((obj.get("spec") or {}).get("volumeClaimTemplates") or []):
        causes += _pvc(claim, fe.child(fe.index("spec.volumeClaimTemplates", i), "spec"))
    return causes


def _pdb(obj: dict) -> Causes:
    spec = obj.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        return [fe.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set")]
    return []


def validate(obj: dict, kind: str, namespaced: bool) -> Causes:
    """All semantic errors of a decoded, defaulted built-in object (metadata included)."""
    causes = validate_object_meta(obj.get("metadata"), name_fn(kind), namespaced)
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        causes += _workload(obj, kind)
        if kind == "StatefulSet":
            causes += _statefulset_claims(obj)
    elif kind == "Job":
        causes += _job_spec(obj.get("spec") or {}, "spec")
    elif kind == "CronJob":
        causes += _cronjob(obj)
    elif kind == "Pod":
        causes += validate_pod_spec(obj.get("spec") or {}, "spec", is_pod=True)
    elif kind == "Service":
        causes += _service(obj)
    elif kind == "Secret":
        causes += _secret(obj)
    elif kind == "ConfigMap":
        causes += _configmap(obj)
    elif kind in ("Role", "ClusterRole"):
        causes += _rules(obj, kind == "Role")
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        causes += _binding(obj, kind == "ClusterRoleBinding")
    elif kind == "PersistentVolumeClaim":
        causes += _pvc(obj)
    elif kind == "PodDisruptionBudget":
        causes += _pdb(obj)
    return causes
