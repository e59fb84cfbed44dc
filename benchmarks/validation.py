"""Validations per second of the API emulator's validator (tests/k8s_emulator/validation).

Prints, for a Deployment (built-in schema + defaults + semantic checks), an HTTPRoute and an
AgentgatewayPolicy (real CRD schemas: pruning, defaulting, OpenAPI validation, CEL rules), the
time of the first (cold: schema load/compile) validation and the steady-state rate.

Run: PYTHONPATH=tests .venv/bin/python benchmarks/validation.py [--seconds N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from k8s_emulator.registry import BUILTIN  # noqa: E402
from k8s_emulator.validation import Validator  # noqa: E402
from k8s_emulator.validation.crd import resource_type  # noqa: E402

CRD_DIR = "/work/shared/crds"
CRD_FILES = ("gateway-api-v1.4.0-standard-install.yaml", "agentgateway-crds-v2.2.0-beta.4.yaml")

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "mcp-ui", "namespace": "mcp", "labels": {"app.kubernetes.io/name": "mcp-ui"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "mcp-ui"}},
             "template": {"metadata": {"labels": {"app.kubernetes.io/name": "mcp-ui"}},
                          "spec": {"containers": [{
                              "name": "ui", "image": "ghcr.io/example/mcp-ui:1.2.0",
                              "ports": [{"name": "http", "containerPort": 3000}],
                              "env": [{"name": "AUTH_PATH", "value": "/auth"},
                                      {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}],
                              "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                              "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}}]}}}}

HTTPROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": "mcp-ui", "namespace": "mcp"},
    "spec": {"parentRefs": [{"name": "agentgateway-proxy", "namespace": "agentgateway-system"}],
             "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/ui"}}],
                        "filters": [{"type": "URLRewrite",
                                     "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
                        "backendRefs": [{"name": "mcp-ui", "port": 3000}]},
                       {"matches": [{"path": {"type": "PathPrefix", "value": "/auth"}}],
                        "backendRefs": [{"name": "mcp-ui", "port": 3000}]}]}}

POLICY = {
    "apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayPolicy",
    "metadata": {"name": "azure-ad-jwt", "namespace": "agentgateway-system"},
    "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "agentgateway-proxy"}],
             "traffic": {"jwtAuthentication": {"mode": "Strict", "providers": [{
                 "issuer": "https://login.microsoftonline.com/tenant/v2.0", "audiences": ["api://mcp-gateway"],
                 "jwks": {"remote": {"jwksPath": "/tenant/discovery/v2.0/keys",
                                     "backendRef": {"name": "login", "kind": "Service", "port": 443}}}}]}}}}


def load_crds():
    out = {}
    for name in CRD_FILES:
        with open(os.path.join(CRD_DIR, name), encoding="utf-8") as handle:
            for doc in yaml.safe_load_all(handle):
                if doc:
                    out[doc["spec"]["names"]["kind"]] = doc
    return out


def measure(label, fn, seconds):
    start = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - start
    if result.errors or result.bad_request:
        raise SystemExit(f"{label}: unexpectedly invalid: {result.errors or result.bad_request}")
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    elapsed = time.perf_counter() - start
    print(f"{label:20s} cold {cold * 1000:8.1f} ms   {count / elapsed:8.0f} validations/s   {elapsed / count * 1000:6.2f} ms each")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per object")
    args = parser.parse_args()
    validator = Validator()
    crds = load_crds()
    deployment_rt = next(rt for rt in BUILTIN if rt.kind == "Deployment")
    route_rt, policy_rt = resource_type(crds["HTTPRoute"]), resource_type(crds["AgentgatewayPolicy"])
    measure("Deployment", lambda: validator.validate_builtin(DEPLOYMENT, deployment_rt, "Strict"), args.seconds)
    measure("HTTPRoute", lambda: validator.validate_custom(HTTPROUTE, route_rt, "Strict"), args.seconds)
    measure("AgentgatewayPolicy", lambda: validator.validate_custom(POLICY, policy_rt, "Strict"), args.seconds)
    start = time.perf_counter()
    for doc in crds.values():
        validator.validate_crd(doc)
    print(f"{'9 real CRDs':20s} validate_crd total {(time.perf_counter() - start) * 1000:.0f} ms (CEL programs cached)")


if __name__ == "__main__":
    main()
