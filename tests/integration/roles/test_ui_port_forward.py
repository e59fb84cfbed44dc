"""The ui_port_forward role through ansible-playbook, pid-file manager (there is no systemd user instance here).

What the API emulator allows and what it does not:

* The emulator refuses the pods/portforward upgrade (405), so the real kubectl exits right after it starts.
  That path runs with the real kubectl against the emulator: the role must see the forward die, fail with
  the tail of kubectl's output and leave neither a process nor a pid file behind.
* A forward that keeps running cannot come from the real kubectl here. The process management around it
  (pid file, exact command line, idempotence, restart on changed arguments, check mode, stop) runs with a
  compiled stand-in named ``kubectl`` that prints kubectl's "Forwarding from" line and waits to be killed:
  a real process whose /proc/<pid>/cmdline is exactly what the role started.
"""

import os
import shutil
import subprocess
import time

import pytest

from integration.modules.modules_playbook import run_playbook
from k8s_emulator.testing import kubectl_path

NS = "agentgateway-system"
UI = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mcp-ui, namespace: %(ns)s}
spec:
  selector: {matchLabels: {app: mcp-ui}}
  template:
    metadata: {labels: {app: mcp-ui}}
    spec: {containers: [{name: ui, image: "ghcr.io/mcp-gateway/mcp-ui:1.0.0", ports: [{name: http, containerPort: 3000}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: mcp-ui-service, namespace: %(ns)s}
spec:
  selector: {app: mcp-ui}
  ports: [{port: 3000, targetPort: http}]
""" % {"ns": NS}

STAND_IN = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "port-forward") != 0) return 2;
    printf("Forwarding from %s\n", argv[argc - 1]);
    fflush(stdout);
    for (;;) pause();
}
"""


def role(tasks_from="main", **variables):
    return [{"name": "ui_port_forward " + tasks_from,
             "ansible.builtin.include_role": {"name": "mcp_gateway.platform.ui_port_forward", "tasks_from": tasks_from},
             "vars": variables}]


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open("/proc/%s/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cmdline(pid):
    with open("/proc/%s/cmdline" % pid, "rb") as handle:
        return handle.read().decode().split("\0")[:-1]


def forwards_to(kubeconfig):
    """Pids of live port-forward processes using this kubeconfig."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = cmdline(entry)
            except OSError:
                continue
            if argv[1:2] == ["port-forward"] and kubeconfig in argv and alive(entry):
                found.append(entry)
    return found


PREFIX = "mcp_gateway.platform.ui_port_forward : "


def changed(run):
    """Names (without the role prefix) of the tasks that reported a change."""
    return sorted(name[len(PREFIX):] if name.startswith(PREFIX) else name
                  for name, result in run.results.items() if result.get("changed"))


@pytest.fixture(scope="module")
def ui(emulator):
    emulator.kubectl("create", "namespace", NS, check=True)
    emulator.kubectl("apply", "-f", "-", input=UI, check=True)
    return emulator


@pytest.fixture()
def state(tmp_path):
    return {"ui_port_forward_enabled": True, "ui_port_forward_manager": "pidfile",
            "ui_port_forward_state_dir": str(tmp_path / "state"), "ui_port_forward_unit_dir": str(tmp_path / "units")}


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler for the long-running kubectl stand-in")
    directory = tmp_path_factory.mktemp("bin")
    source = directory / "kubectl.c"
    source.write_text(STAND_IN)
    subprocess.run([compiler, "-o", str(directory / "kubectl"), str(source)], check=True)
    return str(directory / "kubectl")


def test_disabled_does_nothing(ui, state):
    run = run_playbook(role(**dict(state, ui_port_forward_enabled=False)), kubeconfig=ui.kubeconfig)
    assert run.rc == 0, run.output[-3000:]
    assert changed(run) == []
    assert not os.path.exists(state["ui_port_forward_state_dir"])


def test_invalid_port_is_refused_naming_the_variable(ui, state):
    run = run_playbook(role(**dict(state, ui_port_forward_local_port=70000)), kubeconfig=ui.kubeconfig)
    assert run.rc != 0
    assert "ui_port_forward_local_port" in run.output and "70000" in run.output
    assert not os.path.exists(state["ui_port_forward_state_dir"])


def test_real_kubectl_refused_by_the_emulator_fails_with_its_output(ui, state):
    before = len(ui.requests())
    run = run_playbook(role(**state), kubeconfig=ui.kubeconfig)
    assert run.rc != 0
    assert "kubectl port-forward svc/mcp-ui-service 4000:3000 -n agentgateway-system exited right after it was started" in run.output
    # The tail of kubectl's own output is in the message.
    assert "error upgrading connection" in run.output
    # The real kubectl did reach the emulator with the role's arguments: the Service in the namespace, then
    # the port-forward of the pod behind it.
    paths = [r["path"] for r in ui.requests()[before:]]
    assert "/api/v1/namespaces/%s/services/mcp-ui-service" % NS in paths
    assert any(p.startswith("/api/v1/namespaces/%s/pods/mcp-ui-" % NS) and p.endswith("/portforward") for p in paths)
    # Nothing is left running or recorded.
    assert not os.path.exists(os.path.join(state["ui_port_forward_state_dir"], "mcp-ui-port-forward.pid"))
    log = open(os.path.join(state["ui_port_forward_state_dir"], "mcp-ui-port-forward.log"), encoding="utf-8").read()
    assert "error upgrading connection" in log
    assert forwards_to(ui.kubeconfig) == []


def test_kubectl_missing_is_reported(ui, state):
    run = run_playbook(role(**dict(state, ui_port_forward_kubectl="/nonexistent/kubectl")), kubeconfig=ui.kubeconfig)
    assert run.rc != 0
    assert "ui_port_forward_kubectl '/nonexistent/kubectl' is not an executable" in run.output


def test_lifecycle_pid_file_idempotence_restart_and_stop(ui, state, stand_in):
    variables = dict(state, ui_port_forward_kubectl=stand_in, ui_port_forward_context="emulator")
    pid_file = os.path.join(state["ui_port_forward_state_dir"], "mcp-ui-port-forward.pid")
    expected = [stand_in, "port-forward", "--address", "127.0.0.1", "--namespace", NS, "--kubeconfig", ui.kubeconfig,
                "--context", "emulator", "svc/mcp-ui-service", "4000:3000"]
    pids = []
    try:
        first = run_playbook(role(**variables), kubeconfig=ui.kubeconfig)
        assert first.rc == 0, first.output[-3000:]
        pid = open(pid_file, encoding="utf-8").read().strip()
        pids.append(pid)
        assert alive(pid) and cmdline(pid) == expected
        assert oct(os.stat(pid_file).st_mode & 0o777) == "0o600"

        # Same arguments: the running forward is left alone.
        second = run_playbook(role(**variables), kubeconfig=ui.kubeconfig)
        assert second.rc == 0, second.output[-3000:]
        assert changed(second) == []
        assert open(pid_file, encoding="utf-8").read().strip() == pid and alive(pid)

        # Check mode with another local port: reported as a change, nothing touched.
        checked = run_playbook(role(**dict(variables, ui_port_forward_local_port=4001)), kubeconfig=ui.kubeconfig,
                               check=True)
        assert checked.rc == 0, checked.output[-3000:]
        assert "Report the forward that would be started" in changed(checked)
        assert "4001:3000" in checked[PREFIX + "Report the forward that would be started"]["msg"]
        assert open(pid_file, encoding="utf-8").read().strip() == pid and alive(pid)

        # Another local port for real: the old forward is stopped, a new one started.
        moved = run_playbook(role(**dict(variables, ui_port_forward_local_port=4001)), kubeconfig=ui.kubeconfig)
        assert moved.rc == 0, moved.output[-3000:]
        new_pid = open(pid_file, encoding="utf-8").read().strip()
        pids.append(new_pid)
        assert new_pid != pid and not alive(pid)
        assert alive(new_pid) and cmdline(new_pid) == expected[:-1] + ["4001:3000"]

        # stop.yml in check mode changes nothing; for real it kills the forward and removes the pid file.
        dry = run_playbook(role("stop", **variables), kubeconfig=ui.kubeconfig, check=True)
        assert dry.rc == 0, dry.output[-3000:]
        assert alive(new_pid) and os.path.exists(pid_file)
        stopped = run_playbook(role("stop", **variables), kubeconfig=ui.kubeconfig)
        assert stopped.rc == 0, stopped.output[-3000:]
        assert not alive(new_pid) and not os.path.exists(pid_file)
        assert "Stop kubectl port-forward (pid %s)" % new_pid in changed(stopped)
        again = run_playbook(role("stop", **variables), kubeconfig=ui.kubeconfig)
        assert again.rc == 0 and changed(again) == []
    finally:
        for leftover in pids:
            if alive(leftover):
                os.kill(int(leftover), 15)


def test_stale_pid_file_of_another_process_is_not_killed(ui, state, stand_in):
    """A pid file naming a process that is not a port-forward (pid reused) must not get it killed."""
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        os.makedirs(state["ui_port_forward_state_dir"])
        pid_file = os.path.join(state["ui_port_forward_state_dir"], "mcp-ui-port-forward.pid")
        with open(pid_file, "w", encoding="utf-8") as handle:
            handle.write("%d\n" % sleeper.pid)
        stopped = run_playbook(role("stop", **state), kubeconfig=ui.kubeconfig)
        assert stopped.rc == 0, stopped.output[-3000:]
        time.sleep(0.2)
        assert sleeper.poll() is None and not os.path.exists(pid_file)
    finally:
        sleeper.kill()
        sleeper.wait()
