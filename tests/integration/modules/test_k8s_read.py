"""k8s_read through ansible-playbook against the real control plane.

One module run answers several queries as a loop of kubernetes.core.k8s_info would, item by item: the same
objects (compared with what kubectl reads), label selectors, a kind the API server does not serve reported
and not failed, one request per query (read from the real API server's audit log), no write, check mode;
and with wait, the real controllers' readiness (a CRD Established; a Deployment whose Pods no Node admits
is never ready, so the wait fails naming it).
"""

import json
import uuid

import pytest

from modules_playbook import custom_resource_definition, run_playbook

WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def read_task(queries, name="read", **options):
    return {"name": name, "mcp_gateway.platform.k8s_read": dict({"queries": queries}, **options)}


@pytest.fixture(scope="module")
def ns(cluster):
    name = "read-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    for config, tier in (("one", "mcp"), ("two", "mcp"), ("three", "ui")):
        cluster.kubectl("create", "configmap", config, "-n", name, "--from-literal", "k=v")
        cluster.kubectl("label", "configmap", config, "-n", name, f"tier={tier}")
    cluster.kubectl("create", "service", "clusterip", "web", "-n", name, "--tcp", "8000:8000")
    return name


def test_several_queries_in_one_run_read_what_kubectl_reads(kubeconfig, cluster, ns):
    queries = [
        {"kind": "ConfigMap", "namespace": ns, "label_selectors": ["tier=mcp"]},
        {"kind": "Service", "namespace": ns, "name": "web"},
        {"api_version": "apps/v1", "kind": "Deployment", "namespace": ns},
        {"api_version": "example.invalid/v1", "kind": "Gadget", "namespace": ns},
    ]
    since = cluster.audit_offset()
    run = run_playbook([read_task(queries)], kubeconfig=kubeconfig, check=True)
    assert run.rc == 0 and not run["read"]["changed"], run.output[-3000:]
    results = run["read"]["results"]
    assert [r["item"]["kind"] for r in results] == ["ConfigMap", "Service", "Deployment", "Gadget"]
    assert results[0]["item"] == {"api_version": "v1", "kind": "ConfigMap", "name": None, "namespace": ns,
                                  "label_selectors": ["tier=mcp"]}
    assert sorted(o["metadata"]["name"] for o in results[0]["resources"]) == ["one", "two"]
    assert results[1]["resources"][0]["spec"] == cluster.get("service", "web", "-n", ns)["spec"]
    assert results[2]["resources"] == [] and results[2]["api_found"] is True
    assert results[3]["api_found"] is False and results[3]["resources"] == [], results[3]
    assert "Gadget" in results[3]["msg"]
    # What the module sent (the Python client's user agent), read from the API server's audit log: one request
    # per query, no write anywhere (the namespace's controllers may write in it meanwhile: not counted).
    module_requests = [e for e in cluster.audit_events(since) if e.get("userAgent", "").startswith("OpenAPI-Generator/")]
    sent = [(e["verb"], e["objectRef"].get("resource")) for e in module_requests
            if e.get("objectRef", {}).get("namespace") == ns]
    assert sorted(sent) == [("get", "services"), ("list", "configmaps"), ("list", "deployments")], sent
    assert not [e for e in module_requests if e["verb"] in WRITES], module_requests


def test_wait_returns_once_a_crd_is_established(kubeconfig, cluster):
    crd = custom_resource_definition("read.example.com", "Gizmo")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(crd))
    run = run_playbook([read_task([{"api_version": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                                    "name": "gizmos.read.example.com"}],
                                  wait=True, wait_sleep=1, wait_timeout=60,
                                  wait_condition={"type": "Established", "status": "True"})], kubeconfig=kubeconfig)
    assert run.rc == 0, run.output[-3000:]
    [result] = run["read"]["results"]
    conditions = {c["type"]: c["status"] for c in result["resources"][0]["status"]["conditions"]}
    assert conditions["Established"] == "True"


def test_wait_fails_naming_the_kind_when_an_object_is_never_ready(kubeconfig, cluster, ns):
    cluster.kubectl("create", "deployment", "stuck", "-n", ns, "--image", "registry.example/stuck:1.0")
    cluster.kubectl("patch", "deployment", "stuck", "-n", ns, "-p",
                    '{"spec": {"template": {"spec": {"nodeSelector": {"no-such": "node"}}}}}')
    run = run_playbook([read_task([{"api_version": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "stuck"}],
                                  wait=True, wait_sleep=1, wait_timeout=5)], kubeconfig=kubeconfig)
    assert run.rc != 0
    assert "Deployment" in run["read"]["msg"] and "5 seconds" in run["read"]["msg"], run["read"]["msg"]


def test_a_query_without_kind_is_refused(kubeconfig):
    run = run_playbook([read_task([{"api_version": "v1", "name": "x"}])], kubeconfig=kubeconfig)
    assert run.rc != 0
    assert "kind" in run["read"]["msg"] and "queries" in run["read"]["msg"], run["read"]["msg"]
