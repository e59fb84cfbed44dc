"""The verify role through ansible-playbook against a real control plane (tests/cluster), and its MCP
probe against a real MCP server (tests/peers/mcp_server.py, a double of an MCP server) on loopback.

What verify reads is installed for real, once per module: the site's roles in site.yml's order with the
demo's settings (tests/demo-vars.yml), so the agentgateway CRDs, the controller Deployment and SQL Server
come from the real chart packages through the real helm, and every other object from the roles. The
agentgateway controller runs for real (tests/cluster/hostpods.py runs its Pod's program as a host process):
it registers the GatewayClass, programs the Gateway, creates the proxy Deployment and writes every status
verify reads; it fetches the tenant's JWKS from the Azure AD double (``azure_ad``). The negative tests
break one object at a time and assert that verify fails with the controller's own words.
"""

import json

import pytest
import yaml

from integration.modules.modules_playbook import ROOT, run_playbook
from peers.mcp_server import McpTestServer
from peers.oidc_authority import OidcAuthority
# peers.mcp_server puts the checkout's .collections on sys.path
from ansible_collections.mcp_gateway.platform.plugins.module_utils import mcp_authorization  # noqa: E402,I001

NS = "agentgateway-system"
SHARED = ROOT + "/../shared"
# The probe peer serves MCP at /mcp, so the example server's gateway path is /mcp here.
SERVERS = [{"name": "mcp-example", "image": "ghcr.io/mcp-gateway/mcp-example:1.0.0", "path": "/mcp"},
           # discovery off: this route keeps the route-level JWT policy (azure-mcp-authn-policy).
           {"name": "mcp-hubspot", "image": "ghcr.io/mcp-gateway/mcp-hubspot:1.0.0", "kind": "StatefulSet",
            "workload_name": "hubspot-mcp", "discovery": False}]
SITE_ROLES = ("namespace", "mssql", "gateway_api_crds", "agentgateway_crds", "control_plane", "gateway",
              "mcp_server", "token_refresh", "auth_policy", "ui")


def demo_vars():
    """tests/demo-vars.yml with its playbook_dir-relative paths made absolute."""
    with open(ROOT + "/tests/demo-vars.yml") as handle:
        variables = yaml.safe_load(handle)
    return {key: value.replace("{{ playbook_dir }}/../../shared", SHARED) if isinstance(value, str) else value
            for key, value in variables.items()}


# The demo's settings; the platform fixture adds the Azure AD double's address and CA.
PLATFORM_VARS = dict(demo_vars(), mcp_server_servers=SERVERS)


def role_task(role, name=None, tasks_from="main", **variables):
    return {"name": name or role, "ansible.builtin.include_role": {"name": "mcp_gateway.platform." + role,
                                                                    "tasks_from": tasks_from},
            "vars": dict(PLATFORM_VARS, **variables)}


def playbook(cluster, tasks, **kwargs):
    return run_playbook(tasks, kubeconfig=str(cluster.kubeconfig), extra_env={"PATH": cluster.env["PATH"]},
                        **kwargs)


def verify(cluster, check=False, verbosity=0, probe_only=False, **variables):
    """The whole role, or (probe_only) its input checks followed by its probe tasks alone."""
    variables.setdefault("verify_wait_timeout", 5)
    tasks = [role_task("verify", **variables)] if not probe_only else [
        role_task("verify", "verify validate", tasks_from="validate", **variables),
        role_task("verify", "verify probe", tasks_from="probe", **variables)]
    return playbook(cluster, tasks, check=check, verbosity=verbosity)


def result_of(run, suffix):
    return next(value for key, value in run.results.items() if key.endswith(suffix))


@pytest.fixture(scope="module")
def platform(cluster, azure_ad):
    PLATFORM_VARS.update(azure_ad.collection_vars())
    # Readiness is what verify checks, so the roles do not wait for their own workloads.
    run = playbook(cluster, [role_task(role, mcp_server_wait=False, ui_wait=False) for role in SITE_ROLES],
                   timeout=600)
    assert run.rc == 0, run.output[-3000:]
    return cluster


def report_rows(run):
    """{object: (state, url)} of verify's report table (its lines: component, object, state, URL)."""
    lines = result_of(run, "Report the platform, one line per object")["msg"]
    assert lines[0].split() == ["COMPONENT", "OBJECT", "STATE", "URL"], lines
    header = lines[0]
    columns = [header.index(title) for title in ("OBJECT", "STATE", "URL")]
    return {line[columns[0]:columns[1]].strip(): (line[columns[1]:columns[2]].strip(), line[columns[2]:].strip())
            for line in lines[1:]}


def test_complete_platform_passes_read_only_also_in_check_mode(platform):
    offset = platform.audit_offset()
    run = verify(platform)
    assert run.rc == 0, run.output[-3000:]
    rows = report_rows(run)
    address = platform.get("service", "agentgateway-proxy", "-n", NS)["spec"]["clusterIP"]
    # The states are the controller's conditions (and the workloads' ready replicas).
    assert rows["GatewayClass agentgateway"][0] == "Accepted"
    assert rows["Gateway agentgateway-proxy"][0] == "Programmed"
    assert rows["Deployment agentgateway-proxy"][0] == "Ready 1/1"
    assert rows["Deployment agentgateway"][0] == "Ready 1/1"
    assert rows["HTTPRoute mcp-example-route"] == ("Accepted/ResolvedRefs", "http://%s:8080/mcp" % address)
    assert rows["HTTPRoute mcp-hubspot-route"] == ("Accepted/ResolvedRefs", "http://%s:8080/mcp/mcp-hubspot" % address)
    assert rows["AgentgatewayBackend mcp-example-backend"][0] == "Accepted"
    assert rows["AgentgatewayPolicy azure-mcp-authn-policy"][0] == "Accepted/Attached"
    # mcp-example uses RFC 9728 discovery: its backend's MCP authentication policy; the Gateway-wide rate limit.
    assert rows["AgentgatewayPolicy mcp-example-mcp-auth"][0].startswith("Accepted"), rows
    assert rows["AgentgatewayPolicy agentgateway-proxy-rate-limit"][0] == "Accepted/Attached"
    assert rows["StatefulSet hubspot-mcp"][0] == "Ready 1/1"
    assert rows["CronJob hubspot-token-cronjob"][0] == "Scheduled */23 * * * *"
    assert "NOT READY" not in [state for state, _ in rows.values()]
    assert "verify_gateway_url is empty" in result_of(run, "Report that the end-to-end MCP probe was skipped")["msg"]
    checked = verify(platform, check=True)
    assert checked.rc == 0, checked.output[-3000:]
    assert not any(result.get("changed") for result in checked.results.values())
    # Neither run wrote anything: the API server's audit log has no write but the cluster components' own
    # (the controller's status writes are its ServiceAccount's).
    assert platform.writes(since=offset) == []


def test_gateway_class_is_required_when_named(platform):
    run = verify(platform, verify_gateway_class_name="no-such-class", verify_wait_timeout=2)
    assert run.rc != 0
    assert ("GatewayClass no-such-class (GatewayClass registered by the controller (verify_gateway_class_name)) "
            "is missing.") in run.output


def apply_json(platform, obj):
    """Create obj again from a saved copy (server-set fields dropped)."""
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
        obj["metadata"].pop(key, None)
    obj.pop("status", None)
    platform.kubectl("create", "-f", "-", input=json.dumps(obj))


def test_route_to_a_missing_backend_fails_with_the_controllers_words(platform):
    route = platform.get("httproute", "mcp-example-route", "-n", NS)
    rule = route["spec"]["rules"][0]
    broken = dict(rule, backendRefs=[dict(rule["backendRefs"][0], name="no-such-backend")])
    platform.kubectl("patch", "httproute", "mcp-example-route", "-n", NS, "--type=merge",
                     "-p", json.dumps({"spec": {"rules": [broken] + route["spec"]["rules"][1:]}}))
    try:
        run = verify(platform, verify_wait_timeout=6)
    finally:
        platform.kubectl("patch", "httproute", "mcp-example-route", "-n", NS, "--type=merge",
                         "-p", json.dumps({"spec": {"rules": route["spec"]["rules"]}}))
    assert run.rc != 0
    assert ("HTTPRoute agentgateway-system/mcp-example-route: parent Gateway agentgateway-proxy: ResolvedRefs=False "
            "(BackendNotFound: ") in run.output
    assert "agentgateway-system/no-such-backend" in run.output
    # Only the broken route is named.
    assert "mcp-hubspot-route:" not in run.output


def test_policy_on_a_missing_route_fails_with_the_controllers_words(platform):
    policy = platform.get("agentgatewaypolicy", "azure-mcp-authn-policy", "-n", NS)
    refs = policy["spec"]["targetRefs"]
    extra = dict(refs[0], name="no-such-route")
    platform.kubectl("patch", "agentgatewaypolicy", "azure-mcp-authn-policy", "-n", NS, "--type=merge",
                     "-p", json.dumps({"spec": {"targetRefs": refs + [extra]}}))
    try:
        run = verify(platform, verify_wait_timeout=6)
    finally:
        platform.kubectl("patch", "agentgatewaypolicy", "azure-mcp-authn-policy", "-n", NS, "--type=merge",
                         "-p", json.dumps({"spec": {"targetRefs": refs}}))
    assert run.rc != 0
    assert "AgentgatewayPolicy agentgateway-system/azure-mcp-authn-policy: ancestor " in run.output
    assert "Attached=False" in run.output
    assert "HTTPRoute agentgateway-system/no-such-route not found" in run.output


def test_backend_to_a_missing_service_fails_naming_the_host(platform):
    backend = platform.get("agentgatewaybackend", "mcp-example-backend", "-n", NS)
    targets = backend["spec"]["mcp"]["targets"]
    static = dict(targets[0]["static"], host="mcp-exmaple-service.agentgateway-system.svc.cluster.local")
    typo = [dict(targets[0], static=static)] + targets[1:]
    platform.kubectl("patch", "agentgatewaybackend", "mcp-example-backend", "-n", NS, "--type=merge",
                     "-p", json.dumps({"spec": {"mcp": {"targets": typo}}}))
    try:
        run = verify(platform, verify_wait_timeout=4)
    finally:
        platform.kubectl("patch", "agentgatewaybackend", "mcp-example-backend", "-n", NS, "--type=merge",
                         "-p", json.dumps({"spec": {"mcp": {"targets": targets}}}))
    assert run.rc != 0
    assert ("AgentgatewayBackend agentgateway-system/mcp-example-backend: target %s: host "
            "mcp-exmaple-service.agentgateway-system.svc.cluster.local names Service "
            "agentgateway-system/mcp-exmaple-service, which does not exist" % targets[0]["name"]) in run.output
    assert "1 problem(s)" in run.output


def test_listener_on_a_port_of_the_proxy_is_refused_before_any_write(platform):
    offset = platform.audit_offset()
    run = playbook(platform, [role_task("gateway", gateway_listener_port=15021)])
    assert run.rc != 0
    assert ("gateway_listener_port 15021 is a port of the proxy itself (15000, 15020, 15021: admin, metrics, "
            "readiness)") in run.output
    assert platform.writes(since=offset) == []


def test_missing_route_fails_naming_it(platform):
    saved = platform.kubectl("get", "httproute", "mcp-example-route", "-n", NS, "-o", "json").stdout
    platform.kubectl("delete", "httproute", "mcp-example-route", "-n", NS)
    try:
        run = verify(platform)
    finally:
        apply_json(platform, json.loads(saved))
    assert run.rc != 0
    assert ("HTTPRoute agentgateway-system/mcp-example-route (route /mcp of MCP server mcp-example "
            "(mcp_server_servers)) is missing.") in run.output
    # Only the missing object is reported.
    assert "mcp-hubspot-route (" not in run.output and "is not ready" not in run.output


def test_not_ready_deployment_fails_naming_it(platform):
    # A new pod template no node matches: the scheduler leaves its Pod Pending, the rollout never ends.
    unschedulable = {"spec": {"template": {"spec": {"nodeSelector": {"mcp-gateway.test/no-such-node": "true"}}}}}
    platform.kubectl("patch", "deployment", "mcp-ui", "-n", NS, "--type=strategic", "-p", json.dumps(unschedulable))
    try:
        run = verify(platform, verify_wait_timeout=3)
    finally:
        platform.kubectl("patch", "deployment", "mcp-ui", "-n", NS, "--type=json",
                         "-p", '[{"op": "remove", "path": "/spec/template/spec/nodeSelector"}]')
        platform.kubectl("rollout", "status", "deployment/mcp-ui", "-n", NS, "--timeout=60s")
    assert run.rc != 0
    assert "Deployment agentgateway-system/mcp-ui (UI (verify_ui_deployment)) is not ready after 3s" in run.output
    assert ") is missing." not in run.output


def test_sql_server_deployment_without_recreate_fails_naming_it(platform):
    rolling = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}}
    platform.kubectl("patch", "deployment", "mssql-mssqlserver-2022", "-n", NS, "-p", json.dumps(rolling))
    try:
        run = verify(platform)
    finally:
        platform.kubectl("patch", "deployment", "mssql-mssqlserver-2022", "-n", NS, "--type=json", "-p",
                         '[{"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}}]')
    assert run.rc != 0
    assert ("SQL Server Deployment agentgateway-system/mssql-mssqlserver-2022 has strategy RollingUpdate, "
            "not Recreate") in run.output


def test_probe_lists_the_tools_of_a_real_mcp_server(cluster):
    with McpTestServer(name="mcp-example", version="1.0.0") as server:
        base = server.url[: -len("/mcp")]
        run = verify(cluster, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base + "/",
                     verify_expected_tools={"mcp-example": ["echo", "add"]})
        assert run.rc == 0, run.output[-3000:]
        assert result_of(run, "Report the tools each MCP server lists through the gateway")["msg"] == {
            "mcp-example": ["echo", "add", "server_time"]}
        missing = verify(cluster, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base,
                         verify_expected_tools={"mcp-example": ["drop_database"]})
        wrong = verify(cluster, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base + "/wrong")
        refused = verify(cluster, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base,
                         verify_expect_anonymous_refused=True)
    assert missing.rc != 0 and "MCP server mcp-example did not pass the probe" in missing.output
    assert "drop_database" in missing.output
    assert wrong.rc != 0 and "MCP server mcp-example did not pass the probe" in wrong.output
    assert "404" in wrong.output and base + "/wrong/mcp" in wrong.output
    assert refused.rc != 0
    assert "did not refuse an anonymous request to MCP server mcp-example with 401" in refused.output


def test_probe_with_azure_ad_token_and_anonymous_refused(cluster):
    with OidcAuthority() as authority, McpTestServer(authority=authority) as server:
        base = server.url[: -len("/mcp")]
        credentials = {"verify_azure_tenant_id": authority.tenant_id, "verify_azure_client_id": authority.client_id,
                       "verify_azure_client_secret": authority.client_secret, "verify_azure_authority": authority.authority,
                       "verify_azure_validate_authority": False, "verify_azure_ca_path": authority.ca_file,
                       # The peer's API is the client's own (default: the auth_policy_client_id API).
                       "verify_azure_scopes": ["api://%s/.default" % authority.client_id]}
        # The reference MCP SDK answers 401 with RFC 9728 resource_metadata and serves that document.
        run = verify(cluster, verbosity=3, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base,
                     verify_expect_anonymous_refused=True, verify_public_base_url=base,
                     verify_auth_issuer=authority.issuer, **credentials)
        anonymous = verify(cluster, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base)
        issued, issuer = list(authority.issued), authority.issuer
    assert run.rc == 0, run.output[-3000:]
    assert result_of(run, "Report the tools each MCP server lists through the gateway")["msg"] == {
        "mcp-example": ["echo", "add", "server_time"]}
    assert "refuses a request without a token (401), pointing to its protected-resource metadata %s" % (
        base + "/.well-known/oauth-protected-resource/mcp") in run.output
    assert "(issuer %s)" % issuer in run.output
    assert server.verifier.verified >= 1
    run.assert_no_secret(authority.client_secret, *issued)
    # Without a token the protected server refuses the probe, and the failure says so.
    assert anonymous.rc != 0 and "401" in anonymous.output and "mcp-example" in anonymous.output


def test_probe_checks_discovery_and_the_tools_a_token_lacking_a_role_sees(cluster):
    """Per-tool rules as the collection renders them, enforced by the peer as agentgateway's data plane does
    (tests/peers/mcp_server.py, a double of it: the same CEL implementation), with tokens signed by the
    Azure AD double's real key."""
    rules = mcp_authorization.authorization_rules({"tools": {"add": ["MCP.Admin"]}, "default": ["MCP.Access"]})
    with OidcAuthority() as authority, McpTestServer(authority=authority, authorization_rules=rules) as server:
        base = server.url[: -len("/mcp")]
        reader = authority.issue_token(roles=["MCP.Access"])
        admin = authority.issue_token(roles=["MCP.Access", "MCP.Admin"])
        # The main probe runs with the token that has every role; the restricted one with the reader's.
        common = dict(probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base, verify_bearer_token=admin,
                      verify_public_base_url=base, verify_restricted_hidden_tools={"mcp-example": ["add"]})
        hidden = verify(cluster, verify_restricted_bearer_token=reader, **common)
        shown = verify(cluster, verify_restricted_bearer_token=admin, **common)
        other_tenant = verify(cluster, verify_expect_anonymous_refused=True,
                              verify_auth_issuer="https://login.microsoftonline.com/other/v2.0", **common)
        moved = verify(cluster, verify_expect_anonymous_refused=True, verify_auth_issuer=authority.issuer,
                       **dict(common, verify_public_base_url="https://mcp.example.com"))
    assert hidden.rc == 0, hidden.output[-3000:]
    assert "MCP server mcp-example hides add from the token lacking their role" in hidden.output
    assert shown.rc != 0 and "MCP server mcp-example does not filter tools/list by the token's roles" in shown.output
    assert "lists the tool(s) add, which this token must not see" in shown.output
    assert other_tenant.rc != 0 and "RFC 9728 discovery fails" in other_tenant.output, other_tenant.output[-6000:]
    assert "do not name the tenant issuer https://login.microsoftonline.com/other/v2.0" in other_tenant.output
    assert moved.rc != 0 and "not the server's URL https://mcp.example.com/mcp" in moved.output
    hidden.assert_no_secret(reader)
    shown.assert_no_secret(admin)
