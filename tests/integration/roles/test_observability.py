"""The gateway role's observability on one real control plane with the real agentgateway controller.

Metrics: ``gateway_metrics_monitor: auto`` annotates the proxy Pods for Prometheus when the cluster has no
prometheus-operator CRDs and creates a PodMonitor when it has them (the real CRDs of prometheus-operator
``PROM_OPERATOR``, from the Go module proxy); ``servicemonitor`` adds a Service whose endpoints the real
EndpointSlice controller fills with the proxy Pod; ``gateway_metrics_enabled: false`` removes them and the
controller renders the proxy Deployment with ``prometheus.io/scrape: "false"``. Access logs and tracing: the
AgentgatewayPolicy ``<gateway>-telemetry`` is stored (strict field validation), the controller accepts and
attaches it and serves its frontend logging (and tracing) policy over xDS. Tracing is refused, naming
``gateway_tracing_otlp_endpoint``, with the pinned CRDs (v2.2.0-beta.4 refuses ``frontend.tracing``), and
accepted with the CRDs of kgateway v2.2.0 (the controller's own module). Every refusal writes nothing.
"""

import json
import os
import subprocess

import pytest

from integration.test_site import NS, ROOT, conditions, playbook, sent_definitions, xds_resources

GATEWAY = "agentgateway-proxy"
# Enough of site.yml for the gateway: its validation play runs whatever the tags.
TAGS = ("--tags", "namespace,gateway_api_crds,agentgateway_crds,control_plane,gateway")
# prometheus-operator's CRDs, from the Go module proxy (module source zip, checked against this hash by go).
PROM_OPERATOR = "github.com/prometheus-operator/prometheus-operator"
PROM_OPERATOR_VERSION = "v0.85.0"
PROM_OPERATOR_SUM = "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
MONITOR_CRDS = ("podmonitors", "servicemonitors")
SCRAPE = {"prometheus.io/scrape": "true", "prometheus.io/port": "15020", "prometheus.io/path": "/metrics"}
OTLP = f"http://otel-collector.{NS}.svc.cluster.local:4318"


def go_module_dir(module, version=None, cwd=None):
    """The module's source directory in the Go module cache (downloaded from the module proxy when missing)."""
    env = dict(os.environ, GOFLAGS="-mod=mod")
    if version:
        info = json.loads(subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], env=env,
                                         cwd=cwd or ROOT, capture_output=True, text=True, timeout=300,
                                         check=True).stdout)
        assert info["Sum"] == PROM_OPERATOR_SUM, info
        return info["Dir"]
    return json.loads(subprocess.run(["go", "list", "-m", "-json", module], cwd=cwd, capture_output=True, text=True,
                                     timeout=120, check=True, env=dict(os.environ, GOFLAGS="-mod=readonly")).stdout)["Dir"]


def gateway_run(cluster, azure_ad, *extra):
    return playbook(cluster, azure_ad, "site", "--tags", "gateway", *extra)


def extra(**values):
    return ("-e", json.dumps(values))


def message(run):
    """The messages of the failed tasks, with every loop item's (validate_argument_spec fails a loop of roles,
    the items carry the messages)."""
    texts = []
    for play in run.doc.get("plays", []):
        for task in play["tasks"]:
            result = task["hosts"].get("localhost", {})
            if result.get("failed"):
                texts += [str(r.get("msg", "")) for r in [result] + list(result.get("results") or [])]
    return " ".join(texts)


def stored(cluster, kind, name):
    return cluster.get(kind, name, "-n", NS)


def absent(cluster, kind, name):
    return cluster.kubectl("get", kind, name, "-n", NS, check=False).returncode != 0


def proxy_pods(cluster):
    return cluster.get("pods", "-n", NS, "-l", f"gateway.networking.k8s.io/gateway-name={GATEWAY}")["items"]


def template_annotations(cluster):
    """The Pod template annotations of the proxy Deployment the controller renders."""
    return stored(cluster, "deployment", GATEWAY)["spec"]["template"]["metadata"].get("annotations", {})


def telemetry_xds(cluster):
    """{kind of frontend policy: its spec} the controller serves the proxy for AgentgatewayPolicy <gw>-telemetry."""
    served = {}
    for name, resource in xds_resources(cluster).items():
        if f"{GATEWAY}-telemetry" in name and "policy" in resource:
            policy = resource["policy"]
            assert policy["target"] == {"gateway": {"name": GATEWAY, "namespace": NS}}, policy
            served.update(policy["frontend"])
    return served


def assert_accepted(cluster, name):
    """The controller's status of the policy: every ancestor Accepted (not partially) and Attached."""
    policy = stored(cluster, "agentgatewaypolicy", name)
    ancestors = policy.get("status", {}).get("ancestors", [])
    assert ancestors, policy.get("status")
    for index in range(len(ancestors)):
        got = conditions(policy, "ancestors", index)
        assert got["Accepted"] == ("True", "Valid"), got
        assert got["Attached"][0] == "True", got
    return policy


def wait_for(check, timeout=60):
    import time
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture(scope="module")
def converged(cluster, azure_ad):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANSIBLE_INJECT_INVOCATION", "1")
        run = playbook(cluster, azure_ad, "site", *TAGS)
    assert run.rc == 0 and run.stats.get("failures") == 0, run.output[-6000:]
    return run


def test_auto_without_the_podmonitor_crd_annotates_the_proxy_pods(cluster, converged):
    assert cluster.kubectl("get", "crd", "podmonitors.monitoring.coreos.com", check=False).returncode != 0
    parameters = stored(cluster, "agentgatewayparameters", GATEWAY)
    assert parameters["spec"]["deployment"]["spec"]["template"]["metadata"]["annotations"] == SCRAPE
    # The proxy Pods serve the port those annotations name (the controller's container port 'metrics').
    (container,) = [c for c in stored(cluster, "deployment", GATEWAY)["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "agentgateway"]
    assert {"containerPort": 15020, "name": "metrics", "protocol": "TCP"} in container["ports"]
    pods = proxy_pods(cluster)
    assert pods and all(SCRAPE.items() <= p["metadata"]["annotations"].items() for p in pods)


def test_every_observability_object_passes_strict_field_validation(cluster, converged):
    sent = [d for d in sent_definitions(converged) if d.get("kind") in ("AgentgatewayParameters", "AgentgatewayPolicy")]
    assert {d["metadata"]["name"] for d in sent} >= {GATEWAY, f"{GATEWAY}-telemetry"}
    for definition in sent:
        proc = cluster.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                               input=json.dumps(definition), check=False)
        assert proc.returncode == 0 and "unknown field" not in proc.stderr, (proc.stderr, definition)


def test_the_access_log_policy_is_accepted_and_served_to_the_proxy(cluster, converged):
    policy = assert_accepted(cluster, f"{GATEWAY}-telemetry")
    assert policy["spec"]["frontend"] == {"accessLog": {}}
    assert policy["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}]
    served = telemetry_xds(cluster)
    # Logging with no filter and no field changes: every request is logged with the default fields.
    assert served == {"logging": {}}, served


def test_refusals_name_the_variable_and_write_nothing(cluster, azure_ad, converged):
    cases = [
        (extra(gateway_tracing_otlp_endpoint="otel-collector:4318", gateway_tracing_sampling=1.5,
               gateway_access_log_filter="response.code >=", gateway_metrics_interval="30 seconds"),
         ["gateway_tracing_otlp_endpoint must be empty (no tracing) or the URL of an OTLP Service",
          'gateway_tracing_sampling must be a number from 0.0 to 1.0, the fraction of new traces started (got 1.5)',
          'gateway_access_log_filter must be a CEL expression', "does not compile as CEL",
          'gateway_metrics_interval must be a Prometheus duration']),
        # The argument spec's choices, checked first by site.yml's validation play.
        (extra(gateway_metrics_monitor="prometheus"),
         ["value of gateway_metrics_monitor must be one of: auto, podmonitor, servicemonitor, annotations, none, got: "
          "prometheus"]),
        (extra(gateway_access_log_fields_add={"who": "user.name"}),
         ["gateway_access_log_fields_add.who must be a CEL expression", "uses user, not a variable of agentgateway"]),
        # What the cluster cannot carry: no prometheus-operator CRDs, and the pinned CRDs refuse frontend.tracing.
        (extra(gateway_metrics_monitor="podmonitor", gateway_tracing_otlp_endpoint=OTLP),
         ["gateway_metrics_monitor is podmonitor, but the cluster has no CRD podmonitors.monitoring.coreos.com",
          f'gateway_tracing_otlp_endpoint is set ("{OTLP}"), but the installed agentgateway CRDs '
          '(agentgateway_crds_chart_version v2.2.0-beta.4) cannot carry tracing',
          '"tracing is not currently implemented"']),
        (extra(gateway_metrics_monitor="servicemonitor"),
         ["gateway_metrics_monitor is servicemonitor, but the cluster has no CRD servicemonitors.monitoring.coreos.com"]),
    ]
    for values, expected in cases:
        offset = cluster.audit_offset()
        run = playbook(cluster, azure_ad, "site", *values)
        text = message(run)
        assert run.rc != 0 and all(e in text for e in expected), (values, text or run.output[-3000:])
        assert cluster.writes(since=offset) == [], values


@pytest.fixture(scope="module")
def monitor_crds(cluster, converged):
    crd_dir = os.path.join(go_module_dir(PROM_OPERATOR, PROM_OPERATOR_VERSION), "example", "prometheus-operator-crd")
    for plural in MONITOR_CRDS:
        # Server-side: these CRDs exceed the client-side apply annotation's size limit.
        cluster.kubectl("apply", "--server-side", "-f", os.path.join(crd_dir, f"monitoring.coreos.com_{plural}.yaml"))
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{plural}.monitoring.coreos.com", "--timeout=60s")


def test_auto_with_the_podmonitor_crd_creates_a_podmonitor_for_the_proxy_pods(cluster, azure_ad, monitor_crds):
    run = gateway_run(cluster, azure_ad)
    assert run.rc == 0, run.output[-4000:]
    monitor = stored(cluster, "podmonitor", GATEWAY)
    assert monitor["spec"] == {"selector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": GATEWAY}},
                               "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}]}
    # It selects the proxy Pods the controller's Deployment runs, and their port named metrics is 15020.
    selected = cluster.get("pods", "-n", NS, "-l", f"gateway.networking.k8s.io/gateway-name={GATEWAY}")["items"]
    assert selected and all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in selected)
    for pod in selected:
        ports = {p.get("name"): p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        assert ports["metrics"] == 15020
    # This role's annotations are gone from the parameters (the PodMonitor scrapes).
    parameters = stored(cluster, "agentgatewayparameters", GATEWAY)
    assert "metadata" not in parameters["spec"]["deployment"]["spec"]["template"]
    again = gateway_run(cluster, azure_ad)
    assert again.rc == 0 and again.stats.get("changed") == 0, [n for n, r in again.results() if r.get("changed")]


def test_servicemonitor_adds_a_metrics_service_whose_endpoints_are_the_proxy_pods(cluster, azure_ad, monitor_crds):
    run = gateway_run(cluster, azure_ad, *extra(gateway_metrics_monitor="servicemonitor", gateway_metrics_interval="30s",
                                                gateway_metrics_monitor_labels={"release": "prometheus"}))
    assert run.rc == 0, run.output[-4000:]
    assert absent(cluster, "podmonitor", GATEWAY)
    monitor = stored(cluster, "servicemonitor", GATEWAY)
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    service = stored(cluster, "service", f"{GATEWAY}-metrics")
    assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["ports"][0]["port"] == 15020
    pod_ips = {p["status"]["podIP"] for p in proxy_pods(cluster)}

    def endpoints():
        slices = cluster.get("endpointslices", "-n", NS, "-l", f"kubernetes.io/service-name={GATEWAY}-metrics")["items"]
        addresses = {a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]}
        assert addresses and addresses == pod_ips, (addresses, pod_ips)
        assert [p["port"] for s in slices for p in s["ports"]] == [15020]
    wait_for(endpoints)


def test_metrics_and_access_log_off(cluster, azure_ad, monitor_crds):
    run = gateway_run(cluster, azure_ad, *extra(gateway_metrics_enabled=False, gateway_access_log_enabled=False))
    assert run.rc == 0, run.output[-4000:]
    for kind, name in (("podmonitor", GATEWAY), ("servicemonitor", GATEWAY), ("service", f"{GATEWAY}-metrics")):
        assert absent(cluster, kind, name), (kind, name)
    # The controller renders the proxy Deployment with the parameters' annotation over its own "true".
    wait_for(lambda: template_annotations(cluster)["prometheus.io/scrape"] == "false" or (_ for _ in ()).throw(
        AssertionError(template_annotations(cluster))))
    assert stored(cluster, "agentgatewaypolicy", f"{GATEWAY}-telemetry")["spec"]["frontend"] == {
        "accessLog": {"filter": "false"}}
    assert_accepted(cluster, f"{GATEWAY}-telemetry")
    wait_for(lambda: telemetry_xds(cluster) == {"logging": {"filter": "false"}} or (_ for _ in ()).throw(
        AssertionError(telemetry_xds(cluster))))


def test_tracing_where_the_crds_carry_it(cluster, azure_ad, monitor_crds):
    """The CRDs of kgateway v2.2.0 (the module tests/binaries/kgateway pins) accept frontend.tracing: the role
    renders it and the controller serves it."""
    crds = os.path.join(go_module_dir("github.com/kgateway-dev/kgateway/v2", cwd=os.path.join(ROOT, "tests", "binaries",
                                                                                            "kgateway")),
                        "install", "helm", "agentgateway-crds", "templates")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", crds)
    cluster.kubectl("create", "service", "clusterip", "otel-collector", "-n", NS, "--tcp=4318:4318")
    fields = {"user": "jwt.sub", "tool": "mcp.tool.name"}
    run = gateway_run(cluster, azure_ad, *extra(gateway_tracing_otlp_endpoint=OTLP, gateway_tracing_sampling=0.25,
                                                gateway_access_log_filter="response.code >= 400",
                                                gateway_access_log_fields_add=fields,
                                                gateway_access_log_fields_remove=["src.addr"]))
    assert run.rc == 0, run.output[-4000:]
    frontend = stored(cluster, "agentgatewaypolicy", f"{GATEWAY}-telemetry")["spec"]["frontend"]
    assert frontend["tracing"] == {"backendRef": {"group": "", "kind": "Service", "name": "otel-collector",
                                                  "namespace": NS, "port": 4318},
                                   "protocol": "HTTP", "randomSampling": "0.25"}
    assert_accepted(cluster, f"{GATEWAY}-telemetry")

    def served():
        got = telemetry_xds(cluster)
        assert "tracing" in got, got
        return got
    got = wait_for(served)
    assert got["tracing"]["randomSampling"] == "0.25" and got["tracing"].get("protocol", "HTTP") == "HTTP", got
    assert json.dumps(got["tracing"]["providerBackend"]).count(f"otel-collector.{NS}.svc.cluster.local") == 1, got
    assert got["logging"]["filter"] == "response.code >= 400"
    assert sorted(f["name"] for f in got["logging"]["fields"]["add"]) == ["tool", "user"]
    assert got["logging"]["fields"]["remove"] == ["src.addr"]
