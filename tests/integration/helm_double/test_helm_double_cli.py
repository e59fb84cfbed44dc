"""The helm test double, called directly (as kubernetes.core calls it) against the API emulator:
helm's output and errors, release Secrets like real helm's, what each chart creates, --wait/--atomic,
repositories, and the call log."""

import re
import string

import pytest
import yaml

from helm_double.testing import release_of

NS = "agentgateway-system"

CRDS = "oci://cr.agentgateway.dev/charts/agentgateway-crds"
AGW = "oci://cr.agentgateway.dev/charts/agentgateway"
AGW_VERSION = "v2.2.0-beta.4"
SIMCUBE = "https://simcubeltd.github.io/simcube-helm-charts/"
HELM_LABELS = {"app.kubernetes.io/managed-by": "Helm"}


def helm_owned(obj, release, namespace=NS):
    meta = obj["metadata"]
    return (meta.get("labels", {}).get("app.kubernetes.io/managed-by") == "Helm"
            and meta.get("annotations", {}).get("meta.helm.sh/release-name") == release
            and meta.get("annotations", {}).get("meta.helm.sh/release-namespace") == namespace)


# ------------------------------------------------------------------ version and command-line errors


def test_version_matches_what_kubernetes_core_parses(helm):
    proc = helm("version")
    assert proc.returncode == 0
    # kubernetes.core's AnsibleHelmModule.get_helm_version() regular expression
    assert re.match(r'version.BuildInfo{Version:"v(.*?)",', proc.stdout).group(1) == "3.19.0"
    assert helm("version", "--template", "{{.Version}}").stdout == "v3.19.0"
    assert helm("version", "--short").stdout == "v3.19.0\n"


@pytest.mark.parametrize("argv, message", [
    (["diff", "upgrade", "x", "y"], 'Error: unknown command "diff" for "helm"'),
    (["list", "--bogus"], "Error: unknown flag: --bogus"),
    (["upgrade", "only-one"], 'Error: "helm upgrade" requires 2 arguments'),
    (["upgrade", "-i", "x", CRDS, "--timeout", "600"],
     'Error: invalid argument "600" for "--timeout" flag: time: missing unit in duration "600"'),
    (["upgrade", "-i", "x", CRDS, "--wait=maybe"], 'Error: invalid argument "maybe" for "--wait" flag'),
    (["repo", "frobnicate"], 'Error: unknown command "frobnicate" for "helm repo"'),
])
def test_bad_command_lines_fail_like_helm(helm, argv, message):
    proc = helm(*argv)
    assert proc.returncode == 1
    assert proc.stderr.startswith(message)
    assert proc.stdout == ""


def test_plugin_list_shows_no_plugins_but_a_header(helm):
    proc = helm("plugin", "list")
    assert proc.returncode == 0
    assert proc.stdout.split() == ["NAME", "VERSION", "DESCRIPTION"]


# ------------------------------------------------------------------ charts that cannot be found


@pytest.mark.parametrize("argv, message", [
    (["show", "chart", AGW, "--version", "v9.9.9"], "Error: cr.agentgateway.dev/charts/agentgateway:v9.9.9: not found"),
    (["show", "chart", "oci://cr.agentgateway.dev/charts/nope", "--version", "1"],
     "Error: cr.agentgateway.dev/charts/nope:1: not found"),
    (["show", "chart", "oci://registry.example/charts/x"], "Error: failed to do request"),
    (["show", "chart", "nosuchrepo/mssqlserver-2022"], "Error: repo nosuchrepo not found"),
    (["show", "chart", "mssqlserver-2022"], "Error: non-absolute URLs should be in form of repo_name/path_to_chart"),
    (["show", "chart", "./no/such/dir"], 'Error: path "./no/such/dir" not found'),
])
def test_unknown_charts_fail_like_helm(helm, argv, message):
    proc = helm(*argv)
    assert proc.returncode == 1
    assert proc.stderr.startswith(message), proc.stderr


def test_show_chart_of_an_oci_reference_with_the_version_flag_first(helm):
    # kubernetes.core builds `helm --version=X show chart 'REF'`: flags before the sub-command
    proc = helm("--version=" + AGW_VERSION, "show", "chart", AGW)
    assert proc.returncode == 0, proc.stderr
    chart = yaml.safe_load(proc.stdout)
    assert (chart["name"], chart["version"], chart["appVersion"]) == ("agentgateway", AGW_VERSION, AGW_VERSION)
    assert "Pulled: cr.agentgateway.dev/charts/agentgateway:" + AGW_VERSION in proc.stderr


# ------------------------------------------------------------------ repositories


def test_repo_add_list_update_remove(helm):
    proc = helm("repo", "list")
    assert (proc.returncode, proc.stderr) == (1, "Error: no repositories to show\n")
    assert helm("show", "chart", "simcube/mssqlserver-2022").stderr == "Error: repo simcube not found\n"

    unreachable = helm("repo", "add", "other", "https://charts.example.invalid/")
    assert unreachable.returncode == 1
    assert 'looks like "https://charts.example.invalid" is not a valid chart repository' in unreachable.stderr

    proc = helm("repo", "add", "simcube", SIMCUBE)
    assert (proc.returncode, proc.stdout) == (0, '"simcube" has been added to your repositories\n')
    again = helm("repo", "add", "simcube", SIMCUBE)
    assert again.stdout == '"simcube" already exists with the same configuration, skipping\n'
    clash = helm("repo", "add", "simcube", "https://simcubeltd.github.io/simcube-helm-charts/other")
    assert clash.returncode == 1
    assert "repository name (simcube) already exists" in clash.stderr

    with open(helm.env["HELM_REPOSITORY_CONFIG"]) as handle:
        stored = yaml.safe_load(handle)
    assert [(r["name"], r["url"]) for r in stored["repositories"]] == [("simcube", SIMCUBE)]
    assert yaml.safe_load(helm("repo", "list", "--output=yaml").stdout) == [{"name": "simcube", "url": SIMCUBE}]
    assert "Successfully got an update from the \"simcube\" chart repository" in helm("repo", "update").stdout

    chart = yaml.safe_load(helm("show", "chart", "simcube/mssqlserver-2022", "--version", "1.2.3").stdout)
    assert (chart["name"], chart["version"], chart["appVersion"]) == ("mssqlserver-2022", "1.2.3", "2022")
    missing = helm("show", "chart", "simcube/mssqlserver-2022", "--version", "9.9.9")
    assert missing.stderr.startswith('Error: chart "mssqlserver-2022" matching 9.9.9 not found in simcube index.')

    assert helm("repo", "rm", "simcube").stdout == '"simcube" has been removed from your repositories\n'
    assert helm("repo", "rm", "simcube").stderr == 'Error: no repo named "simcube" found\n'
    assert helm("repo", "add", "simcube", SIMCUBE).returncode == 0


# ------------------------------------------------------------------ agentgateway-crds


def test_crds_chart_installs_every_crd_of_the_shared_file_as_a_release(helm):
    proc = helm("upgrade", "-i", "agentgateway-crds", CRDS, "--version", AGW_VERSION, "-n", NS,
                "--create-namespace", "--wait")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('Release "agentgateway-crds" does not exist. Installing it now.\n')
    assert "STATUS: deployed\nREVISION: 1\n" in proc.stdout
    namespace = helm.get("/api/v1/namespaces/" + NS)
    assert namespace["metadata"]["labels"]["name"] == NS
    for plural in ("agentgatewaybackends", "agentgatewayparameters", "agentgatewaypolicies"):
        crd = helm.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s.agentgateway.dev" % plural)
        assert crd is not None, plural
        assert helm_owned(crd, "agentgateway-crds")
        assert crd["metadata"]["labels"]["app.kubernetes.io/name"] == "kgateway"  # from the real file
    [secret] = helm.release_secrets("agentgateway-crds", NS)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.agentgateway-crds.v1"
    assert secret["type"] == "helm.sh/release.v1"
    labels = secret["metadata"]["labels"]
    assert {k: labels[k] for k in ("name", "owner", "status", "version")} == {
        "name": "agentgateway-crds", "owner": "helm", "status": "deployed", "version": "1"}
    release = release_of(secret)
    assert release["chart"]["metadata"]["version"] == AGW_VERSION
    assert release["info"]["status"] == "deployed" and release["namespace"] == NS
    assert release["manifest"].count("kind: CustomResourceDefinition") == 3


def test_list_output_is_what_kubernetes_core_reads(helm):
    proc = helm("list", "--output=yaml", "--filter", "agentgateway-crds", "--deployed", "-n", NS)
    [entry] = yaml.safe_load(proc.stdout)
    assert entry["name"] == "agentgateway-crds" and entry["namespace"] == NS
    assert entry["revision"] == "1" and entry["status"] == "deployed"
    assert (entry["chart"], entry["app_version"]) == ("agentgateway-crds-" + AGW_VERSION, AGW_VERSION)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$", entry["updated"])
    assert yaml.safe_load(helm("list", "-o", "yaml", "-n", "default").stdout) == []
    # HELM_NAMESPACE is how kubernetes.core passes the namespace
    proc = helm("list", "--output=yaml", "--filter", "agentgateway-crds", env={"HELM_NAMESPACE": NS})
    assert [e["name"] for e in yaml.safe_load(proc.stdout)] == ["agentgateway-crds"]
    assert helm("get", "values", "--output=yaml", "agentgateway-crds", "-n", NS).stdout == "null\n"


# ------------------------------------------------------------------ agentgateway controller


def test_agentgateway_chart_creates_the_controller_and_the_controller_its_gateway_class(helm, gateway_api_crds):
    proc = helm("--version=" + AGW_VERSION, "upgrade", "-i", "--reset-values", "--wait", "--timeout", "2m",
                "--create-namespace", "agentgateway", AGW, env={"HELM_NAMESPACE": NS})
    assert proc.returncode == 0, proc.stderr
    base = "/api/v1/namespaces/%s/" % NS
    sa = helm.get(base + "serviceaccounts/agentgateway")
    assert helm_owned(sa, "agentgateway")
    role = helm.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/agentgateway-" + NS)
    assert helm_owned(role, "agentgateway")
    assert any("gatewayclasses" in r["resources"] and "create" in r["verbs"] for r in role["rules"])
    binding = helm.get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/agentgateway-role-" + NS)
    assert binding["roleRef"]["name"] == "agentgateway-" + NS
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "agentgateway", "namespace": NS}]
    service = helm.get(base + "services/agentgateway")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"grpc-xds-agw": 9978, "health": 9093}
    deployment = helm.get("/apis/apps/v1/namespaces/%s/deployments/agentgateway" % NS)
    assert helm_owned(deployment, "agentgateway")
    labels = deployment["metadata"]["labels"]
    assert labels["helm.sh/chart"] == "agentgateway-" + AGW_VERSION
    assert labels["app.kubernetes.io/instance"] == "agentgateway"
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "cr.agentgateway.dev/kgateway:" + AGW_VERSION
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "agentgateway"
    assert deployment["status"]["readyReplicas"] == 1  # --wait returned only once it was ready
    gwc = helm.get("/apis/gateway.networking.k8s.io/v1/gatewayclasses/agentgateway")
    assert gwc["spec"]["controllerName"] == "agentgateway.dev/agentgateway"
    assert "meta.helm.sh/release-name" not in (gwc["metadata"].get("annotations") or {})


def test_upgrade_with_new_values_makes_revision_two_and_supersedes_one(helm):
    proc = helm("upgrade", "agentgateway", AGW, "--version", AGW_VERSION, "-n", NS, "--reset-values",
                "--set", "controller.logLevel=debug", "--set", "controller.replicaCount=2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('Release "agentgateway" has been upgraded. Happy Helming!\n')
    deployment = helm.get("/apis/apps/v1/namespaces/%s/deployments/agentgateway" % NS)
    assert deployment["spec"]["replicas"] == 2
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KGW_LOG_LEVEL"] == "debug"
    secrets = helm.release_secrets("agentgateway", NS)
    assert [(s["metadata"]["labels"]["version"], s["metadata"]["labels"]["status"]) for s in secrets] == [
        ("1", "superseded"), ("2", "deployed")]
    assert release_of(secrets[1])["config"] == {"controller": {"logLevel": "debug", "replicaCount": 2}}
    values = yaml.safe_load(helm("get", "values", "agentgateway", "-n", NS, "-o", "yaml").stdout)
    assert values == {"controller": {"logLevel": "debug", "replicaCount": 2}}
    computed = yaml.safe_load(helm("get", "values", "agentgateway", "-n", NS, "-o", "yaml", "-a").stdout)
    assert computed["controller"]["service"]["ports"]["agwGrpc"] == 9978


def test_existing_object_without_helm_ownership_blocks_install(helm, emulator):
    status, _, _ = emulator.http("POST", "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "taken"},
        "spec": {"ports": [{"port": 1}], "selector": {"a": "b"}}})
    assert status == 201
    proc = helm("upgrade", "-i", "taken", AGW, "--version", AGW_VERSION, "-n", "default",
                "--set", "fullnameOverride=taken")
    assert proc.returncode == 1
    assert ('Error: Unable to continue with install: Service "taken" in namespace "default" exists and cannot '
            "be imported into the current release: invalid ownership metadata") in proc.stderr
    assert helm.release_secrets("taken", "default") == []


# ------------------------------------------------------------------ simcube mssqlserver-2022


def test_mssql_chart_generates_a_random_password_in_the_secret_the_chart_names(helm):
    proc = helm("upgrade", "-i", "mssql", "simcube/mssqlserver-2022", "--version", "1.2.3", "-n", NS,
                "--set", "acceptEula.value=Y", "--set", "persistence.enabled=false", "--wait", "--timeout", "2m")
    assert proc.returncode == 0, proc.stderr
    password = helm.secret_value(NS, "mssql-mssqlserver-2022-secret", "sapassword")
    assert len(password) == 20 and set(password) <= set(string.ascii_letters + string.digits)
    assert password not in proc.stdout + proc.stderr
    service = helm.get("/api/v1/namespaces/%s/services/mssql-mssqlserver-2022" % NS)
    assert service["spec"]["ports"][0]["port"] == 1433 and service["spec"]["ports"][0]["name"] == "mssql"
    sts = helm.get("/apis/apps/v1/namespaces/%s/statefulsets/mssql-mssqlserver-2022" % NS)
    assert helm_owned(sts, "mssql") and sts["spec"]["serviceName"] == "mssql-mssqlserver-2022"
    [container] = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ACCEPT_EULA"]["value"] == "Y"
    assert env["SA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mssql-mssqlserver-2022-secret",
                                                               "key": "sapassword"}
    assert sts["status"]["readyReplicas"] == 1


def test_mssql_sapassword_value_is_used_and_never_logged(helm):
    chosen = "Str0ng-Passw0rd-for-test"
    proc = helm("upgrade", "-i", "mssql2", "simcube/mssqlserver-2022", "--version", "1.2.3", "-n", NS,
                "--set", "acceptEula.value=Y,persistence.enabled=false", "--set-string", "sapassword=" + chosen)
    assert proc.returncode == 0, proc.stderr
    assert helm.secret_value(NS, "mssql2-mssqlserver-2022-secret", "sapassword") == chosen
    with open(helm.log) as handle:
        assert chosen not in handle.read()
    [call] = [c for c in helm.calls() if c["argv"][:3] == ["upgrade", "-i", "mssql2"]]
    assert "sapassword=<redacted>" in call["argv"]


def test_mssql_with_default_persistence_uses_a_volume_claim_template(helm):
    proc = helm("upgrade", "-i", "mssqlserver-2022", "simcube/mssqlserver-2022", "--version", "1.2.3", "-n", NS,
                "--set", "acceptEula.value=Y")
    assert proc.returncode == 0, proc.stderr
    sts = helm.get("/apis/apps/v1/namespaces/%s/statefulsets/mssqlserver-2022" % NS)  # release contains the name
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


# ------------------------------------------------------------------ --wait, --atomic, uninstall


def test_wait_timeout_marks_the_release_failed(helm, emulator):
    emulator.set_controller_delay(30)
    try:
        proc = helm("upgrade", "-i", "slow", AGW, "--version", AGW_VERSION, "-n", "default", "--wait",
                    "--timeout", "2s", "--set", "fullnameOverride=slow,serviceAccount.create=false")
    finally:
        emulator.set_controller_delay(0.5)
    assert proc.returncode == 1
    assert proc.stderr.endswith("\nError: context deadline exceeded\n")
    [secret] = helm.release_secrets("slow", "default")
    assert secret["metadata"]["labels"]["status"] == "failed"
    assert release_of(secret)["info"]["description"] == 'Release "slow" failed: context deadline exceeded'


def test_atomic_install_that_times_out_is_uninstalled(helm, emulator):
    emulator.set_controller_delay(30)
    try:
        proc = helm("install", "atomic", "simcube/mssqlserver-2022", "--version", "1.2.3", "-n", "default",
                    "--atomic", "--timeout", "2s", "--set", "persistence.enabled=false")
    finally:
        emulator.set_controller_delay(0.5)
    assert proc.returncode == 1
    assert proc.stderr == ("Error: INSTALLATION FAILED: release atomic failed, and has been uninstalled due to "
                           "atomic being set: context deadline exceeded\n")
    assert helm.release_secrets("atomic", "default") == []
    assert helm.get("/apis/apps/v1/namespaces/default/statefulsets/atomic-mssqlserver-2022") is None
    assert helm.get("/api/v1/namespaces/default/secrets/atomic-mssqlserver-2022-secret") is None


def test_uninstall_deletes_the_objects_and_the_release_history(helm):
    assert len(helm.release_secrets("agentgateway", NS)) == 2
    proc = helm("uninstall", "agentgateway", "-n", NS, "--wait")
    assert (proc.returncode, proc.stdout) == (0, 'release "agentgateway" uninstalled\n')
    assert helm.get("/apis/apps/v1/namespaces/%s/deployments/agentgateway" % NS) is None
    assert helm.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/agentgateway-" + NS) is None
    assert helm.release_secrets("agentgateway", NS) == []
    # the controller's GatewayClass outlives the release, as in a real cluster
    assert helm.get("/apis/gateway.networking.k8s.io/v1/gatewayclasses/agentgateway") is not None
    again = helm("uninstall", "agentgateway", "-n", NS)
    assert again.stderr == "Error: uninstall: Release not loaded: agentgateway: release: not found\n"
    assert helm("uninstall", "agentgateway-crds", "-n", NS).returncode == 0
    assert helm.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/agentgatewaypolicies.agentgateway.dev") \
        is None


# ------------------------------------------------------------------ the call log


def test_every_call_is_recorded_with_argv_env_and_exit_code(helm):
    proc = helm("list", "--output=yaml", "--filter", "mssql", env={"HELM_NAMESPACE": NS, "HELM_KUBETOKEN": "t0ken"})
    assert proc.returncode == 0
    last = helm.calls()[-1]
    assert last["argv"] == ["list", "--output=yaml", "--filter", "mssql"]
    assert last["command"] == "list"
    assert last["exit_code"] == 0
    assert last["stdout_bytes"] == len(proc.stdout.encode())
    assert last["env"]["HELM_NAMESPACE"] == NS
    assert last["env"]["HELM_KUBETOKEN"] == "<redacted>"
    assert last["env"]["KUBECONFIG"] == helm.env["KUBECONFIG"]
    failing = [c for c in helm.calls() if c["argv"] == ["list", "--bogus"]]
    assert failing and failing[-1]["exit_code"] == 1 and failing[-1]["stderr_bytes"] > 0
