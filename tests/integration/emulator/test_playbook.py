"""kubernetes.core 6.6 (k8s, k8s_info) through the real ansible-playbook against the emulator:
the first run creates everything, the second reports changed=0, check mode changes nothing."""

from __future__ import annotations

import pytest

from integration.modules.modules_playbook import run_playbook

pytestmark = pytest.mark.slow

GATEWAY_CRDS = "/work/shared/crds/gateway-api-v1.4.0-standard-install.yaml"

TASKS = [
    {"name": "gateway api crds", "kubernetes.core.k8s": {"state": "present", "src": GATEWAY_CRDS}},
    {"name": "httproute crd established", "kubernetes.core.k8s_info": {
        "api_version": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "name": "httproutes.gateway.networking.k8s.io", "wait": True, "wait_timeout": 30,
        "wait_condition": {"type": "Established", "status": "True"}}},
    {"name": "namespace", "kubernetes.core.k8s": {"state": "present", "definition": {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mcp"}}}},
    {"name": "config", "kubernetes.core.k8s": {"state": "present", "definition": {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mcp-example", "namespace": "mcp",
                                                              "labels": {"app": "mcp-example"}},
        "data": {"PORT": "8000"}}}},
    {"name": "deployment", "kubernetes.core.k8s": {"state": "present", "wait": True, "wait_timeout": 60, "definition": {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "mcp-example", "namespace": "mcp", "labels": {"app": "mcp-example"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "mcp-example"}},
                 "template": {"metadata": {"labels": {"app": "mcp-example"}},
                              "spec": {"containers": [{"name": "server", "image": "ghcr.io/example/mcp:1.0",
                                                       "ports": [{"containerPort": 8000}]}]}}}}}},
    {"name": "service", "kubernetes.core.k8s": {"state": "present", "definition": {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "mcp-example", "namespace": "mcp"},
        "spec": {"selector": {"app": "mcp-example"}, "ports": [{"port": 8000, "targetPort": 8000}]}}}},
    {"name": "route", "kubernetes.core.k8s": {"state": "present", "definition": {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "mcp-example", "namespace": "mcp"},
        "spec": {"parentRefs": [{"name": "agentgateway-proxy", "namespace": "agentgateway-system"}],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/mcp/mcp-example"}}],
                            "backendRefs": [{"name": "mcp-example", "port": 8000}]}]}}}},
    {"name": "labelled objects", "kubernetes.core.k8s_info": {
        "kind": "ConfigMap", "namespace": "mcp", "label_selectors": ["app=mcp-example"]}},
]


def changed_tasks(run):
    return sorted(name for name, result in run.results.items() if result.get("changed"))


def test_playbook_creates_then_is_idempotent(emulator):
    first = run_playbook(TASKS, kubeconfig=emulator.kubeconfig)
    assert first.rc == 0, first.output[-3000:]
    assert changed_tasks(first) == sorted(["gateway api crds", "namespace", "config", "deployment", "service", "route"])
    assert [r["metadata"]["name"] for r in first["labelled objects"]["resources"]] == ["mcp-example"]
    assert first["deployment"]["result"]["status"]["readyReplicas"] == 1

    second = run_playbook(TASKS, kubeconfig=emulator.kubeconfig)
    assert second.rc == 0, second.output[-3000:]
    assert changed_tasks(second) == []

    route = emulator.kubectl("-n", "mcp", "get", "httproute", "mcp-example", "-o", "jsonpath={.metadata.generation}")
    assert route.stdout == "1"


def test_check_mode_reports_change_without_writing(emulator):
    tasks = [{"name": "config", "kubernetes.core.k8s": {"state": "present", "definition": {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mcp-example", "namespace": "mcp"},
        "data": {"PORT": "9000"}}}}]
    run = run_playbook(tasks, kubeconfig=emulator.kubeconfig, check=True)
    assert run.rc == 0 and run["config"]["changed"] is True
    data = emulator.kubectl("-n", "mcp", "get", "cm", "mcp-example", "-o", "jsonpath={.data.PORT}")
    assert data.stdout == "8000"
