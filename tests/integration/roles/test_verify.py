"""The verify role through ansible-playbook against the API emulator, and its MCP probe against a real
MCP server (tests/peers/mcp_server.py) on loopback.

The platform's objects are put into the emulator quickly: the CRD files with kubectl, the gateway,
mcp_server, auth_policy and ui roles as they are, and the objects the helm charts / token_refresh role
create (controller Deployment, GatewayClass, SQL Server StatefulSet, CronJob) as small manifests.
"""

import json

import pytest

from integration.modules.modules_playbook import ROOT, run_playbook
from peers.mcp_server import McpTestServer
from peers.oidc_authority import OidcAuthority

NS = "agentgateway-system"
CRD_FILES = [ROOT + "/../shared/crds/gateway-api-v1.4.0-standard-install.yaml",
             ROOT + "/../shared/crds/agentgateway-crds-v2.2.0-beta.4.yaml"]
# The probe peer serves MCP at /mcp, so the example server's gateway path is /mcp here.
SERVERS = [{"name": "mcp-example", "image": "ghcr.io/mcp-gateway/mcp-example:1.0.0", "path": "/mcp"},
           {"name": "mcp-hubspot", "image": "ghcr.io/mcp-gateway/mcp-hubspot:1.0.0", "kind": "StatefulSet",
            "workload_name": "hubspot-mcp"}]
PLATFORM_VARS = {"mcp_server_servers": SERVERS, "gateway_wait_programmed": False,
                 "auth_policy_tenant_id": "00000000-0000-4000-8000-000000000001",
                 "auth_policy_client_id": "00000000-0000-4000-8000-000000000002"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")

CHART_OBJECTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: agentgateway, namespace: %(ns)s}
spec:
  selector: {matchLabels: {app: agentgateway}}
  template:
    metadata: {labels: {app: agentgateway}}
    spec: {containers: [{name: controller, image: "cr.agentgateway.dev/controller:v2.2.0-beta.4"}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agentgateway}
spec: {controllerName: agentgateway.dev/agentgateway}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: mssql-mssqlserver-2022, namespace: %(ns)s, labels: {app: mssql-mssqlserver-2022, release: mssql}}
spec:
  serviceName: mssql-mssqlserver-2022
  selector: {matchLabels: {app: mssql-mssqlserver-2022, release: mssql}}
  template:
    metadata: {labels: {app: mssql-mssqlserver-2022, release: mssql}}
    spec: {containers: [{name: mssql, image: "mcr.microsoft.com/mssql/server:2022-CU14-ubuntu-22.04"}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: hubspot-token-cronjob, namespace: %(ns)s}
spec:
  schedule: "*/23 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: refresh, image: "docker.io/library/python:3.13.9-slim"}]
""" % {"ns": NS}


def role_task(role, name=None, tasks_from="main", **variables):
    return {"name": name or role, "ansible.builtin.include_role": {"name": "mcp_gateway.platform." + role,
                                                                    "tasks_from": tasks_from},
            "vars": dict(PLATFORM_VARS, **variables)}


def verify(emulator, check=False, verbosity=0, probe_only=False, **variables):
    """The whole role, or (probe_only) its input checks followed by its probe tasks alone."""
    variables.setdefault("verify_wait_timeout", 5)
    tasks = [role_task("verify", **variables)] if not probe_only else [
        role_task("verify", "verify validate", tasks_from="validate", **variables),
        role_task("verify", "verify probe", tasks_from="probe", **variables)]
    return run_playbook(tasks, kubeconfig=emulator.kubeconfig, check=check, verbosity=verbosity)


def result_of(run, suffix):
    return next(value for key, value in run.results.items() if key.endswith(suffix))


@pytest.fixture(scope="module")
def platform(emulator):
    for path in CRD_FILES:
        emulator.kubectl("apply", "--server-side", "-f", path, check=True)
    emulator.kubectl("create", "namespace", NS, check=True)
    emulator.kubectl("apply", "-f", "-", input=CHART_OBJECTS, check=True)
    # Readiness is what verify checks, so the roles do not wait for it themselves.
    run = run_playbook([role_task(role, mcp_server_wait=False, ui_wait=False)
                        for role in ("gateway", "mcp_server", "auth_policy", "ui")],
                       kubeconfig=emulator.kubeconfig)
    assert run.rc == 0, run.output[-3000:]
    return emulator


def test_complete_platform_passes_read_only_also_in_check_mode(platform):
    before = len(platform.requests())
    run = verify(platform, verify_auth_enabled=True)
    assert run.rc == 0, run.output[-3000:]
    report = result_of(run, "Report the objects found present and ready")["msg"]
    assert report.startswith("24 objects present and ready:")
    for expected in ("CustomResourceDefinition httproutes.gateway.networking.k8s.io", "StatefulSet mssql-mssqlserver-2022",
                     "Deployment agentgateway", "GatewayClass agentgateway", "Gateway agentgateway-proxy",
                     "Deployment mcp-example", "StatefulSet hubspot-mcp", "HTTPRoute mcp-hubspot-route",
                     "AgentgatewayBackend mcp-example-backend", "AgentgatewayPolicy azure-mcp-authn-policy",
                     "CronJob hubspot-token-cronjob", "Deployment mcp-ui", "HTTPRoute mcp-ui-route"):
        assert expected in report
    assert "verify_gateway_url is empty" in result_of(run, "Report that the end-to-end MCP probe was skipped")["msg"]
    checked = verify(platform, check=True)
    assert checked.rc == 0, checked.output[-3000:]
    assert not any(result.get("changed") for result in checked.results.values())
    # Nothing was written to the cluster by either run.
    writes = [r for r in platform.requests()[before:] if r["method"] in WRITES]
    assert writes == []


def test_missing_route_fails_naming_it(platform):
    saved = platform.kubectl("get", "httproute", "mcp-example-route", "-n", NS, "-o", "json", check=True).stdout
    platform.kubectl("delete", "httproute", "mcp-example-route", "-n", NS, check=True)
    try:
        run = verify(platform)
    finally:
        obj = json.loads(saved)
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            obj["metadata"].pop(key, None)
        platform.kubectl("create", "-f", "-", input=json.dumps(obj), check=True)
    assert run.rc != 0
    assert ("HTTPRoute agentgateway-system/mcp-example-route (route /mcp of MCP server mcp-example "
            "(mcp_server_servers)) is missing.") in run.output
    # Only the missing object is reported.
    assert "mcp-hubspot-route (" not in run.output and "is not ready" not in run.output


def test_not_ready_deployment_fails_naming_it(platform):
    platform.set_controller_delay(3600)
    platform.kubectl("scale", "deployment", "mcp-ui", "-n", NS, "--replicas=2", check=True)
    try:
        run = verify(platform, verify_wait_timeout=3)
    finally:
        platform.set_controller_delay(0.2)
        platform.kubectl("scale", "deployment", "mcp-ui", "-n", NS, "--replicas=1", check=True)
    assert run.rc != 0
    assert "Deployment agentgateway-system/mcp-ui (UI (verify_ui_deployment)) is not ready after 3s" in run.output
    assert ") is missing." not in run.output


def test_probe_lists_the_tools_of_a_real_mcp_server(platform):
    with McpTestServer(name="mcp-example", version="1.0.0") as server:
        base = server.url[: -len("/mcp")]
        run = verify(platform, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base + "/",
                     verify_expected_tools={"mcp-example": ["echo", "add"]})
        assert run.rc == 0, run.output[-3000:]
        assert result_of(run, "Report the tools each MCP server lists through the gateway")["msg"] == {
            "mcp-example": ["echo", "add", "server_time"]}
        missing = verify(platform, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base,
                         verify_expected_tools={"mcp-example": ["drop_database"]})
        wrong = verify(platform, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base + "/wrong")
        refused = verify(platform, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base,
                         verify_expect_anonymous_refused=True)
    assert missing.rc != 0 and "MCP server mcp-example did not pass the probe" in missing.output
    assert "drop_database" in missing.output
    assert wrong.rc != 0 and "MCP server mcp-example did not pass the probe" in wrong.output
    assert "404" in wrong.output and base + "/wrong/mcp" in wrong.output
    assert refused.rc != 0
    assert "did not refuse an anonymous request to MCP server mcp-example with 401" in refused.output


def test_probe_with_azure_ad_token_and_anonymous_refused(platform):
    with OidcAuthority() as authority, McpTestServer(authority=authority) as server:
        base = server.url[: -len("/mcp")]
        credentials = {"verify_azure_tenant_id": authority.tenant_id, "verify_azure_client_id": authority.client_id,
                       "verify_azure_client_secret": authority.client_secret, "verify_azure_authority": authority.authority,
                       "verify_azure_validate_authority": False, "verify_azure_ca_path": authority.ca_file,
                       # The peer's API is the client's own (default: the auth_policy_client_id API).
                       "verify_azure_scopes": ["api://%s/.default" % authority.client_id]}
        run = verify(platform, verbosity=3, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base,
                     verify_expect_anonymous_refused=True, **credentials)
        anonymous = verify(platform, probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=base)
        issued = list(authority.issued)
    assert run.rc == 0, run.output[-3000:]
    assert result_of(run, "Report the tools each MCP server lists through the gateway")["msg"] == {
        "mcp-example": ["echo", "add", "server_time"]}
    assert "refuses a request without a token (401)" in run.output
    assert server.verifier.verified >= 1
    run.assert_no_secret(authority.client_secret, *issued)
    # Without a token the protected server refuses the probe, and the failure says so.
    assert anonymous.rc != 0 and "401" in anonymous.output and "mcp-example" in anonymous.output
