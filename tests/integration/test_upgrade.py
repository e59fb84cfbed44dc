"""playbooks/upgrade.yml on a real control plane, from the real v2.2.0-beta.4 charts to versions built here.

One fresh cluster (tests/cluster) gets the platform's CRDs and control plane from the real chart packages of
../shared/charts through the site's roles (namespace, gateway_api_crds, agentgateway_crds, control_plane) with
the demo's settings; the real agentgateway controller runs for the chart's Pod (tests/cluster/hostpods.py).
upgrade.yml then runs as users run it, with tests/demo-vars.yml and the new pins.
Newer versions are built from the same sources, each with one observable change (the charts packaged with the
real helm):

* Gateway API "v1.4.1-test": the v1.4.0 manifest with that bundle-version annotation (and its own sha256 pin);
* agentgateway-crds v2.2.0-beta.5-test: the AgentgatewayBackend CRD has one more printer column;
* agentgateway v2.2.0-beta.5-test: the controller Pod template has one more annotation (a new rollout);
* agentgateway v2.2.0-beta.6-test: the controller Pod selects a node label no node has, so the new Pod is
  never scheduled and the upgrade never becomes ready (KWOK marks only scheduled Pods Ready).

The tests run in file order on that one cluster: ``--check --diff`` reports the upgrade and writes nothing
(the API server's audit log: only dry runs), the upgrade applies the Gateway API CRDs, then moves both
releases to revision 2 at the new charts (CRDs first),
the controller stays Available and its GatewayClass Accepted, a second run changes nothing, a downgrade is
refused before any write, and the failing upgrade is rolled back by helm --atomic with the play saying so.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest
import yaml

from integration.roles.test_verify import playbook as role_playbook
from integration.roles.test_verify import role_task
from integration.test_site import playbook

NS = "agentgateway-system"
SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "charts"))
GATEWAY_API = os.path.join(os.path.dirname(SHARED), "crds", "gateway-api-v1.4.0-standard-install.yaml")
GATEWAY_API_NEW = "v1.4.1-test"
BUNDLE = "gateway.networking.k8s.io/bundle-version"
OLD = "v2.2.0-beta.4"
NEW = "v2.2.0-beta.5-test"
BAD = "v2.2.0-beta.6-test"
ANNOTATION = "mcp-gateway.test/upgraded-to"
COLUMN = {"name": "Reason", "type": "string", "description": "Why the backend is (not) accepted",
          "jsonPath": ".status.conditions[?(@.type=='Accepted')].reason"}
INSTALL_ROLES = ("namespace", "gateway_api_crds", "agentgateway_crds", "control_plane")


def package(cluster, source, workdir, version, change):
    """Unpack the chart archive ``source``, set its version, apply ``change(chart_dir)`` and `helm package` it."""
    unpacked = workdir / ("src-" + version + "-" + os.path.basename(source))
    with tarfile.open(source) as archive:
        archive.extractall(unpacked, filter="data")
    chart_dir = unpacked / next(os.scandir(unpacked)).name
    chart_yaml = chart_dir / "Chart.yaml"
    chart = yaml.safe_load(chart_yaml.read_text())
    chart["version"] = version
    chart_yaml.write_text(yaml.safe_dump(chart))
    change(chart_dir)
    out = workdir / "charts"
    out.mkdir(exist_ok=True)
    subprocess.run(["helm", "package", str(chart_dir), "-d", str(out)], env=cluster.env, check=True,
                   capture_output=True, text=True)
    packaged = out / f"{chart['name']}-{version}.tgz"
    assert packaged.is_file(), sorted(os.listdir(out))
    shutil.rmtree(unpacked)
    return str(packaged)


def add_printer_column(chart_dir):
    path = chart_dir / "templates" / "agentgateway.dev_agentgatewaybackends.yaml"
    crd = yaml.safe_load(path.read_text())
    for version in crd["spec"]["versions"]:
        version["additionalPrinterColumns"].insert(1, COLUMN)
    path.write_text(yaml.safe_dump(crd, sort_keys=False))


def replace_in_values(old, new):
    def change(chart_dir):
        values = chart_dir / "values.yaml"
        text = values.read_text()
        assert old in text, old
        values.write_text(text.replace(old, new, 1))
    return change


@pytest.fixture(scope="module")
def charts(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("charts")
    crds, control_plane = (os.path.join(SHARED, f"{name}-{OLD}.tgz") for name in ("agentgateway-crds", "agentgateway"))
    return {
        "crds_new": package(cluster, crds, workdir, NEW, add_printer_column),
        "new": package(cluster, control_plane, workdir, NEW, replace_in_values(
            'podAnnotations:\n  prometheus.io/scrape: "true"\n',
            f'podAnnotations:\n  prometheus.io/scrape: "true"\n  {ANNOTATION}: "{NEW}"\n')),
        "bad": package(cluster, control_plane, workdir, BAD, replace_in_values(
            "nodeSelector: {}\n", 'nodeSelector:\n  mcp-gateway.test/no-such-node: "true"\n')),
        "old": control_plane,
        "gateway_api": gateway_api_manifest(workdir),
    }


def gateway_api_manifest(workdir):
    """The Gateway API v1.4.0 manifest as a release GATEWAY_API_NEW: its bundle-version annotation changed."""
    with open(GATEWAY_API, encoding="utf-8") as source:
        text = source.read()
    assert f"{BUNDLE}: v1.4.0\n" in text
    path = workdir / "gateway-api-standard-install.yaml"
    path.write_text(text.replace(f"{BUNDLE}: v1.4.0\n", f"{BUNDLE}: {GATEWAY_API_NEW}\n"))
    return {"gateway_api_crds_manifest_path": str(path), "gateway_api_crds_version": GATEWAY_API_NEW,
            "gateway_api_crds_checksum": hashlib.sha256(path.read_bytes()).hexdigest()}


def pins(charts, control_plane="new", control_plane_version=NEW, **more):
    """``-e`` JSON pinning the Gateway API manifest and both agentgateway charts (the CRDs always at the new
    versions)."""
    return ("-e", json.dumps(dict(charts["gateway_api"], agentgateway_crds_chart_ref=charts["crds_new"],
                                  agentgateway_crds_chart_version=NEW, control_plane_chart_ref=charts[control_plane],
                                  control_plane_chart_version=control_plane_version, **more)))


def bundle_versions(cluster):
    """{CRD name: (bundle-version, resourceVersion)} of the Gateway API CRDs."""
    return {crd["metadata"]["name"]: (crd["metadata"]["annotations"][BUNDLE], crd["metadata"]["resourceVersion"])
            for crd in cluster.get("crd")["items"] if crd["spec"]["group"] == "gateway.networking.k8s.io"}


@pytest.fixture(scope="module")
def installed(cluster, charts):
    run = role_playbook(cluster, [role_task(role) for role in INSTALL_ROLES], timeout=600)
    assert run.rc == 0, run.output[-6000:]
    return cluster


def history(cluster, release):
    proc = subprocess.run(["helm", "history", release, "-n", NS, "-o", "json"], env=cluster.env, check=True,
                          capture_output=True, text=True)
    return json.loads(proc.stdout)


def conditions(obj):
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}


def controller_is_running(cluster):
    """The controller Deployment is Available, and its GatewayClass is Accepted by the controller."""
    deployment = cluster.get("deployment", "agentgateway", "-n", NS)
    assert conditions(deployment)["Available"] == "True", deployment.get("status")
    gateway_class = cluster.get("gatewayclass", "agentgateway")
    assert conditions(gateway_class)["Accepted"] == "True", gateway_class.get("status")
    return deployment


def results(run):
    """(task name without its role prefix, result) of every host result."""
    return [(name.split(" : ", 1)[-1], result) for name, result in run.results()]


def messages(run):
    """The msg of every failed task result, and of each loop item of a failed loop (the json callback marks
    only the loop's result failed)."""
    failed = [task["hosts"].get("localhost", {}) for play in run.doc.get("plays", []) for task in play["tasks"]]
    failed = [result for result in failed if result.get("failed")]
    return [str(entry.get("msg")) for result in failed for entry in [result, *result.get("results", [])]]


def changed_tasks(run):
    return [name for name, result in results(run) if result.get("changed")]


def test_check_diff_reports_the_upgrade_and_writes_nothing(installed, azure_ad, charts):
    before = bundle_versions(installed)
    assert {version for version, _rv in before.values()} == {"v1.4.0"}, before
    offset = installed.audit_offset()
    run = playbook(installed, azure_ad, "upgrade", "--check", "--diff", *pins(charts))
    assert run.rc == 0, run.output[-6000:]
    changed = changed_tasks(run)
    apply = next(result for name, result in results(run) if name.startswith("Apply the Gateway API CRDs"))
    assert apply["changed"] and len(apply["diff"]) == len(before), apply.get("diff")
    assert "Install the agentgateway CRD chart " + NEW in changed, changed
    assert "Install the agentgateway control plane " + NEW in changed, changed
    reports = [result.get("msg", "") for name, result in results(run) if name.startswith("Report what the upgrade")]
    assert any(f"agentgateway-crds in {NS}: chart {OLD} (revision 1, deployed) -> chart {NEW}; values unchanged" in msg
               for msg in reports), reports
    assert any(f"agentgateway in {NS}: chart {OLD} (revision 1, deployed) -> chart {NEW}; values unchanged" in msg
               for msg in reports), reports
    # The Gateway API CRDs were sent as server-side dry runs (dryRun=All: the API server persists nothing);
    # no other write, and every CRD keeps its resourceVersion.
    writes = installed.writes(since=offset)
    assert [uri for _verb, uri, _agent in writes if "dryRun=All" not in uri] == [], writes
    assert {uri.split("?")[0].rsplit("/", 1)[-1] for _verb, uri, _agent in writes} <= set(before), writes
    assert bundle_versions(installed) == before
    assert [entry["revision"] for entry in history(installed, "agentgateway")] == [1]


def test_upgrade_moves_the_crds_then_the_control_plane_to_the_new_charts(installed, azure_ad, charts):
    run = playbook(installed, azure_ad, "upgrade", *pins(charts))
    assert run.rc == 0 and run.stats.get("failures") == 0, run.output[-6000:]
    names = [name for name, _result in results(run)]
    assert (names.index("Apply the Gateway API CRDs and wait until each is Established")
            < names.index("Install the agentgateway CRD chart " + NEW)
            < names.index("Install the agentgateway control plane " + NEW)), names
    assert {version for version, _rv in bundle_versions(installed).values()} == {GATEWAY_API_NEW}
    for release, chart in (("agentgateway-crds", "agentgateway-crds"), ("agentgateway", "agentgateway")):
        last = history(installed, release)[-1]
        assert (last["revision"], last["status"], last["chart"]) == (2, "deployed", f"{chart}-{NEW}"), last
    crd = installed.get("crd", "agentgatewaybackends.agentgateway.dev")
    assert COLUMN in crd["spec"]["versions"][0]["additionalPrinterColumns"]
    deployment = controller_is_running(installed)
    assert deployment["spec"]["template"]["metadata"]["annotations"][ANNOTATION] == NEW
    # The rollout is complete: the one Pod that is Ready is the new template's.
    assert deployment["status"].get("updatedReplicas") == deployment["status"].get("readyReplicas") == 1, deployment["status"]
    again = playbook(installed, azure_ad, "upgrade", *pins(charts))
    assert again.rc == 0 and again.stats.get("changed") == 0, changed_tasks(again)


def test_a_downgrade_or_a_bad_switch_is_refused_before_any_write(installed, azure_ad, charts):
    offset = installed.audit_offset()
    run = playbook(installed, azure_ad, "upgrade", *pins(charts, control_plane="old", control_plane_version=OLD))
    assert run.rc != 0
    assert any(f"control_plane_chart_version {OLD} is older than chart version {NEW} of release agentgateway in {NS}"
               " (revision 2, deployed)" in msg and "control_plane_allow_downgrade" in msg for msg in messages(run)), messages(run)
    older_api = playbook(installed, azure_ad, "upgrade", *pins(charts, gateway_api_crds_manifest_path=GATEWAY_API,
                                                                gateway_api_crds_version="v1.4.0"))
    assert older_api.rc != 0
    assert any(f"gateway_api_crds_version v1.4.0 is older than the installed Gateway API CRDs ({GATEWAY_API_NEW}" in msg
               and "gateway_api_crds_allow_downgrade" in msg for msg in messages(older_api)), messages(older_api)
    bad = playbook(installed, azure_ad, "upgrade", *pins(charts, agentgateway_crds_atomic="sometimes"))
    assert bad.rc != 0
    # The argument-spec check of the validation play refuses it, naming the variable and the value.
    assert any("agentgateway_crds_atomic" in msg and "'sometimes'" in msg for msg in messages(bad)), messages(bad)
    assert installed.writes(since=offset) == []
    assert history(installed, "agentgateway")[-1]["revision"] == 2


def test_a_failed_upgrade_is_rolled_back_and_the_play_says_so(installed, azure_ad, charts):
    run = playbook(installed, azure_ad, "upgrade", *pins(charts, control_plane="bad", control_plane_version=BAD,
                                                          control_plane_wait_timeout=30))
    assert run.rc != 0
    failures = messages(run)
    assert any(f"helm could not upgrade release agentgateway in {NS} from chart {NEW} (revision 2) to chart {BAD}."
               f" It was rolled back (control_plane_atomic): helm restored revision 2, chart {NEW}, as a new revision." in msg
               and "Helm said: Error: UPGRADE FAILED:" in msg for msg in failures), failures
    entries = {entry["revision"]: entry for entry in history(installed, "agentgateway")}
    assert (entries[3]["status"], entries[3]["chart"]) == ("failed", f"agentgateway-{BAD}"), entries
    assert (entries[4]["status"], entries[4]["chart"], entries[4]["description"]) == (
        "deployed", f"agentgateway-{NEW}", "Rollback to 2"), entries
    deployment = controller_is_running(installed)
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["template"]["metadata"]["annotations"][ANNOTATION] == NEW
