"""Bad input is refused before the first write: every role's checks and the modules', on a converged cluster.

The platform is converged once (site.yml with the demo's settings, pointed at the Azure AD double). Then
each case runs site.yml with the demo's settings plus one malformed variable (``-e`` with JSON), or one of
the collection's modules with one malformed argument, and asserts:

* a non-zero exit;
* a failed task whose message names the variable (the entry, for a list item) and the bad value;
* for site.yml, that the failing task is in the first play ("Validate every input before anything is
  changed"), so no role of the deploy play started;
* zero writes in the real kube-apiserver's audit log (Metadata level; ``cluster.writes``) while the case
  ran: not what the collection reports about itself.

The cases run three at a time (each is an ansible-playbook process); the writes are read per case and once
more for the whole batch. ``test_summary`` prints the figures that docs/reliability.md quotes.
"""

import concurrent.futures
import json
import os
import sys
import time

import pytest

from test_site import playbook

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "modules"))
from modules_playbook import run_playbook  # noqa: E402  (tests/integration/modules is not a package)

NS = "agentgateway-system"
VALIDATE_PLAY = "Validate every input before anything is changed"
WORKERS = 3
EXAMPLE = {"name": "mcp-example", "image": "ghcr.io/mcp-gateway/mcp-example:1.0.0", "kind": "Deployment", "replicas": 1}
HUBSPOT = {"name": "mcp-hubspot", "image": "ghcr.io/mcp-gateway/mcp-hubspot:1.0.0", "kind": "StatefulSet",
           "workload_name": "hubspot-mcp"}
GOOD_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
GUID = "00000000-0000-4000-8000-00000000000a"


def servers(**change):
    """mcp_server_servers with the mcp-example entry changed (and mcp-hubspot, which token_refresh restarts)."""
    return [dict(EXAMPLE, **change), HUBSPOT]


def resources(section, name, value):
    return {**GOOD_RESOURCES, section: {**GOOD_RESOURCES[section], name: value}}


# (id, extra vars, substrings the failure message must contain: the variable and the bad value)
SITE_CASES = [
    # namespace
    ("namespace_name-uppercase", {"namespace_name": "Agentgateway_System"}, ["namespace_name", '"Agentgateway_System"']),
    ("namespace_psa_version", {"namespace_pod_security_version": "1.36"}, ["namespace_pod_security_version", '"1.36"']),
    ("namespace_psa_level", {"namespace_pod_security_enforce": "strict"}, ["namespace_pod_security_enforce", "strict"]),
    ("namespace_labels-key", {"namespace_labels": {"bad key": "x"}}, ["namespace_labels", '"bad key"']),
    # mssql
    ("mssql_eula", {"mssql_accept_eula": False}, ["mssql_accept_eula", "false"]),
    ("mssql_chart_version-empty", {"mssql_chart_version": ""}, ["mssql_chart_version", '(got "")']),
    ("mssql_chart_version-null", {"mssql_chart_version": None}, ["mssql_chart_version", "(got null)"]),
    ("mssql_chart_version-range", {"mssql_chart_version": "^1.2"}, ["mssql_chart_version", '"^1.2"']),
    ("mssql_resources-1GB", {"mssql_resources": resources("limits", "memory", "1 GB")},
     ["mssql_resources.limits.memory", '"1 GB"']),
    ("mssql_resources-no-memory-limit", {"mssql_resources": {"limits": {"cpu": "2"}}}, ["mssql_resources.limits.memory"]),
    ("mssql_data_size", {"mssql_data_size": "8 GB"}, ["mssql_data_size", '"8 GB"']),
    ("mssql_image_tag-latest", {"mssql_image_tag": "latest"}, ["mssql_image_tag", '"latest"']),
    ("mssql_wait_timeout-zero", {"mssql_wait_timeout": 0}, ["mssql_wait_timeout", "(got 0)"]),
    ("mssql_chart_ref-missing", {"mssql_chart_ref": "/nonexistent/mssqlserver-2022.tgz"},
     ["mssql_chart_ref", "/nonexistent/mssqlserver-2022.tgz"]),
    # gateway_api_crds
    ("gateway_api_crds_version", {"gateway_api_crds_version": "1.4"}, ["gateway_api_crds_version", '"1.4"']),
    ("gateway_api_crds_checksum", {"gateway_api_crds_checksum": "abc"}, ["gateway_api_crds_checksum", '"abc"']),
    ("gateway_api_crds_manifest_path", {"gateway_api_crds_manifest_path": "/nonexistent/standard-install.yaml"},
     ["gateway_api_crds_manifest_path", "/nonexistent/standard-install.yaml"]),
    # agentgateway_crds
    ("agentgateway_crds_chart_version-empty", {"agentgateway_crds_chart_version": ""},
     ["agentgateway_crds_chart_version", '(got "")']),
    ("agentgateway_crds_chart_version-null", {"agentgateway_crds_chart_version": None},
     ["agentgateway_crds_chart_version", "(got null)"]),
    ("agentgateway_crds_chart_ref", {"agentgateway_crds_chart_ref": "https://example.com/agentgateway-crds"},
     ["agentgateway_crds_chart_ref", "https://example.com/agentgateway-crds"]),
    ("agentgateway_crds_names-empty", {"agentgateway_crds_names": []}, ["agentgateway_crds_names", "(got [])"]),
    # control_plane
    ("control_plane_chart_version-empty", {"control_plane_chart_version": ""}, ["control_plane_chart_version", '(got "")']),
    ("control_plane_chart_version-latest", {"control_plane_chart_version": "latest"},
     ["control_plane_chart_version", '"latest"']),
    ("control_plane_replicas-negative", {"control_plane_values": {"controller": {"replicaCount": -1}}},
     ["control_plane_values.controller.replicaCount", "-1"]),
    ("control_plane_wait_timeout-text", {"control_plane_wait_timeout": "soon"}, ["control_plane_wait_timeout", "soon"]),
    # gateway
    ("gateway_listener_port-zero", {"gateway_listener_port": 0}, ["gateway_listener_port", "(got 0)"]),
    ("gateway_listener_port-reserved", {"gateway_listener_port": 15021}, ["gateway_listener_port", "15021"]),
    ("gateway_listener_protocol", {"gateway_listener_protocol": "HTTPS"}, ["gateway_listener_protocol", "HTTPS"]),
    ("gateway_selector-empty", {"gateway_allowed_routes_from": "Selector", "gateway_allowed_routes_selector": {}},
     ["gateway_allowed_routes_selector", "(got {})"]),
    ("gateway_proxy_replicas-negative", {"gateway_proxy_deployment_spec": {"replicas": -1}},
     ["gateway_proxy_deployment_spec.replicas", "-1"]),
    ("gateway_labels-value", {"gateway_labels": {"app": "has space"}}, ["gateway_labels.app", '"has space"']),
    ("gateway_rate_limit-zero", {"gateway_rate_limit": {"requests": 0, "unit": "Minutes"}},
     ["gateway_rate_limit.requests", "(got 0)"]),
    ("gateway_rate_limit-list", {"gateway_rate_limit": [{"requests": 5, "unit": "Minutes"}]},
     ["gateway_rate_limit must be a mapping", '"requests": 5']),
    ("gateway_rate_limit-unit", {"gateway_rate_limit": {"tokens": 5, "unit": "Days"}}, ["gateway_rate_limit.unit", '"Days"']),
    # mcp_server
    ("mcp_server-replicas-negative", {"mcp_server_servers": servers(replicas=-1)},
     ['entry "mcp-example"', "replicas", "-1"]),
    ("mcp_server-resources-1GB", {"mcp_server_servers": servers(resources=resources("limits", "memory", "1 GB"))},
     ['entry "mcp-example"', "resources.limits.memory", '"1 GB"']),
    ("mcp_server-request-above-limit", {"mcp_server_servers": servers(resources=resources("requests", "cpu", "2"))},
     ['entry "mcp-example"', "resources.requests.cpu", '"2" > "500m"']),
    ("mcp_server-image-latest", {"mcp_server_servers": servers(image="ghcr.io/mcp-gateway/mcp-example:latest")},
     ['entry "mcp-example"', "image", "mcp-example:latest"]),
    ("mcp_server-port", {"mcp_server_servers": servers(port=70000)}, ['entry "mcp-example"', "port", "70000"]),
    ("mcp_server-name", {"mcp_server_servers": servers(name="MCP_Example")}, ['entry "MCP_Example"', "name"]),
    ("mcp_server-duplicate", {"mcp_server_servers": [EXAMPLE, EXAMPLE, HUBSPOT]},
     ["mcp_server_servers", "duplicate: mcp-example"]),
    ("mcp_server-path-relative", {"mcp_server_servers": servers(path="mcp/example")},
     ['entry "mcp-example"', "path", '"mcp/example"']),
    ("mcp_server-kind", {"mcp_server_servers": servers(kind="DaemonSet")}, ["mcp_server_servers", "kind", "DaemonSet"]),
    ("mcp_server-secret-name", {"mcp_server_servers": servers(env_from=[{"secret": "Bad_Secret"}])},
     ['entry "mcp-example"', "env_from", "Bad_Secret"]),
    ("mcp_server-run_as_root", {"mcp_server_servers": servers(run_as_user=0)},
     ['entry "mcp-example"', "run_as_user", "(got 0)"]),
    ("mcp_server-authorization-empty", {"mcp_server_servers": servers(authorization={"tools": {"delete_contact": []}})},
     ['entry "mcp-example"', "authorization.tools.delete_contact", "(got [])"]),
    ("mcp_server-authorization-role", {"mcp_server_servers": servers(authorization={"default": ["Hub Spot.Read"]})},
     ['entry "mcp-example"', "authorization.default", '"Hub Spot.Read"']),
    ("mcp_server-authorization-cel", {"mcp_server_servers": servers(authorization={"expressions": ["jwt.roles.exists(r, "]})},
     ['entry "mcp-example"', "authorization.expressions[0] does not compile as CEL", '"jwt.roles.exists(r, "']),
    ("mcp_server-authorization-variable", {"mcp_server_servers": servers(authorization={"expressions": ['claims.tid == "x"']})},
     ['entry "mcp-example"', "authorization.expressions[0] uses claims"]),
    ("mcp_server-authorization-no-auth", {"auth_policy_disabled": True,
                                          "mcp_server_servers": servers(authorization={"default": ["MCP.Access"]})},
     ['entry "mcp-example"', "authorization needs JWT authentication", "MCP.Access"]),
    ("mcp_server-rate_limit-both", {"mcp_server_servers": servers(rate_limit={"requests": 5, "tokens": 5, "unit": "Hours"})},
     ['entry "mcp-example"', "rate_limit must set exactly one of requests", '"tokens": 5']),
    ("mcp_server-discovery", {"mcp_server_servers": servers(discovery="sometimes")},
     ["discovery", "sometimes"]),
    # network_policy
    ("network_policy_api_server_cidrs-host-bits", {"network_policy_api_server_cidrs": ["10.0.0.1/8"]},
     ["network_policy_api_server_cidrs", '"10.0.0.1/8"']),
    ("network_policy_mssql_client-empty", {"network_policy_mssql_client_pod_selector": {}},
     ["network_policy_mssql_client_pod_selector", "(got {})"]),
    ("network_policy_extra_egress-not-rules", {"network_policy_extra_egress": {"mcp-hubspot": "443"}},
     ["network_policy_extra_egress", '"443"']),
    ("network_policy_gateway_port-zero", {"network_policy_gateway_port": 0}, ["network_policy_gateway_port", "(got 0)"]),
    # token_refresh
    ("token_refresh_schedule-4-fields", {"token_refresh_schedule": "*/23 * * *"}, ["token_refresh_schedule", '"*/23 * * *"']),
    ("token_refresh_schedule-minute-61", {"token_refresh_schedule": "61 * * * *"}, ["token_refresh_schedule", '"61 * * * *"']),
    ("token_refresh_client_secret-missing", {"token_refresh_client_secret": ""}, ["token_refresh_client_secret"]),
    ("token_refresh_image-latest", {"token_refresh_image": "docker.io/library/python:latest"},
     ["token_refresh_image", "python:latest"]),
    ("token_refresh_token_url-http", {"token_refresh_token_url": "http://api.hubapi.com/oauth/v1/token"},
     ["token_refresh_token_url", "http://api.hubapi.com/oauth/v1/token"]),
    ("token_refresh_backoff_limit", {"token_refresh_backoff_limit": -1}, ["token_refresh_backoff_limit", "-1"]),
    ("token_refresh_resources-128MB", {"token_refresh_resources": resources("limits", "memory", "128 MB")},
     ["token_refresh_resources.limits.memory", '"128 MB"']),
    ("token_refresh_request_timeout", {"token_refresh_request_timeout": 0}, ["token_refresh_request_timeout", "(got 0)"]),
    # auth_policy
    ("auth_policy_cache-5-minutes", {"auth_policy_jwks_cache_duration": "5 minutes"},
     ["auth_policy_jwks_cache_duration", '"5 minutes"']),
    ("auth_policy_cache-below-5m", {"auth_policy_jwks_cache_duration": "1m"}, ["auth_policy_jwks_cache_duration", '"1m"']),
    ("auth_policy_tenant_id", {"auth_policy_tenant_id": "not-a-guid"}, ["auth_policy_tenant_id", '"not-a-guid"']),
    ("auth_policy_client_id-empty", {"auth_policy_client_id": ""}, ["auth_policy_client_id", 'got ""']),
    ("auth_policy_issuer-http", {"auth_policy_issuer": "http://login.microsoftonline.com/x/v2.0"},
     ["auth_policy_issuer", "http://login.microsoftonline.com/x/v2.0"]),
    ("auth_policy_mode", {"auth_policy_mode": "Lenient"}, ["auth_policy_mode", "Lenient"]),
    ("auth_policy_ca", {"auth_policy_jwks_ca_certificate": "not a pem"}, ["auth_policy_jwks_ca_certificate", "not a pem"]),
    ("auth_policy_too-many-targets", {"auth_policy_extra_routes": ["route-%d" % i for i in range(20)],
                                      "auth_policy_discovery": False},
     ["auth_policy_extra_routes", "23 objects"]),
    ("auth_policy_public_base_url-missing", {"auth_policy_public_base_url": ""}, ["auth_policy_public_base_url", '(got "")']),
    ("auth_policy_public_base_url-path", {"auth_policy_public_base_url": "https://mcp.example.com/gw"},
     ["auth_policy_public_base_url", '"https://mcp.example.com/gw"']),
    ("auth_policy_public_base_url-http", {"auth_policy_public_base_url": "http://mcp.example.com"},
     ["auth_policy_public_base_url", '"http://mcp.example.com"']),
    ("auth_policy_discovery-gateway-target", {"auth_policy_target": "gateway"},
     ["auth_policy_target is gateway", "auth_policy_discovery"]),
    ("auth_policy_discovery_scopes-empty", {"auth_policy_discovery_scopes": []}, ["auth_policy_discovery_scopes", "(got [])"]),
    # ui
    ("ui_replicas-negative", {"ui_replicas": -1}, ["ui_replicas", "-1"]),
    ("ui_resources-1GB", {"ui_resources": resources("limits", "memory", "1 GB")}, ["ui_resources.limits.memory", '"1 GB"']),
    ("ui_image-untagged", {"ui_image": "ghcr.io/mcp-gateway/mcp-ui"}, ["ui_image", '"ghcr.io/mcp-gateway/mcp-ui"']),
    ("ui_path-trailing-slash", {"ui_path": "/ui/"}, ["ui_path", '"/ui/"']),
    ("ui_gateway_url-ftp", {"ui_gateway_url": "ftp://gateway:8080"}, ["ui_gateway_url", "ftp://gateway:8080"]),
    ("ui_run_as_root", {"ui_run_as_user": 0}, ["ui_run_as_user", "(got 0)"]),
    # ui_port_forward
    ("ui_port_forward_local_port", {"ui_port_forward_local_port": 70000}, ["ui_port_forward_local_port", "70000"]),
    ("ui_port_forward_manager", {"ui_port_forward_manager": "cron"}, ["ui_port_forward_manager", "cron"]),
    ("ui_port_forward_start_timeout", {"ui_port_forward_start_timeout": 0}, ["ui_port_forward_start_timeout", "(got 0)"]),
    # verify
    ("verify_gateway_url-no-scheme", {"verify_gateway_url": "localhost:8080"}, ["verify_gateway_url", '"localhost:8080"']),
    ("verify_expected_tools-unknown", {"verify_expected_tools": {"mcp-nope": ["echo"]}},
     ["verify_expected_tools", "mcp-nope"]),
    ("verify_azure_secret-missing", {"verify_azure_client_id": GUID}, ["verify_azure_client_secret"]),
    # tooling
    ("tooling_arch", {"tooling_arch": "x86"}, ["tooling_arch", "x86"]),
    ("tooling_download_timeout", {"tooling_download_timeout": 0}, ["tooling_download_timeout", "(got 0)"]),
    ("tooling_kubectl_version", {"tooling_kubectl_enabled": True, "tooling_kubectl_version": "1.36"},
     ["tooling_kubectl_version", '"1.36"']),
]

SECRET_ARGS = {"name": "bad-input", "namespace": NS}
HUBSPOT_ARGS = {"client_id": "id", "client_secret": "secret", "refresh_token": "refresh", "namespace": NS,
                "token_url": "http://127.0.0.1:9/token"}
AZURE_ARGS = {"tenant_id": GUID, "client_id": GUID, "client_secret": "secret"}
# (id, module, arguments, substrings of the failure message)
MODULE_CASES = [
    ("connection_secret-from_secrets-no-key", "connection_secret",
     dict(SECRET_ARGS, from_secrets=[{"secret": "mcp-mssql-connection"}]), ["key", "from_secrets"]),
    ("connection_secret-key-twice", "connection_secret",
     dict(SECRET_ARGS, string_data={"host": "x"}, from_secrets=[{"secret": "mcp-mssql-connection", "key": "host"}]),
     ["Key host", "requested twice"]),
    ("connection_secret-no-namespace", "connection_secret", {"name": "bad-input"}, ["namespace"]),
    ("hubspot_token-min_validity", "hubspot_token", dict(HUBSPOT_ARGS, min_validity=-1), ["min_validity", "-1"]),
    ("hubspot_token-retries", "hubspot_token", dict(HUBSPOT_ARGS, retries=-1), ["retries", "-1"]),
    ("hubspot_token-timeout", "hubspot_token", dict(HUBSPOT_ARGS, timeout=0), ["timeout", "0"]),
    ("hubspot_token-return_token-logged", "hubspot_token", dict(HUBSPOT_ARGS, return_token=True),
     ["return_token", "no_log"]),
    ("rollout_restart-kind", "rollout_restart", {"namespace": NS, "name": "mcp-ui", "kind": "Job"}, ["kind", "Job"]),
    ("rollout_restart-wait_sleep", "rollout_restart", {"namespace": NS, "name": "mcp-ui", "wait_sleep": 0},
     ["wait_sleep", "0"]),
    ("rollout_restart-name-and-selectors", "rollout_restart",
     {"namespace": NS, "name": "mcp-ui", "label_selectors": ["app=mcp-ui"]}, ["name", "label_selectors"]),
    ("mcp_probe-url", "mcp_probe", {"url": "localhost:8080/mcp/mcp-example"}, ["url", "localhost:8080/mcp/mcp-example"]),
    ("mcp_probe-timeout", "mcp_probe", {"url": "http://127.0.0.1:9/mcp", "timeout": 0}, ["timeout", "0"]),
    ("azure_ad_token-tenant", "azure_ad_token", dict(AZURE_ARGS, tenant_id="contoso"), ["tenant_id", "contoso"]),
    ("azure_ad_token-client_id", "azure_ad_token", dict(AZURE_ARGS, client_id="my-app"), ["client_id", "my-app"]),
]


class Outcome:
    """What one case did: exit code, the failed tasks' messages (and whether all were in the validation
    play), and the writes the API server's audit log recorded while it ran."""

    def __init__(self, rc, messages, in_validation, writes, seconds):
        self.rc, self.messages, self.in_validation, self.writes, self.seconds = rc, messages, in_validation, writes, seconds

    @property
    def refused(self):
        return self.rc != 0 and bool(self.messages) and self.in_validation and not self.writes


def site_case(cluster, azure_ad, extra):
    run = playbook(cluster, azure_ad, "site", "-e", json.dumps(extra))
    failed = []  # (play, message) of each failed task and of its failed loop items
    for play in run.doc.get("plays", []):
        for task in play["tasks"]:
            result = task["hosts"].get("localhost", {})
            if result.get("failed"):
                failed += [(play["play"]["name"], item.get("msg", "")) for item in [result] + result.get("results", [])
                           if item is result or item.get("failed") or "exception" in item]
    messages = [str(msg) for _play, msg in failed] or ([run.output[-2000:]] if run.rc else [])
    return run.rc, messages, bool(failed) and all(play == VALIDATE_PLAY for play, _msg in failed)


def module_case(cluster, module, args):
    task = {"name": "bad input", "mcp_gateway.platform." + module: args}
    run = run_playbook([task], kubeconfig=str(cluster.kubeconfig), extra_env={"PATH": cluster.env["PATH"]})
    result = run.results.get("bad input", {})
    return run.rc, [str(result.get("msg", ""))] if result.get("failed") else [], True


@pytest.fixture(scope="module")
def converged(cluster, azure_ad):
    started = time.monotonic()
    run = playbook(cluster, azure_ad, "site")
    assert run.rc == 0 and run.stats.get("failures") == 0, run.output[-6000:]
    return time.monotonic() - started


@pytest.fixture(scope="module")
def outcomes(cluster, azure_ad, converged):
    """Every case, three at a time, after the converge; {case id: Outcome}, and the batch's own figures."""
    jobs = [(case_id, lambda extra=extra: site_case(cluster, azure_ad, extra)) for case_id, extra, _want in SITE_CASES]
    jobs += [(case_id, lambda module=module, args=args: module_case(cluster, module, args))
             for case_id, module, args, _want in MODULE_CASES]

    def run(job):
        case_id, call = job
        offset, started = cluster.audit_offset(), time.monotonic()
        rc, messages, in_validation = call()
        return case_id, Outcome(rc, messages, in_validation, cluster.writes(since=offset), time.monotonic() - started)

    batch_offset, started = cluster.audit_offset(), time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = dict(pool.map(run, jobs))
    time.sleep(1)  # the audit log's last lines
    results["(batch)"] = Outcome(0, [], True, cluster.writes(since=batch_offset), time.monotonic() - started)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("case_id, extra, want", SITE_CASES, ids=[case[0] for case in SITE_CASES])
def test_site_refuses_bad_input_before_any_write(outcomes, case_id, extra, want):
    outcome = outcomes[case_id]
    assert outcome.rc != 0, (extra, outcome.messages)
    assert outcome.in_validation, ("failed outside the validation play", outcome.messages)
    message = " ".join(outcome.messages)
    assert all(part in message for part in want), (want, outcome.messages)
    assert outcome.writes == [], outcome.writes


@pytest.mark.slow
@pytest.mark.parametrize("case_id, module, args, want", MODULE_CASES, ids=[case[0] for case in MODULE_CASES])
def test_modules_refuse_bad_arguments_before_any_write(outcomes, case_id, module, args, want):
    outcome = outcomes[case_id]
    assert outcome.rc != 0, (module, args, outcome.messages)
    message = " ".join(outcome.messages)
    assert all(part in message for part in want), (want, outcome.messages)
    assert outcome.writes == [], outcome.writes


@pytest.mark.slow
def test_summary(outcomes, converged):
    """The figures of docs/reliability.md (## Bad input); no write during the whole batch either."""
    cases = {k: v for k, v in outcomes.items() if k != "(batch)"}
    refused = sum(1 for outcome in cases.values() if outcome.refused)
    writes = sum(len(outcome.writes) for outcome in cases.values())
    batch = outcomes["(batch)"]
    print("\nbad input: %d/%d refused (%d site.yml, %d module cases), %d writes before refusal (%d in the whole batch);"
          " converge %.0f s, %d cases in %.0f s with %d workers (slowest %.1f s)"
          % (refused, len(cases), len(SITE_CASES), len(MODULE_CASES), writes, len(batch.writes), converged,
             len(cases), batch.seconds, WORKERS, max(outcome.seconds for outcome in cases.values())))
    assert len(cases) >= 60
    assert batch.writes == []
    assert refused == len(cases), sorted(k for k, v in cases.items() if not v.refused)
