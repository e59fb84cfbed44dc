"""Which API resources the emulator serves: the built-in ones below, plus one per served version of
every CustomResourceDefinition that is Established.

Discovery (``/api``, ``/apis``, ``/apis/<group>/<version>``), routing, OpenAPI and RBAC all read
this registry, so a resource exists everywhere at once, as it does in kube-apiserver.

The built-in table lists discovery facts (plural, namespaced, short names, verbs, subresources) that
schemas do not carry; the schemas themselves come from ``kubernetes-validate`` (see validation).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: Tuple[str, ...] = ()
    verbs: Tuple[str, ...] = ALL_VERBS
    subresources: Tuple[str, ...] = ()  # e.g. ("status", "scale"), ("token",)
    categories: Tuple[str, ...] = ()
    singular: str = ""
    # For custom resources: the CRD's name and the version's schema (openAPIV3Schema), else None.
    crd_name: Optional[str] = None
    schema: Optional[dict] = field(default=None, compare=False, hash=False, repr=False)

    @property
    def key(self) -> Tuple[str, str]:
        """The storage key: (group, plural). All versions of a resource share their objects."""
        return (self.group, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def _r(group, version, kind, plural, namespaced, short=(), verbs=ALL_VERBS, sub=(), cats=()):
    return ResourceType(group, version, kind, plural, namespaced, tuple(short), tuple(verbs), tuple(sub), tuple(cats))


BUILTIN: Tuple[ResourceType, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", False, ("ns",), ("create", "delete", "get", "list", "patch", "update", "watch"), ("status", "finalize")),
    _r("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    _r("", "v1", "Secret", "secrets", True),
    _r("", "v1", "Service", "services", True, ("svc",), ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"), ("status",), ("all",)),
    _r("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), ALL_VERBS, ("token",)),
    _r("", "v1", "Pod", "pods", True, ("po",), ALL_VERBS, ("status", "log", "exec", "portforward", "eviction"), ("all",)),
    _r("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    _r("", "v1", "Event", "events", True, ("ev",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), ALL_VERBS, ("status",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), ALL_VERBS, ("status",)),
    _r("", "v1", "Node", "nodes", False, ("no",), ALL_VERBS, ("status",)),
    _r("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",), ALL_VERBS, ("status",)),
    _r("", "v1", "LimitRange", "limitranges", True, ("limits",)),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", True, ("deploy",), ALL_VERBS, ("status", "scale"), ("all",)),
    _r("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ALL_VERBS, ("status", "scale"), ("all",)),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ALL_VERBS, ("status",), ("all",)),
    _r("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ALL_VERBS, ("status", "scale"), ("all",)),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", True, (), ALL_VERBS, ("status",), ("all",)),
    _r("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ALL_VERBS, ("status",), ("all",)),
    # rbac.authorization.k8s.io/v1
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    # authorization and authentication reviews (create only, never stored)
    _r("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, (), CREATE_ONLY),
    _r("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False, (), CREATE_ONLY),
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, (), CREATE_ONLY),
    _r("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False, (), CREATE_ONLY),
    # apiextensions.k8s.io/v1
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False, ("crd", "crds"), ALL_VERBS, ("status",), ("api-extensions",)),
    # others a platform deployment touches
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), ALL_VERBS, ("status",)),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), ALL_VERBS, ("status",)),
    _r("coordination.k8s.io", "v1", "Lease", "leases", True),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ALL_VERBS, ("status",), ("all",)),
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
)

# Preferred-version order of the built-in groups, as kube-apiserver lists them in /apis.
GROUP_ORDER = (
    "apiextensions.k8s.io", "apps", "authentication.k8s.io", "authorization.k8s.io", "autoscaling",
    "batch", "coordination.k8s.io", "discovery.k8s.io", "networking.k8s.io", "policy",
    "rbac.authorization.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
)


class Registry:
    """Thread-safe set of served resources. CRD resources are added/removed by the CRD controller."""

    def __init__(self):
        self._lock = threading.RLock()
        self._builtin: List[ResourceType] = list(BUILTIN)
        self._custom: Dict[str, List[ResourceType]] = {}  # CRD name -> its served versions

    # -- lookups -------------------------------------------------------------------------------
    def all(self) -> List[ResourceType]:
        with self._lock:
            return self._builtin + [rt for rts in self._custom.values() for rt in rts]

    def lookup(self, group: str, version: str, plural: str) -> Optional[ResourceType]:
        for rt in self.all():
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_kind(self, api_version: str, kind: str) -> Optional[ResourceType]:
        group, _, version = api_version.rpartition("/")
        for rt in self.all():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def by_resource(self, group: str, plural: str) -> List[ResourceType]:
        """Every served version of one resource (used by RBAC and cross-version reads)."""
        return [rt for rt in self.all() if rt.group == group and rt.plural == plural]

    def groups(self) -> Dict[str, List[str]]:
        """group -> served versions, preferred first; the core group ("") included."""
        out: Dict[str, List[str]] = {}
        for rt in self.all():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def resources_in(self, group: str, version: str) -> List[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]

    # -- custom resources ----------------------------------------------------------------------
    def set_custom(self, crd_name: str, resource_types: Iterable[ResourceType]) -> None:
        with self._lock:
            self._custom[crd_name] = list(resource_types)

    def remove_custom(self, crd_name: str) -> None:
        with self._lock:
            self._custom.pop(crd_name, None)

    def custom_groups(self) -> List[str]:
        with self._lock:
            seen: List[str] = []
            for rts in self._custom.values():
                for rt in rts:
                    if rt.group not in seen:
                        seen.append(rt.group)
            return seen
