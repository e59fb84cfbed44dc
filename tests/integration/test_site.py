"""playbooks/site.yml on a real control plane: what only a real API server can tell.

One fresh cluster (tests/cluster: real etcd, kube-apiserver, controller-manager, scheduler, KWOK) and
real helm with the real charts of ../shared/charts, through tests/demo-vars.yml as `make demo` uses it.
The tests run in file order on that one converged cluster:

* every object the collection sends, and every object the charts render, is accepted by kube-apiserver
  with fieldValidation=Strict (no unknown or duplicate field);
* every workload is admitted under Pod Security ``restricted`` in ``enforce`` (PodSecurity admission);
* the real agentgateway controller (run as a host process for its Pod, tests/cluster/hostpods.py)
  accepts the GatewayClass, programs the Gateway, creates the proxy Deployment, and accepts every
  route, backend and policy (the JWKS from the Azure AD double, ``azure_ad``), and serves over xDS
  each MCP target, the Azure AD JWT provider, RFC 9728 discovery with MCP authentication on each backend,
  the per-tool CEL rules and the Gateway-wide and per-server local rate limits as the collection intended
  (the MCP security settings are passed as data, ``SECURITY``);
* ``--check --diff`` writes nothing: the same resourceVersions before and after, and no write in the
  API server's audit log;
* teardown (with data and CRDs) really finalizes the namespace, and site.yml then converges again.
"""

import json
import os
import subprocess
import sys
import sysconfig

import pytest
import yaml

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".collections"))
from ansible_collections.mcp_gateway.platform.plugins.module_utils import mcp_authorization  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NS = "agentgateway-system"
# The kinds the site creates, namespaced and cluster-wide, for the resourceVersion snapshots.
NAMESPACED = ("deployments,statefulsets,replicasets,services,configmaps,secrets,serviceaccounts,roles,"
              "rolebindings,persistentvolumeclaims,cronjobs,gateways,httproutes,agentgatewaybackends,"
              "agentgatewaypolicies")
CLUSTER_WIDE = "namespaces,customresourcedefinitions,clusterroles,clusterrolebindings,gatewayclasses"


class Run:
    """One ansible-playbook run with the ansible.posix.json callback: exit code, output, stats, results."""

    def __init__(self, proc):
        self.rc, self.output = proc.returncode, proc.stdout + proc.stderr
        start = proc.stdout.find("{")
        self.doc = json.loads(proc.stdout[start:]) if start >= 0 else {}
        self.stats = self.doc.get("stats", {}).get("localhost", {})

    def results(self):
        """(task name, result) of every host result, loop items flattened."""
        for play in self.doc.get("plays", []):
            for task in play["tasks"]:
                result = task["hosts"].get("localhost", {})
                for item in result.get("results", [result]):
                    yield task["task"]["name"], item


def playbook(cluster, azure_ad, name, *extra):
    """ansible-playbook playbooks/<name>.yml with the demo's settings, pointed at the Azure AD double."""
    env = dict(cluster.env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([os.path.join(ROOT, ".collections"),
                                                         sysconfig.get_paths()["purelib"]]))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                           "-i", "inventories/local", f"playbooks/{name}.yml",
                           "-e", "@tests/demo-vars.yml", "-e", f"@{azure_ad.vars_file}", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    return Run(proc)


def snapshot(cluster):
    """{(kind, namespace, name): resourceVersion} of everything the site manages."""
    items = cluster.get(NAMESPACED, "-n", NS)["items"] + cluster.get(CLUSTER_WIDE)["items"]
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for o in items}


def security_vars():
    """``-e`` JSON: the role's default server list with the MCP security settings a user writes as data:
    per-tool rules on mcp-hubspot, a rate limit of its own on mcp-mssql, discovery off for mcp-example (so
    its route keeps the route-level JWT policy); discovery is on for the others (tests/demo-vars.yml sets
    auth_policy_public_base_url), and the Gateway-wide rate limit is the role default."""
    with open(os.path.join(ROOT, "roles", "mcp_server", "defaults", "main.yml"), encoding="utf-8") as defaults:
        role_defaults = yaml.safe_load(defaults)
    entries = {e["name"]: e for e in role_defaults["mcp_server_servers"]}
    entries["mcp-hubspot"]["authorization"] = HUBSPOT_AUTHORIZATION
    entries["mcp-mssql"]["rate_limit"] = MSSQL_RATE_LIMIT
    entries["mcp-example"]["discovery"] = False
    # The entries name the role's image and npx switch; as extra vars they are templated where those role
    # defaults are not loaded (site.yml's validation play), so the two are passed along with them.
    return ("-e", json.dumps({"mcp_server_servers": list(entries.values()),
                              "mcp_server_node_image": role_defaults["mcp_server_node_image"],
                              "mcp_server_npx": role_defaults["mcp_server_npx"]}))


HUBSPOT_AUTHORIZATION = {"tools": {"delete_contact": ["HubSpot.Admin"]}, "default": ["HubSpot.Read", "scp:Contacts.Read"]}
MSSQL_RATE_LIMIT = {"requests": 30, "unit": "Minutes", "burst": 5}
SECURITY = security_vars()


@pytest.fixture(scope="module")
def converged(cluster, azure_ad):
    # ansible-core 2.21 returns the module args (which sent_definitions reads) only when asked to.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANSIBLE_INJECT_INVOCATION", "1")
        run = playbook(cluster, azure_ad, "site", *SECURITY)
    assert run.rc == 0 and run.stats.get("failures") == 0, run.output[-6000:]
    return run


def sent_definitions(run):
    """Every object the collection sent through kubernetes.core.k8s or k8s_apply (module args as the task ran them;
    no_log tasks hide theirs, and those are Secrets the modules build, covered by the module tests)."""
    for _name, result in run.results():
        args = (result.get("invocation") or {}).get("module_args") or {}
        definition = args.get("definition") or args.get("definitions")  # kubernetes.core.k8s, k8s_apply
        if isinstance(definition, dict):
            yield definition
        elif isinstance(definition, list):
            yield from (d for d in definition if d)
        if args.get("src") and str(result.get("action", "")).endswith("k8s"):  # not template/copy's src
            yield from (d for d in yaml.safe_load_all(open(args["src"], encoding="utf-8")) if d)


def test_site_converges_and_a_second_run_changes_nothing(cluster, azure_ad, converged):
    again = playbook(cluster, azure_ad, "site", *SECURITY)
    assert again.rc == 0 and again.stats.get("changed") == 0, [
        name for name, result in again.results() if result.get("changed")]


def conditions(obj, *path):
    """{type: (status, reason)} of obj's status conditions, or of its status.<path...> entry's."""
    status = obj.get("status", {})
    for key in path:
        status = status[key]
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions", [])}


def test_the_real_controller_accepts_and_programs_every_object(cluster, azure_ad, converged):
    """Each condition below is written by the agentgateway controller (its ServiceAccount's field manager)."""
    gateway_class = cluster.get("gatewayclass", "agentgateway")
    assert conditions(gateway_class)["Accepted"] == ("True", "Accepted")
    gateway = cluster.get("gateway", "agentgateway-proxy", "-n", NS, "--show-managed-fields")
    assert conditions(gateway)["Programmed"] == ("True", "Programmed")
    assert conditions(gateway, "listeners", 0)["ResolvedRefs"][0] == "True"
    managers = {f["manager"] for f in gateway["metadata"]["managedFields"] if f.get("subresource") == "status"}
    assert managers and not managers & {"ansible", "kubectl", "OpenAPI-Generator"}, managers
    # The proxy Deployment the controller created for the Gateway, Available (its Pod run by KWOK).
    proxy = cluster.get("deployment", "agentgateway-proxy", "-n", NS)
    assert proxy["metadata"]["ownerReferences"][0]["kind"] == "Gateway"
    assert conditions(proxy)["Available"][0] == "True"
    routes = cluster.get("httproutes", "-n", NS)["items"]
    assert {r["metadata"]["name"] for r in routes} >= {"mcp-example-route", "mcp-hubspot-route", "mcp-mssql-route",
                                                       "mcp-ui-route"}
    for route in routes:
        parent = conditions(route, "parents", 0)
        assert parent["Accepted"][0] == "True" and parent["ResolvedRefs"][0] == "True", (route["metadata"]["name"],
                                                                                          parent)
    for kind in ("agentgatewaybackends", "agentgatewaypolicies"):
        for obj in cluster.get(kind, "-n", NS)["items"]:
            # A backend reports on itself (status.conditions), a policy per ancestor (status.ancestors[]).
            reported = ([conditions(obj)] if obj["status"].get("conditions") else []) + [
                conditions(obj, "ancestors", index) for index in range(len(obj["status"].get("ancestors", [])))]
            assert reported, obj["metadata"]["name"]
            for got in reported:
                # Reasons differ by kind (a policy is Accepted for reason Valid); PartiallyValid drops a part.
                assert got["Accepted"][0] == "True" and got["Accepted"][1] != "PartiallyValid", (obj["metadata"]["name"],
                                                                                                 got)
                if "Attached" in got:
                    assert got["Attached"][0] == "True", (obj["metadata"]["name"], got)


def xds_resources(cluster, gateway="agentgateway-proxy"):
    """What the controller serves the Gateway's proxies over xDS, read as a proxy does (tests/binaries/agwxds):
    its ServiceAccount's token for audience kgateway, the controller's xDS port from tests/cluster/hostpods.py."""
    (record,) = [json.loads(p.read_text()) for p in (cluster.dir / "hostpods").glob(f"{NS}_agentgateway-*.json")]
    token = cluster.kubectl("create", "token", gateway, "-n", NS, "--audience", "kgateway").stdout.strip()
    token_file = cluster.dir / "xds-test.token"
    token_file.write_text(token)
    dump = subprocess.run(["agwxds", "--address", record["addresses"]["xds-address"], "--gateway", f"{NS}/{gateway}",
                           "--token-file", str(token_file), "--timeout", "20s"],
                          env=cluster.env, capture_output=True, text=True, timeout=60, check=True)
    return {line["resource"]["name"]: line["resource"]["resource"] for line in map(json.loads, dump.stdout.splitlines())
            if line["typeUrl"].endswith("agentgateway.dev.resource.Resource")}


def assert_azure_ad_provider(provider, azure_ad, keys_field):
    assert provider["issuer"] == azure_ad.issuer
    assert provider["audiences"] == [f"api://{azure_ad.client_id}", azure_ad.client_id]
    # The keys the controller fetched from the tenant's JWKS endpoint (the Azure AD double's key).
    assert json.loads(provider[keys_field])["keys"][0]["kid"] == azure_ad.kid


@pytest.fixture(scope="module")
def xds(cluster, converged):
    return xds_resources(cluster)


def test_the_controller_serves_each_mcp_target_and_the_azure_ad_jwt_provider(azure_ad, xds):
    resources = xds
    for server in ("mcp-example", "mcp-hubspot", "mcp-mssql"):
        backend = resources[f"backend/{NS}/{server}-backend"]["backend"]
        assert backend["mcp"]["targets"] == [{"name": server, "backend": {"backend": f"{NS}/{server}-backend/{server}"},
                                              "path": "/mcp", "protocol": "STREAMABLE_HTTP"}], backend
        target = resources[f"backend/{NS}/{server}-backend/{server}"]["backend"]
        assert target["static"] == {"host": f"{server}-service.{NS}.svc.cluster.local", "port": 8000}, target
    # mcp-example has discovery off: its route keeps the route-level Strict JWT policy, and no backend policy.
    policy = resources[f"policy/traffic/{NS}/azure-mcp-authn-policy:jwt:{NS}/mcp-example-route"]["policy"]
    assert policy["target"] == {"route": {"name": "mcp-example-route", "namespace": NS}}
    jwt = policy["traffic"]["jwt"]
    assert jwt["mode"] == "STRICT" and len(jwt["providers"]) == 1, jwt
    assert_azure_ad_provider(jwt["providers"][0], azure_ad, "inline")
    assert not [name for name in resources if "mcp-example-mcp-auth" in name]
    # The UI's route is not behind the policy.
    assert not [name for name in resources if name.endswith(f":jwt:{NS}/mcp-ui-route")]


def test_the_controller_serves_discovery_and_mcp_authentication_on_each_backend(azure_ad, xds):
    """RFC 9728 discovery: the backend validates the Azure AD token itself (no route JWT before it, which
    agentgateway would answer with 401) and carries the protected-resource metadata; the route also routes
    the well-known path of that metadata to the backend."""
    resources = xds
    for server in ("mcp-hubspot", "mcp-mssql"):
        policy = resources[f"policy/{NS}/{server}-mcp-auth:mcp-authentication:{NS}/{server}-backend"]["policy"]
        assert policy["target"] == {"backend": {"name": f"{server}-backend", "namespace": NS}}
        authn = policy["backend"]["mcpAuthentication"]
        assert authn["mode"] == "STRICT"
        assert_azure_ad_provider(authn, azure_ad, "jwksInline")
        assert authn["resourceMetadata"]["extra"] == {
            "resource": f"http://127.0.0.1:8080/mcp/{server}", "authorizationServers": [azure_ad.issuer],
            "scopesSupported": [f"api://{azure_ad.client_id}/access_as_user"], "bearerMethodsSupported": ["header"]}
        assert not [name for name in resources if name.endswith(f":jwt:{NS}/{server}-route")]
        paths = [m["path"]["pathPrefix"] for name, r in resources.items()
                 if name.startswith(f"route/{NS}/{server}-route.") for m in r["route"]["matches"]]
        assert sorted(paths) == sorted([f"/mcp/{server}", f"/.well-known/oauth-protected-resource/mcp/{server}"])
    example = [m["path"]["pathPrefix"] for name, r in resources.items()
               if name.startswith(f"route/{NS}/mcp-example-route.") for m in r["route"]["matches"]]
    assert example == ["/mcp/mcp-example"]


def test_the_controller_serves_the_per_tool_rules_and_the_rate_limits(xds):
    resources = xds
    rules = resources[f"policy/{NS}/mcp-hubspot-mcp-auth:mcp-authorization:{NS}/mcp-hubspot-backend"]["policy"]
    assert rules["target"] == {"backend": {"name": "mcp-hubspot-backend", "namespace": NS}}
    allow = rules["backend"]["mcpAuthorization"]["allow"]
    assert allow == mcp_authorization.authorization_rules(HUBSPOT_AUTHORIZATION) and len(allow) == 2
    # What those rules mean, evaluated by the same CEL implementation as agentgateway's data plane.
    assert mcp_authorization.allowed(allow, {"roles": ["HubSpot.Admin"]}, "tool", "delete_contact")
    assert not mcp_authorization.allowed(allow, {"roles": ["HubSpot.Read"]}, "tool", "delete_contact")
    assert mcp_authorization.allowed(allow, {"scp": "Contacts.Read"}, "tool", "search_contacts")
    assert not [name for name in resources if ":mcp-authorization:" in name and "mcp-hubspot" not in name]
    gateway = resources[f"policy/traffic/{NS}/agentgateway-proxy-rate-limit:rl-local:{NS}/agentgateway-proxy"]["policy"]
    assert gateway["target"] == {"gateway": {"name": "agentgateway-proxy", "namespace": NS}}
    # 600 requests per minute plus a burst of 100 (the role default), as the token bucket the proxy runs.
    assert gateway["traffic"]["localRateLimit"] == {"maxTokens": "700", "tokensPerFill": "600", "fillInterval": "60s"}
    mssql = resources[f"policy/traffic/{NS}/mcp-mssql-rate-limit:rl-local:{NS}/mcp-mssql-route"]["policy"]
    assert mssql["target"] == {"route": {"name": "mcp-mssql-route", "namespace": NS}}
    assert mssql["traffic"]["localRateLimit"] == {"maxTokens": "35", "tokensPerFill": "30", "fillInterval": "60s"}
    assert not [name for name in resources if ":rl-local:" in name and "mcp-mssql" not in name
                and "agentgateway-proxy-rate-limit" not in name]


def test_every_object_sent_or_rendered_passes_strict_field_validation(cluster, azure_ad, converged):
    sent = list(sent_definitions(converged))
    kinds = {d["kind"] for d in sent}
    assert {"Namespace", "Gateway", "HTTPRoute", "AgentgatewayBackend", "AgentgatewayPolicy", "Deployment",
            "Service", "CronJob", "CustomResourceDefinition"} <= kinds, kinds
    releases = json.loads(cluster.kubectl("get", "secrets", "-n", NS, "-l", "owner=helm", "-o", "json").stdout)
    assert len(releases["items"]) >= 3  # agentgateway-crds, agentgateway, mssql
    rendered = subprocess.run(["helm", "list", "-n", NS, "-q"], env=cluster.env, capture_output=True, text=True,
                              check=True).stdout.split()
    manifests = [subprocess.run(["helm", "get", "manifest", release, "-n", NS], env=cluster.env, check=True,
                                capture_output=True, text=True).stdout for release in rendered]
    documents = [json.dumps(d) for d in sent] + manifests
    for document in documents:
        # kubectl's strict validation is the server's: fieldValidation=Strict on a server-side dry run.
        proc = cluster.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=document,
                               check=False)
        assert proc.returncode == 0 and "unknown field" not in proc.stderr and "duplicate field" not in proc.stderr, (
            proc.stderr, document[:2000])


def test_every_workload_is_admitted_under_pod_security_restricted(cluster, azure_ad, converged):
    namespace = cluster.get("namespace", NS)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # PodSecurity admission checks the namespace's existing Pods when the label is (re)applied: a server-side
    # dry run returns a warning for each Pod that violates the level.
    dry = cluster.kubectl("label", "--dry-run=server", "--overwrite", "namespace", NS,
                          "pod-security.kubernetes.io/enforce=restricted")
    assert "violate" not in dry.stderr, dry.stderr
    refused = [e for e in cluster.get("events", "-n", NS)["items"]
               if e["reason"] == "FailedCreate" and "PodSecurity" in e.get("message", "")]
    assert not refused, [e["message"] for e in refused]
    pods = cluster.get("pods", "-n", NS)["items"]
    owners = {o["name"] for p in pods for o in p["metadata"].get("ownerReferences", [])}
    for deployment in cluster.get("deployments", "-n", NS)["items"]:
        name, status = deployment["metadata"]["name"], deployment.get("status", {})
        assert status.get("availableReplicas", 0) == deployment["spec"]["replicas"], (name, status)
        assert any(owner.startswith(name + "-") for owner in owners), f"no Pod of Deployment {name}"
    for statefulset in cluster.get("statefulsets", "-n", NS)["items"]:
        assert statefulset["status"].get("readyReplicas", 0) == statefulset["spec"]["replicas"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    assert running and all(c["ready"] for p in running for c in p["status"]["containerStatuses"])


def test_check_diff_on_the_converged_cluster_writes_nothing(cluster, azure_ad, converged):
    before, offset = snapshot(cluster), cluster.audit_offset()
    run = playbook(cluster, azure_ad, "site", "--check", "--diff", *SECURITY)
    assert run.rc == 0 and run.stats.get("changed") == 0, [n for n, r in run.results() if r.get("changed")]
    assert snapshot(cluster) == before
    assert [w for w in cluster.writes(since=offset) if "dryRun=All" not in w[1]] == []


def test_teardown_finalizes_the_namespace_and_site_converges_again(cluster, azure_ad, converged):
    down = playbook(cluster, azure_ad, "teardown", "-e", "teardown_delete_data=true", "-e", "teardown_delete_crds=true")
    assert down.rc == 0, down.output[-4000:]
    # The namespace controller has finalized it: not Terminating, gone.
    gone = cluster.kubectl("get", "namespace", NS, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout
    assert not [c for c in cluster.get("customresourcedefinitions")["items"]
                if c["spec"]["group"] in ("gateway.networking.k8s.io", "agentgateway.dev")]

    again = playbook(cluster, azure_ad, "site", *SECURITY)
    assert again.rc == 0, again.output[-6000:]
    routes = {r["metadata"]["name"] for r in cluster.get("httproutes", "-n", NS)["items"]}
    assert {"mcp-example-route", "mcp-hubspot-route", "mcp-mssql-route"} <= routes
