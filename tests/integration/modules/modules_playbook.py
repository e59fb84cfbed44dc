"""Run this collection's modules through the real ansible-playbook, and read the cluster back.

``run_playbook(tasks, ...)`` writes a one-play playbook on localhost and runs
``.venv/bin/ansible-playbook`` with the ansible.posix.json stdout callback; it returns the exit
code, the whole output (for secret-leak checks) and each task's result by task name.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
VENV_BIN = os.path.dirname(sys.executable)


def custom_resource_definition(group, kind, **extra):
    """A minimal namespaced CRD (one served version, any fields) for kind ``kind`` in ``group``."""
    plural = kind.lower() + "s"
    return dict({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                 "metadata": {"name": "%s.%s" % (plural, group)},
                 "spec": {"group": group, "scope": "Namespaced",
                          "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                          "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                              "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}},
                **extra)


class PlaybookRun:
    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.output = stdout + stderr
        self.results = {}
        start = stdout.find("\n{\n") + 1 if not stdout.startswith("{\n") else 0
        if start > 0 or stdout.startswith("{\n"):
            document, _end = json.JSONDecoder().raw_decode(stdout[start:])
            for play in document.get("plays", []):
                for task in play.get("tasks", []):
                    self.results[task["task"]["name"]] = task["hosts"].get("localhost", {})
        self.document_found = bool(self.results)

    def __getitem__(self, name):
        return self.results[name]

    def assert_no_secret(self, *secrets):
        """None of the values, nor their base64 forms, appears anywhere in the output."""
        for secret in secrets:
            if not secret:
                continue
            encoded = base64.b64encode(secret.encode()).decode()
            assert secret not in self.output, "a secret value leaked into the playbook output"
            assert encoded not in self.output, "a base64-encoded secret leaked into the playbook output"


def run_playbook(tasks, kubeconfig=None, check=False, diff=False, verbosity=0, extra_env=None, timeout=300):
    play = [{"name": "modules under test", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="modules-it-") as tmp:
        path = os.path.join(tmp, "playbook.yml")
        with open(path, "w") as handle:
            yaml.safe_dump(play, handle, sort_keys=False)
        env = dict(os.environ)
        env.update({
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([
                os.path.join(ROOT, ".collections"),
                os.path.join(os.path.dirname(VENV_BIN), "lib", "python%d.%d" % sys.version_info[:2], "site-packages"),
            ]),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_HOME": os.path.join(tmp, "ansible-home"),
            "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        })
        if kubeconfig:
            env["K8S_AUTH_KUBECONFIG"] = kubeconfig
        env.update(extra_env or {})
        cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", path]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    run = PlaybookRun(proc.returncode, proc.stdout, proc.stderr)
    assert run.document_found, "no JSON result document in ansible-playbook output:\n%s\n%s" % (
        proc.stdout[-3000:], proc.stderr[-3000:])
    return run
