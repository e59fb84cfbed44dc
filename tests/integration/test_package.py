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

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
SHARED = ROOT.parent / "shared"
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
    assert not any(n.startswith(("tests/cluster", "tests/binaries", "tests/peers", "molecule/", ".venv")) for n in names)
    manifest = json.loads(tar_member(installed["artifact"], "MANIFEST.json"))
    assert manifest["collection_info"]["dependencies"] == {"kubernetes.core": ">=6.2.0,<7.0.0"}


def tar_member(artifact, name):
    with tarfile.open(artifact) as tar:
        return tar.extractfile(name).read().decode()


def test_installed_site_playbook_passes_syntax_check(installed):
    proc = _run([BIN / "ansible-playbook", "-i", "localhost,", "mcp_gateway.platform.site", "--syntax-check"],
                cwd=installed["cwd"], env=installed["env"])
    assert "playbook: " in proc.stdout


def _installed_playbook(installed, cluster, playbook, *extra):
    """ansible-playbook of an installed collection playbook against the test cluster (real helm on PATH)."""
    env = dict(cluster.env, **{k: v for k, v in installed["env"].items() if k != "PATH"})
    cmd = [BIN / "ansible-playbook", "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={sys.executable}", *extra, f"mcp_gateway.platform.{playbook}"]
    return cmd, env


def _demo_vars_for_the_artifact(tmp_path):
    """tests/demo-vars.yml with its paths into ../shared (relative to the checkout's playbooks/) made
    absolute: this run's playbooks are the installed artifact's."""
    text = (ROOT / "tests" / "demo-vars.yml").read_text()
    path = tmp_path / "demo-vars.yml"
    path.write_text(text.replace("{{ playbook_dir }}/../../shared", str(SHARED)))
    return path


def test_installed_collection_converges(installed, cluster, azure_ad, tmp_path):
    cmd, env = _installed_playbook(installed, cluster, "site", "-e", f"@{_demo_vars_for_the_artifact(tmp_path)}",
                                   "-e", f"@{azure_ad.vars_file}")
    first = _run(cmd, cwd=installed["cwd"], env=env)
    assert "failed=0" in first.stdout
    second = _run(cmd, cwd=installed["cwd"], env=env)
    recap = second.stdout[second.stdout.rindex("PLAY RECAP"):]
    assert "changed=0" in recap and "failed=0" in recap, recap
    names = {item["metadata"]["name"] for item in cluster.get("httproute", "-A")["items"]}
    assert {"mcp-example-route", "mcp-hubspot-route", "mcp-mssql-route"} <= names


def _names(cluster, *args):
    return {item["metadata"]["name"] for item in cluster.get(*args)["items"]}


def _teardown(installed, cluster, *extra):
    cmd, env = _installed_playbook(installed, cluster, "teardown", *extra)
    return _run(cmd, cwd=installed["cwd"], env=env, check=False)


def test_installed_teardown_keeps_data_and_crds_unless_told(installed, cluster):
    """Runs after the converge above, on the same cluster: the default teardown removes the platform but keeps
    the namespace, the SQL Server data claim and every CRD; the switches (given as text, as AWX surveys and
    -e key=value pass them) remove those too; a switch that is neither true nor false changes nothing."""
    assert "mcp-example" in _names(cluster, "deployment", "-n", "agentgateway-system"), "converge test did not run"

    bad = _teardown(installed, cluster, "-e", "teardown_delete_data=maybe")
    assert bad.returncode == 2 and "teardown_delete_data and teardown_delete_crds must be true or false" in bad.stdout
    assert "mcp-example" in _names(cluster, "deployment", "-n", "agentgateway-system")

    first = _teardown(installed, cluster)
    assert first.returncode == 0, first.stdout[-4000:]
    ns = ("-n", "agentgateway-system")
    for kind in ("deployment", "statefulset", "service", "cronjob", "httproute", "gateway", "agentgatewaybackend",
                 "agentgatewaypolicy", "configmap", "role", "rolebinding"):
        # kube-root-ca.crt is the ConfigMap the real root-CA publisher puts in every namespace.
        assert _names(cluster, kind, *ns) <= {"kube-root-ca.crt"}, kind
    # The CRD chart's release stays with its CRDs; no other Secret (credentials, tokens, connection) is left.
    assert _names(cluster, "secret", *ns) == {"sh.helm.release.v1.agentgateway-crds.v1"}
    assert "mssql-mssqlserver-2022-data" in _names(cluster, "pvc", *ns)
    assert "agentgateway-system" in _names(cluster, "namespace")
    crds = _names(cluster, "crd")
    assert {"httproutes.gateway.networking.k8s.io", "agentgatewaypolicies.agentgateway.dev"} <= crds
    assert "agentgateway" not in _names(cluster, "gatewayclass")

    full = _teardown(installed, cluster, "-e", "teardown_delete_data=true", "-e", "teardown_delete_crds=yes")
    assert full.returncode == 0, full.stdout[-4000:]
    assert "agentgateway-system" not in _names(cluster, "namespace")
    assert not {crd for crd in _names(cluster, "crd")
                if crd.endswith((".gateway.networking.k8s.io", ".agentgateway.dev"))}
