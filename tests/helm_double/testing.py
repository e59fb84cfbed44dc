"""Test helpers for the helm test double: run tests/bin/helm with a private helm home and call log
against an emulator, read the call log and the cluster back.

    runner = HelmRunner(emulator, tmp_dir)
    runner("upgrade", "-i", "x", "oci://...", "-n", "ns")   # subprocess.CompletedProcess
    runner.calls()                                           # the recorded invocations
    release_of(runner.release_secrets("x")[0])               # the decoded helm release
"""

import base64
import os
import subprocess
import sys

from . import record
from .storage import decode_release

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTS_BIN = os.path.join(ROOT, "tests", "bin")
VENV_BIN = os.path.dirname(sys.executable)


def shared_crds_dir():
    return os.environ.get("MCP_SHARED_CRDS_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "crds")


def helm_env(kubeconfig, home, log):
    """Environment for running the double: tests/bin first on PATH, private helm paths and log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "KUBECONFIG", "K8S_AUTH_"))}
    env.update({
        "PATH": os.pathsep.join([TESTS_BIN, VENV_BIN, os.environ.get("PATH", "")]),
        "KUBECONFIG": kubeconfig,
        "HELM_CONFIG_HOME": os.path.join(home, "config"),
        "HELM_CACHE_HOME": os.path.join(home, "cache"),
        "HELM_DATA_HOME": os.path.join(home, "data"),
        "HELM_REPOSITORY_CONFIG": os.path.join(home, "config", "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": os.path.join(home, "cache", "repository"),
        "HELM_DOUBLE_LOG": log,
    })
    return env


def release_of(secret):
    """The helm release stored in a helm.sh/release.v1 Secret read from the API."""
    return decode_release(base64.b64decode(secret["data"]["release"]).decode("ascii"))


class HelmRunner:
    """Runs the double (tests/bin/helm, found on PATH) against an EmulatorProcess."""

    def __init__(self, emulator, home):
        self.emulator = emulator
        self.home = str(home)
        self.log = os.path.join(self.home, "helm-calls.jsonl")
        self.env = helm_env(emulator.kubeconfig, self.home, self.log)

    def __call__(self, *args, env=None):
        full_env = dict(self.env)
        full_env.update(env or {})
        return subprocess.run(["helm", *args], env=full_env, capture_output=True, text=True, timeout=180)

    def calls(self):
        return record.read(self.log)

    def get(self, path):
        """GET an API path on the emulator as admin; None for 404."""
        status, _, body = self.emulator.http("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise AssertionError("GET %s answered %s: %s" % (path, status, body))
        return body

    def release_secrets(self, name, namespace):
        listing = self.get("/api/v1/namespaces/%s/secrets?labelSelector=owner%%3Dhelm,name%%3D%s" % (namespace, name))
        return sorted(listing["items"], key=lambda s: int(s["metadata"]["labels"]["version"]))

    def secret_value(self, namespace, name, key):
        secret = self.get("/api/v1/namespaces/%s/secrets/%s" % (namespace, name))
        return base64.b64decode(secret["data"][key]).decode()
