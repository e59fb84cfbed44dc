"""The ui_port_forward role through ansible-playbook against the API emulator (pid-file mode: there is no
systemd user instance where these tests run, so the systemd path is not exercised here).

The emulator does not implement the pods/portforward streaming subresource: a real kubectl pointed at it
GETs the Service, lists its Pods, then fails the WebSocket and SPDY upgrades (405) and exits. That is what
the first test proves the role detects. For the lifecycle of a running forward, kubectl talks to
:class:`StreamingDouble`, which relays every request to the emulator and accepts the SPDY upgrade; the
tunnel then stays open but carries no data (kubectl listens locally; nothing is forwarded to a pod).
"""

import http.client
import os
import socket
import socketserver
import ssl
import subprocess
import threading
import time

import pytest
import yaml

from integration.modules.modules_playbook import run_playbook

NS = "pf"
SERVICE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mcp-ui, namespace: pf}
spec:
  selector: {matchLabels: {app: mcp-ui}}
  template:
    metadata: {labels: {app: mcp-ui}}
    spec: {containers: [{name: ui, image: "ghcr.io/mcp-gateway/mcp-ui:1.0.0", ports: [{name: http, containerPort: 3000}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: mcp-ui-service, namespace: pf}
spec:
  selector: {app: mcp-ui}
  ports: [{name: http, port: 3000, targetPort: http}]
"""


class StreamingDouble:
    """Test double of the kubelet streaming endpoint (pods/<pod>/portforward), which the emulator lacks.

    A plain-HTTP front on 127.0.0.1: every request is relayed unchanged to the emulator (with the admin
    token, since kubectl sends no bearer token over plain HTTP), except a SPDY/3.1 upgrade of
    ``.../portforward``, which is accepted with 101 and then held open without carrying data. Records every
    request as ``(method, path)`` in ``requests`` and the accepted upgrades in ``upgrades``.
    """

    def __init__(self, upstream, ca_file, token):
        self.upstream, self.token = upstream, token
        self.context = ssl.create_default_context(cafile=ca_file)
        self.requests, self.upgrades = [], []
        double = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    line = self.rfile.readline()
                    if not line.strip():
                        return
                    method, path, _version = line.decode().split(" ", 2)
                    headers = []
                    while True:
                        header = self.rfile.readline().decode()
                        if header in ("\r\n", "\n", ""):
                            break
                        key, value = header.split(":", 1)
                        headers.append((key.strip(), value.strip()))
                    lower = {k.lower(): v for k, v in headers}
                    body = self.rfile.read(int(lower.get("content-length") or 0))
                    double.requests.append((method, path))
                    if method == "POST" and path.split("?")[0].endswith("/portforward") \
                            and "spdy" in lower.get("upgrade", "").lower():
                        double.upgrades.append(path)
                        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                         b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
                        self.wfile.flush()
                        while self.rfile.read(1):
                            pass
                        return
                    conn = http.client.HTTPSConnection(*double.upstream, context=double.context, timeout=30)
                    relayed = {k: v for k, v in headers if k.lower() not in ("host", "connection", "upgrade", "authorization")}
                    relayed["Authorization"] = "Bearer " + double.token
                    conn.request(method, path, body=body or None, headers=relayed)
                    resp = conn.getresponse()
                    data = resp.read()
                    head = ["HTTP/1.1 %d %s" % (resp.status, resp.reason)]
                    head += ["%s: %s" % (k, v) for k, v in resp.getheaders()
                             if k.lower() not in ("transfer-encoding", "connection", "content-length")]
                    head.append("Content-Length: %d" % len(data))
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
                    self.wfile.flush()
                    conn.close()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def role(tmp_path, kubeconfig, tasks_from="main", check=False, **variables):
    variables = dict({"ui_port_forward_enabled": True, "ui_port_forward_namespace": NS,
                      "ui_port_forward_kubeconfig": kubeconfig, "ui_port_forward_state_dir": str(tmp_path / "state"),
                      "ui_port_forward_manager": "pidfile"}, **variables)
    return run_playbook([{"name": "ui_port_forward", "vars": variables, "ansible.builtin.include_role": {
        "name": "mcp_gateway.platform.ui_port_forward", "tasks_from": tasks_from}}], check=check)


def changed(run):
    return [name for name, result in run.results.items() if result.get("changed")]


def cmdline(pid):
    with open("/proc/%s/cmdline" % pid, "rb") as handle:
        return handle.read().decode().split("\0")[:-1]


def alive(pid):
    """A process that is neither gone nor a zombie (a zombie's cmdline is empty)."""
    return os.path.exists("/proc/%s/cmdline" % pid) and cmdline(pid) != []


@pytest.fixture(scope="module")
def cluster(emulator):
    emulator.kubectl("create", "namespace", NS, check=True)
    emulator.kubectl("apply", "-f", "-", input=SERVICE, check=True)
    emulator.kubectl("rollout", "status", "deployment/mcp-ui", "-n", NS, "--timeout=60s", check=True)
    return emulator


@pytest.fixture()
def double_kubeconfig(cluster, tmp_path):
    with open(cluster.kubeconfig) as handle:
        config = yaml.safe_load(handle)
    host, port = cluster.url.split("//")[1].rsplit(":", 1)
    with StreamingDouble((host, int(port)), cluster.ca_file, cluster.admin_token) as double:
        config["clusters"][0]["cluster"] = {"server": double.url}
        path = str(tmp_path / "double-kubeconfig")
        with open(path, "w") as handle:
            yaml.safe_dump(config, handle)
        yield path, double


def test_forward_that_dies_at_start_fails_with_its_output(cluster, tmp_path):
    port = free_port()
    before = len(cluster.requests())
    run = role(tmp_path, cluster.kubeconfig, ui_port_forward_local_port=port)
    assert run.rc != 0
    assert "kubectl port-forward svc/mcp-ui-service %d:3000 -n pf exited right after it was started" % port in run.output
    assert "error upgrading connection" in run.output  # kubectl's own last line, from the log
    assert not os.path.exists(tmp_path / "state" / "mcp-ui-port-forward.pid")
    # What the real kubectl did against the emulator with the role's arguments.
    paths = [(r["method"], r["path"].split("?")[0]) for r in cluster.requests()[before:]]
    assert ("GET", "/api/v1/namespaces/pf/services/mcp-ui-service") in paths
    assert any(m == "POST" and p.endswith("/portforward") for m, p in paths)


def test_running_forward_lifecycle(double_kubeconfig, tmp_path):
    kubeconfig, double = double_kubeconfig
    port = free_port()
    pid_file = tmp_path / "state" / "mcp-ui-port-forward.pid"
    first = role(tmp_path, kubeconfig, ui_port_forward_local_port=port)
    assert first.rc == 0, first.output[-3000:]
    pid = pid_file.read_text().strip()
    argv = cmdline(pid)
    assert argv[1:] == ["port-forward", "--address", "127.0.0.1", "--namespace", "pf", "--kubeconfig", kubeconfig,
                        "svc/mcp-ui-service", "%d:3000" % port]
    assert os.path.basename(argv[0]) == "kubectl" and os.path.isabs(argv[0])
    assert double.upgrades and double.upgrades[0].startswith("/api/v1/namespaces/pf/pods/mcp-ui-")
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # kubectl listens (the double carries no data)

    second = role(tmp_path, kubeconfig, ui_port_forward_local_port=port)
    assert second.rc == 0 and changed(second) == []
    assert pid_file.read_text().strip() == pid

    other = free_port()
    moved = role(tmp_path, kubeconfig, ui_port_forward_local_port=other)
    assert moved.rc == 0, moved.output[-3000:]
    new_pid = pid_file.read_text().strip()
    assert new_pid != pid and not alive(pid)
    assert cmdline(new_pid)[-1] == "%d:3000" % other

    dry = role(tmp_path, kubeconfig, tasks_from="stop", check=True)
    assert dry.rc == 0, dry.output[-3000:]
    assert alive(new_pid) and pid_file.exists()  # check mode stops nothing
    stopped = role(tmp_path, kubeconfig, tasks_from="stop")
    assert stopped.rc == 0, stopped.output[-3000:]
    assert any(name.endswith("Stop kubectl port-forward (pid %s)" % new_pid) for name in changed(stopped))
    assert not pid_file.exists()
    assert not alive(new_pid)
    again = role(tmp_path, kubeconfig, tasks_from="stop")
    assert again.rc == 0 and changed(again) == []


def test_disabled_does_nothing(cluster, tmp_path):
    run = role(tmp_path, cluster.kubeconfig, ui_port_forward_enabled=False)
    assert run.rc == 0 and changed(run) == []
    assert not (tmp_path / "state").exists()


def test_invalid_port_is_refused_naming_the_variable(cluster, tmp_path):
    run = role(tmp_path, cluster.kubeconfig, ui_port_forward_local_port=70000)
    assert run.rc != 0
    assert "ui_port_forward_local_port" in run.output and "70000" in run.output
    assert not (tmp_path / "state").exists()


def test_kubectl_missing_is_reported(cluster, tmp_path):
    run = role(tmp_path, cluster.kubeconfig, ui_port_forward_kubectl="/nonexistent/kubectl")
    assert run.rc != 0
    assert "ui_port_forward_kubectl '/nonexistent/kubectl' is not an executable" in run.output


def test_stale_pid_file_of_another_process_is_not_killed(cluster, tmp_path):
    """A pid file naming a process that is not a port-forward (pid reused) must not get it killed."""
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        (tmp_path / "state").mkdir()
        pid_file = tmp_path / "state" / "mcp-ui-port-forward.pid"
        pid_file.write_text("%d\n" % sleeper.pid)
        stopped = role(tmp_path, cluster.kubeconfig, tasks_from="stop")
        assert stopped.rc == 0, stopped.output[-3000:]
        time.sleep(0.2)
        assert sleeper.poll() is None and not pid_file.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
