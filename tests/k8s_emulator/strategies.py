"""Per-kind registry strategies of kube-apiserver that this collection's objects go through.

* Service: ClusterIP allocation from 10.96.0.0/12 (10.96.0.1 is the ``kubernetes`` Service), ``clusterIPs``,
  ``ipFamilies``, ``ipFamilyPolicy``, port defaults, NodePort allocation; allocated values survive updates
  that leave them out (kube-apiserver's ``patchAllocatedValues``).
* Secret: ``stringData`` folded into base64 ``data``; ``type`` defaults to Opaque.
* Namespace: label ``kubernetes.io/metadata.name``, ``spec.finalizers: [kubernetes]``, ``status.phase``.
* generation: which kinds carry ``metadata.generation`` (bumped only when non-metadata, non-status
  content changes).
"""

from __future__ import annotations

import base64
import ipaddress
import random
import threading
from typing import Optional, Set

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
KUBERNETES_SERVICE_IP = "10.96.0.1"
NODE_PORT_RANGE = (30000, 32767)

# Resources whose strategies set metadata.generation (custom resources always do).
GENERATION_RESOURCES = {
    ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"), ("apps", "replicasets"),
    ("batch", "jobs"), ("batch", "cronjobs"), ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("policy", "poddisruptionbudgets"), ("networking.k8s.io", "networkpolicies"), ("networking.k8s.io", "ingresses"),
    ("autoscaling", "horizontalpodautoscalers"), ("", "pods"), ("", "replicationcontrollers"),
}

# Status of these kinds is reset on create (their PrepareForCreate); others keep what the client sent.
KEEP_STATUS_ON_CREATE = {("", "namespaces"), ("", "nodes"), ("", "pods")}


class ServiceAllocator:
    """Cluster IPs and node ports in use; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ips: Set[str] = {KUBERNETES_SERVICE_IP}
        self._ports: Set[int] = set()
        self._rand = random.Random()

    def allocate_ip(self) -> str:
        with self._lock:
            hosts = SERVICE_CIDR.num_addresses - 2
            while True:
                ip = str(SERVICE_CIDR.network_address + 1 + self._rand.randrange(1, hosts))
                if ip not in self._ips:
                    self._ips.add(ip)
                    return ip

    def claim_ip(self, ip: str) -> bool:
        with self._lock:
            if ip in self._ips:
                return False
            self._ips.add(ip)
            return True

    def release_ip(self, ip: Optional[str]) -> None:
        with self._lock:
            if ip and ip != KUBERNETES_SERVICE_IP:
                self._ips.discard(ip)

    def allocate_port(self) -> int:
        with self._lock:
            while True:
                port = self._rand.randint(*NODE_PORT_RANGE)
                if port not in self._ports:
                    self._ports.add(port)
                    return port

    def claim_port(self, port: int) -> None:
        with self._lock:
            self._ports.add(port)

    def release_port(self, port: Optional[int]) -> None:
        with self._lock:
            if port:
                self._ports.discard(port)


def prepare_service(obj: dict, old: Optional[dict], allocator: ServiceAllocator) -> Optional[str]:
    """Default and allocate a Service's spec in place. Returns an error message for an IP already in use."""
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    stype = spec.setdefault("type", "ClusterIP")
    if stype != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
            spec.setdefault("clusterIPs", old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
        if not spec.get("clusterIP") and spec.get("clusterIPs"):
            spec["clusterIP"] = spec["clusterIPs"][0]
        if not spec.get("clusterIP"):
            spec["clusterIP"] = allocator.allocate_ip()
        elif spec["clusterIP"] != "None" and spec["clusterIP"] != old_spec.get("clusterIP"):
            if not allocator.claim_ip(spec["clusterIP"]):
                return f"spec.clusterIPs: Invalid value: []string{{\"{spec['clusterIP']}\"}}: failed to allocate IP {spec['clusterIP']}: provided IP is already allocated"
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        if spec["clusterIP"] != "None":
            spec.setdefault("ipFamilies", old_spec.get("ipFamilies") or ["IPv4"])
            spec.setdefault("ipFamilyPolicy", old_spec.get("ipFamilyPolicy") or "SingleStack")
        else:
            spec.setdefault("ipFamilies", old_spec.get("ipFamilies") or ["IPv4"])
            spec.setdefault("ipFamilyPolicy", old_spec.get("ipFamilyPolicy") or "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or []}
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if "targetPort" not in port and "port" in port:
            port["targetPort"] = port["port"]
        if stype in ("NodePort", "LoadBalancer"):
            previous = old_ports.get((port.get("port"), port["protocol"])) or {}
            if not port.get("nodePort"):
                port["nodePort"] = previous.get("nodePort") or allocator.allocate_port()
            else:
                allocator.claim_port(port["nodePort"])
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})
    return None


def release_service(obj: dict, allocator: ServiceAllocator) -> None:
    spec = obj.get("spec") or {}
    allocator.release_ip(spec.get("clusterIP"))
    for port in spec.get("ports") or []:
        allocator.release_port(port.get("nodePort"))


# Status fields without ``omitempty`` in k8s.io/api (apps/v1), which a fresh object therefore shows as 0.
ZERO_STATUS = {
    ("apps", "statefulsets"): {"replicas": 0, "availableReplicas": 0},
    ("apps", "replicasets"): {"replicas": 0},
    ("apps", "daemonsets"): {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                             "numberReady": 0},
}


def prepare_secret(obj: dict) -> None:
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.get("data") or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        obj["data"] = data
    obj.setdefault("type", "Opaque")


def prepare_namespace(obj: dict, old: Optional[dict]) -> None:
    meta = obj.setdefault("metadata", {})
    labels = meta.get("labels") or {}
    labels["kubernetes.io/metadata.name"] = meta["name"]
    meta["labels"] = labels
    spec = obj.setdefault("spec", {})
    if old is None:
        spec.setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    else:
        spec["finalizers"] = (old.get("spec") or {}).get("finalizers", spec.get("finalizers", []))
        obj["status"] = old.get("status") or {"phase": "Active"}


def content_without_meta(obj: dict) -> dict:
    """What counts for metadata.generation: everything except metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
