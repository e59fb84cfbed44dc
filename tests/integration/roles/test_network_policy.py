"""The network_policy role in playbooks/site.yml, on one converged real control plane.

No CNI runs in the test cluster (KWOK plays the kubelet, no Pod network exists), so nothing here proves
that traffic is dropped. What is proved: the real API server accepts every policy with
fieldValidation=Strict, and the policies' selectors and ports match the real Pods -- the labels the
collection's templates, the charts and the real agentgateway controller put on them and their container
ports -- evaluated with the NetworkPolicy semantics below (a connection passes when a policy selecting
the sender allows it as egress and one selecting the receiver allows it as ingress; a Pod selected by
no policy of a type is not isolated for it). Then a tagged re-run changes nothing, a policy dropped from
the settings is deleted, and network_policy_enabled=false deletes them all.
"""

import ipaddress
import json

import pytest

from integration.roles.test_observability import message
from integration.test_site import NS, playbook

PREFIX = "mcp-platform"
PUBLIC_IP = "104.18.0.10"  # an address outside every private range (HubSpot's API is behind such addresses)
# A Prometheus Pod in another namespace, as NetworkPolicy peers see it.
PROMETHEUS = {"labels": {"app.kubernetes.io/name": "prometheus"},
              "namespace_labels": {"kubernetes.io/metadata.name": "monitoring"}}
ELSEWHERE = {"labels": {"app.kubernetes.io/name": "prometheus"}, "namespace_labels": {"kubernetes.io/metadata.name": "default"}}


@pytest.fixture(scope="module")
def converged(cluster, azure_ad):
    run = playbook(cluster, azure_ad, "site")
    assert run.rc == 0 and run.stats.get("failures") == 0, run.output[-6000:]
    return run


def policies(cluster):
    return cluster.get("networkpolicies", "-n", NS)["items"]


def selects(selector, labels):
    """A LabelSelector (matchLabels and matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if not {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[op]:
            return False
    return True


def peer_matches(peer, other):
    """A NetworkPolicyPeer against the other end: {'labels', 'namespace_labels'} of a Pod, or {'ip'}."""
    if "ipBlock" in peer:
        if "ip" not in other:
            return False  # ipBlock is for addresses outside the cluster here
        address = ipaddress.ip_address(other["ip"])
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    if "ip" in other:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = selects(peer["namespaceSelector"], other["namespace_labels"])
    else:
        namespace_ok = other["namespace_labels"].get("kubernetes.io/metadata.name") == NS
    return namespace_ok and selects(peer.get("podSelector", {}), other["labels"])


def rule_allows(rule, key, other, port, protocol):
    peers_ok = not rule.get(key) or any(peer_matches(peer, other) for peer in rule[key])
    ports_ok = not rule.get("ports") or any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port)
                                            for p in rule["ports"])
    return peers_ok and ports_ok


def allowed(items, pod_labels, direction, other, port, protocol="TCP"):
    """Whether the policies allow ``direction`` ('Ingress' or 'Egress') traffic of the Pod with
    ``pod_labels`` from/to ``other`` on ``port``."""
    key, rules_key = ("from", "ingress") if direction == "Ingress" else ("to", "egress")
    applying = [p["spec"] for p in items if direction in p["spec"]["policyTypes"]
                and selects(p["spec"]["podSelector"], pod_labels)]
    if not applying:
        return True
    return any(rule_allows(rule, key, other, port, protocol) for spec in applying for rule in spec.get(rules_key, []))


class Pods:
    """The namespace's real Pods: labels, container ports, and a flow check through the policies."""

    def __init__(self, cluster):
        self.namespace_labels = cluster.get("namespace", NS)["metadata"]["labels"]
        self.items = cluster.get("pods", "-n", NS)["items"]

    def by(self, key, value):
        found = [p for p in self.items if p["metadata"]["labels"].get(key) == value]
        assert found, f"no Pod with {key}={value} in {NS}"
        return found[0]

    def port(self, pod):
        (port,) = {p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
                   if p.get("name") not in ("metrics", "health")} or {None}
        return port

    def end(self, pod):
        return {"labels": pod["metadata"]["labels"], "namespace_labels": self.namespace_labels}

    def flow(self, items, src, dst, port):
        """(egress of src allows, ingress of dst allows): both must for a connection."""
        return (allowed(items, src["metadata"]["labels"], "Egress", self.end(dst), port),
                allowed(items, dst["metadata"]["labels"], "Ingress", self.end(src), port))


def test_every_policy_is_accepted_with_strict_field_validation(cluster, azure_ad, converged):
    items = policies(cluster)
    names = {p["metadata"]["name"] for p in items}
    assert names == {f"{PREFIX}-{n}" for n in ("default-deny", "dns", "gateway", "ui", "mssql", "mssql-client",
                                               "token-refresh", "controller", "mcp-server-mcp-example",
                                               "mcp-server-mcp-hubspot", "mcp-server-mcp-mssql",
                                               "egress-mcp-example", "egress-mcp-hubspot", "egress-mcp-mssql")}, names
    deny = cluster.get("networkpolicy", f"{PREFIX}-default-deny", "-n", NS)["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, deny
    for item in items:
        body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": item["spec"],
                "metadata": {k: item["metadata"][k] for k in ("name", "namespace", "labels")}}
        proc = cluster.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=json.dumps(body),
                               check=False)
        assert proc.returncode == 0 and "unknown field" not in proc.stderr, (proc.stderr, body)


def test_the_selectors_and_ports_match_the_real_pods(cluster, azure_ad, converged):
    items, pods = policies(cluster), Pods(cluster)
    proxy = pods.by("gateway.networking.k8s.io/gateway-name", "agentgateway-proxy")
    controller = pods.by("agentgateway", "agentgateway")
    ui = pods.by("app.kubernetes.io/name", "mcp-ui")
    mssql = pods.by("app", "mssql-mssqlserver-2022")
    servers = [p for p in pods.items if p["metadata"]["labels"].get("app.kubernetes.io/component") == "mcp-server"]
    assert {p["metadata"]["labels"]["app.kubernetes.io/name"] for p in servers} == {"mcp-example", "mcp-hubspot",
                                                                                   "mcp-mssql"}
    # Every Pod of the namespace is isolated both ways (the default deny selects it) and may query DNS.
    for pod in pods.items:
        labels = pod["metadata"]["labels"]
        assert not allowed(items, labels, "Ingress", {"ip": PUBLIC_IP}, 12345), pod["metadata"]["name"]
        dns = {"labels": {"k8s-app": "kube-dns"}, "namespace_labels": {"kubernetes.io/metadata.name": "kube-system"}}
        assert allowed(items, labels, "Egress", dns, 53, "UDP") and allowed(items, labels, "Egress", dns, 53, "TCP")
    # Clients reach the proxy's listener (its Service's targetPort), from anywhere by default.
    service = cluster.get("service", "agentgateway-proxy", "-n", NS)
    listener = service["spec"]["ports"][0]["targetPort"]
    assert allowed(items, proxy["metadata"]["labels"], "Ingress", {"ip": PUBLIC_IP}, listener)
    # The proxy reaches each MCP server on its container port, the UI on 3000, the controller's xDS port.
    for server in servers:
        assert pods.flow(items, proxy, server, pods.port(server)) == (True, True), server["metadata"]["name"]
        assert pods.flow(items, ui, server, pods.port(server)) == (False, False), server["metadata"]["name"]
    assert pods.port(ui) == 3000 and pods.flow(items, proxy, ui, 3000) == (True, True)
    xds = {p["containerPort"] for c in controller["spec"]["containers"] for p in c["ports"] if p["name"] == "grpc-xds-agw"}
    assert xds == {9978} and pods.flow(items, proxy, controller, 9978) == (True, True)
    # Only mcp-mssql reaches SQL Server, on the chart's container port.
    assert pods.port(mssql) == 1433
    for pod in pods.items:
        reaches = pods.flow(items, pod, mssql, 1433)
        is_client = pod["metadata"]["labels"].get("app.kubernetes.io/name") == "mcp-mssql"
        assert reaches == ((True, True) if is_client else (False, False)), (pod["metadata"]["name"], reaches)
    # Nothing else between the platform's Pods (mcp-example to mcp-hubspot, the UI to the controller).
    hubspot = pods.by("app.kubernetes.io/name", "mcp-hubspot")
    example = pods.by("app.kubernetes.io/name", "mcp-example")
    assert pods.flow(items, example, hubspot, 8000) == (False, False)
    assert pods.flow(items, ui, controller, 9978) == (False, False)


def metrics_port(pod):
    """(container port named metrics, prometheus.io/port annotation) of a live Pod."""
    (port,) = {p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", []) if p.get("name") == "metrics"}
    return port, pod["metadata"].get("annotations", {}).get("prometheus.io/port")


def ingress(cluster, name):
    return cluster.get("networkpolicy", f"{PREFIX}-{name}", "-n", NS)["spec"]["ingress"]


def test_prometheus_may_scrape_the_metrics_ports_the_real_pods_declare(cluster, azure_ad, converged):
    items, pods = policies(cluster), Pods(cluster)
    proxy = pods.by("gateway.networking.k8s.io/gateway-name", "agentgateway-proxy")
    controller = pods.by("agentgateway", "agentgateway")
    # The ports are those the real Pods declare and are annotated with (the controller's proxy Pod template,
    # the agentgateway chart's controller Deployment).
    assert metrics_port(proxy) == (15020, "15020") and metrics_port(controller) == (9092, "9092")
    # As the API server stored them: one extra ingress rule each, from any Pod of the cluster, on that port only.
    anywhere_in_cluster = [{"namespaceSelector": {}}]
    assert ingress(cluster, "gateway")[1:] == [{"from": anywhere_in_cluster, "ports": [{"protocol": "TCP", "port": 15020}]}]
    assert ingress(cluster, "controller")[1:] == [{"from": anywhere_in_cluster, "ports": [{"protocol": "TCP", "port": 9092}]}]
    # The policies select these Pods: Prometheus in another namespace reaches the metrics ports and nothing else.
    for pod, port, others in ((proxy, 15020, (15000, 15021)), (controller, 9092, (9093, 9978))):
        labels = pod["metadata"]["labels"]
        assert allowed(items, labels, "Ingress", PROMETHEUS, port), pod["metadata"]["name"]
        assert not allowed(items, labels, "Ingress", {"ip": PUBLIC_IP}, port), pod["metadata"]["name"]
        for other in others:
            assert not allowed(items, labels, "Ingress", PROMETHEUS, other), (pod["metadata"]["name"], other)


def test_the_refresher_and_the_controller_reach_the_api_server_and_https_outside(cluster, azure_ad, converged):
    items = policies(cluster)
    (slice_,) = cluster.get("endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes")["items"]
    api_ip, api_port = slice_["endpoints"][0]["addresses"][0], slice_["ports"][0]["port"]
    cronjob = cluster.get("cronjob", "hubspot-token-cronjob", "-n", NS)
    refresher = cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    controller = Pods(cluster).by("agentgateway", "agentgateway")["metadata"]["labels"]
    for labels in (refresher, controller):
        assert allowed(items, labels, "Egress", {"ip": api_ip}, api_port), labels
        assert allowed(items, labels, "Egress", {"ip": PUBLIC_IP}, 443), labels
        assert not allowed(items, labels, "Egress", {"ip": "10.1.2.3"}, 443), labels
        assert not allowed(items, labels, "Egress", {"ip": "169.254.169.254"}, 80), labels
    # mcp-hubspot calls HubSpot's API and every default MCP server installs its npm packages at start
    # (network_policy_extra_egress): 443 outside, but not the API server, nor 443 inside the cluster.
    for name in ("mcp-example", "mcp-hubspot", "mcp-mssql"):
        server = Pods(cluster).by("app.kubernetes.io/name", name)["metadata"]["labels"]
        assert allowed(items, server, "Egress", {"ip": PUBLIC_IP}, 443), name
        assert not allowed(items, server, "Egress", {"ip": "10.1.2.3"}, 443), name
        assert not allowed(items, server, "Egress", {"ip": api_ip}, api_port), name


def test_a_rerun_changes_nothing_a_dropped_policy_goes_and_disabled_removes_all(cluster, azure_ad, converged):
    again = playbook(cluster, azure_ad, "site", "--tags", "network_policy")
    assert again.rc == 0 and again.stats.get("changed") == 0, [n for n, r in again.results() if r.get("changed")]

    pruned = playbook(cluster, azure_ad, "site", "--tags", "network_policy", "-e", '{"network_policy_extra_egress": {}}')
    assert pruned.rc == 0, pruned.output[-4000:]
    names = {p["metadata"]["name"] for p in policies(cluster)}
    assert not [n for n in names if n.startswith(f"{PREFIX}-egress-")] and f"{PREFIX}-default-deny" in names, names

    off = playbook(cluster, azure_ad, "site", "--tags", "network_policy", "-e", "network_policy_enabled=false")
    assert off.rc == 0, off.output[-4000:]
    assert policies(cluster) == []

    back = playbook(cluster, azure_ad, "site", "--tags", "network_policy")
    assert back.rc == 0 and len(policies(cluster)) == 14, back.output[-4000:]


def test_no_scrape_rule_a_narrowed_one_and_a_bad_peer_refused_before_any_write(cluster, azure_ad, converged):
    listener, xds = ingress(cluster, "gateway")[0], ingress(cluster, "controller")[0]
    controller = Pods(cluster).by("agentgateway", "agentgateway")["metadata"]["labels"]

    # [] = no scrape rule on either policy (an ingress rule without peers would admit everyone).
    none = playbook(cluster, azure_ad, "site", "--tags", "network_policy", "-e", '{"network_policy_metrics_ingress_from": []}')
    assert none.rc == 0, none.output[-4000:]
    assert ingress(cluster, "gateway") == [listener] and ingress(cluster, "controller") == [xds]
    assert not allowed(policies(cluster), controller, "Ingress", PROMETHEUS, 9092)

    # Narrowed to the monitoring namespace, with the proxy's metrics off: only the controller's rule, from there.
    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    narrowed = playbook(cluster, azure_ad, "site", "--tags", "network_policy",
                        "-e", json.dumps({"gateway_metrics_enabled": False, "network_policy_metrics_ingress_from": monitoring}))
    assert narrowed.rc == 0, narrowed.output[-4000:]
    assert ingress(cluster, "gateway") == [listener]
    assert ingress(cluster, "controller") == [xds, {"from": monitoring, "ports": [{"protocol": "TCP", "port": 9092}]}]
    items = policies(cluster)
    assert allowed(items, controller, "Ingress", PROMETHEUS, 9092)
    assert not allowed(items, controller, "Ingress", ELSEWHERE, 9092)

    # A peer with a key NetworkPolicyPeer does not have is refused in the validation play: nothing is written.
    offset = cluster.audit_offset()
    bad = playbook(cluster, azure_ad, "site", "--tags", "network_policy",
                   "-e", '{"network_policy_metrics_ingress_from": [{"namespace": "monitoring"}]}')
    text = message(bad)
    assert bad.rc != 0 and "network_policy_metrics_ingress_from" in text and '[{"namespace": "monitoring"}]' in text, (
        text or bad.output[-3000:])
    assert cluster.writes(since=offset) == []
