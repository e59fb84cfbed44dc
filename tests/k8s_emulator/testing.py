"""Test helpers: a fresh emulator process per test module, with handles on its kubeconfig and logs.

    with EmulatorProcess() as emu:
        emu.kubectl("get", "ns")                   # the real kubectl in .venv/bin, --kubeconfig emu.kubeconfig
        api = emu.client()                         # kubernetes.client.ApiClient for the emulator
        emu.inject_fault(method="GET", path_regex="/api/v1/.*", status=500, times=1)
        emu.requests()                             # parsed requests.log lines
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from typing import List, Optional

import yaml

from k8s_emulator.__main__ import spawn, wait_ready

VENV_BIN = os.path.dirname(sys.executable)


def kubectl_path() -> str:
    """The real kubectl 1.36 from the project's virtualenv (never /usr/bin/kubectl)."""
    candidate = os.path.join(VENV_BIN, "kubectl")
    return candidate if os.path.exists(candidate) else shutil.which("kubectl") or "kubectl"


class EmulatorProcess:
    """A fresh ``python -m k8s_emulator serve`` on a free port in a temporary state directory."""

    def __init__(self, controller_delay: float = 0.5, state_dir: Optional[str] = None):
        self.controller_delay = controller_delay
        self._own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="k8s-emulator-")
        self.proc: Optional[subprocess.Popen] = None
        self.kubeconfig = os.path.join(self.state_dir, "kubeconfig")
        self.ca_file = os.path.join(self.state_dir, "ca.crt")
        self.log_path = os.path.join(self.state_dir, "requests.log")
        self.url = ""
        self.admin_token = ""
        self.port = 0
        self._ssl = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "EmulatorProcess":
        self.proc = spawn(self.state_dir, 0, self.controller_delay)
        wait_ready(self.state_dir, self.proc)
        with open(self.kubeconfig, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        self.url = config["clusters"][0]["cluster"]["server"]
        self.admin_token = config["users"][0]["user"]["token"]
        self.port = int(self.url.rsplit(":", 1)[1])
        self._ssl = ssl.create_default_context(cafile=self.ca_file)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> "EmulatorProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- raw HTTP ------------------------------------------------------------------------------------------
    def http(self, method: str, path: str, body=None, token: Optional[str] = None,
             content_type: str = "application/json", headers: Optional[dict] = None):
        """One request; returns ``(status, headers, parsed JSON body or text)``; never raises for HTTP errors.

        ``token`` defaults to the admin token; ``token=""`` sends no credentials (an anonymous request).
        """
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        bearer = self.admin_token if token is None else token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, context=self._ssl, timeout=30) as resp:
                status, resp_headers, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, resp_headers, raw = err.code, err.headers, err.read()
        text = raw.decode("utf-8")
        try:
            return status, resp_headers, json.loads(text)
        except ValueError:
            return status, resp_headers, text

    def _control(self, method: str, path: str, body=None) -> dict:
        status, _, answer = self.http(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer

    # -- controls --------------------------------------------------------------------------------------------
    def inject_fault(self, **rule) -> dict:
        """Add one fault rule (see faults.py for its keys)."""
        return self._control("POST", "/_emulator/faults", {"rules": [rule], "append": True})

    def clear_faults(self) -> None:
        self._control("DELETE", "/_emulator/faults")

    def set_controller_delay(self, seconds: float) -> None:
        self._control("POST", "/_emulator/controller-delay", {"seconds": seconds})

    def requests(self) -> List[dict]:
        """Every request served so far, as logged in requests.log."""
        with open(self.log_path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    # -- clients ----------------------------------------------------------------------------------------------
    def client(self):
        """A ``kubernetes.client.ApiClient`` configured from the emulator's kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig)

    def kubectl(self, *args: str, input: Optional[str] = None, check: bool = False, timeout: float = 60,
                token: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run the real kubectl against this emulator (own discovery cache per emulator)."""
        cmd = [kubectl_path(), "--kubeconfig", self.kubeconfig, "--cache-dir", os.path.join(self.state_dir, "kube-cache")]
        if token is not None:
            cmd += ["--token", token]
        cmd += list(args)
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=check)
