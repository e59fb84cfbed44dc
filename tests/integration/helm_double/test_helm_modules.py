"""kubernetes.core.helm, helm_repository and helm_info (6.6.0, unmodified) driving the helm double
through the real ansible-playbook against the API emulator: install, an unchanged second run, check
mode, an upgrade with changed values and uninstall — asserting the exact helm calls the modules made
and the objects in the emulated cluster."""

import base64
import json

import pytest

from helm_double.testing import HelmRunner, release_of
from integration.modules.modules_playbook import run_playbook

NS = "agentgateway-system"
AGW_VERSION = "v2.2.0-beta.4"
CRDS = "oci://cr.agentgateway.dev/charts/agentgateway-crds"
AGW = "oci://cr.agentgateway.dev/charts/agentgateway"
SIMCUBE = "https://simcubeltd.github.io/simcube-helm-charts/"
HELM_TASKS = ("agentgateway-crds", "agentgateway", "mssql")


def platform_tasks(state="present", log_level="info", edition="Developer"):
    common = {"release_namespace": NS, "wait": True, "timeout": "2m"}
    present = [
        {"name": "repo simcube", "kubernetes.core.helm_repository": {"name": "simcube", "repo_url": SIMCUBE}},
        {"name": "agentgateway-crds", "kubernetes.core.helm": dict(
            common, name="agentgateway-crds", chart_ref=CRDS, chart_version=AGW_VERSION, create_namespace=True)},
        {"name": "agentgateway", "kubernetes.core.helm": dict(
            common, name="agentgateway", chart_ref=AGW, chart_version=AGW_VERSION, create_namespace=True,
            release_values={"controller": {"logLevel": log_level}})},
        {"name": "mssql", "kubernetes.core.helm": dict(
            common, name="mssql", chart_ref="simcube/mssqlserver-2022", chart_version="1.2.3", atomic=True,
            release_values={"acceptEula": {"value": "Y"}, "edition": {"value": edition},
                            "persistence": {"enabled": False}})},
        {"name": "mssql info", "kubernetes.core.helm_info": {"name": "mssql", "release_namespace": NS}},
    ]
    if state == "present":
        return present
    return [{"name": name, "kubernetes.core.helm": {"name": name, "release_namespace": NS, "state": "absent",
                                                    "wait": True}}
            for name in reversed(HELM_TASKS)]


@pytest.fixture(scope="module")
def platform(emulator, gateway_api_crds, tmp_path_factory):
    runner = HelmRunner(emulator, tmp_path_factory.mktemp("helm-modules-home"))

    def play(check=False, diff=False, **kwargs):
        before = len(runner.calls())
        run = run_playbook(platform_tasks(**kwargs), kubeconfig=emulator.kubeconfig, check=check, diff=diff,
                           extra_env=runner.env)
        return run, runner.calls()[before:]

    return runner, play


def commands(calls):
    return [" ".join(c["argv"][:3]) if c["command"] == "list" else c["command"] for c in calls]


def test_first_run_installs_the_three_releases_with_the_exact_helm_calls(platform):
    helm, play = platform
    run, calls = play()
    assert run.rc == 0, run.output[-4000:]
    for name in ("repo simcube",) + HELM_TASKS:
        assert run[name]["changed"] is True, name
    # kubernetes.core 6.6.0 asks `helm version` (is_helm_v4) before each `helm list` and before choosing
    # --atomic or --rollback-on-failure, so the atomic mssql release has one more.
    installed = ["version", "list --output=yaml --filter", "get values"]
    plain = ["version", "list --output=yaml --filter", "show chart", "upgrade"] + installed
    atomic = ["version", "list --output=yaml --filter", "show chart", "version", "upgrade"] + installed
    assert commands(calls) == ["version", "repo list", "repo add"] + plain * 2 + atomic + installed + [
        "get manifest", "get notes", "get hooks"]
    upgrade = [c for c in calls if c["command"] == "upgrade" and "agentgateway" in c["argv"]][0]
    argv = upgrade["argv"]
    assert argv[:8] == ["--version=" + AGW_VERSION, "upgrade", "-i", "--reset-values", "--wait", "--timeout", "2m",
                        "--create-namespace"]
    assert argv[-2:] == ["agentgateway", AGW]
    assert [a for a in argv if a.startswith("-f=")] and upgrade["exit_code"] == 0
    assert upgrade["env"]["HELM_NAMESPACE"] == NS
    mssql = [c for c in calls if c["command"] == "upgrade" and "mssql" in c["argv"]][0]["argv"]
    assert "--atomic" in mssql and mssql[0] == "--version=1.2.3" and mssql[-1] == "simcube/mssqlserver-2022"
    assert [c["argv"] for c in calls if c["command"] == "repo add"] == [
        ["repo", "add", "simcube", SIMCUBE.rstrip("/")]]

    deployment = helm.get("/apis/apps/v1/namespaces/%s/deployments/agentgateway" % NS)
    assert deployment["status"]["readyReplicas"] == 1
    assert helm.get("/apis/apps/v1/namespaces/%s/statefulsets/mssql-mssqlserver-2022" % NS)["status"][
        "readyReplicas"] == 1
    assert helm.get("/apis/gateway.networking.k8s.io/v1/gatewayclasses/agentgateway") is not None
    password = helm.secret_value(NS, "mssql-mssqlserver-2022-secret", "sapassword")
    encoded = base64.b64encode(password.encode()).decode()
    # The helm tasks' results never carry the generated password ...
    for name in ("repo simcube",) + HELM_TASKS:
        assert password not in json.dumps(run[name]) and encoded not in json.dumps(run[name]), name
    # ... but helm_info returns the release manifest, chart Secret included, as real helm does: that is why
    # the mssql role runs helm_info with no_log.
    info = run["mssql info"]["status"]
    chart_secret = [doc for doc in info["manifest"] if doc["kind"] == "Secret"][0]
    assert chart_secret["data"]["sapassword"] == encoded
    assert (info["name"], info["revision"], info["status"]) == ("mssql", "1", "deployed")
    assert info["release_values"]["edition"] == {"value": "Developer"}


def test_second_run_changes_nothing_and_calls_no_upgrade(platform):
    helm, play = platform
    run, calls = play()
    assert run.rc == 0, run.output[-4000:]
    for name in ("repo simcube",) + HELM_TASKS:
        assert run[name]["changed"] is False, name
    assert "upgrade" not in commands(calls) and "repo add" not in commands(calls)
    assert commands(calls).count("plugin list") == 3  # the modules look for helm-diff, find none
    assert [s["metadata"]["labels"]["version"] for s in helm.release_secrets("agentgateway", NS)] == ["1"]


def test_check_mode_reports_the_change_and_makes_none(platform):
    helm, play = platform
    run, calls = play(check=True, log_level="debug")
    assert run.rc == 0, run.output[-4000:]
    assert run["agentgateway"]["changed"] is True
    assert run["mssql"]["changed"] is False
    assert "upgrade" not in commands(calls)
    env = helm.get("/apis/apps/v1/namespaces/%s/deployments/agentgateway" % NS)["spec"]["template"]["spec"][
        "containers"][0]["env"]
    assert {"name": "KGW_LOG_LEVEL", "value": "info"} in env


def test_changed_values_upgrade_to_revision_two(platform):
    helm, play = platform
    run, calls = play(log_level="debug", edition="Express")
    assert run.rc == 0, run.output[-4000:]
    assert (run["agentgateway-crds"]["changed"], run["agentgateway"]["changed"], run["mssql"]["changed"]) == (
        False, True, True)
    assert commands(calls).count("upgrade") == 2
    env = helm.get("/apis/apps/v1/namespaces/%s/deployments/agentgateway" % NS)["spec"]["template"]["spec"][
        "containers"][0]["env"]
    assert {"name": "KGW_LOG_LEVEL", "value": "debug"} in env
    sts = helm.get("/apis/apps/v1/namespaces/%s/statefulsets/mssql-mssqlserver-2022" % NS)
    assert {"name": "MSSQL_PID", "value": "Express"} in sts["spec"]["template"]["spec"]["containers"][0]["env"]
    secrets = helm.release_secrets("agentgateway", NS)
    assert [s["metadata"]["labels"]["status"] for s in secrets] == ["superseded", "deployed"]
    assert release_of(secrets[-1])["config"] == {"controller": {"logLevel": "debug"}}
    assert run["mssql info"]["status"]["revision"] == "2"
    assert run["agentgateway"]["status"]["revision"] == "2"


def test_state_absent_uninstalls_then_reports_nothing_to_do(platform):
    helm, play = platform
    run, calls = play(state="absent")
    assert run.rc == 0, run.output[-4000:]
    for name in HELM_TASKS:
        assert run[name]["changed"] is True, name
    assert [c["argv"][-1] for c in calls if c["command"] == "uninstall"] == list(reversed(HELM_TASKS))
    assert helm.get("/apis/apps/v1/namespaces/%s/deployments/agentgateway" % NS) is None
    assert helm.get("/apis/apps/v1/namespaces/%s/statefulsets/mssql-mssqlserver-2022" % NS) is None
    assert helm.get("/api/v1/namespaces/%s/secrets/mssql-mssqlserver-2022-secret" % NS) is None
    assert helm.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/agentgatewaybackends.agentgateway.dev") \
        is None
    for name in HELM_TASKS:
        assert helm.release_secrets(name, NS) == []
    again, calls = play(state="absent")
    assert again.rc == 0
    assert [again[name]["changed"] for name in HELM_TASKS] == [False, False, False]
    assert "uninstall" not in commands(calls)
