"""The ui_port_forward role through ansible-playbook against the real control plane (pid-file mode: there
is no systemd user instance where these tests run, so the systemd path is not exercised here).

``kubectl port-forward svc/mcp-ui-service`` goes to the real API server, which opens the Pod's
``pods/portforward`` stream to the kubelet of the Pod's Node: there the kwok controller. With its
``ClusterPortForward`` custom resources enabled (tests/cluster/kwokctl.yaml), KWOK forwards a Pod's port to a
local address; this module points port 3000 of the mcp-ui Pods at :class:`UiDouble` on 127.0.0.1, so bytes
go client -> kubectl -> API server -> kwok -> the double and back, exactly the path a real kubelet takes
(only the container is replaced).
"""

import json
import os
import socket
import subprocess
import urllib.request
import uuid

import pytest

from integration.modules.modules_playbook import run_playbook
from peers._loopback import LoopbackPeer

NS = "pf"
UI = """
apiVersion: v1
kind: Namespace
metadata: {name: pf}
---
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

class UiDouble(LoopbackPeer):
    """Test double of the mcp-ui container: an HTTP server on 127.0.0.1 answering every GET with a page
    that names this double (a fresh marker per instance), recording the paths it was asked."""

    def __init__(self):
        self.marker = "mcp-ui double " + uuid.uuid4().hex
        self.paths = []

    def handle(self, handler, form):
        self.paths.append(handler.path)
        handler.send_json(200, {"page": self.marker, "path": handler.path})


@pytest.fixture(scope="module")
def ui(cluster):
    """The mcp-ui Deployment and Service, their Pod's port 3000 forwarded by KWOK to the UI double."""
    with UiDouble() as double:
        cluster.kubectl("apply", "-f", "-", input=UI)
        cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward", "metadata": {"name": "mcp-ui"},
            "spec": {"selector": {"matchNamespaces": [NS]},
                     "forwards": [{"ports": [3000], "target": {"address": "127.0.0.1", "port": double.port}}]}}))
        cluster.kubectl("rollout", "status", "deployment/mcp-ui", "-n", NS, "--timeout=60s")
        yield double


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def role(tmp_path, kubeconfig, tasks_from="main", check=False, **variables):
    variables = dict({"ui_port_forward_enabled": True, "ui_port_forward_namespace": NS,
                      "ui_port_forward_kubeconfig": str(kubeconfig),
                      "ui_port_forward_state_dir": str(tmp_path / "state"),
                      "ui_port_forward_manager": "pidfile"}, **variables)
    return run_playbook([{"name": "ui_port_forward", "vars": variables, "ansible.builtin.include_role": {
        "name": "mcp_gateway.platform.ui_port_forward", "tasks_from": tasks_from}}], check=check)


def changed(run):
    return [name for name, result in run.results.items() if result.get("changed")]


def failure(run):
    """The message of the task that failed the run."""
    [message] = [result["msg"] for result in run.results.values() if result.get("failed")]
    return message


def cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            return handle.read().decode().split("\0")[:-1]
    except FileNotFoundError:
        return []


def alive(pid):
    """A process that is neither gone nor a zombie (a zombie's cmdline is empty)."""
    return cmdline(pid) != []


def fetch(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/index.html" % port, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture()
def pid_file(tmp_path):
    """The role's pid file; a kubectl the role started and a failed test left behind is stopped."""
    path = tmp_path / "state" / "mcp-ui-port-forward.pid"
    yield path
    if path.exists():
        pid = path.read_text().strip()
        if cmdline(pid)[1:2] == ["port-forward"]:
            os.kill(int(pid), 15)


def portforwards(cluster, since):
    """(user, pod, status) of the pods/portforward streams the API server opened since the audit offset
    (a stream is logged at ResponseStarted; ResponseComplete follows only when it closes)."""
    return [(e["user"]["username"], e["objectRef"]["name"], e["responseStatus"]["code"])
            for e in cluster.audit_events(since) if e["stage"] == "ResponseStarted"
            and e["objectRef"].get("resource") == "pods" and e["objectRef"].get("subresource") == "portforward"]


def test_forward_to_a_missing_service_fails_with_kubectls_output(cluster, ui, tmp_path, pid_file):
    port = free_port()
    since = cluster.audit_offset()
    run = role(tmp_path, cluster.kubeconfig, ui_port_forward_local_port=port, ui_port_forward_service="mcp-ui-missing")
    assert run.rc != 0
    message = failure(run)
    assert "kubectl port-forward svc/mcp-ui-missing %d:3000 -n pf exited right after it was started" % port in message
    assert 'Error from server (NotFound): services "mcp-ui-missing" not found' in message  # kubectl's log
    assert not pid_file.exists()
    # What the real kubectl asked the real API server with the role's arguments, and no stream opened.
    asked = [(e["verb"], e["objectRef"].get("resource"), e["objectRef"].get("name"), e["responseStatus"]["code"])
             for e in cluster.audit_events(since) if e["objectRef"].get("namespace") == NS]
    assert ("get", "services", "mcp-ui-missing", 404) in asked
    assert portforwards(cluster, since) == []


def test_forward_to_a_local_port_in_use_fails_and_leaves_nothing_running(cluster, ui, tmp_path, pid_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = role(tmp_path, cluster.kubeconfig, ui_port_forward_local_port=port)
    assert run.rc != 0
    message = failure(run)
    assert "kubectl port-forward svc/mcp-ui-service %d:3000 -n pf exited right after it was started" % port in message
    assert "unable to listen on any of the requested ports" in message
    assert not pid_file.exists()


def test_running_forward_lifecycle(cluster, ui, tmp_path, pid_file):
    port = free_port()
    since = cluster.audit_offset()
    first = role(tmp_path, cluster.kubeconfig, ui_port_forward_local_port=port)
    assert first.rc == 0, first.output[-3000:]
    pid = pid_file.read_text().strip()
    argv = cmdline(pid)
    assert argv[1:] == ["port-forward", "--address", "127.0.0.1", "--namespace", "pf", "--kubeconfig",
                        str(cluster.kubeconfig), "svc/mcp-ui-service", "%d:3000" % port]
    assert os.path.basename(argv[0]) == "kubectl" and os.path.isabs(argv[0])
    # Bytes through the forward: kubectl -> API server -> kwok (the Pod's kubelet) -> the UI double.
    assert fetch(port) == {"page": ui.marker, "path": "/index.html"}
    [(user, pod, status)] = portforwards(cluster, since)
    assert pod.startswith("mcp-ui-") and status == 101 and user == "kwok-admin"  # the kubeconfig's identity

    second = role(tmp_path, cluster.kubeconfig, ui_port_forward_local_port=port)
    assert second.rc == 0 and changed(second) == []
    assert pid_file.read_text().strip() == pid

    other = free_port()
    moved = role(tmp_path, cluster.kubeconfig, ui_port_forward_local_port=other)
    assert moved.rc == 0, moved.output[-3000:]
    new_pid = pid_file.read_text().strip()
    assert new_pid != pid and not alive(pid)
    assert cmdline(new_pid)[-1] == "%d:3000" % other
    assert fetch(other)["page"] == ui.marker
    with pytest.raises(OSError):  # the old forward no longer listens
        fetch(port)

    dry = role(tmp_path, cluster.kubeconfig, tasks_from="stop", check=True)
    assert dry.rc == 0, dry.output[-3000:]
    assert alive(new_pid) and pid_file.exists()  # check mode stops nothing
    stopped = role(tmp_path, cluster.kubeconfig, tasks_from="stop")
    assert stopped.rc == 0, stopped.output[-3000:]
    assert any(name.endswith("Stop kubectl port-forward (pid %s)" % new_pid) for name in changed(stopped))
    assert not pid_file.exists()
    assert not alive(new_pid)
    again = role(tmp_path, cluster.kubeconfig, tasks_from="stop")
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
        assert sleeper.poll() is None and not pid_file.exists()
        assert changed(stopped) == ["mcp_gateway.platform.ui_port_forward : Remove the pid file"]
    finally:
        sleeper.kill()
        sleeper.wait()
