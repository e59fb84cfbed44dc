"""Remote MCP servers (``mcp_server_servers`` entries with ``remote``) on a real control plane with the real
agentgateway controller: no workload and no Service, only the AgentgatewayBackend (static target host, port,
path, TLS on the target) and the HTTPRoute, accepted by the controller and served over xDS; the per-server
policies (per-tool rules, rate limit, discovery) apply to them as to any other; the proxy's NetworkPolicy
egress admits their ports; a second run changes nothing; bad ``remote`` input (a missing CA ConfigMap too) is
refused with zero writes; with ``mcp_server_prune`` an entry turned remote loses its workload and Service, and
an entry whose kind changed loses its old workload. One converge (the tags the servers need), reused by the tests.
"""

import base64
import concurrent.futures
import json
import subprocess

import pytest

from integration.roles.test_observability import message
from integration.test_site import NS, conditions, playbook, xds_resources

TAGS = ("--tags", "namespace,network_policy,gateway_api_crds,agentgateway_crds,control_plane,gateway,mcp_server,"
        "auth_policy")
SAAS = {"name": "saas", "remote": {"host": "mcp.example.com"}}
PRIVATE = {"name": "private", "remote": {"host": "mcp.internal.example.com", "port": 8443, "path": "/v1/mcp",
                                         "sni": "gw.internal.example.com", "ca_configmap": "private-ca"},
           "authorization": {"tools": {"delete_all": ["Admin"]}}, "rate_limit": {"requests": 30, "unit": "Minutes"}}
PLAIN = {"name": "plain", "remote": {"host": "mcp-plain.example.com", "port": 8080, "tls": False}, "discovery": False}
SERVERS = [SAAS, PRIVATE, PLAIN]


def run(cluster, azure_ad, servers, *extra):
    return playbook(cluster, azure_ad, "site", *TAGS, "-e", json.dumps({"mcp_server_servers": servers}), *extra)


@pytest.fixture(scope="module")
def ca_pem(cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.crt"), "-days", "2",
                    "-subj", "/CN=private test CA"], check=True, capture_output=True)
    return (folder / "ca.crt").read_text()


@pytest.fixture(scope="module")
def converged(cluster, azure_ad, ca_pem):
    cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("create", "configmap", "private-ca", "-n", NS, "--from-literal", f"ca.crt={ca_pem}")
    cluster.kubectl("create", "configmap", "not-a-ca", "-n", NS, "--from-literal", "ca.pem=no certificate here")
    first = run(cluster, azure_ad, SERVERS)
    assert first.rc == 0 and first.stats.get("failures") == 0, first.output[-6000:]
    return first


def test_no_workload_and_no_service(cluster, converged):
    for kind in ("deployments", "statefulsets", "services", "serviceaccounts"):
        names = {o["metadata"]["name"] for o in cluster.get(kind, "-n", NS)["items"]}
        assert not {n for n in names if n.startswith(("saas", "private", "plain"))}, (kind, names)


def test_backends_carry_the_static_target_and_tls_as_applied(cluster, converged):
    targets = {s["name"]: cluster.get("agentgatewaybackend", f"{s['name']}-backend", "-n", NS)["spec"]["mcp"]["targets"]
               for s in SERVERS}
    assert targets["saas"] == [{"name": "saas", "static": {
        "host": "mcp.example.com", "port": 443, "path": "/mcp", "protocol": "StreamableHTTP",
        "policies": {"tls": {"sni": "mcp.example.com"}}}}]
    assert targets["private"] == [{"name": "private", "static": {
        "host": "mcp.internal.example.com", "port": 8443, "path": "/v1/mcp", "protocol": "StreamableHTTP",
        "policies": {"tls": {"sni": "gw.internal.example.com", "caCertificateRefs": [{"name": "private-ca"}]}}}}]
    assert targets["plain"] == [{"name": "plain", "static": {
        "host": "mcp-plain.example.com", "port": 8080, "path": "/mcp", "protocol": "StreamableHTTP"}}]
    # The API server stored them with strict field validation (nothing unknown was dropped).
    for server in SERVERS:
        backend = cluster.get("agentgatewaybackend", f"{server['name']}-backend", "-n", NS)
        backend["metadata"] = {"name": backend["metadata"]["name"], "namespace": NS}
        proc = cluster.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                               input=json.dumps({k: backend[k] for k in ("apiVersion", "kind", "metadata", "spec")}),
                               check=False)
        assert proc.returncode == 0 and "unknown field" not in proc.stderr, proc.stderr


def test_the_controller_accepts_backends_routes_and_policies(cluster, converged):
    for server in SERVERS:
        name = server["name"]
        assert conditions(cluster.get("agentgatewaybackend", f"{name}-backend", "-n", NS))["Accepted"][0] == "True"
        parent = conditions(cluster.get("httproute", f"{name}-route", "-n", NS), "parents", 0)
        assert parent["Accepted"][0] == "True" and parent["ResolvedRefs"][0] == "True", (name, parent)
    for policy in ("private-mcp-auth", "private-rate-limit", "saas-mcp-auth"):
        obj = cluster.get("agentgatewaypolicy", policy, "-n", NS)
        got = conditions(obj, "ancestors", 0)
        assert got["Accepted"][0] == "True" and got["Accepted"][1] != "PartiallyValid", (policy, got)


def test_xds_carries_the_remote_host_port_and_tls(cluster, converged, ca_pem):
    resources = xds_resources(cluster)
    expected = {"saas": ("mcp.example.com", 443, "/mcp"), "private": ("mcp.internal.example.com", 8443, "/v1/mcp"),
                "plain": ("mcp-plain.example.com", 8080, "/mcp")}
    tls = {}
    for name, (host, port, path) in expected.items():
        mcp = resources[f"backend/{NS}/{name}-backend"]["backend"]["mcp"]
        assert mcp["targets"] == [{"name": name, "backend": {"backend": f"{NS}/{name}-backend/{name}"}, "path": path,
                                   "protocol": "STREAMABLE_HTTP"}], mcp
        target = resources[f"backend/{NS}/{name}-backend/{name}"]["backend"]
        assert target["static"] == {"host": host, "port": port}, target
        tls[name] = [p["backendTls"] for p in target.get("inlinePolicies", []) if "backendTls" in p]
    assert tls["plain"] == []
    assert [t.get("hostname") for t in tls["saas"]] == ["mcp.example.com"] and "root" not in tls["saas"][0]
    assert [t.get("hostname") for t in tls["private"]] == ["gw.internal.example.com"]
    assert base64.b64decode(tls["private"][0]["root"]).decode().strip() == ca_pem.strip()
    # Per-tool rules and the rate limit apply to a remote server as to any other.
    assert f"policy/{NS}/private-mcp-auth:mcp-authorization:{NS}/private-backend" in resources
    assert f"policy/traffic/{NS}/private-rate-limit:rl-local:{NS}/private-route" in resources


def test_the_proxy_may_reach_the_remote_ports(cluster, converged):
    egress = cluster.get("networkpolicy", "mcp-platform-gateway", "-n", NS)["spec"]["egress"]
    remote = sorted(rule["ports"][0]["port"] for rule in egress if any("ipBlock" in peer for peer in rule["to"]))
    assert remote == [443, 8080, 8443], egress
    names = {p["metadata"]["name"] for p in cluster.get("networkpolicies", "-n", NS)["items"]}
    assert not [n for n in names if n.startswith("mcp-platform-mcp-server-")], names


def test_a_second_run_changes_nothing(cluster, azure_ad, converged):
    again = run(cluster, azure_ad, SERVERS)
    assert again.rc == 0 and again.stats.get("changed") == 0, [n for n, r in again.results() if r.get("changed")]


BAD = [
    ("not-a-mapping", {"name": "bad", "remote": "https://mcp.example.com/mcp"}, ["mcp_server_servers", "remote", "dict"]),
    ("host-scheme", {"name": "bad", "remote": {"host": "https://mcp.example.com"}},
     ['entry "bad"', "remote.host", '"https://mcp.example.com"']),
    ("host-port", {"name": "bad", "remote": {"host": "mcp.example.com:443"}}, ["remote.host", '"mcp.example.com:443"']),
    ("port", {"name": "bad", "remote": {"host": "mcp.example.com", "port": 70000}}, ["remote.port", "70000"]),
    ("path", {"name": "bad", "remote": {"host": "mcp.example.com", "path": "mcp"}}, ["remote.path", '"mcp"']),
    ("tls", {"name": "bad", "remote": {"host": "mcp.example.com", "tls": "yes please"}}, ["tls", "yes please"]),
    ("sni-without-tls", {"name": "bad", "remote": {"host": "mcp.example.com", "tls": False, "sni": "x.example.com"}},
     ["remote.sni", "tls"]),
    ("ca_configmap", {"name": "bad", "remote": {"host": "mcp.example.com", "ca_configmap": "Private_CA"}},
     ["remote.ca_configmap", '"Private_CA"']),
    ("ca-missing", {"name": "bad", "remote": {"host": "mcp.example.com", "ca_configmap": "absent-ca"}},
     ['entry "bad"', 'remote.ca_configmap "absent-ca"', f"does not exist in namespace {NS}", "ca.crt"]),
    ("ca-without-pem", {"name": "bad", "remote": {"host": "mcp.example.com", "ca_configmap": "not-a-ca"}},
     ['entry "bad"', 'remote.ca_configmap "not-a-ca"', "no PEM certificate under the key ca.crt (keys: ca.pem)"]),
    ("unknown-key", {"name": "bad", "remote": {"host": "mcp.example.com", "scheme": "https"}}, ["scheme"]),
    ("with-workload", {"name": "bad", "image": "ghcr.io/x/y:1.0.0", "replicas": 2, "remote": {"host": "mcp.example.com"}},
     ['entry "bad"', "image", "replicas"]),
    ("no-image", {"name": "bad"}, ['entry "bad"', "image"]),
]


@pytest.fixture(scope="module")
def refusals(cluster, azure_ad, converged):
    def case(bad):
        offset = cluster.audit_offset()
        result = run(cluster, azure_ad, [SAAS, bad])
        return result.rc, message(result) or result.output[-3000:], cluster.writes(since=offset)

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip([c[0] for c in BAD], pool.map(case, [c[1] for c in BAD])))


@pytest.mark.parametrize("case_id, entry, want", BAD, ids=[c[0] for c in BAD])
def test_bad_remote_input_is_refused_with_zero_writes(refusals, case_id, entry, want):
    rc, message, writes = refusals[case_id]
    assert rc != 0, message
    assert all(part in message for part in want), (want, message)
    assert writes == [], writes


def names(cluster, kind):
    return {o["metadata"]["name"] for o in cluster.get(kind, "-n", NS)["items"]}


def test_prune_deletes_the_workload_of_an_entry_turned_remote_or_of_another_kind(cluster, azure_ad, converged):
    """Runs last: it changes the server list. Two in-cluster servers first; then one turns remote and the other
    becomes a StatefulSet, with mcp_server_prune: only the objects the run no longer renders are deleted."""
    moving = {"name": "moving", "image": "ghcr.io/example/moving-mcp:1.0.0"}
    switching = {"name": "switching", "image": "ghcr.io/example/switching-mcp:1.0.0"}
    first = run(cluster, azure_ad, SERVERS + [moving, switching])
    assert first.rc == 0, first.output[-6000:]
    assert {"moving", "switching"} <= names(cluster, "deployments")
    assert {"moving-service", "switching-service"} <= names(cluster, "services")

    turned = [SAAS, PRIVATE, PLAIN, {"name": "moving", "remote": {"host": "moving.example.com"}},
              dict(switching, kind="StatefulSet")]
    without_prune = run(cluster, azure_ad, turned)
    assert without_prune.rc == 0, without_prune.output[-6000:]
    assert "moving" in names(cluster, "deployments"), "without prune the old workload stays"

    pruned = run(cluster, azure_ad, turned, "-e", "mcp_server_prune=true")
    assert pruned.rc == 0, pruned.output[-6000:]
    deployments, services = names(cluster, "deployments"), names(cluster, "services")
    assert not {"moving", "switching"} & deployments, deployments
    assert "moving-service" not in services and "switching-service" in services, services
    assert "switching" in names(cluster, "statefulsets")
    static = cluster.get("agentgatewaybackend", "moving-backend", "-n", NS)["spec"]["mcp"]["targets"][0]["static"]
    assert static["host"] == "moving.example.com", static
    # What the list still renders was kept: the remote servers' backends and routes, every auth policy.
    assert {f"{s['name']}-backend" for s in turned} <= names(cluster, "agentgatewaybackends")
    assert {f"{s['name']}-route" for s in turned} <= names(cluster, "httproutes")

    again = run(cluster, azure_ad, turned, "-e", "mcp_server_prune=true")
    assert again.rc == 0 and again.stats.get("changed") == 0, [n for n, r in again.results() if r.get("changed")]
