"""The built collection artifact, installed into an empty collections path, works on its own.

This is what Galaxy and AWX users get: `ansible-galaxy collection build` (with build_ignore applied),
`ansible-galaxy collection install` into a fresh path, then the playbooks addressed by FQCN, run from a
directory that has no ansible.cfg and no access to this checkout's roles or plugins.
"""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
SITE_PACKAGES = next(pathlib.Path(sys.prefix).glob("lib/python3*/site-packages"))


def _run(cmd, cwd, env, check=True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("artifact")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", work, ROOT], cwd=work, env=env)
    artifact = next(work.glob("mcp_gateway-platform-*.tar.gz"))
    collections = work / "collections"
    _run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", collections, artifact], cwd=work, env=env)
    # kubernetes.core comes from the `ansible` package in the virtualenv (Galaxy for users).
    env["ANSIBLE_COLLECTIONS_PATH"] = f"{collections}:{SITE_PACKAGES}"
    return {"artifact": artifact, "collections": collections, "env": env, "cwd": work}


def test_artifact_ships_the_collection_and_not_the_test_infrastructure(installed):
    with tarfile.open(installed["artifact"]) as tar:
        names = set(tar.getnames())
    assert "playbooks/site.yml" in names
    assert "plugins/module_utils/hubspot_oauth.py" in names
    assert "roles/token_refresh/files/hubspot_refresher.py" in names
    assert not any(n.startswith(("tests/k8s_emulator", "tests/helm_double", "tests/peers", "molecule/", ".venv")) for n in names)
    manifest = json.loads(tar_member(installed["artifact"], "MANIFEST.json"))
    assert manifest["collection_info"]["dependencies"] == {"kubernetes.core": ">=6.2.0,<7.0.0"}


def tar_member(artifact, name):
    with tarfile.open(artifact) as tar:
        return tar.extractfile(name).read().decode()


def test_installed_site_playbook_passes_syntax_check(installed):
    proc = _run([BIN / "ansible-playbook", "-i", "localhost,", "mcp_gateway.platform.site", "--syntax-check"],
                cwd=installed["cwd"], env=installed["env"])
    assert "playbook: " in proc.stdout


def test_installed_collection_converges_on_the_emulator(installed, emulator):
    env = dict(installed["env"])
    env["PATH"] = f"{ROOT / 'tests' / 'bin'}:{env['PATH']}"
    env["K8S_AUTH_KUBECONFIG"] = str(emulator.kubeconfig)
    env["KUBECONFIG"] = str(emulator.kubeconfig)
    cmd = [BIN / "ansible-playbook", "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={sys.executable}",
           "-e", f"@{ROOT / 'tests' / 'demo-vars.yml'}",
           "mcp_gateway.platform.site"]
    first = _run(cmd, cwd=installed["cwd"], env=env)
    assert "failed=0" in first.stdout
    second = _run(cmd, cwd=installed["cwd"], env=env)
    recap = second.stdout[second.stdout.rindex("PLAY RECAP"):]
    assert "changed=0" in recap and "failed=0" in recap, recap

    kubectl = [BIN / "kubectl", "--kubeconfig", str(emulator.kubeconfig)]
    routes = yaml.safe_load(_run([*kubectl, "get", "httproute", "-A", "-o", "yaml"], cwd=installed["cwd"], env=env).stdout)
    names = {item["metadata"]["name"] for item in routes["items"]}
    assert {"mcp-example-route", "mcp-hubspot-route", "mcp-mssql-route"} <= names
