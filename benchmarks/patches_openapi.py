"""Speed of the emulator's patch engines and OpenAPI documents (prints figures, asserts nothing).

Run: PYTHONPATH=tests .venv/bin/python benchmarks/patches_openapi.py

* strategic merge patch: kubectl-apply-style patches ($setElementOrder, $patch: delete, env/ports) on
  a Deployment, a plain SMP on a Pod; JSON patch and merge patch on the same Deployment (ops/s)
* OpenAPI: cold build of every built-in v3 group-version document (what /openapi/v3 triggers), the
  cached index, v2, and the group-versions of the real Gateway API and agentgateway CRDs
"""

from __future__ import annotations

import pathlib
import sys
import time

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

from k8s_emulator.openapi import OpenAPI  # noqa: E402
from k8s_emulator.patches import json_patch, merge_patch, strategic_merge_patch  # noqa: E402
from k8s_emulator.registry import ALL_VERBS, BUILTIN, Registry, ResourceType  # noqa: E402
from k8s_emulator import schemas  # noqa: E402

CRDS = pathlib.Path("/work/shared/crds")
RT = {(rt.group, rt.kind): rt for rt in BUILTIN}


def deployment(n_containers: int = 3, n_env: int = 20) -> dict:
    containers = [{
        "name": f"c{i}", "image": f"img{i}:1", "imagePullPolicy": "IfNotPresent",
        "env": [{"name": f"E{j}", "value": str(j)} for j in range(n_env)],
        "ports": [{"containerPort": 8000 + i, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    } for i in range(n_containers)]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "x"},
                     "annotations": {"a": "1"}, "finalizers": ["f1", "f2"]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": containers, "volumes": [{"name": "data", "emptyDir": {}}]}}},
    }


APPLY_PATCH = {
    "metadata": {"labels": {"tier": None}, "$setElementOrder/finalizers": ["f2"], "$deleteFromPrimitiveList/finalizers": ["f1"]},
    "spec": {"replicas": 3, "template": {"spec": {
        "$setElementOrder/containers": [{"name": "new"}, {"name": "c0"}, {"name": "c1"}],
        "containers": [
            {"name": "new", "image": "new:1"},
            {"name": "c0", "image": "img0:2", "$setElementOrder/env": [{"name": f"E{j}"} for j in range(19, -1, -1)],
             "env": [{"name": "E5", "value": "changed"}],
             "$setElementOrder/ports": [{"containerPort": 8000}, {"containerPort": 9000}],
             "ports": [{"containerPort": 9000, "name": "metrics"}]},
            {"$patch": "delete", "name": "c2"},
        ],
        "volumes": [{"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "cm"}}],
    }}},
}
JSON_OPS = [
    {"op": "replace", "path": "/spec/replicas", "value": 5},
    {"op": "add", "path": "/metadata/labels/new", "value": "1"},
    {"op": "remove", "path": "/spec/template/spec/containers/1"},
    {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "c0"},
]
MERGE = {"metadata": {"labels": {"tier": None, "new": "1"}}, "spec": {"replicas": 4}}


def rate(label: str, fn, seconds: float = 1.0) -> None:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {count / elapsed:>10.0f} ops/s")


def register_crds(registry: Registry, path: pathlib.Path) -> None:
    for crd in yaml.safe_load_all(path.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        registry.set_custom(crd["metadata"]["name"], [
            ResourceType(spec["group"], v["name"], spec["names"]["kind"], spec["names"]["plural"], spec["scope"] == "Namespaced",
                         verbs=ALL_VERBS, subresources=tuple(s for s in ("status", "scale") if s in (v.get("subresources") or {})),
                         crd_name=crd["metadata"]["name"], schema=v["schema"]["openAPIV3Schema"])
            for v in spec["versions"] if v.get("served")])


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<58} {(time.perf_counter() - start) * 1000:>10.1f} ms")
    return result


def main() -> None:
    timed("load built-in definitions (kubernetes-validate, once)", schemas.definitions)
    dep = deployment()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": dep["spec"]["template"]["spec"]}
    print("patch engines (Deployment with 3 containers x 20 env vars)")
    rate("strategic merge patch, kubectl apply style (Deployment)", lambda: strategic_merge_patch(dep, APPLY_PATCH, RT[("apps", "Deployment")]))
    rate("strategic merge patch, add container (Pod)", lambda: strategic_merge_patch(pod, {"spec": {"containers": [{"name": "x", "image": "x"}]}}, RT[("", "Pod")]))
    rate("JSON patch, 4 operations", lambda: json_patch(dep, JSON_OPS))
    rate("JSON merge patch", lambda: merge_patch(dep, MERGE))

    print("\nOpenAPI documents")
    registry = Registry()
    oa = OpenAPI(registry)
    start = time.perf_counter()
    index = timed("v3 index, cold (builds every built-in group-version)", oa.v3_index)
    timed("v2, cold", oa.v2)
    built_in_total = time.perf_counter() - start
    timed("v3 index, cached", oa.v3_index)
    sizes = {path: len(oa.v3_group_version_json(*((("", path.split("/")[1])) if path.startswith("api/") else path.split("/")[1:3])))
             for path in index["paths"]}
    print(f"{'built-in group-versions / total v3 JSON':<58} {len(sizes):>10} / {sum(sizes.values()) / 1e6:.1f} MB")
    print(f"{'v2 JSON':<58} {len(oa.v2_json()) / 1e6:>10.1f} MB")
    register_crds(registry, CRDS / "gateway-api-v1.4.0-standard-install.yaml")
    register_crds(registry, CRDS / "agentgateway-crds-v2.2.0-beta.4.yaml")
    start = time.perf_counter()
    timed("v3 index after registering 9 real CRDs (rebuilds 3 GVs)", oa.v3_index)
    timed("v2 after registering the CRDs", oa.v2)
    crd_total = time.perf_counter() - start
    print(f"{'all documents, built-ins + CRDs (target < 2 s)':<58} {(built_in_total + crd_total) * 1000:>10.1f} ms")


if __name__ == "__main__":
    main()
