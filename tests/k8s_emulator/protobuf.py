"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies for the kinds kubectl's typed clients send.

kubectl builds some objects itself and sends them with its typed (protobuf) clients rather than as JSON:
``kubectl create namespace|secret|configmap|serviceaccount|role|rolebinding|clusterrole|clusterrolebinding|token``,
``kubectl create job [--from=cronjob/NAME]`` (a batch/v1 Job with its pod template) and ``kubectl auth can-i|whoami``.
kube-apiserver accepts protobuf for every built-in kind; the emulator decodes the protobuf wire format
for the messages below (field numbers are the stable ones of the Kubernetes API's protobuf encoding) and
answers 415 for any other kind sent as protobuf (it always answers in JSON, which clients accept).

The envelope is ``"k8s\\x00"`` followed by a ``runtime.Unknown`` message (typeMeta, raw, contentEncoding,
contentType) whose ``raw`` bytes encode the object. Go marshals non-pointer fields even when they are
empty; such zero values are dropped as Go's JSON encoding (``omitempty``) would drop them, while
pointer fields (marked ``*`` below) keep explicit zeros such as ``expirationSeconds: 0``.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any, Dict, List, Tuple

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """A body that is not a decodable protobuf object of a supported kind."""


class Unsupported(ProtobufError):
    """A well-formed envelope for a kind the emulator does not decode from protobuf."""


# Field tables: number -> (json name, type). Types: "string", "bytes", "int", "bool", "time", "quantity"
# (a resource.Quantity, its string in JSON), "intorstring" (an intstr.IntOrString, a number or a string in
# JSON), a message name, "[]" prefix for repeated, "map:<value type>" for map<string, value>. A trailing "*"
# marks fields JSON keeps even when zero or empty. An empty json name marks an embedded message whose
# fields JSON writes inline (Volume's VolumeSource, Probe's ProbeHandler, the LocalObjectReference of key selectors).
MESSAGES: Dict[str, Dict[int, Tuple[str, str]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes"), 3: ("contentEncoding", "string"), 4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "ObjectMeta": {
        1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 4: ("selfLink", "string"),
        5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
        8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", "int*"),
        11: ("labels", "map:string"), 12: ("annotations", "map:string"), 13: ("ownerReferences", "[]OwnerReference"),
        14: ("finalizers", "[]string"),
    },
    "OwnerReference": {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
                       6: ("controller", "bool*"), 7: ("blockOwnerDeletion", "bool*")},
    "ObjectReference": {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                        5: ("apiVersion", "string"), 6: ("resourceVersion", "string"), 7: ("fieldPath", "string")},
    "LocalObjectReference": {1: ("name", "string")},
    # core/v1
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "NamespaceStatus")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "NamespaceStatus": {1: ("phase", "string")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", "map:bytes"), 3: ("type", "string"),
               4: ("stringData", "map:string"), 5: ("immutable", "bool*")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "map:string"), 3: ("binaryData", "map:bytes"),
                  4: ("immutable", "bool*")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", "[]ObjectReference"),
                       3: ("imagePullSecrets", "[]LocalObjectReference"), 4: ("automountServiceAccountToken", "bool*")},
    # rbac.authorization.k8s.io/v1
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[]PolicyRule")},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[]PolicyRule"), 3: ("aggregationRule", "AggregationRule")},
    "PolicyRule": {1: ("verbs", "[]string"), 2: ("apiGroups", "[]string"), 3: ("resources", "[]string"),
                   4: ("resourceNames", "[]string"), 5: ("nonResourceURLs", "[]string")},
    "AggregationRule": {1: ("clusterRoleSelectors", "[]LabelSelector")},
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "[]Subject"), 3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", "string"), 2: ("apiGroup", "string"), 3: ("name", "string"), 4: ("namespace", "string")},
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    "LabelSelector": {1: ("matchLabels", "map:string"), 2: ("matchExpressions", "[]LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "string"), 2: ("operator", "string"), 3: ("values", "[]string")},
    # authentication.k8s.io/v1
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec"), 3: ("status", "TokenRequestStatus")},
    "TokenRequestSpec": {1: ("audiences", "[]string"), 3: ("boundObjectRef", "BoundObjectReference"),
                         4: ("expirationSeconds", "int*")},
    "TokenRequestStatus": {1: ("token", "string"), 2: ("expirationTimestamp", "time")},
    "BoundObjectReference": {1: ("kind", "string"), 2: ("apiVersion", "string"), 3: ("name", "string"), 4: ("uid", "string")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta"), 2: ("status", "SelfSubjectReviewStatus")},
    "SelfSubjectReviewStatus": {1: ("userInfo", "UserInfo")},
    "UserInfo": {1: ("username", "string"), 2: ("uid", "string"), 3: ("groups", "[]string")},
    # authorization.k8s.io/v1
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec"),
                                3: ("status", "SubjectAccessReviewStatus")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string")},
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                           4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                           7: ("name", "string"), 8: ("fieldSelector", "SelectorAttributes"),
                           9: ("labelSelector", "SelectorAttributes")},
    "SelectorAttributes": {1: ("rawSelector", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SubjectAccessReviewStatus": {1: ("allowed", "bool"), 2: ("reason", "string"), 3: ("evaluationError", "string"),
                                  4: ("denied", "bool")},
    # batch/v1 Job as ``kubectl create job [--from=cronjob/...]`` builds it. In these tables every message field is
    # marked "*": Go's JSON encoding writes a struct-valued field even when it is empty (``status: {}``,
    # ``resources: {}``), and a pointer one whenever it is set; so do required (non-omitempty) scalars.
    "Job": {1: ("metadata", "ObjectMeta*"), 2: ("spec", "JobSpec*"), 3: ("status", "JobStatus*")},
    "JobSpec": {1: ("parallelism", "int*"), 2: ("completions", "int*"), 3: ("activeDeadlineSeconds", "int*"),
                4: ("selector", "LabelSelector*"), 5: ("manualSelector", "bool*"), 6: ("template", "PodTemplateSpec*"),
                7: ("backoffLimit", "int*"), 8: ("ttlSecondsAfterFinished", "int*"), 9: ("completionMode", "string*"),
                10: ("suspend", "bool*"), 12: ("backoffLimitPerIndex", "int*"), 13: ("maxFailedIndexes", "int*"),
                14: ("podReplacementPolicy", "string*"), 15: ("managedBy", "string*")},
    "JobStatus": {2: ("startTime", "time"), 3: ("completionTime", "time"), 4: ("active", "int"), 5: ("succeeded", "int"),
                  6: ("failed", "int"), 7: ("completedIndexes", "string"), 9: ("ready", "int*"), 10: ("failedIndexes", "string*"),
                  11: ("terminating", "int*")},
    # core/v1 pod template
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta*"), 2: ("spec", "PodSpec*")},
    "PodSpec": {
        1: ("volumes", "[]Volume"), 2: ("containers", "[]Container"), 3: ("restartPolicy", "string"),
        4: ("terminationGracePeriodSeconds", "int*"), 5: ("activeDeadlineSeconds", "int*"), 6: ("dnsPolicy", "string"),
        7: ("nodeSelector", "map:string"), 8: ("serviceAccountName", "string"), 9: ("serviceAccount", "string"),
        10: ("nodeName", "string"), 11: ("hostNetwork", "bool"), 12: ("hostPID", "bool"), 13: ("hostIPC", "bool"),
        14: ("securityContext", "PodSecurityContext*"), 15: ("imagePullSecrets", "[]LocalObjectReference"),
        16: ("hostname", "string"), 17: ("subdomain", "string"), 19: ("schedulerName", "string"),
        20: ("initContainers", "[]Container"), 21: ("automountServiceAccountToken", "bool*"),
        22: ("tolerations", "[]Toleration"), 24: ("priorityClassName", "string"), 25: ("priority", "int*"),
        27: ("shareProcessNamespace", "bool*"), 29: ("runtimeClassName", "string*"), 30: ("enableServiceLinks", "bool*"),
        31: ("preemptionPolicy", "string*"), 35: ("setHostnameAsFQDN", "bool*"), 37: ("hostUsers", "bool*"),
        40: ("resources", "ResourceRequirements*"), 41: ("hostnameOverride", "string*"),
    },
    "Toleration": {1: ("key", "string"), 2: ("operator", "string"), 3: ("value", "string"), 4: ("effect", "string"),
                   5: ("tolerationSeconds", "int*")},
    "Container": {
        1: ("name", "string*"), 2: ("image", "string"), 3: ("command", "[]string"), 4: ("args", "[]string"),
        5: ("workingDir", "string"), 6: ("ports", "[]ContainerPort"), 7: ("env", "[]EnvVar"),
        8: ("resources", "ResourceRequirements*"), 9: ("volumeMounts", "[]VolumeMount"), 10: ("livenessProbe", "Probe*"),
        11: ("readinessProbe", "Probe*"), 12: ("lifecycle", "Lifecycle*"), 13: ("terminationMessagePath", "string"),
        14: ("imagePullPolicy", "string"), 15: ("securityContext", "SecurityContext*"), 16: ("stdin", "bool"),
        17: ("stdinOnce", "bool"), 18: ("tty", "bool"), 19: ("envFrom", "[]EnvFromSource"),
        20: ("terminationMessagePolicy", "string"), 22: ("startupProbe", "Probe*"), 24: ("restartPolicy", "string*"),
    },
    "ContainerPort": {1: ("name", "string"), 2: ("hostPort", "int"), 3: ("containerPort", "int*"), 4: ("protocol", "string"),
                      5: ("hostIP", "string")},
    "EnvVar": {1: ("name", "string*"), 2: ("value", "string"), 3: ("valueFrom", "EnvVarSource*")},
    "EnvVarSource": {1: ("fieldRef", "ObjectFieldSelector*"), 2: ("resourceFieldRef", "ResourceFieldSelector*"),
                     3: ("configMapKeyRef", "ConfigMapKeySelector*"), 4: ("secretKeyRef", "SecretKeySelector*")},
    "ObjectFieldSelector": {1: ("apiVersion", "string"), 2: ("fieldPath", "string*")},
    "ResourceFieldSelector": {1: ("containerName", "string"), 2: ("resource", "string*"), 3: ("divisor", "quantity*")},
    "ConfigMapKeySelector": {1: ("", "LocalObjectReference"), 2: ("key", "string*"), 3: ("optional", "bool*")},
    "SecretKeySelector": {1: ("", "LocalObjectReference"), 2: ("key", "string*"), 3: ("optional", "bool*")},
    "EnvFromSource": {1: ("prefix", "string"), 2: ("configMapRef", "ConfigMapEnvSource*"), 3: ("secretRef", "SecretEnvSource*")},
    "ConfigMapEnvSource": {1: ("", "LocalObjectReference"), 2: ("optional", "bool*")},
    "SecretEnvSource": {1: ("", "LocalObjectReference"), 2: ("optional", "bool*")},
    "ResourceRequirements": {1: ("limits", "map:quantity"), 2: ("requests", "map:quantity"), 3: ("claims", "[]ResourceClaim")},
    "ResourceClaim": {1: ("name", "string*"), 2: ("request", "string")},
    "VolumeMount": {1: ("name", "string*"), 2: ("readOnly", "bool"), 3: ("mountPath", "string*"), 4: ("subPath", "string"),
                    5: ("mountPropagation", "string*"), 6: ("subPathExpr", "string"), 7: ("recursiveReadOnly", "string*")},
    "Volume": {1: ("name", "string*"), 2: ("", "VolumeSource")},
    "VolumeSource": {2: ("emptyDir", "EmptyDirVolumeSource*"), 6: ("secret", "SecretVolumeSource*"),
                     10: ("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource*"),
                     16: ("downwardAPI", "DownwardAPIVolumeSource*"), 19: ("configMap", "ConfigMapVolumeSource*"),
                     26: ("projected", "ProjectedVolumeSource*")},
    "EmptyDirVolumeSource": {1: ("medium", "string"), 2: ("sizeLimit", "quantity*")},
    "SecretVolumeSource": {1: ("secretName", "string"), 2: ("items", "[]KeyToPath"), 3: ("defaultMode", "int*"),
                           4: ("optional", "bool*")},
    "ConfigMapVolumeSource": {1: ("", "LocalObjectReference"), 2: ("items", "[]KeyToPath"), 3: ("defaultMode", "int*"),
                              4: ("optional", "bool*")},
    "KeyToPath": {1: ("key", "string*"), 2: ("path", "string*"), 3: ("mode", "int*")},
    "PersistentVolumeClaimVolumeSource": {1: ("claimName", "string*"), 2: ("readOnly", "bool")},
    "DownwardAPIVolumeSource": {1: ("items", "[]DownwardAPIVolumeFile"), 2: ("defaultMode", "int*")},
    "DownwardAPIVolumeFile": {1: ("path", "string*"), 2: ("fieldRef", "ObjectFieldSelector*"),
                              3: ("resourceFieldRef", "ResourceFieldSelector*"), 4: ("mode", "int*")},
    "ProjectedVolumeSource": {1: ("sources", "[]VolumeProjection"), 2: ("defaultMode", "int*")},
    "VolumeProjection": {1: ("secret", "SecretProjection*"), 2: ("downwardAPI", "DownwardAPIProjection*"),
                         3: ("configMap", "ConfigMapProjection*"), 4: ("serviceAccountToken", "ServiceAccountTokenProjection*")},
    "SecretProjection": {1: ("", "LocalObjectReference"), 2: ("items", "[]KeyToPath"), 4: ("optional", "bool*")},
    "ConfigMapProjection": {1: ("", "LocalObjectReference"), 2: ("items", "[]KeyToPath"), 4: ("optional", "bool*")},
    "DownwardAPIProjection": {1: ("items", "[]DownwardAPIVolumeFile")},
    "ServiceAccountTokenProjection": {1: ("audience", "string"), 2: ("expirationSeconds", "int*"), 3: ("path", "string*")},
    "Probe": {1: ("", "ProbeHandler"), 2: ("initialDelaySeconds", "int"), 3: ("timeoutSeconds", "int"),
              4: ("periodSeconds", "int"), 5: ("successThreshold", "int"), 6: ("failureThreshold", "int"),
              7: ("terminationGracePeriodSeconds", "int*")},
    "ProbeHandler": {1: ("exec", "ExecAction*"), 2: ("httpGet", "HTTPGetAction*"), 3: ("tcpSocket", "TCPSocketAction*"),
                     4: ("grpc", "GRPCAction*")},
    "Lifecycle": {1: ("postStart", "LifecycleHandler*"), 2: ("preStop", "LifecycleHandler*"), 3: ("stopSignal", "string*")},
    "LifecycleHandler": {1: ("exec", "ExecAction*"), 2: ("httpGet", "HTTPGetAction*"), 3: ("tcpSocket", "TCPSocketAction*"),
                         4: ("sleep", "SleepAction*")},
    "ExecAction": {1: ("command", "[]string")},
    "HTTPGetAction": {1: ("path", "string"), 2: ("port", "intorstring*"), 3: ("host", "string"), 4: ("scheme", "string"),
                      5: ("httpHeaders", "[]HTTPHeader")},
    "HTTPHeader": {1: ("name", "string*"), 2: ("value", "string*")},
    "TCPSocketAction": {1: ("port", "intorstring*"), 2: ("host", "string")},
    "GRPCAction": {1: ("port", "int*"), 2: ("service", "string*")},
    "SleepAction": {1: ("seconds", "int*")},
    "SecurityContext": {1: ("capabilities", "Capabilities*"), 2: ("privileged", "bool*"), 3: ("seLinuxOptions", "SELinuxOptions*"),
                        4: ("runAsUser", "int*"), 5: ("runAsNonRoot", "bool*"), 6: ("readOnlyRootFilesystem", "bool*"),
                        7: ("allowPrivilegeEscalation", "bool*"), 8: ("runAsGroup", "int*"), 9: ("procMount", "string*"),
                        11: ("seccompProfile", "SeccompProfile*"), 12: ("appArmorProfile", "AppArmorProfile*")},
    "PodSecurityContext": {1: ("seLinuxOptions", "SELinuxOptions*"), 2: ("runAsUser", "int*"), 3: ("runAsNonRoot", "bool*"),
                           4: ("supplementalGroups", "[]int"), 5: ("fsGroup", "int*"), 6: ("runAsGroup", "int*"),
                           7: ("sysctls", "[]Sysctl"), 9: ("fsGroupChangePolicy", "string*"),
                           10: ("seccompProfile", "SeccompProfile*"), 11: ("appArmorProfile", "AppArmorProfile*"),
                           12: ("supplementalGroupsPolicy", "string*"), 13: ("seLinuxChangePolicy", "string*")},
    "Capabilities": {1: ("add", "[]string"), 2: ("drop", "[]string")},
    "SeccompProfile": {1: ("type", "string*"), 2: ("localhostProfile", "string*")},
    "AppArmorProfile": {1: ("type", "string*"), 2: ("localhostProfile", "string*")},
    "SELinuxOptions": {1: ("user", "string"), 2: ("role", "string"), 3: ("type", "string"), 4: ("level", "string")},
    "Sysctl": {1: ("name", "string*"), 2: ("value", "string*")},
    # k8s.io/apimachinery: resource.Quantity and intstr.IntOrString are messages on the wire, scalars in JSON
    "Quantity": {1: ("string", "string")},
    "IntOrString": {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")},
}

# (apiVersion, kind) -> top-level message
KINDS: Dict[Tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("batch/v1", "Job"): "Job",
}


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> List[Tuple[int, int, Any]]:
    """The raw ``(field number, wire type, value)`` triples of one message."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ProtobufError("truncated length-delimited field")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(buf: bytes) -> str:
    seconds = 0
    for number, _wire, value in fields(buf):
        if number == 1:
            seconds = _signed(value)
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_VARINT_TYPES = ("int", "bool")


def _scalar(kind: str, wire: int, value: Any) -> Any:
    base = kind.rstrip("*")
    if (wire == 0) != (base in _VARINT_TYPES):
        raise ProtobufError(f"protobuf wire type {wire} does not fit a field of type {base}")
    if base == "string":
        return value.decode("utf-8")
    if base == "bytes":
        return base64.b64encode(value).decode("ascii")
    if base == "int":
        return _signed(value)
    if base == "bool":
        return bool(value)
    if base == "time":
        return _time(value)
    if base == "quantity":
        return decode_message("Quantity", value).get("string", "")
    if base == "intorstring":
        decoded = decode_message("IntOrString", value)
        return decoded.get("strVal", "") if decoded.get("type") == 1 else decoded.get("intVal", 0)
    return decode_message(base, value)


def _packed(buf: bytes) -> List[int]:
    """The values of a packed repeated varint field."""
    values, pos = [], 0
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        values.append(value)
    return values


def _is_zero(kind: str, value: Any) -> bool:
    if kind.endswith("*"):
        return False
    if kind.startswith("[]") or kind.startswith("map:"):
        return not value
    return value in ("", 0, False, None, {}) and not isinstance(value, list)


def decode_message(name: str, buf: bytes) -> dict:
    table = MESSAGES.get(name)
    if table is None:
        raise Unsupported(f"no protobuf decoding for message {name}")
    out: Dict[str, Any] = {}
    inline: Dict[str, Any] = {}
    for number, wire, value in fields(buf):
        if number not in table:
            raise Unsupported(f"{name}: protobuf field {number} is not decoded by the emulator")
        field_name, kind = table[number]
        if not field_name:
            if wire != 2:
                raise ProtobufError(f"protobuf wire type {wire} does not fit a field of type {kind}")
            inline.update(decode_message(kind, value))
        elif kind.startswith("[]"):
            if wire == 2 and kind[2:].rstrip("*") in _VARINT_TYPES:
                items = [_scalar(kind[2:], 0, item) for item in _packed(value)]
            else:
                items = [_scalar(kind[2:], wire, value)]
            out.setdefault(field_name, []).extend(items)
        elif kind.startswith("map:"):
            key, item = "", None
            for entry_number, entry_wire, entry_value in fields(value):
                if entry_number == 1:
                    key = entry_value.decode("utf-8")
                elif entry_number == 2:
                    item = _scalar(kind[4:], entry_wire, entry_value)
            out.setdefault(field_name, {})[key] = item if item is not None else ("" if kind == "map:string" else "")
        else:
            decoded = _scalar(kind, wire, value)
            if kind.rstrip("*") == "time" and decoded == "1970-01-01T00:00:00Z":
                continue
            out[field_name] = decoded
    kept = {k: v for k, v in out.items() if not _is_zero(table[_number_of(table, k)][1], v)}
    kept.update(inline)
    return kept


def _number_of(table: Dict[int, Tuple[str, str]], json_name: str) -> int:
    for number, (name, _kind) in table.items():
        if name == json_name:
            return number
    raise KeyError(json_name)


def decode(body: bytes) -> dict:
    """A protobuf request body as the JSON object it encodes."""
    if not body.startswith(MAGIC):
        raise ProtobufError("protobuf body does not start with the k8s magic bytes")
    envelope = decode_message("Unknown", body[len(MAGIC):])
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if envelope.get("contentEncoding"):
        raise Unsupported(f"protobuf content encoding {envelope['contentEncoding']!r} is not supported")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise Unsupported(f"the emulator does not decode {kind} ({api_version}) from protobuf")
    raw = base64.b64decode(envelope.get("raw", ""))
    obj = decode_message(message, raw)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
