"""Plays the kubelet's container runtime for the few Pods whose program can run on this machine.

KWOK makes every Pod Running and Ready but runs nothing. For a Pod whose image is one of
:data:`PROGRAMS` (the agentgateway controller), this loop runs the same program, built from its pinned
Go module by tests/binaries/build.sh, as a host process with what the kubelet would give the container:
the container's environment (values, ``fieldRef`` and ``resourceFieldRef`` resolved from the Pod) and its
identity, a token of the Pod's ServiceAccount bound to the Pod (TokenRequest API), renewed as the kubelet
does. It stops the process when the Pod goes away (a rollout, an uninstall) and restarts it when it exits,
with the kubelet's back-off. A Pod that needs what a host process cannot have (a volume other than the
ServiceAccount token, ``envFrom``) is refused in the log, never half-run.

Started by :meth:`cluster.Cluster.up` (``python -m cluster hostpods``); each program's output and a
``<namespace>_<pod>.json`` with its pid and loopback ports go to the cluster's folder, ``hostpods/``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

# image repository -> program in the bin folders of tests/binaries/build.sh, and its listener flags.
PROGRAMS = {
    "cr.agentgateway.dev/kgateway": ("kgateway", ("xds-address", "health-address", "metrics-address")),
}
TOKEN_SECONDS = 3600  # the kubelet's default projected token lifetime; renewed at 80 %
QUANTITY = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20,
            "Gi": 2**30, "Ti": 2**40, "m": 1e-3}


def quantity(value: str) -> float:
    number = value.rstrip("kMGTimi")
    return float(number) * QUANTITY[value[len(number):]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HostPod:
    """One Pod's program as a host process."""

    def __init__(self, cluster, pod: dict, program: str, flags: tuple, bin_dirs: list):
        self.cluster, self.pod, self.flags = cluster, pod, flags
        meta = pod["metadata"]
        self.key = f"{meta['namespace']}_{meta['name']}"
        self.dir = cluster.dir / "hostpods"
        self.binary = next(Path(d) / program for d in bin_dirs if (Path(d) / program).exists())
        self.proc = None
        self.restarts = 0
        self.next_start = 0.0
        self.token_renew = 0.0

    # -- what the kubelet would give the container -----------------------------------------------
    def environment(self, container: dict) -> dict:
        pod = self.pod
        fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
                  "metadata.uid": pod["metadata"]["uid"], "spec.nodeName": pod["spec"].get("nodeName", ""),
                  "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
                  "status.podIP": pod.get("status", {}).get("podIP", ""), "status.hostIP": "127.0.0.1"}
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir)}
        if container.get("envFrom"):
            raise ValueError("envFrom is not supported")
        for var in container.get("env", []):
            source = var.get("valueFrom")
            if source is None:
                env[var["name"]] = var.get("value", "")
            elif "fieldRef" in source:
                env[var["name"]] = fields[source["fieldRef"]["fieldPath"]]
            elif "resourceFieldRef" in source:
                ref = source["resourceFieldRef"]
                limit = container.get("resources", {}).get("limits", {}).get(ref["resource"].split(".", 1)[1])
                if limit is not None:  # no limit: the kubelet would give the Node's capacity; the host has its own
                    env[var["name"]] = str(math.ceil(quantity(limit) / quantity(str(ref.get("divisor", "1")))))
            else:
                raise ValueError(f"env {var['name']}: only value, fieldRef and resourceFieldRef are supported")
        return env

    def check_volumes(self, container: dict):
        for mount in container.get("volumeMounts", []):
            if mount["mountPath"] != "/var/run/secrets/kubernetes.io/serviceaccount":
                raise ValueError(f"volume {mount['name']} at {mount['mountPath']} cannot be given to a host process")

    def write_identity(self):
        """A token of the Pod's ServiceAccount bound to the Pod, and a kubeconfig that reads it from a file
        (client-go rereads the file, as it rereads the projected token in a container)."""
        meta = self.pod["metadata"]
        account = self.pod["spec"].get("serviceAccountName", "default")
        status, _, body = self.cluster.http(
            "POST", f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"expirationSeconds": TOKEN_SECONDS,
                      "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"], "uid": meta["uid"]}}})
        if status != 201:
            raise RuntimeError(f"TokenRequest for {account}: HTTP {status}: {body}")
        token = self.dir / f"{self.key}.token"
        token.write_text(body["status"]["token"])
        token.chmod(0o600)
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "pod",
                      "clusters": [{"name": "c", "cluster": {"server": self.cluster.server,
                                                             "certificate-authority": str(self.cluster.ca_file)}}],
                      "users": [{"name": "u", "user": {"tokenFile": str(token)}}],
                      "contexts": [{"name": "pod", "context": {"cluster": "c", "user": "u",
                                                               "namespace": meta["namespace"]}}]}
        (self.dir / f"{self.key}.kubeconfig").write_text(json.dumps(kubeconfig))
        self.token_renew = time.monotonic() + TOKEN_SECONDS * 0.8

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self):
        container = self.pod["spec"]["containers"][0]
        self.check_volumes(container)
        env = self.environment(container)
        self.write_identity()
        ports = {flag: f"127.0.0.1:{free_port()}" for flag in self.flags}
        args = [str(self.binary), "--kubeconfig", str(self.dir / f"{self.key}.kubeconfig")]
        args += [f"--{flag}={address}" for flag, address in ports.items()]
        log = open(self.dir / f"{self.key}.log", "ab")
        log.write(f"--- {time.strftime('%H:%M:%S')} start {' '.join(args)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)
        log.close()
        (self.dir / f"{self.key}.json").write_text(json.dumps(
            {"pid": self.proc.pid, "program": str(self.binary), "pod": self.pod["metadata"]["name"],
             "uid": self.pod["metadata"]["uid"], "addresses": ports, "restarts": self.restarts}))

    def tick(self):
        """Keep the process running (back-off 10 s doubling to 5 min, as the kubelet) and its token fresh."""
        now = time.monotonic()
        if self.proc is not None and self.proc.poll() is not None:
            self.restarts += 1
            self.next_start = now + min(10 * 2 ** (self.restarts - 1), 300)
            self.proc = None
        if self.proc is None and now >= self.next_start:
            self.start()
        elif self.proc is not None and now >= self.token_renew:
            self.write_identity()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        (self.dir / f"{self.key}.json").unlink(missing_ok=True)


def program_of(pod: dict):
    image = pod["spec"]["containers"][0]["image"]
    repository = image.split("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image
    return PROGRAMS.get(repository)


def run(cluster, bin_dirs: list, interval=1.0):
    """Until SIGTERM: reconcile the host processes with the Running Pods that have a program."""
    (cluster.dir / "hostpods").mkdir(exist_ok=True)
    running: dict[str, HostPod] = {}
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while not stopping:
        try:
            status, _, body = cluster.http("GET", "/api/v1/pods?fieldSelector=status.phase%3DRunning")
        except OSError as err:  # the API server restarting: keep what runs, as the kubelet does
            status, body = 0, str(err)
        if status == 200:
            wanted = {}
            for pod in body["items"]:
                found = program_of(pod)
                if found and not pod["metadata"].get("deletionTimestamp"):
                    wanted[pod["metadata"]["uid"]] = (pod, found)
            for uid in [uid for uid in running if uid not in wanted]:
                running.pop(uid).stop()
            for uid, (pod, (program, flags)) in wanted.items():
                if uid not in running:
                    running[uid] = HostPod(cluster, pod, program, flags, bin_dirs)
                try:
                    running[uid].tick()
                except (ValueError, RuntimeError, OSError) as err:
                    print(f"{time.strftime('%H:%M:%S')} {running[uid].key}: not run: {err}", flush=True)
                    running[uid].next_start = time.monotonic() + 30
        time.sleep(interval)
    for pod in running.values():
        pod.stop()
