"""Talking to the cluster for the helm test double: the kubernetes Python client configured from the
kubeconfig/context/token/CA that helm itself would use, plain REST calls, and helm's rules for
creating, three-way patching, deleting and waiting for the objects of a release."""

import json
import os
import time
import urllib.parse

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

FIELD_MANAGER = "helm"

# kind -> (API path prefix, plural, namespaced) for every kind the known charts render
KNOWN_KINDS = {
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts", True),
    ("v1", "Secret"): ("/api/v1", "secrets", True),
    ("v1", "ConfigMap"): ("/api/v1", "configmaps", True),
    ("v1", "Service"): ("/api/v1", "services", True),
    ("v1", "PersistentVolumeClaim"): ("/api/v1", "persistentvolumeclaims", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("apps/v1", "StatefulSet"): ("/apis/apps/v1", "statefulsets", True),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs", True),
    ("policy/v1", "PodDisruptionBudget"): ("/apis/policy/v1", "poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"):
        ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
        ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    ("gateway.networking.k8s.io/v1", "GatewayClass"): ("/apis/gateway.networking.k8s.io/v1", "gatewayclasses", False),
}

# helm's InstallOrder (pkg/releaseutil/kind_sorter.go)
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
    "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
    "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
]


def install_sort_key(kind):
    if kind in INSTALL_ORDER:
        return (INSTALL_ORDER.index(kind), "")
    return (len(INSTALL_ORDER), kind)


class KubeError(Exception):
    def __init__(self, message, status=None, reason=None):
        super().__init__(message)
        self.status = status
        self.reason = reason


class Unreachable(KubeError):
    pass


class Kube:
    def __init__(self, settings):
        self.settings = settings
        self._api = None
        self._discovered = {}

    # ------------------------------------------------------------------ connection

    def api(self):
        if self._api is None:
            self._api = self._build()
        return self._api

    def _build(self):
        s = self.settings
        configuration = k8s_client.Configuration()
        paths = [p for p in s.kubeconfig_paths() if os.path.exists(os.path.expanduser(p))]
        if paths:
            try:
                k8s_config.load_kube_config(
                    config_file=os.pathsep.join(paths) if len(paths) > 1 else paths[0],
                    context=s.kube_context or None,
                    client_configuration=configuration,
                    persist_config=False,
                )
            except ConfigException as exc:
                if not s.kube_apiserver:
                    raise Unreachable("Kubernetes cluster unreachable: %s" % exc) from None
        elif s.kubeconfig and not s.kube_apiserver:
            raise Unreachable("Kubernetes cluster unreachable: stat %s: no such file or directory" % s.kubeconfig)
        elif not s.kube_apiserver:
            raise Unreachable(
                'Kubernetes cluster unreachable: Get "http://localhost:8080/version": '
                "dial tcp 127.0.0.1:8080: connect: connection refused"
            )
        if s.kube_apiserver:
            configuration.host = s.kube_apiserver.rstrip("/")
        if s.kube_token:
            configuration.api_key = {"authorization": "Bearer " + s.kube_token}
            configuration.api_key_prefix = {}
        if s.kube_ca_file:
            configuration.ssl_ca_cert = s.kube_ca_file
        if s.kube_insecure:
            configuration.verify_ssl = False
        if s.kube_tls_server_name:
            configuration.tls_server_name = s.kube_tls_server_name
        configuration.retries = 1
        api = k8s_client.ApiClient(configuration)
        api.user_agent = "Helm/%s (helm test double)" % _helm_version()
        if s.kube_as_user:
            api.set_default_header("Impersonate-User", s.kube_as_user)
        for group in s.kube_as_groups:
            api.set_default_header("Impersonate-Group", group)
        return api

    def request(self, method, path, body=None, query=None, content_type=None):
        api = self.api()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        query_params = list((query or {}).items())
        request = api.param_serialize(
            method=method, resource_path=path, query_params=query_params,
            header_params=headers, body=body, auth_settings=["BearerToken"],
        )
        try:
            response = api.call_api(*request, _request_timeout=60)
            raw = response.read()
        except ApiException as exc:  # pragma: no cover - the REST layer raises only for transport errors here
            raise KubeError(str(exc), status=exc.status) from None
        except Exception as exc:  # urllib3 connection errors
            raise Unreachable(
                '%s "%s": %s' % (method.capitalize(), api.configuration.host + path, _short_transport_error(exc))
            ) from None
        status = response.status
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"message": raw.decode("utf-8", "replace")}
        if status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            raise KubeError(message or "the server responded with status %d" % status, status=status,
                            reason=(data.get("reason") if isinstance(data, dict) else None))
        return data

    def check_reachable(self):
        try:
            self.request("GET", "/version")
        except Unreachable as exc:
            raise Unreachable("Kubernetes cluster unreachable: %s" % exc) from None

    # ------------------------------------------------------------------ resource paths

    def resource_info(self, api_version, kind):
        key = (api_version, kind)
        if key in KNOWN_KINDS:
            return KNOWN_KINDS[key]
        if key not in self._discovered:
            prefix = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            try:
                listing = self.request("GET", prefix)
            except KubeError as exc:
                if exc.status == 404:
                    raise KubeError(
                        'resource mapping not found for kind "%s" in version "%s": ensure CRDs are installed first'
                        % (kind, api_version), status=404) from None
                raise
            for res in listing.get("resources", []):
                if res.get("kind") == kind and "/" not in res.get("name", ""):
                    self._discovered[key] = (prefix, res["name"], bool(res.get("namespaced")))
                    break
            else:
                raise KubeError(
                    'resource mapping not found for kind "%s" in version "%s": ensure CRDs are installed first'
                    % (kind, api_version), status=404)
        return self._discovered[key]

    def path(self, obj, namespace=None, name=True):
        prefix, plural, namespaced = self.resource_info(obj["apiVersion"], obj["kind"])
        if namespaced:
            ns = (obj.get("metadata") or {}).get("namespace") or namespace
            base = "%s/namespaces/%s/%s" % (prefix, urllib.parse.quote(ns), plural)
        else:
            base = "%s/%s" % (prefix, plural)
        if name:
            base += "/" + urllib.parse.quote(obj["metadata"]["name"])
        return base

    def is_namespaced(self, obj):
        return self.resource_info(obj["apiVersion"], obj["kind"])[2]

    # ------------------------------------------------------------------ CRUD

    def get(self, obj, namespace=None):
        try:
            return self.request("GET", self.path(obj, namespace))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, obj, namespace=None, field_manager=FIELD_MANAGER):
        return self.request("POST", self.path(obj, namespace, name=False), body=obj,
                            query={"fieldManager": field_manager})

    def merge_patch(self, obj, patch, namespace=None, field_manager=FIELD_MANAGER):
        return self.request("PATCH", self.path(obj, namespace), body=patch,
                            query={"fieldManager": field_manager}, content_type="application/merge-patch+json")

    def replace(self, obj, namespace=None, field_manager=FIELD_MANAGER):
        return self.request("PUT", self.path(obj, namespace), body=obj, query={"fieldManager": field_manager})

    def delete(self, obj, namespace=None, propagation="Background"):
        try:
            self.request("DELETE", self.path(obj, namespace),
                         body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation})
            return True
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None):
        prefix, plural, namespaced = self.resource_info(api_version, kind)
        if namespaced and namespace:
            path = "%s/namespaces/%s/%s" % (prefix, urllib.parse.quote(namespace), plural)
        else:
            path = "%s/%s" % (prefix, plural)
        query = {"labelSelector": label_selector} if label_selector else None
        return self.request("GET", path, query=query).get("items", [])


def _short_transport_error(exc):
    text = str(exc)
    reason = getattr(exc, "reason", None)
    if reason is not None:
        text = str(reason)
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connect: connection refused"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    return text


def _helm_version():
    from . import HELM_VERSION

    return HELM_VERSION


# ---------------------------------------------------------------------- three-way merge


def three_way_patch(original, modified, current):
    """A JSON merge patch taking `current` to `modified`, deleting what `original` had and `modified`
    dropped; lists the chart did not change are left alone (the server may have defaulted inside them)."""
    patch = {}
    original = original if isinstance(original, dict) else {}
    for key, want in modified.items():
        have = current.get(key, _MISSING)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = three_way_patch(original.get(key), want, have)
            if sub:
                patch[key] = sub
        elif isinstance(want, list) and have is not _MISSING and original.get(key, _MISSING) == want:
            continue
        elif have is _MISSING or have != want:
            patch[key] = want
    for key in original:
        if key not in modified and key in current:
            patch[key] = None
    return patch


_MISSING = object()


# ---------------------------------------------------------------------- readiness (helm's ready checker)


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _max_unavailable(dep):
    replicas = _int((dep.get("spec") or {}).get("replicas"), 1)
    strategy = (dep.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    raw = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(raw, str) and raw.endswith("%"):
        value = int(replicas * int(raw[:-1]) / 100)
    else:
        value = _int(raw)
    return min(value, replicas)


def not_ready_reason(obj, wait_for_jobs=False):
    """None when helm's --wait would consider obj ready, else a reason string."""
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = "%s/%s" % (meta.get("namespace"), meta.get("name"))
    if kind == "Deployment":
        if spec.get("paused"):
            return None
        if _int(status.get("observedGeneration")) < _int(meta.get("generation"), 1):
            return "Deployment is not ready: %s. observedGeneration has not caught up" % name
        replicas = _int(spec.get("replicas"), 1)
        expected = replicas - _max_unavailable(obj)
        if _int(status.get("updatedReplicas")) < replicas or _int(status.get("readyReplicas")) < expected:
            return "Deployment is not ready: %s. %d out of %d expected pods are ready" % (
                name, _int(status.get("readyReplicas")), expected)
        return None
    if kind == "StatefulSet":
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy != "RollingUpdate":
            return None
        if _int(status.get("observedGeneration")) < _int(meta.get("generation"), 1):
            return "StatefulSet is not ready: %s. observedGeneration has not caught up" % name
        replicas = _int(spec.get("replicas"), 1)
        partition = _int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition"))
        if _int(status.get("updatedReplicas")) < replicas - partition:
            return "StatefulSet is not ready: %s. %d out of %d expected pods have been scheduled" % (
                name, _int(status.get("updatedReplicas")), replicas - partition)
        if _int(status.get("readyReplicas")) != replicas:
            return "StatefulSet is not ready: %s. %d out of %d expected pods are ready" % (
                name, _int(status.get("readyReplicas")), replicas)
        if partition == 0 and status.get("currentRevision") != status.get("updateRevision"):
            return "StatefulSet is not ready: %s. currentRevision does not match updateRevision" % name
        return None
    if kind == "Service":
        if spec.get("type") == "ExternalName":
            return None
        if not spec.get("clusterIP"):
            return "Service does not have cluster IP address: %s" % name
        if spec.get("type") == "LoadBalancer" and not (status.get("loadBalancer") or {}).get("ingress"):
            return "Service does not have load balancer ingress IP address: %s" % name
        return None
    if kind == "Job" and wait_for_jobs:
        if _int(status.get("succeeded")) < _int(spec.get("completions"), 1):
            return "Job is not completed: %s" % name
        return None
    return None


WAITED_KINDS = ("Deployment", "StatefulSet", "Service", "Job")


def wait_ready(kube, objects, timeout, wait_for_jobs=False, poll=0.2):
    """Poll until every Deployment/StatefulSet/Service (and Job) is ready; returns None or an error."""
    deadline = time.monotonic() + timeout
    pending = [o for o in objects if o.get("kind") in WAITED_KINDS]
    while True:
        still = []
        for obj in pending:
            live = kube.get(obj)
            if live is None or not_ready_reason(live, wait_for_jobs):
                still.append(obj)
        if not still:
            return None
        if time.monotonic() >= deadline:
            return "context deadline exceeded"
        pending = still
        time.sleep(poll)


def wait_deleted(kube, objects, timeout, poll=0.2):
    deadline = time.monotonic() + timeout
    pending = list(objects)
    while pending:
        pending = [o for o in pending if kube.get(o) is not None]
        if not pending:
            return None
        if time.monotonic() >= deadline:
            return "timed out waiting for the condition"
        time.sleep(poll)
    return None
