"""The charts the helm test double knows, re-implemented in Python (part of the helm test double).

No chart can be downloaded here (no registry, no chart repository is reachable), so each chart the
collection installs is reproduced from its real templates (see CHARTS.md for sources): same object
kinds, names, labels, ports, images and values keys. Nothing else can be installed: an unknown chart
reference fails like helm fails for a chart it cannot find.
"""

import base64
import copy
import os
import secrets
import string
from dataclasses import dataclass, field
from typing import Callable

import yaml

from .values import dig

AGENTGATEWAY_VERSION = "v2.2.0-beta.4"
AGENTGATEWAY_REGISTRY = "cr.agentgateway.dev"
SIMCUBE_URL = "https://simcubeltd.github.io/simcube-helm-charts"
CRDS_FILE = "agentgateway-crds-v2.2.0-beta.4.yaml"


class ChartNotFound(Exception):
    """The reference names no chart the double (or the real registry/repository) has."""


@dataclass
class Chart:
    name: str
    version: str
    app_version: str
    description: str
    defaults: dict
    render: Callable  # (release_name, namespace, values, context) -> list of (template_path, object)
    notes: Callable  # (release_name, namespace, values) -> str
    source: str  # where it came from: oci reference or repository URL
    home: str = ""
    icon: str = ""
    chart_type: str = "application"
    api_version: str = "v2"
    extra_metadata: dict = field(default_factory=dict)
    # What runs in the cluster after install (a controller's own objects), or None.
    after_apply: Callable = None

    def metadata(self):
        meta = {"apiVersion": self.api_version, "name": self.name, "version": self.version}
        if self.app_version:
            meta["appVersion"] = self.app_version
        if self.description:
            meta["description"] = self.description
        if self.home:
            meta["home"] = self.home
        if self.icon:
            meta["icon"] = self.icon
        if self.chart_type:
            meta["type"] = self.chart_type
        meta.update(self.extra_metadata)
        return meta

    @property
    def label(self):
        return ("%s-%s" % (self.name, self.version)).replace("+", "_")


def fullname(release, chart_name, values):
    """The usual `<chart>.fullname` helper of `helm create` charts."""
    override = values.get("fullnameOverride")
    if override:
        return str(override)[:63].rstrip("-")
    name = values.get("nameOverride") or chart_name
    if name in release:
        return release[:63].rstrip("-")
    return ("%s-%s" % (release, name))[:63].rstrip("-")


def short_name(chart_name, values):
    return (values.get("nameOverride") or chart_name)[:63].rstrip("-")


# --------------------------------------------------------------------------- agentgateway-crds


def shared_crds_dir():
    configured = os.environ.get("MCP_SHARED_CRDS_DIR")
    if configured:
        return configured
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared", "crds")


def _load_agentgateway_crds():
    path = os.path.join(shared_crds_dir(), CRDS_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            docs = [doc for doc in yaml.safe_load_all(handle) if doc]
    except FileNotFoundError:
        raise ChartNotFound(
            "the helm test double reads the agentgateway CRDs from %s, which does not exist "
            "(set MCP_SHARED_CRDS_DIR)" % path
        ) from None
    return docs


def _render_agentgateway_crds(release, namespace, values, context):
    out = []
    for crd in _load_agentgateway_crds():
        plural = crd["spec"]["names"]["plural"]
        group = crd["spec"]["group"]
        out.append(("agentgateway-crds/templates/%s_%s.yaml" % (group, plural), crd))
    return out


def _notes_agentgateway_crds(release, namespace, values):
    return (
        'Release "%s" (agentgateway-crds) is deployed in the "%s" namespace.\n'
        "It installs the agentgateway.dev Custom Resource Definitions:\n\n"
        "  kubectl get crds | grep agentgateway.dev\n" % (release, namespace)
    )


# --------------------------------------------------------------------------- agentgateway

AGENTGATEWAY_DEFAULTS = {
    "imagePullSecrets": [],
    "nameOverride": "",
    "fullnameOverride": "",
    "serviceAccount": {"create": True, "annotations": {}, "name": ""},
    "deploymentAnnotations": {},
    "podAnnotations": {"prometheus.io/scrape": "true"},
    "podSecurityContext": {},
    "securityContext": {},
    "resources": {},
    "nodeSelector": {},
    "tolerations": [],
    "affinity": {},
    "controller": {
        "replicaCount": 1,
        "logLevel": "info",
        "image": {"registry": "", "repository": "kgateway", "pullPolicy": "", "tag": ""},
        "service": {"type": "ClusterIP", "ports": {"agwGrpc": 9978, "health": 9093, "metrics": 9092}},
        "extraEnv": {},
        "xds": {"tls": {"enabled": False}},
        "strategy": {},
    },
    "image": {"registry": AGENTGATEWAY_REGISTRY, "tag": "", "pullPolicy": "IfNotPresent"},
    "inferenceExtension": {"enabled": False},
    "discoveryNamespaceSelectors": [],
    "gatewayClassParametersRefs": {},
}

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "get", "list", "patch", "update", "watch"]

AGENTGATEWAY_CLUSTER_RULES = [
    {"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": _WRITE},
    {"apiGroups": [""], "resources": ["endpoints", "namespaces", "nodes", "pods"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["secrets", "serviceaccounts"],
     "verbs": ["create", "delete", "get", "list", "patch", "watch"]},
    {"apiGroups": ["agentgateway.dev"],
     "resources": ["agentgatewaybackends", "agentgatewayparameters", "agentgatewaypolicies"], "verbs": _READ},
    {"apiGroups": ["agentgateway.dev"],
     "resources": ["agentgatewaybackends/status", "agentgatewayparameters/status", "agentgatewaypolicies/status"],
     "verbs": ["get", "patch", "update"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": _READ},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _WRITE},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
    {"apiGroups": ["gateway.networking.k8s.io"],
     "resources": ["backendtlspolicies", "gateways", "grpcroutes", "httproutes", "referencegrants",
                   "tcproutes", "tlsroutes"], "verbs": _READ},
    {"apiGroups": ["gateway.networking.k8s.io"],
     "resources": ["backendtlspolicies/status", "gatewayclasses/status", "gateways/status",
                   "grpcroutes/status", "httproutes/status", "tcproutes/status", "tlsroutes/status"],
     "verbs": ["patch", "update"]},
    {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["gatewayclasses"],
     "verbs": ["create", "get", "list", "patch", "update", "watch"]},
    {"apiGroups": ["gateway.networking.x-k8s.io"], "resources": ["xlistenersets"], "verbs": _READ},
    {"apiGroups": ["gateway.networking.x-k8s.io"], "resources": ["xlistenersets/status"],
     "verbs": ["patch", "update"]},
    {"apiGroups": ["networking.istio.io"],
     "resources": ["destinationrules", "serviceentries", "workloadentries"], "verbs": _READ},
    {"apiGroups": ["security.istio.io"], "resources": ["authorizationpolicies"], "verbs": _READ},
]

INFERENCE_EXTENSION_RULES = [
    {"apiGroups": ["inference.networking.x-k8s.io"], "resources": ["inferenceobjectives"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["pods"], "verbs": _READ},
    {"apiGroups": ["inference.networking.k8s.io"], "resources": ["inferencepools"],
     "verbs": ["get", "watch", "list", "update"]},
    {"apiGroups": ["inference.networking.k8s.io"], "resources": ["inferencepools/status"], "verbs": ["update"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings", "clusterroles"],
     "verbs": _WRITE},
]

AGENTGATEWAY_CONTROLLER_NAME = "agentgateway.dev/agentgateway"
AGENTGATEWAY_CLASS = "agentgateway"


def _agw_selector(release, values):
    return {
        "agentgateway": "agentgateway",
        "app.kubernetes.io/name": short_name("agentgateway", values),
        "app.kubernetes.io/instance": release,
    }


def _agw_labels(chart, release, values):
    labels = {"helm.sh/chart": chart.label}
    labels.update(_agw_selector(release, values))
    labels["app.kubernetes.io/version"] = chart.app_version
    labels["app.kubernetes.io/managed-by"] = "Helm"
    return labels


def _json_compact(value):
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _render_agentgateway(release, namespace, values, context):
    chart = AGENTGATEWAY
    v = values
    full = fullname(release, "agentgateway", v)
    name = short_name("agentgateway", v)
    labels = _agw_labels(chart, release, v)
    selector = _agw_selector(release, v)
    sa_create = bool(dig(v, "serviceAccount.create", True))
    sa_name = (dig(v, "serviceAccount.name") or full) if sa_create else (dig(v, "serviceAccount.name") or "default")
    ports = dig(v, "controller.service.ports", {}) or {}
    for key, value in (dig(v, "gatewayClassParametersRefs", {}) or {}).items():
        if not (value or {}).get("name"):
            raise ValueError("gatewayClassParametersRefs.%s.name must be set" % key)
        if not (value or {}).get("namespace"):
            raise ValueError("gatewayClassParametersRefs.%s.namespace must be set" % key)
    out = []
    if sa_create:
        sa = {"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": sa_name, "namespace": namespace, "labels": dict(labels)}}
        if dig(v, "serviceAccount.annotations"):
            sa["metadata"]["annotations"] = dict(dig(v, "serviceAccount.annotations"))
        out.append(("agentgateway/templates/serviceaccount.yaml", sa))
        out.append(("agentgateway/templates/serviceaccount.yaml", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "%s-role-%s" % (name, namespace)},
            "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": namespace}],
            "roleRef": {"kind": "ClusterRole", "name": "agentgateway-%s" % namespace,
                        "apiGroup": "rbac.authorization.k8s.io"},
        }))
    out.append(("agentgateway/templates/role.yaml", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "agentgateway-%s" % namespace},
        "rules": copy.deepcopy(AGENTGATEWAY_CLUSTER_RULES),
    }))
    if dig(v, "inferenceExtension.enabled"):
        out.append(("agentgateway/templates/inf_ext_rbac.yaml", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "agentgateway-inference-extension-%s" % namespace},
            "rules": copy.deepcopy(INFERENCE_EXTENSION_RULES),
        }))
        out.append(("agentgateway/templates/inf_ext_rbac.yaml", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "%s-inference-extension-role-%s" % (name, namespace)},
            "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": namespace}],
            "roleRef": {"kind": "ClusterRole", "name": "%s-inference-extension-%s" % (name, namespace),
                        "apiGroup": "rbac.authorization.k8s.io"},
        }))
    out.append(("agentgateway/templates/service.yaml", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": full, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "type": dig(v, "controller.service.type", "ClusterIP"),
            "ports": [
                {"port": ports.get("agwGrpc"), "targetPort": "grpc-xds-agw", "protocol": "TCP", "name": "grpc-xds-agw"},
                {"port": ports.get("health"), "targetPort": "health", "protocol": "TCP", "name": "health"},
            ],
            "selector": dict(selector),
        },
    }))
    image = "%s/%s:%s" % (
        dig(v, "controller.image.registry") or dig(v, "image.registry"),
        dig(v, "controller.image.repository"),
        dig(v, "controller.image.tag") or dig(v, "image.tag") or chart.app_version,
    )
    env = [
        {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "1", "resource": "limits.memory"}}},
        {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"divisor": "1", "resource": "limits.cpu"}}},
        {"name": "KGW_LOG_LEVEL", "value": str(dig(v, "controller.logLevel"))},
        {"name": "KGW_XDS_SERVICE_NAME", "value": full},
        {"name": "KGW_AGENTGATEWAY_XDS_SERVICE_PORT", "value": str(ports.get("agwGrpc"))},
        {"name": "KGW_DEFAULT_IMAGE_REGISTRY", "value": str(dig(v, "image.registry"))},
        {"name": "KGW_DEFAULT_IMAGE_TAG", "value": str(dig(v, "image.tag") or chart.app_version)},
        {"name": "KGW_DEFAULT_IMAGE_PULL_POLICY", "value": str(dig(v, "image.pullPolicy") or "IfNotPresent")},
        {"name": "KGW_DISCOVERY_NAMESPACE_SELECTORS",
         "value": _json_compact(dig(v, "discoveryNamespaceSelectors") or [])},
    ]
    for key, value in sorted((dig(v, "controller.extraEnv") or {}).items()):
        env.append({"name": key, "value": str(value)})
    env += [
        {"name": "KGW_ENABLE_AGENTGATEWAY", "value": "true"},
        {"name": "KGW_ENABLE_ENVOY", "value": "false"},
    ]
    if dig(v, "inferenceExtension.enabled"):
        env.append({"name": "KGW_ENABLE_INFER_EXT", "value": "true"})
    if dig(v, "controller.xds.tls.enabled"):
        env.append({"name": "KGW_XDS_TLS_ENABLED", "value": "true"})
    env += [
        {"name": "KGW_GATEWAY_CLASS_PARAMETERS_REFS",
         "value": _json_compact(dig(v, "gatewayClassParametersRefs") or {})},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    container = {
        "name": "controller",
        "image": image,
        "imagePullPolicy": dig(v, "controller.image.pullPolicy") or dig(v, "image.pullPolicy"),
        "ports": [
            {"containerPort": ports.get("agwGrpc"), "name": "grpc-xds-agw", "protocol": "TCP"},
            {"containerPort": ports.get("health"), "name": "health", "protocol": "TCP"},
            {"containerPort": ports.get("metrics"), "name": "metrics", "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": ports.get("health")},
                           "initialDelaySeconds": 1, "periodSeconds": 10},
        "startupProbe": {"httpGet": {"path": "/readyz", "port": ports.get("health")},
                         "initialDelaySeconds": 0, "periodSeconds": 1, "failureThreshold": 120},
        "env": env,
        "resources": copy.deepcopy(dig(v, "resources") or {}),
    }
    if dig(v, "securityContext"):
        container["securityContext"] = copy.deepcopy(dig(v, "securityContext"))
    pod_spec = {"serviceAccountName": sa_name, "containers": [container]}
    if dig(v, "imagePullSecrets"):
        pod_spec["imagePullSecrets"] = copy.deepcopy(dig(v, "imagePullSecrets"))
    if dig(v, "podSecurityContext"):
        pod_spec["securityContext"] = copy.deepcopy(dig(v, "podSecurityContext"))
    if dig(v, "controller.xds.tls.enabled"):
        container["volumeMounts"] = [{"name": "xds-tls", "mountPath": "/etc/xds-tls", "readOnly": True}]
        pod_spec["volumes"] = [{"name": "xds-tls", "secret": {"secretName": "agentgateway-xds-cert"}}]
    for key in ("nodeSelector", "affinity", "tolerations"):
        if dig(v, key):
            pod_spec[key] = copy.deepcopy(dig(v, key))
    pod_annotations = {"prometheus.io/path": "/metrics", "prometheus.io/port": str(ports.get("metrics") or 9092)}
    pod_annotations.update({k: str(x) for k, x in (dig(v, "podAnnotations") or {}).items()})
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": full, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": dig(v, "controller.replicaCount"),
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": {"annotations": pod_annotations, "labels": dict(selector)}, "spec": pod_spec},
        },
    }
    if dig(v, "deploymentAnnotations"):
        deployment["metadata"]["annotations"] = dict(dig(v, "deploymentAnnotations"))
    if dig(v, "controller.strategy"):
        deployment["spec"]["strategy"] = copy.deepcopy(dig(v, "controller.strategy"))
    out.append(("agentgateway/templates/deployment.yaml", deployment))
    return out


def agentgateway_gateway_class(values):
    """The GatewayClass the agentgateway controller applies when it starts (not a chart template)."""
    gwc = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": AGENTGATEWAY_CLASS},
        "spec": {
            "controllerName": AGENTGATEWAY_CONTROLLER_NAME,
            "description": "Specialized class for agentgateway.",
        },
    }
    ref = (dig(values, "gatewayClassParametersRefs") or {}).get(AGENTGATEWAY_CLASS)
    if ref:
        gwc["spec"]["parametersRef"] = {
            "group": "agentgateway.dev", "kind": "AgentgatewayParameters",
            "name": ref["name"], "namespace": ref["namespace"],
        }
    return gwc


def _notes_agentgateway(release, namespace, values):
    return (
        'agentgateway control plane release "%s" is deployed in the "%s" namespace.\n\n'
        "  helm status %s --namespace %s\n  kubectl get all -n %s\n" % (release, namespace, release, namespace, namespace)
    )


# --------------------------------------------------------------------------- simcube mssqlserver-2022

MSSQL_DEFAULTS = {
    "acceptEula": {"value": "n"},
    "edition": {"value": "Developer"},
    "collation": "SQL_Latin1_General_CP1_CI_AS",
    "dataDir": "/var/opt/mssql",
    "lcid": 1033,
    "hadr": 0,
    "replicaCount": 1,
    "image": {"repository": "mcr.microsoft.com/mssql/server", "tag": "2022-latest", "pullPolicy": "IfNotPresent"},
    "service": {"headless": False, "type": "ClusterIP", "port": 1433, "annotations": {}, "labels": {}},
    "deployment": {"annotations": {}, "labels": {}},
    "pod": {"annotations": {}, "labels": {}},
    "persistence": {"enabled": True, "storageClass": "", "dataAccessMode": "ReadWriteOnce", "dataSize": "1Gi"},
    "livenessprobe": {"initialDelaySeconds": 15, "periodSeconds": 20},
    "readinessprobe": {"initialDelaySeconds": 5, "periodSeconds": 10},
    "resources": {"limits": {"memory": "2Gi"}},
    "nodeSelector": {},
}

_ALNUM = string.ascii_letters + string.digits


def random_alnum(length):
    """Sprig's randAlphaNum."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _gostr(value):
    """How a Go template prints a scalar."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "<no value>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _render_mssql(release, namespace, values, context):
    chart = MSSQLSERVER_2022
    v = values
    full = fullname(release, "mssqlserver-2022", v)
    base_labels = {"app": full, "chart": chart.label, "release": release, "heritage": "Helm"}
    selector = {"app": full, "release": release}
    password = v.get("sapassword")
    password = _gostr(password) if password else random_alnum(20)
    secret = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "%s-secret" % full, "labels": dict(base_labels)},
        "type": "Opaque",
        "data": {"sapassword": base64.b64encode(password.encode()).decode()},
    }
    service_labels = dict(base_labels)
    service_labels.update({k: _gostr(x) for k, x in (dig(v, "service.labels") or {}).items()})
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": full, "labels": service_labels},
        "spec": {
            "ports": [{"name": "mssql", "port": dig(v, "service.port"), "targetPort": "mssql", "protocol": "TCP"}],
            "selector": dict(selector),
        },
    }
    if dig(v, "service.headless"):
        service["spec"]["type"] = "ClusterIP"
        service["spec"]["clusterIP"] = "None"
    else:
        service["spec"]["type"] = dig(v, "service.type")
    if dig(v, "service.nodePort"):
        service["spec"]["ports"][0]["nodePort"] = dig(v, "service.nodePort")
    if dig(v, "service.annotations"):
        service["metadata"]["annotations"] = {k: _gostr(x) for k, x in dig(v, "service.annotations").items()}
    sts_labels = dict(base_labels)
    sts_labels.update({k: _gostr(x) for k, x in (dig(v, "deployment.labels") or {}).items()})
    pod_labels = dict(selector)
    pod_labels.update({k: _gostr(x) for k, x in (dig(v, "pod.labels") or {}).items()})
    env = [
        {"name": "ACCEPT_EULA", "value": _gostr(dig(v, "acceptEula.value")).upper()},
        {"name": "MSSQL_PID", "value": _gostr(dig(v, "edition.value"))},
        {"name": "SA_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "%s-secret" % full, "key": "sapassword"}}},
        {"name": "MSSQL_DATA_DIR", "value": _gostr(dig(v, "dataDir"))},
        {"name": "MSSQL_TCP_PORT", "value": _gostr(dig(v, "service.port"))},
        {"name": "MSSQL_COLLATION", "value": _gostr(dig(v, "collation"))},
        {"name": "MSSQL_LCID", "value": _gostr(dig(v, "lcid"))},
        {"name": "MSSQL_ENABLE_HADR", "value": _gostr(dig(v, "hadr"))},
    ]
    if dig(v, "resources.limits.memory"):
        env.append({"name": "MSSQL_MEMORY_LIMIT_MB",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}})
    container = {
        "name": chart.name,
        "image": "%s:%s" % (dig(v, "image.repository"), _gostr(dig(v, "image.tag"))),
        "imagePullPolicy": dig(v, "image.pullPolicy"),
        "env": env,
        "ports": [{"name": "mssql", "containerPort": dig(v, "service.port")}],
        "volumeMounts": [{"name": "data", "mountPath": "/var/opt/mssql"}],
        "livenessProbe": {"tcpSocket": {"port": "mssql"},
                          "initialDelaySeconds": dig(v, "livenessprobe.initialDelaySeconds"),
                          "periodSeconds": dig(v, "livenessprobe.periodSeconds")},
        "readinessProbe": {"tcpSocket": {"port": "mssql"},
                           "initialDelaySeconds": dig(v, "readinessprobe.initialDelaySeconds"),
                           "periodSeconds": dig(v, "readinessprobe.periodSeconds")},
        "resources": copy.deepcopy(dig(v, "resources") or {}),
    }
    pod_spec = {"terminationGracePeriodSeconds": 30, "securityContext": {"fsGroup": 10001}, "containers": [container]}
    if dig(v, "image.pullSecrets"):
        pod_spec["imagePullSecrets"] = copy.deepcopy(dig(v, "image.pullSecrets"))
    if dig(v, "nodeSelector"):
        pod_spec["nodeSelector"] = copy.deepcopy(dig(v, "nodeSelector"))
    spec = {
        "serviceName": full,
        "replicas": dig(v, "replicaCount"),
        "selector": {"matchLabels": dict(selector)},
        "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
    }
    if dig(v, "pod.annotations"):
        spec["template"]["metadata"]["annotations"] = {k: _gostr(x) for k, x in dig(v, "pod.annotations").items()}
    if dig(v, "persistence.enabled"):
        if dig(v, "persistence.existingDataClaim"):
            pod_spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {
                "claimName": _gostr(dig(v, "persistence.existingDataClaim"))}}]
        else:
            claim = {
                "metadata": {"name": "data"},
                "spec": {"accessModes": [dig(v, "persistence.dataAccessMode")],
                         "resources": {"requests": {"storage": _gostr(dig(v, "persistence.dataSize"))}}},
            }
            if dig(v, "persistence.storageClass"):
                storage_class = dig(v, "persistence.storageClass")
                claim["spec"]["storageClassName"] = "" if storage_class == "-" else storage_class
            spec["volumeClaimTemplates"] = [claim]
    else:
        pod_spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    statefulset = {"apiVersion": "apps/v1", "kind": "StatefulSet",
                   "metadata": {"name": full, "labels": sts_labels}, "spec": spec}
    if dig(v, "deployment.annotations"):
        statefulset["metadata"]["annotations"] = {k: _gostr(x) for k, x in dig(v, "deployment.annotations").items()}
    return [
        ("mssqlserver-2022/templates/secret.yaml", secret),
        ("mssqlserver-2022/templates/service.yaml", service),
        ("mssqlserver-2022/templates/statefulset.yaml", statefulset),
    ]


def _notes_mssql(release, namespace, values):
    full = fullname(release, "mssqlserver-2022", values)
    return (
        "Edition for this installation: %s\nSQL Server Name: %s.%s\nPort: %s\nCollation: %s\n\n"
        "The SA password is in Secret %s-secret, key sapassword (base64).\n"
        % (_gostr(dig(values, "edition.value")), full, namespace, _gostr(dig(values, "service.port")),
           _gostr(dig(values, "collation")), full)
    )


# --------------------------------------------------------------------------- registry of charts

AGENTGATEWAY_CRDS = Chart(
    name="agentgateway-crds", version=AGENTGATEWAY_VERSION, app_version=AGENTGATEWAY_VERSION,
    description="A Helm chart for the agentgateway project CRDs", defaults={},
    render=_render_agentgateway_crds, notes=_notes_agentgateway_crds,
    source="oci://%s/charts/agentgateway-crds" % AGENTGATEWAY_REGISTRY,
    icon="https://raw.githubusercontent.com/agentgateway/website/refs/heads/main/static/favicon.svg",
)

AGENTGATEWAY = Chart(
    name="agentgateway", version=AGENTGATEWAY_VERSION, app_version=AGENTGATEWAY_VERSION,
    description="A Helm chart for the agentgateway project", defaults=AGENTGATEWAY_DEFAULTS,
    render=_render_agentgateway, notes=_notes_agentgateway,
    source="oci://%s/charts/agentgateway" % AGENTGATEWAY_REGISTRY,
    icon="https://raw.githubusercontent.com/agentgateway/website/refs/heads/main/static/favicon.svg",
    after_apply="agentgateway-controller",
)

MSSQLSERVER_2022 = Chart(
    name="mssqlserver-2022", version="1.2.3", app_version="2022",
    description="SQL Server 2022 Linux Helm Chart", defaults=MSSQL_DEFAULTS,
    render=_render_mssql, notes=_notes_mssql, source=SIMCUBE_URL,
    home="https://hub.docker.com/_/microsoft-mssql-server",
    icon="https://img-prod-cms-rt-microsoft-com.akamaized.net/cms/api/am/imageFileData/RE1I4Dx",
    chart_type="",
    extra_metadata={"maintainers": [{"email": "info@simcube.co.uk", "name": "simcube"}],
                    "sources": ["https://hub.docker.com/_/microsoft-mssql-server"]},
)

# OCI registry contents: repository reference (without tag) -> {tag: chart}
OCI = {
    "%s/charts/agentgateway-crds" % AGENTGATEWAY_REGISTRY: {AGENTGATEWAY_VERSION: AGENTGATEWAY_CRDS},
    "%s/charts/agentgateway" % AGENTGATEWAY_REGISTRY: {AGENTGATEWAY_VERSION: AGENTGATEWAY},
}
# Chart repositories: URL (no trailing slash) -> {chart name: {version: chart}}
REPOSITORIES = {
    SIMCUBE_URL: {"mssqlserver-2022": {"1.2.3": MSSQLSERVER_2022}},
}


def known_repository(url):
    return url.rstrip("/") in REPOSITORIES


def _semver_key(version):
    core, _, pre = version.lstrip("v").partition("-")
    nums = tuple(int(p) if p.isdigit() else 0 for p in core.split("."))
    return nums, (pre == "",), pre


def _match_version(available, wanted, devel):
    if wanted:
        for tag in available:
            if tag == wanted or tag.lstrip("v") == wanted.lstrip("v"):
                return tag
        return None
    candidates = [t for t in available if devel or "-" not in t.lstrip("v")] or (
        list(available) if not devel else [])
    if not candidates:
        return None
    return max(candidates, key=_semver_key)


def resolve_oci(reference, version, devel=False):
    """reference: oci://host/path[:tag]. Returns the Chart or raises ChartNotFound (helm's words)."""
    ref = reference[len("oci://"):]
    tag = None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    wanted = version or tag
    host = ref.split("/", 1)[0]
    if not any(key.split("/", 1)[0] == host for key in OCI):
        raise ChartNotFound(
            'failed to do request: Head "https://%s/v2/%s/tags/list": dial tcp: lookup %s: no such host'
            % (host, ref.split("/", 1)[-1], host)
        )
    tags = OCI.get(ref)
    if tags is None:
        raise ChartNotFound("%s:%s: not found" % (ref, wanted or "latest"))
    matched = _match_version(tags, wanted, devel=True)
    if matched is None:
        raise ChartNotFound("%s:%s: not found" % (ref, wanted))
    return tags[matched], "%s:%s" % (ref, matched)


def resolve_repo_chart(repo_url, chart_name, repo_label, version, devel=False):
    charts = REPOSITORIES.get(repo_url.rstrip("/"), {})
    versions = charts.get(chart_name)
    if versions is None:
        raise ChartNotFound(
            "chart \"%s\" not found in %s index. (try 'helm repo update'): no chart name found"
            % (chart_name, repo_label)
        )
    matched = _match_version(versions, version, devel)
    if matched is None:
        if version:
            raise ChartNotFound(
                "chart \"%s\" matching %s not found in %s index. (try 'helm repo update'): "
                "no chart version found for %s-%s" % (chart_name, version, repo_label, chart_name, version)
            )
        raise ChartNotFound(
            "chart \"%s\" not found in %s index. (try 'helm repo update'): no chart version found for %s-"
            % (chart_name, repo_label, chart_name)
        )
    return versions[matched]
