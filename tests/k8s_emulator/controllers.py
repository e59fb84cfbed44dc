"""Simulated kube-controller-manager, scheduler and kubelet of the Kubernetes API emulator.

:class:`ControllerManager` subscribes to the store and reconciles on one worker thread, writing back
through the store (so watchers see every step) with optimistic concurrency (``expected_rv``; a
Conflict re-queues the key). What it emulates:

* **Deployments** -> one ReplicaSet per pod template (``<deploy>-<pod-template-hash>``, label
  ``pod-template-hash``, controller ownerReference, ``deployment.kubernetes.io/revision``), status as the
  deployment controller computes it (observedGeneration, replicas, updatedReplicas, readyReplicas,
  availableReplicas, unavailableReplicas, Available/Progressing conditions). A changed template starts a
  rollout: the new ReplicaSet is scaled to the full count at once (a surge of 100 %), the old ones are
  scaled to 0 once the new one is fully available (for 1 replica with the default 25 % surge this is what
  kube does too); ``Recreate`` scales the old ones down first. Old ReplicaSets beyond
  ``revisionHistoryLimit`` are deleted.
* **ReplicaSets** -> Pods ``<rs>-<5 chars>``; status replicas/fullyLabeledReplicas/readyReplicas/
  availableReplicas/observedGeneration.
* **StatefulSets** -> ControllerRevisions ``<sts>-<hash>``, Pods ``<sts>-<ordinal>`` (OrderedReady: one
  at a time, each after the previous is Ready; Parallel: all at once), PVCs from volumeClaimTemplates
  (reported Bound, as with a dynamic provisioner), RollingUpdate from the highest ordinal down (respecting
  ``partition``), OnDelete; status with currentRevision/updateRevision.
* **DaemonSets** -> one Pod per matching Node (the cluster has one Node, ``emulator-node``); status.
* **Jobs** -> their Pods. Pods cannot run programs here, so a Job's Pod becomes Running and stays so: the
  Job reports ``startTime``, ``active`` and ``ready`` and never completes or fails.
* **Pods** (the scheduler and kubelet): every Pod is bound to ``emulator-node`` at once, then after the
  controller delay becomes Running with Ready containers (no probes are run, no program is started).
* **Garbage collection**: dependents of a deleted owner are deleted (background); ``foregroundDeletion``
  and ``orphan`` finalizers are processed as kube's garbage collector does; dependents whose owners do
  not exist are deleted, dangling references to absent owners are removed when another owner exists.
* **Namespaces**: a Namespace with a deletionTimestamp is Terminating: all its content is deleted
  (objects with finalizers get a deletionTimestamp and are waited for), the ``kubernetes`` finalizer is
  removed and the Namespace deleted.
* **ClusterRole aggregation** and, when a :class:`~k8s_emulator.auth.TokenIssuer` is given, the legacy
  token controller for ``kubernetes.io/service-account-token`` Secrets.

Pods are deleted at once on scale-down (no graceful termination) and readiness probes are not run: both
are knowingly simplified. The controller delay (``delay_seconds``, :meth:`set_delay`) is the time a Pod
takes from creation to Ready.
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import logging
import random
import threading
import time
import uuid
from typing import Callable, Dict, List, Optional, Set, Tuple

from k8s_emulator.selectors import labels_match, parse_labels, selector_from_match_labels
from k8s_emulator.store import ADDED, DELETED, AlreadyExists, Conflict, NotFound

LOG = logging.getLogger("k8s_emulator.controllers")

NODE_NAME = "emulator-node"
NODE_IP = "10.89.0.2"
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand

NAMESPACES = ("", "namespaces")
NODES = ("", "nodes")
PODS = ("", "pods")
EVENTS = ("", "events")
SECRETS = ("", "secrets")
SERVICE_ACCOUNTS = ("", "serviceaccounts")
PVCS = ("", "persistentvolumeclaims")
DEPLOYMENTS = ("apps", "deployments")
REPLICASETS = ("apps", "replicasets")
STATEFULSETS = ("apps", "statefulsets")
DAEMONSETS = ("apps", "daemonsets")
REVISIONS = ("apps", "controllerrevisions")
JOBS = ("batch", "jobs")
CLUSTER_ROLES = ("rbac.authorization.k8s.io", "clusterroles")

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
REVISION_LABEL = "controller-revision-hash"
PVC_PROTECTION = "kubernetes.io/pvc-protection"

Key = Tuple[str, Tuple[str, str], str, str]  # (controller, resource, namespace, name)


# -- object helpers (shared with the authorization bootstrap) ---------------------------------------

def now_rfc3339(offset_seconds: float = 0.0) -> str:
    """The current time as Kubernetes writes timestamps (RFC 3339, second precision, UTC)."""
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_metadata(name: str, namespace: Optional[str] = None, labels: Optional[Dict[str, str]] = None,
                 annotations: Optional[Dict[str, str]] = None, generation: Optional[int] = None) -> dict:
    """Metadata of an object a controller creates itself, as the apiserver would stamp it on create."""
    meta: dict = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["uid"] = str(uuid.uuid4())
    if generation is not None:
        meta["generation"] = generation
    meta["creationTimestamp"] = now_rfc3339()
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(ALPHANUMS) for _ in range(length))


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: map each byte onto the consonant/digit alphabet kube uses in names."""
    return "".join(ALPHANUMS[ord(char) % len(ALPHANUMS)] for char in text)


def template_hash(template: dict, collision_count: int = 0) -> str:
    """A pod-template / controller-revision hash: FNV-32a of the template, safe-encoded like kube's.

    (kube hashes the Go struct's printed form, so values differ from a real cluster's; the shape and the
    property that equal templates give equal hashes are the same.)
    """
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return safe_encode(str(value))


def owner_reference(owner: dict) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def controller_uid(obj: dict) -> Optional[str]:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def is_deleting(obj: Optional[dict]) -> bool:
    return bool(obj and obj["metadata"].get("deletionTimestamp"))


def pod_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def selector_matches(selector: Optional[dict], labels: Optional[Dict[str, str]]) -> bool:
    """A LabelSelector object against labels; an empty selector matches nothing (as controllers treat it)."""
    if not selector:
        return False
    text = selector_from_match_labels(selector.get("matchLabels"), selector.get("matchExpressions"))
    return bool(text) and labels_match(parse_labels(text), labels)


def set_condition(conditions: List[dict], ctype: str, status: str, reason: str, message: str,
                  update_time: bool = False) -> List[dict]:
    """Set one condition, keeping lastTransitionTime unless the status changes (and lastUpdateTime unless
    anything changes), as the controllers' SetCondition helpers do."""
    now = now_rfc3339()
    out = [dict(c) for c in conditions]
    for cond in out:
        if cond.get("type") != ctype:
            continue
        changed = (cond.get("status"), cond.get("reason"), cond.get("message")) != (status, reason, message)
        if cond.get("status") != status:
            cond["lastTransitionTime"] = now
        if changed and update_time:
            cond["lastUpdateTime"] = now
        cond.update(status=status, reason=reason, message=message)
        return out
    cond = {"type": ctype, "status": status}
    if update_time:
        cond["lastUpdateTime"] = now
    cond.update(lastTransitionTime=now, reason=reason, message=message)
    out.append(cond)
    return out


def _int_or_percent(value, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        scaled = int(text[:-1]) * total / 100.0
        return int(-(-scaled // 1)) if round_up else int(scaled // 1)
    return int(text)


def _prune_zero(status: dict, keep: Tuple[str, ...] = ()) -> dict:
    """Drop zero integer fields, as Go's ``omitempty`` does (fields in ``keep`` are always written)."""
    return {k: v for k, v in status.items() if k in keep or not (isinstance(v, int) and not isinstance(v, bool) and v == 0)}


def qos_class(spec: dict) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set, guaranteed = False, True
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in limits or (res in requests and requests[res] != limits[res]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class ControllerManager:
    """The emulated cluster's control loops (see the module docstring)."""

    def __init__(self, store, registry, delay_seconds: float = 0.5, issuer=None, ca_pem: str = "",
                 node_name: str = NODE_NAME):
        self.store = store
        self.registry = registry
        self.delay = float(delay_seconds)
        self.issuer = issuer
        self.ca_pem = ca_pem
        self.node_name = node_name
        self._cond = threading.Condition()
        self._queue: Dict[Key, float] = {}
        self._busy = False
        self._stopping = False
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self._pod_seen: Dict[str, float] = {}
        self._ip_counter = 1
        self._failures: Dict[Key, int] = {}
        # Garbage-collector graph: uid -> object key, object key -> owner uids, owner uid -> dependents.
        self._graph_lock = threading.Lock()
        self._uid_key: Dict[str, Tuple[Tuple[str, str], str, str]] = {}
        self._owners: Dict[Tuple[Tuple[str, str], str, str], List[str]] = {}
        self._dependents: Dict[str, Set[Tuple[Tuple[str, str], str, str]]] = {}
        self._terminating: Set[str] = set()
        self._subscribed = False

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            return
        self._stopping = False
        self._running = True
        self._ensure_node()
        if not self._subscribed:
            self.store.subscribe(self._on_event)
            self._subscribed = True
        self._resync()
        self._thread = threading.Thread(target=self._run, name="emulator-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def set_delay(self, seconds: float) -> None:
        self.delay = max(0.0, float(seconds))
        with self._cond:
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no work is queued (including delayed work) and the worker is idle."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    # -- queue ---------------------------------------------------------------------------------------
    def _enqueue(self, key: Key, after: float = 0.0) -> None:
        due = time.monotonic() + after
        with self._cond:
            current = self._queue.get(key)
            if current is None or due < current:
                self._queue[key] = due
            self._cond.notify_all()

    def _next(self) -> Optional[Key]:
        with self._cond:
            while not self._stopping:
                if self._queue:
                    key, due = min(self._queue.items(), key=lambda item: item[1])
                    wait = due - time.monotonic()
                    if wait <= 0:
                        del self._queue[key]
                        self._busy = True
                        return key
                    self._cond.wait(wait)
                else:
                    self._cond.notify_all()
                    self._cond.wait()
            return None

    def _run(self) -> None:
        handlers: Dict[str, Callable[[Tuple[str, str], str, str], None]] = {
            "deployment": self._sync_deployment, "replicaset": self._sync_replicaset,
            "statefulset": self._sync_statefulset, "daemonset": self._sync_daemonset, "job": self._sync_job,
            "kubelet": self._sync_pod, "namespace": self._sync_namespace, "gc": self._sync_gc,
            "finalize": self._sync_finalizers, "aggregate": self._sync_aggregation, "token": self._sync_token_secret,
        }
        while True:
            key = self._next()
            if key is None:
                return
            try:
                handlers[key[0]](key[1], key[2], key[3])
                self._failures.pop(key, None)
            except (Conflict, AlreadyExists, NotFound):
                self._enqueue(key)  # raced with another writer: re-read and try again
            except Exception:  # a bug must not kill the control loop; back off and retry
                count = self._failures.get(key, 0) + 1
                self._failures[key] = count
                LOG.exception("controller %s failed for %s/%s (attempt %d)", key[0], key[2], key[3], count)
                if count < 5:
                    self._enqueue(key, 0.2 * count)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    # -- events ----------------------------------------------------------------------------------------
    def _on_event(self, event_type: str, resource: Tuple[str, str], obj: dict) -> None:
        if not self._running:
            return
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        self._update_graph(event_type, resource, obj)
        kind = {DEPLOYMENTS: "deployment", REPLICASETS: "replicaset", STATEFULSETS: "statefulset",
                DAEMONSETS: "daemonset", JOBS: "job"}.get(resource)
        if kind and event_type != DELETED:
            self._enqueue((kind, resource, ns, name))
        if resource in (REPLICASETS, PODS, REVISIONS, PVCS):
            self._enqueue_controller_of(obj)
        if resource == PODS and event_type != DELETED and not is_deleting(obj) and not pod_ready(obj) \
                and (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            self._enqueue(("kubelet", PODS, ns, name))
        if resource == PODS and event_type == DELETED:
            self._pod_seen.pop(meta.get("uid", ""), None)
            for volume in (obj.get("spec") or {}).get("volumes") or []:
                claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if claim:
                    self._enqueue(("finalize", PVCS, ns, claim))
        if resource == NAMESPACES:
            if event_type != DELETED and meta.get("deletionTimestamp"):
                self._terminating.add(name)
                self._enqueue(("namespace", NAMESPACES, "", name))
            elif event_type == DELETED:
                self._terminating.discard(name)
        elif ns and ns in self._terminating:
            self._enqueue(("namespace", NAMESPACES, "", ns), 0.01)
        if event_type == DELETED:
            if meta.get("uid") in self._dependents:
                self._enqueue(("gc", resource, ns, meta["uid"]))
            for owner_uid in meta.get("ownerReferences") and [r.get("uid") for r in meta["ownerReferences"]] or []:
                owner_key = self._uid_key.get(owner_uid)
                if owner_key is not None:
                    self._enqueue(("finalize",) + owner_key)
        else:
            if meta.get("deletionTimestamp") and resource != NAMESPACES:
                self._enqueue(("finalize", resource, ns, name))
            if event_type == ADDED and meta.get("ownerReferences"):
                self._enqueue(("gc", resource, ns, "object:" + name), 0.01)
        if resource == CLUSTER_ROLES:
            self._enqueue(("aggregate", CLUSTER_ROLES, "", ""), 0.01)
        if resource == SECRETS and event_type == ADDED and obj.get("type") == "kubernetes.io/service-account-token" \
                and self.issuer is not None:
            self._enqueue(("token", SECRETS, ns, name))

    def _enqueue_controller_of(self, obj: dict) -> None:
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            if not ref.get("controller"):
                continue
            kind = {"Deployment": "deployment", "ReplicaSet": "replicaset", "StatefulSet": "statefulset",
                    "DaemonSet": "daemonset", "Job": "job"}.get(ref.get("kind"))
            resource = {"deployment": DEPLOYMENTS, "replicaset": REPLICASETS, "statefulset": STATEFULSETS,
                        "daemonset": DAEMONSETS, "job": JOBS}.get(kind or "")
            if kind and ref.get("apiVersion") in ("apps/v1", "batch/v1"):
                self._enqueue((kind, resource, meta.get("namespace", ""), ref.get("name", "")))

    def _update_graph(self, event_type: str, resource: Tuple[str, str], obj: dict) -> None:
        meta = obj.get("metadata") or {}
        key = (resource, meta.get("namespace", ""), meta.get("name", ""))
        with self._graph_lock:
            for owner in self._owners.pop(key, []):
                deps = self._dependents.get(owner)
                if deps is not None:
                    deps.discard(key)
                    if not deps:
                        del self._dependents[owner]
            if event_type == DELETED:
                if self._uid_key.get(meta.get("uid")) == key:
                    del self._uid_key[meta["uid"]]
                return
            if meta.get("uid"):
                self._uid_key[meta["uid"]] = key
            owners = [ref.get("uid") for ref in meta.get("ownerReferences") or [] if ref.get("uid")]
            if owners:
                self._owners[key] = owners
                for owner in owners:
                    self._dependents.setdefault(owner, set()).add(key)

    def _resync(self) -> None:
        """Build the object graph and queue everything that may need work (start-up)."""
        for resource in list(self.store.resources()):
            items, _ = self.store.list(resource)
            for obj in items:
                self._on_event(ADDED, resource, obj)

    # -- shared writes ---------------------------------------------------------------------------------
    def _namespace_active(self, namespace: str) -> bool:
        ns = self.store.get(NAMESPACES, "", namespace)
        return ns is not None and not is_deleting(ns)

    def _write_status(self, resource: Tuple[str, str], obj: dict, status: dict) -> dict:
        """Replace ``status`` only (spec and metadata.generation untouched), with the read's resourceVersion."""
        if obj.get("status") == status:
            return obj
        obj["status"] = status
        return self.store.update(resource, obj, expected_rv=obj["metadata"]["resourceVersion"])

    def _event(self, obj: dict, reason: str, message: str, component: str, event_type: str = "Normal") -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        if not self._namespace_active(namespace):
            return
        stamp = now_rfc3339()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": new_metadata(f"{meta['name']}.{uuid.uuid4().hex[:16]}", namespace),
            "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta["name"],
                               "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "source": {"component": component},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": event_type,
            "eventTime": None, "reportingComponent": component, "reportingInstance": "",
        }
        if not meta.get("namespace"):
            del event["involvedObject"]["namespace"]
        try:
            self.store.create(EVENTS, event)
        except AlreadyExists:
            pass

    def _delete(self, resource: Tuple[str, str], obj: dict, propagation: str = "Background") -> None:
        """Delete as a client asking kube-apiserver would: objects with finalizers (or deleted in the
        foreground while they have dependents) get a deletionTimestamp, the others are removed."""
        meta = obj["metadata"]
        if is_deleting(obj):
            return
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and self._dependents.get(meta.get("uid", "")) \
                and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if finalizers:
            meta["finalizers"] = finalizers
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            try:
                self.store.update(resource, obj, expected_rv=meta["resourceVersion"])
            except NotFound:
                pass
            return
        try:
            self.store.delete(resource, meta.get("namespace", ""), meta["name"], expected_rv=meta.get("resourceVersion"))
        except NotFound:
            pass

    def _owned(self, resource: Tuple[str, str], namespace: str, owner_uid: str) -> List[dict]:
        items, _ = self.store.list(resource, namespace)
        return [item for item in items if controller_uid(item) == owner_uid]

    # -- nodes and pods (scheduler + kubelet) ------------------------------------------------------------
    def _ensure_node(self) -> None:
        if self.store.get(NODES, "", self.node_name) is not None:
            return
        stamp = now_rfc3339()
        capacity = {"cpu": "4", "ephemeral-storage": "100Gi", "memory": "16Gi", "pods": "110"}

        def cond(ctype, status, reason, message):
            return {"type": ctype, "status": status, "lastHeartbeatTime": stamp, "lastTransitionTime": stamp,
                    "reason": reason, "message": message}

        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": new_metadata(self.node_name, labels={
                "kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""}),
            "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
            "status": {
                "capacity": capacity, "allocatable": dict(capacity),
                "conditions": [
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": self.node_name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"machineID": uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name).hex,
                             "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, self.node_name)),
                             "bootID": str(uuid.uuid4()), "kernelVersion": "emulated",
                             "osImage": "Kubernetes API emulator (no container runtime)",
                             "containerRuntimeVersion": "emulated://0", "kubeletVersion": "v1.36.4",
                             "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
            },
        }
        try:
            self.store.create(NODES, node)
        except AlreadyExists:
            pass

    def _new_pod(self, owner: dict, template: dict, name: str, extra_labels: Dict[str, str],
                 generate_name: Optional[str] = None) -> dict:
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update(extra_labels)
        meta = new_metadata(name, owner["metadata"]["namespace"], labels, tmeta.get("annotations"), generation=1)
        if generate_name:
            meta["generateName"] = generate_name
        meta["ownerReferences"] = [owner_reference(owner)]
        spec = copy.deepcopy(template.get("spec") or {})
        for field, default in (("restartPolicy", "Always"), ("terminationGracePeriodSeconds", 30),
                               ("dnsPolicy", "ClusterFirst"), ("serviceAccountName", "default"),
                               ("securityContext", {}), ("schedulerName", "default-scheduler"),
                               ("enableServiceLinks", True), ("priority", 0), ("preemptionPolicy", "PreemptLowerPriority")):
            spec.setdefault(field, default)
        spec["serviceAccount"] = spec["serviceAccountName"]
        spec["nodeName"] = self.node_name  # the scheduler's binding
        spec.setdefault("tolerations", [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}])
        stamp = now_rfc3339()
        status = {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}],
            "qosClass": qos_class(spec)}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}

    def _create_pod(self, owner: dict, pod: dict, component: str) -> None:
        self.store.create(PODS, pod)
        self._pod_seen[pod["metadata"]["uid"]] = time.monotonic()
        self._enqueue(("kubelet", PODS, pod["metadata"]["namespace"], pod["metadata"]["name"]), self.delay)
        kind = owner["kind"]
        if kind == "StatefulSet":
            message = f"create Pod {pod['metadata']['name']} in StatefulSet {owner['metadata']['name']} successful"
        else:
            message = f"Created pod: {pod['metadata']['name']}"
        self._event(owner, "SuccessfulCreate", message, component)

    def _delete_pod(self, owner: dict, pod: dict, component: str) -> None:
        self._delete(PODS, pod)
        if owner["kind"] == "StatefulSet":
            message = f"delete Pod {pod['metadata']['name']} in StatefulSet {owner['metadata']['name']} successful"
        else:
            message = f"Deleted pod: {pod['metadata']['name']}"
        self._event(owner, "SuccessfulDelete", message, component)

    def _next_pod_ip(self) -> str:
        self._ip_counter = self._ip_counter % 250 + 1
        return f"10.244.0.{self._ip_counter + 1}"

    def _sync_pod(self, resource, namespace: str, name: str) -> None:
        """Scheduler + kubelet: bind to the node, then Running and Ready once the delay has passed."""
        pod = self.store.get(PODS, namespace, name)
        if pod is None or is_deleting(pod):
            return
        status = pod.get("status") or {}
        if pod_ready(pod) or status.get("phase") in ("Succeeded", "Failed"):
            return
        uid = pod["metadata"].get("uid", "")
        first = self._pod_seen.setdefault(uid, time.monotonic())
        spec = pod.setdefault("spec", {})
        if not spec.get("nodeName"):
            spec["nodeName"] = self.node_name
            pod["status"] = dict(status, phase="Pending", qosClass=qos_class(spec), conditions=set_condition(
                status.get("conditions") or [], "PodScheduled", "True", "", ""))
            for cond in pod["status"]["conditions"]:
                cond.pop("reason", None)
                cond.pop("message", None)
                cond.setdefault("lastProbeTime", None)
            pod = self.store.update(PODS, pod, expected_rv=pod["metadata"]["resourceVersion"])
            self._event(pod, "Scheduled", f"Successfully assigned {namespace}/{name} to {self.node_name}", "default-scheduler")
        remaining = first + self.delay - time.monotonic()
        if remaining > 0:
            self._enqueue(("kubelet", PODS, namespace, name), remaining)
            return
        stamp = now_rfc3339()
        spec = pod["spec"]
        ip = status.get("podIP") or self._next_pod_ip()

        def container_status(container: dict, init: bool) -> dict:
            out = {"name": container.get("name", ""), "image": container.get("image", ""), "imageID": "",
                   "containerID": "emulated://" + hashlib.sha256((uid + container.get("name", "")).encode()).hexdigest(),
                   "ready": not init, "restartCount": 0, "started": not init}
            if init:
                out["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": stamp,
                                               "finishedAt": stamp, "containerID": out["containerID"]}}
            else:
                out["state"] = {"running": {"startedAt": stamp}}
            out["lastState"] = {}
            return out

        new_status = {
            "observedGeneration": pod["metadata"].get("generation", 1),
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
                {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
                {"type": "ContainersReady", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime":
                    next((c.get("lastTransitionTime") for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), stamp)},
            ],
            "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}], "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": status.get("startTime") or stamp,
            "containerStatuses": [container_status(c, False) for c in spec.get("containers") or []],
            "qosClass": status.get("qosClass") or qos_class(spec),
        }
        if spec.get("initContainers"):
            new_status["initContainerStatuses"] = [container_status(c, True) for c in spec["initContainers"]]
        self._write_status(PODS, pod, new_status)

    # -- ReplicaSets -------------------------------------------------------------------------------------
    def _sync_replicaset(self, resource, namespace: str, name: str) -> None:
        rs = self.store.get(REPLICASETS, namespace, name)
        if rs is None or is_deleting(rs):
            return
        spec = rs.get("spec") or {}
        desired = spec.get("replicas", 1)
        pods = [p for p in self._owned(PODS, namespace, rs["metadata"]["uid"]) if not is_deleting(p)]
        if len(pods) < desired and self._namespace_active(namespace):
            template = spec.get("template") or {}
            for _ in range(desired - len(pods)):
                pod = self._new_pod(rs, template, f"{name}-{random_suffix()}", {}, generate_name=f"{name}-")
                self._create_pod(rs, pod, "replicaset-controller")
                pods.append(pod)
        elif len(pods) > desired:
            # kube deletes not-ready before ready pods, the newest first
            pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
            pods.sort(key=pod_ready)
            doomed, pods = pods[:len(pods) - desired], pods[len(pods) - desired:]
            for pod in doomed:
                self._delete_pod(rs, pod, "replicaset-controller")
        rs = self.store.get(REPLICASETS, namespace, name)
        if rs is None:
            return
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = sum(1 for p in pods if pod_ready(p))
        status = _prune_zero({
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(1 for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v
                                                              for k, v in template_labels.items())),
            "readyReplicas": ready, "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 0),
        }, keep=("replicas",))
        self._write_status(REPLICASETS, rs, status)

    # -- Deployments -------------------------------------------------------------------------------------
    def _sync_deployment(self, resource, namespace: str, name: str) -> None:
        deploy = self.store.get(DEPLOYMENTS, namespace, name)
        if deploy is None or is_deleting(deploy):
            return
        spec = deploy.get("spec") or {}
        desired = spec.get("replicas", 1)
        template = spec.get("template") or {}
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        rs_list = self._owned(REPLICASETS, namespace, deploy["metadata"]["uid"])

        def template_of(rs: dict) -> dict:
            tmpl = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
            labels = (tmpl.get("metadata") or {}).get("labels")
            if labels is not None:
                labels.pop(HASH_LABEL, None)
            return tmpl

        new_rs = next((rs for rs in rs_list if template_of(rs) == template), None)
        old = [rs for rs in rs_list if rs is not new_rs]
        revisions = [int((rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0") or 0) for rs in old]
        max_old = max(revisions) if revisions else 0
        progressing_reason = None
        surge = _int_or_percent((strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"), desired, True) if rolling else 0
        unavailable_max = _int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%"), desired, False) \
            if rolling else 0
        if rolling and surge == 0 and unavailable_max == 0:
            unavailable_max = 1
        if not rolling or desired == 0:
            unavailable_max = 0
        unavailable_max = min(unavailable_max, desired)
        annotations = {"deployment.kubernetes.io/desired-replicas": str(desired),
                       "deployment.kubernetes.io/max-replicas": str(desired + surge)}
        if spec.get("paused"):
            pass
        elif new_rs is None:
            if not self._namespace_active(namespace):
                return
            pod_hash = template_hash(template, (deploy.get("status") or {}).get("collisionCount", 0))
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
            old_ready = all((rs.get("status") or {}).get("replicas", 0) == 0 for rs in old)
            replicas = desired if (rolling or old_ready) else 0
            rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": new_metadata(f"{name}-{pod_hash}", namespace, rs_template["metadata"]["labels"],
                                           dict(annotations, **{REVISION_ANNOTATION: str(max_old + 1)}), generation=1),
                  "spec": {"replicas": replicas, "minReadySeconds": spec.get("minReadySeconds", 0),
                           "selector": selector, "template": rs_template}}
            rs["metadata"]["ownerReferences"] = [owner_reference(deploy)]
            if not rs["spec"]["minReadySeconds"]:
                del rs["spec"]["minReadySeconds"]
            new_rs = self.store.create(REPLICASETS, rs)
            progressing_reason = ("NewReplicaSetCreated", f'Created new replica set "{new_rs["metadata"]["name"]}"')
            if replicas:
                self._event(deploy, "ScalingReplicaSet", f"Scaled up replica set {new_rs['metadata']['name']} from 0 to {replicas}",
                            "deployment-controller")
        else:
            rev = int((new_rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0") or 0)
            want = dict(annotations)
            if rev <= max_old:
                want[REVISION_ANNOTATION] = str(max_old + 1)
            old_ready = all((rs.get("status") or {}).get("replicas", 0) == 0 for rs in old)
            target = desired if (rolling or old_ready) else (new_rs.get("spec") or {}).get("replicas", 0)
            current_ann = new_rs["metadata"].get("annotations") or {}
            current = (new_rs.get("spec") or {}).get("replicas", 1)
            if current != target or any(current_ann.get(k) != v for k, v in want.items()):
                new_rs["metadata"]["annotations"] = dict(current_ann, **want)
                new_rs["spec"]["replicas"] = target
                new_rs["metadata"]["generation"] = new_rs["metadata"].get("generation", 1) + (1 if current != target else 0)
                new_rs = self.store.update(REPLICASETS, new_rs, expected_rv=new_rs["metadata"]["resourceVersion"])
                if current != target:
                    verb = "up" if target > current else "down"
                    self._event(deploy, "ScalingReplicaSet",
                                f"Scaled {verb} replica set {new_rs['metadata']['name']} from {current} to {target}",
                                "deployment-controller")
        # Scale old ReplicaSets down: at once for Recreate, after the new one is fully available otherwise.
        new_status = new_rs.get("status") or {} if new_rs else {}
        new_available = new_rs is not None and new_status.get("availableReplicas", 0) >= desired \
            and new_status.get("observedGeneration", 0) >= new_rs["metadata"].get("generation", 1)
        if not spec.get("paused") and (not rolling or new_available):
            for rs in old:
                current = (rs.get("spec") or {}).get("replicas", 1)
                if current:
                    rs["spec"]["replicas"] = 0
                    rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
                    self.store.update(REPLICASETS, rs, expected_rv=rs["metadata"]["resourceVersion"])
                    self._event(deploy, "ScalingReplicaSet", f"Scaled down replica set {rs['metadata']['name']} from {current} to 0",
                                "deployment-controller")
        self._cleanup_history(deploy, old)
        self._deployment_status(namespace, name, new_rs, unavailable_max, progressing_reason)

    def _cleanup_history(self, deploy: dict, old: List[dict]) -> None:
        limit = (deploy.get("spec") or {}).get("revisionHistoryLimit", 10)
        idle = [rs for rs in old if (rs.get("spec") or {}).get("replicas", 0) == 0
                and (rs.get("status") or {}).get("replicas", 0) == 0 and not is_deleting(rs)]
        idle.sort(key=lambda rs: int((rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0") or 0))
        for rs in idle[:max(0, len(idle) - limit)]:
            self._delete(REPLICASETS, self.store.get(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs)

    def _deployment_status(self, namespace: str, name: str, new_rs: Optional[dict], unavailable_max: int,
                           progressing_reason: Optional[Tuple[str, str]]) -> None:
        deploy = self.store.get(DEPLOYMENTS, namespace, name)
        if deploy is None:
            return
        spec = deploy.get("spec") or {}
        desired = spec.get("replicas", 1)
        rs_list = self._owned(REPLICASETS, namespace, deploy["metadata"]["uid"])
        if new_rs is not None:
            new_rs = next((rs for rs in rs_list if rs["metadata"]["uid"] == new_rs["metadata"]["uid"]), None)

        def total(field: str, items: List[dict]) -> int:
            return sum((rs.get("status") or {}).get(field, 0) for rs in items)

        available = total("availableReplicas", rs_list)
        spec_total = sum((rs.get("spec") or {}).get("replicas", 0) for rs in rs_list)
        old_status = deploy.get("status") or {}
        status = {
            "observedGeneration": deploy["metadata"].get("generation", 0),
            "replicas": total("replicas", rs_list),
            "updatedReplicas": total("replicas", [new_rs]) if new_rs else 0,
            "readyReplicas": total("readyReplicas", rs_list),
            "availableReplicas": available,
            "unavailableReplicas": max(spec_total - available, 0),
        }
        status = _prune_zero(status)
        conditions = old_status.get("conditions") or []
        if available >= desired - unavailable_max:
            conditions = set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                                       "Deployment has minimum availability.", update_time=True)
        else:
            conditions = set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                                       "Deployment does not have minimum availability.", update_time=True)
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (new_rs is not None and status.get("updatedReplicas", 0) == desired
                    and status.get("replicas", 0) == desired and available == desired)
        if spec.get("paused"):
            conditions = set_condition(conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                                       update_time=True)
        elif complete:
            conditions = set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                                       f'ReplicaSet "{rs_name}" has successfully progressed.', update_time=True)
        elif progressing_reason:
            conditions = set_condition(conditions, "Progressing", "True", progressing_reason[0], progressing_reason[1],
                                       update_time=True)
        elif new_rs is not None:
            # DeploymentProgressing: more updated/ready/available replicas or fewer old ones than before
            def old_count(st: dict) -> int:
                return st.get("replicas", 0) - st.get("updatedReplicas", 0)

            progressed = any(status.get(f, 0) > old_status.get(f, 0)
                             for f in ("updatedReplicas", "readyReplicas", "availableReplicas")) \
                or old_count(status) < old_count(old_status)
            if progressed or not any(c.get("type") == "Progressing" for c in conditions):
                conditions = set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                                           f'ReplicaSet "{rs_name}" is progressing.', update_time=True)
        # kube lists Available before Progressing
        conditions.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c.get("type"), 2))
        status["conditions"] = conditions
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        annotations = deploy["metadata"].get("annotations") or {}
        revision = (new_rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) if new_rs else None
        if revision and annotations.get(REVISION_ANNOTATION) != revision:
            deploy["metadata"]["annotations"] = dict(annotations, **{REVISION_ANNOTATION: revision})
            deploy["status"] = status
            self.store.update(DEPLOYMENTS, deploy, expected_rv=deploy["metadata"]["resourceVersion"])
            return
        self._write_status(DEPLOYMENTS, deploy, status)

    # -- ControllerRevisions (StatefulSets, DaemonSets) -----------------------------------------------------
    def _revision(self, owner: dict, template: dict, component_labels: Dict[str, str]) -> Tuple[dict, List[dict]]:
        """The ControllerRevision for ``template`` (created if missing) and all revisions of ``owner``."""
        namespace, name = owner["metadata"]["namespace"], owner["metadata"]["name"]
        revisions = self._owned(REVISIONS, namespace, owner["metadata"]["uid"])
        data = {"spec": {"template": dict(copy.deepcopy(template), **{"$patch": "replace"})}}
        for rev in revisions:
            if rev.get("data") == data:
                return rev, revisions
        rev_hash = template_hash(template, (owner.get("status") or {}).get("collisionCount", 0))
        number = max([rev.get("revision", 0) for rev in revisions] or [0]) + 1
        labels = dict(component_labels, **{"controller.kubernetes.io/hash": rev_hash})
        rev = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
               "metadata": new_metadata(f"{name}-{rev_hash}", namespace, labels),
               "data": data, "revision": number}
        rev["metadata"]["ownerReferences"] = [owner_reference(owner)]
        rev = self.store.create(REVISIONS, rev)
        revisions.append(rev)
        return rev, revisions

    def _cleanup_revisions(self, owner: dict, revisions: List[dict], keep: Set[str]) -> None:
        limit = (owner.get("spec") or {}).get("revisionHistoryLimit", 10)
        spare = sorted((rev for rev in revisions if rev["metadata"]["name"] not in keep), key=lambda rev: rev.get("revision", 0))
        for rev in spare[:max(0, len(spare) - limit)]:
            self._delete(REVISIONS, rev)

    # -- StatefulSets ----------------------------------------------------------------------------------------
    def _sync_statefulset(self, resource, namespace: str, name: str) -> None:
        sts = self.store.get(STATEFULSETS, namespace, name)
        if sts is None or is_deleting(sts):
            return
        spec = sts.get("spec") or {}
        desired = spec.get("replicas", 1)
        template = spec.get("template") or {}
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = (strategy.get("rollingUpdate") or {}).get("partition", 0) if rolling else 0
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        active = self._namespace_active(namespace)
        if not active:
            return
        update_rev, revisions = self._revision(sts, template, (spec.get("selector") or {}).get("matchLabels") or {})
        old_status = sts.get("status") or {}
        current_name = old_status.get("currentRevision") or update_rev["metadata"]["name"]
        if not any(rev["metadata"]["name"] == current_name for rev in revisions):
            current_name = update_rev["metadata"]["name"]
        current_rev = next(rev for rev in revisions if rev["metadata"]["name"] == current_name)
        pods: Dict[int, dict] = {}
        for pod in self._owned(PODS, namespace, sts["metadata"]["uid"]):
            prefix, _, ordinal = pod["metadata"]["name"].rpartition("-")
            if prefix == name and ordinal.isdigit():
                pods[int(ordinal)] = pod

        def revision_of(pod: dict) -> str:
            return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL, "")

        def settled(ordinals) -> bool:
            return all(o in pods and pod_ready(pods[o]) and not is_deleting(pods[o]) for o in ordinals)

        # create missing ordinals (OrderedReady: one at a time, after all lower ones are Ready)
        for ordinal in range(desired):
            if ordinal in pods:
                continue
            if ordered and not settled(range(ordinal)):
                break
            rev = current_rev if (rolling and ordinal < partition) else update_rev
            self._create_sts_pod(sts, ordinal, rev)
            pods[ordinal] = self.store.get(PODS, namespace, f"{name}-{ordinal}")
            if ordered:
                break
        # scale down from the highest ordinal (OrderedReady: one at a time, when the rest are Ready)
        surplus = sorted((o for o in pods if o >= desired), reverse=True)
        for ordinal in surplus:
            if ordered and not settled(o for o in pods if o != ordinal and o < desired):
                break
            if not is_deleting(pods[ordinal]):
                self._delete_pod(sts, pods.pop(ordinal), "statefulset-controller")
            if ordered:
                break
        # rolling update from the highest ordinal down to the partition, one Pod at a time
        if rolling and not surplus and settled(range(desired)):
            for ordinal in range(desired - 1, partition - 1, -1):
                if revision_of(pods[ordinal]) != update_rev["metadata"]["name"]:
                    self._delete_pod(sts, pods.pop(ordinal), "statefulset-controller")
                    break
        sts = self.store.get(STATEFULSETS, namespace, name)
        if sts is None:
            return
        live = [pod for pod in pods.values() if pod is not None and not is_deleting(pod)]
        ready = sum(1 for pod in live if pod_ready(pod))
        status = {
            "observedGeneration": sts["metadata"].get("generation", 0),
            "replicas": len(live),
            "readyReplicas": ready,
            "currentReplicas": sum(1 for pod in live if revision_of(pod) == current_name),
            "updatedReplicas": sum(1 for pod in live if revision_of(pod) == update_rev["metadata"]["name"]),
            "currentRevision": current_name,
            "updateRevision": update_rev["metadata"]["name"],
            "collisionCount": old_status.get("collisionCount", 0),
            "availableReplicas": ready,
        }
        if rolling and status["updatedReplicas"] == status["replicas"] and ready == status["replicas"]:
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        self._cleanup_revisions(sts, revisions, {status["currentRevision"], status["updateRevision"]})
        self._write_status(STATEFULSETS, sts, _prune_zero(status, keep=("replicas", "collisionCount")))

    def _create_sts_pod(self, sts: dict, ordinal: int, rev: dict) -> None:
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pod_name = f"{name}-{ordinal}"
        template = rev["data"]["spec"]["template"]
        template = {k: v for k, v in template.items() if k != "$patch"}
        pod = self._new_pod(sts, template, pod_name, {
            REVISION_LABEL: rev["metadata"]["name"], "statefulset.kubernetes.io/pod-name": pod_name,
            "apps.kubernetes.io/pod-index": str(ordinal)})
        spec = pod["spec"]
        spec["hostname"] = pod_name
        if (sts.get("spec") or {}).get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        volumes = spec.setdefault("volumes", [])
        for claim in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            claim_name = f"{claim['metadata']['name']}-{pod_name}"
            self._ensure_pvc(sts, claim, claim_name)
            volumes[:] = [v for v in volumes if v.get("name") != claim["metadata"]["name"]]
            volumes.append({"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
        if not volumes:
            del spec["volumes"]
        self._create_pod(sts, pod, "statefulset-controller")

    def _ensure_pvc(self, sts: dict, claim: dict, claim_name: str) -> None:
        """A PVC from a volumeClaimTemplate, reported Bound (the emulator acts as a dynamic provisioner)."""
        namespace = sts["metadata"]["namespace"]
        if self.store.get(PVCS, namespace, claim_name) is not None:
            return
        cmeta = claim.get("metadata") or {}
        labels = dict((sts.get("spec") or {}).get("selector", {}).get("matchLabels") or {})
        labels.update(cmeta.get("labels") or {})
        spec = copy.deepcopy(claim.get("spec") or {})
        spec.setdefault("volumeMode", "Filesystem")
        spec["volumeName"] = f"pvc-{uuid.uuid4()}"
        requests = (spec.get("resources") or {}).get("requests") or {}
        pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": new_metadata(claim_name, namespace, labels, cmeta.get("annotations")),
               "spec": spec,
               "status": {"phase": "Bound", "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                          "capacity": dict(requests)}}
        pvc["metadata"]["finalizers"] = [PVC_PROTECTION]
        retention = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenDeleted") == "Delete":
            ref = owner_reference(sts)
            ref.pop("controller")
            pvc["metadata"]["ownerReferences"] = [ref]
        try:
            self.store.create(PVCS, pvc)
        except AlreadyExists:
            pass

    # -- DaemonSets -----------------------------------------------------------------------------------------
    def _sync_daemonset(self, resource, namespace: str, name: str) -> None:
        ds = self.store.get(DAEMONSETS, namespace, name)
        if ds is None or is_deleting(ds) or not self._namespace_active(namespace):
            return
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        rev, revisions = self._revision(ds, template, (spec.get("selector") or {}).get("matchLabels") or {})
        rev_hash = (rev["metadata"].get("labels") or {}).get("controller.kubernetes.io/hash", "")
        node_selector = (template.get("spec") or {}).get("nodeSelector") or {}
        nodes, _ = self.store.list(NODES)
        eligible = [n["metadata"]["name"] for n in nodes
                    if all((n["metadata"].get("labels") or {}).get(k) == v for k, v in node_selector.items())]
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        pods = [p for p in self._owned(PODS, namespace, ds["metadata"]["uid"]) if not is_deleting(p)]
        for node in eligible:
            on_node = [p for p in pods if (p.get("spec") or {}).get("nodeName") == node]
            outdated = [p for p in on_node if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) != rev_hash]
            if rolling and outdated:
                for pod in outdated:
                    self._delete_pod(ds, pod, "daemonset-controller")
                    pods.remove(pod)
                on_node = [p for p in on_node if p not in outdated]
            if not on_node:
                pod = self._new_pod(ds, template, f"{name}-{random_suffix()}", {
                    REVISION_LABEL: rev_hash, "pod-template-generation": str(ds["metadata"].get("generation", 1))},
                    generate_name=f"{name}-")
                pod["spec"]["nodeName"] = node
                self._create_pod(ds, pod, "daemonset-controller")
                pods.append(pod)
        for pod in [p for p in pods if (p.get("spec") or {}).get("nodeName") not in eligible]:
            self._delete_pod(ds, pod, "daemonset-controller")
            pods.remove(pod)
        ds = self.store.get(DAEMONSETS, namespace, name)
        if ds is None:
            return
        scheduled = [p for p in pods if (p.get("spec") or {}).get("nodeName") in eligible]
        ready = sum(1 for p in scheduled if pod_ready(p))
        status = _prune_zero({
            "currentNumberScheduled": len(scheduled), "numberMisscheduled": 0,
            "desiredNumberScheduled": len(eligible), "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 0),
            "updatedNumberScheduled": sum(1 for p in scheduled if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == rev_hash),
            "numberAvailable": ready, "numberUnavailable": max(len(eligible) - ready, 0),
        }, keep=("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"))
        self._cleanup_revisions(ds, revisions, {rev["metadata"]["name"]})
        self._write_status(DAEMONSETS, ds, status)

    # -- Jobs ------------------------------------------------------------------------------------------------
    def _sync_job(self, resource, namespace: str, name: str) -> None:
        job = self.store.get(JOBS, namespace, name)
        if job is None or is_deleting(job):
            return
        spec = job.get("spec") or {}
        status = dict(job.get("status") or {})
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in status.get("conditions") or []):
            return
        pods = [p for p in self._owned(PODS, namespace, job["metadata"]["uid"]) if not is_deleting(p)]
        if spec.get("suspend"):
            for pod in pods:
                self._delete_pod(job, pod, "job-controller")
            pods = []
        else:
            wanted = min(spec.get("parallelism", 1), spec.get("completions", 1) if spec.get("completions") is not None else spec.get("parallelism", 1))
            if len(pods) < wanted and self._namespace_active(namespace):
                uid = job["metadata"]["uid"]
                job_labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                              "controller-uid": uid, "job-name": name}
                for _ in range(wanted - len(pods)):
                    pod = self._new_pod(job, spec.get("template") or {}, f"{name}-{random_suffix()}", job_labels,
                                        generate_name=f"{name}-")
                    self._create_pod(job, pod, "job-controller")
                    pods.append(pod)
            if "startTime" not in status:
                status["startTime"] = now_rfc3339()
        job = self.store.get(JOBS, namespace, name)
        if job is None:
            return
        status["active"] = len(pods)
        status["ready"] = sum(1 for p in pods if pod_ready(p))
        status["terminating"] = 0
        status.setdefault("uncountedTerminatedPods", {})
        if not status["active"]:
            status.pop("active")
        self._write_status(JOBS, job, status)

    # -- garbage collection ------------------------------------------------------------------------------------
    def _resource_of(self, api_version: str, kind: str) -> Optional[Tuple[Tuple[str, str], bool]]:
        rt = self.registry.by_kind(api_version, kind)
        return (rt.key, rt.namespaced) if rt is not None else None

    def _owner_exists(self, ref: dict, namespace: str) -> Optional[bool]:
        """True/False, or None when the owner's kind is not served (kube then leaves the dependent alone)."""
        found = self._resource_of(ref.get("apiVersion", ""), ref.get("kind", ""))
        if found is None:
            return None
        resource, namespaced = found
        owner = self.store.get(resource, namespace if namespaced else "", ref.get("name", ""))
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")

    def _sync_gc(self, resource, namespace: str, name_or_uid: str) -> None:
        if name_or_uid.startswith("object:"):
            targets = [(resource, namespace, name_or_uid[len("object:"):])]
        else:
            with self._graph_lock:
                targets = sorted(self._dependents.get(name_or_uid, ()))
        for dep_resource, dep_ns, dep_name in targets:
            self._collect(dep_resource, dep_ns, dep_name)

    def _collect(self, resource: Tuple[str, str], namespace: str, name: str) -> None:
        """Delete a dependent whose owners are all gone; drop references to absent owners otherwise."""
        obj = self.store.get(resource, namespace, name)
        if obj is None or is_deleting(obj):
            return
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs:
            return
        states = [(ref, self._owner_exists(ref, namespace)) for ref in refs]
        if any(state is None for _, state in states):
            return
        alive = [ref for ref, state in states if state]
        if not alive:
            self._delete(resource, obj)
        elif len(alive) < len(refs):
            obj["metadata"]["ownerReferences"] = alive
            self.store.update(resource, obj, expected_rv=obj["metadata"]["resourceVersion"])

    def _sync_finalizers(self, resource, namespace: str, name: str) -> None:
        """Process ``foregroundDeletion`` and ``orphan`` on an object being deleted; remove it when no
        finalizers are left."""
        obj = self.store.get(resource, namespace, name)
        if obj is None or not is_deleting(obj):
            return
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        uid = meta.get("uid", "")
        with self._graph_lock:
            dependents = sorted(self._dependents.get(uid, ()))
        if "orphan" in finalizers:
            for dep_resource, dep_ns, dep_name in dependents:
                self._orphan(dep_resource, dep_ns, dep_name, uid)
            finalizers.remove("orphan")
        if PVC_PROTECTION in finalizers and resource == PVCS and not self._pvc_in_use(namespace, name):
            finalizers.remove(PVC_PROTECTION)
        if "foregroundDeletion" in finalizers:
            blocking = 0
            for dep_resource, dep_ns, dep_name in dependents:
                dep = self.store.get(dep_resource, dep_ns, dep_name)
                if dep is None:
                    continue
                refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") == uid]
                if not refs:
                    continue
                if any(r.get("blockOwnerDeletion") for r in refs):
                    blocking += 1
                self._delete(dep_resource, dep, "Foreground")
            if blocking == 0:
                finalizers.remove("foregroundDeletion")
        if finalizers == list(meta.get("finalizers") or []):
            if not finalizers:
                self._delete_now(resource, obj)
            return
        if finalizers:
            meta["finalizers"] = finalizers
            self.store.update(resource, obj, expected_rv=meta["resourceVersion"])
        else:
            meta.pop("finalizers", None)
            obj = self.store.update(resource, obj, expected_rv=meta["resourceVersion"])
            self._delete_now(resource, obj)

    def _pvc_in_use(self, namespace: str, claim: str) -> bool:
        pods, _ = self.store.list(PODS, namespace)
        return any(((v.get("persistentVolumeClaim") or {}).get("claimName") == claim)
                   for pod in pods if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                   for v in (pod.get("spec") or {}).get("volumes") or [])

    def _delete_now(self, resource: Tuple[str, str], obj: dict) -> None:
        """Remove an object whose deletionTimestamp is set and whose finalizers are all done."""
        if resource == NAMESPACES:
            return  # the namespace controller finalizes namespaces
        try:
            self.store.delete(resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                              expected_rv=obj["metadata"]["resourceVersion"])
        except NotFound:
            pass

    def _orphan(self, resource: Tuple[str, str], namespace: str, name: str, owner_uid: str) -> None:
        for _ in range(10):
            dep = self.store.get(resource, namespace, name)
            if dep is None:
                return
            refs = dep["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") != owner_uid]
            if len(kept) == len(refs):
                return
            if kept:
                dep["metadata"]["ownerReferences"] = kept
            else:
                dep["metadata"].pop("ownerReferences", None)
            try:
                self.store.update(resource, dep, expected_rv=dep["metadata"]["resourceVersion"])
                return
            except Conflict:
                continue

    # -- namespaces --------------------------------------------------------------------------------------------
    def _sync_namespace(self, resource, _namespace: str, name: str) -> None:
        ns = self.store.get(NAMESPACES, "", name)
        if ns is None or not is_deleting(ns):
            return
        if (ns.get("status") or {}).get("phase") != "Terminating":
            ns["status"] = dict(ns.get("status") or {}, phase="Terminating")
            ns = self.store.update(NAMESPACES, ns, expected_rv=ns["metadata"]["resourceVersion"])
        remaining: Dict[str, int] = {}
        finalizers_left: Dict[str, int] = {}
        for key in list(self.store.resources()):
            items, _ = self.store.list(key, name)
            for item in items:
                self._delete(key, item)
        for key in list(self.store.resources()):
            items, _ = self.store.list(key, name)
            for item in items:
                label = f"{key[1]}.{key[0]}" if key[0] else key[1]
                remaining[label] = remaining.get(label, 0) + 1
                for finalizer in item["metadata"].get("finalizers") or []:
                    finalizers_left[finalizer] = finalizers_left.get(finalizer, 0) + 1
        ns = self.store.get(NAMESPACES, "", name)
        if ns is None:
            return
        if remaining:
            conditions = (ns.get("status") or {}).get("conditions") or []
            for ctype, status, reason, message in (
                ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
                ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
                ("NamespaceDeletionContentFailure", "False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
                ("NamespaceContentRemaining", "True", "SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
                    f"{label} has {count} resource instances" for label, count in sorted(remaining.items()))),
                ("NamespaceFinalizersRemaining", "True" if finalizers_left else "False",
                 "SomeFinalizersRemain" if finalizers_left else "ContentHasNoFinalizers",
                 "Some content in the namespace has finalizers remaining: " + ", ".join(
                     f"{f} in {count} resource instances" for f, count in sorted(finalizers_left.items()))
                 if finalizers_left else "All content-preserving finalizers finished"),
            ):
                conditions = set_condition(conditions, ctype, status, reason, message)
            self._write_status(NAMESPACES, ns, dict(ns.get("status") or {}, conditions=conditions))
            self._enqueue(("namespace", NAMESPACES, "", name), 1.0)  # re-check, as the namespace controller does
            return
        spec_finalizers = (ns.get("spec") or {}).get("finalizers") or []
        if "kubernetes" in spec_finalizers:
            ns["spec"]["finalizers"] = [f for f in spec_finalizers if f != "kubernetes"]
            ns = self.store.update(NAMESPACES, ns, expected_rv=ns["metadata"]["resourceVersion"])
        if not (ns.get("spec") or {}).get("finalizers") and not ns["metadata"].get("finalizers"):
            try:
                self.store.delete(NAMESPACES, "", name, expected_rv=ns["metadata"]["resourceVersion"])
            except NotFound:
                pass

    # -- RBAC aggregation and legacy tokens ----------------------------------------------------------------------
    def _sync_aggregation(self, resource, _namespace: str, _name: str) -> None:
        from k8s_emulator.auth import aggregate_cluster_roles

        aggregate_cluster_roles(self.store)

    def _sync_token_secret(self, resource, namespace: str, name: str) -> None:
        """The legacy token controller: fill a service-account-token Secret (or delete it if its
        ServiceAccount does not exist)."""
        secret = self.store.get(SECRETS, namespace, name)
        if secret is None or is_deleting(secret) or (secret.get("data") or {}).get("token"):
            return
        annotations = secret["metadata"].get("annotations") or {}
        sa_name = annotations.get("kubernetes.io/service-account.name", "")
        sa = self.store.get(SERVICE_ACCOUNTS, namespace, sa_name)
        if sa is None or (annotations.get("kubernetes.io/service-account.uid")
                          and annotations["kubernetes.io/service-account.uid"] != sa["metadata"].get("uid")):
            self._delete(SECRETS, secret)
            return
        token = self.issuer.mint_legacy(namespace, sa_name, sa["metadata"]["uid"], name)

        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        secret["metadata"]["annotations"] = dict(annotations, **{"kubernetes.io/service-account.uid": sa["metadata"]["uid"]})
        secret["data"] = dict(secret.get("data") or {}, token=b64(token), namespace=b64(namespace))
        if self.ca_pem:
            secret["data"]["ca.crt"] = b64(self.ca_pem)
        self.store.update(SECRETS, secret, expected_rv=secret["metadata"]["resourceVersion"])
