"""The OpenAPI documents the emulator serves, checked for what kubectl relies on: every reference
resolves, strategic merge metadata is where kubectl's PatchMetaFromOpenAPIV3 looks for it, PATCH
operations carry fieldValidation, custom resources appear once their CRD is registered (from the real
CRD files), and the documents are valid OpenAPI 3.0 / Swagger 2.0."""

import pathlib

import pytest
import yaml
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator

from k8s_emulator.openapi import OpenAPI
from k8s_emulator.registry import ALL_VERBS, Registry, ResourceType

CRDS = pathlib.Path("/work/shared/crds")
GATEWAY_API = CRDS / "gateway-api-v1.4.0-standard-install.yaml"
AGENTGATEWAY = CRDS / "agentgateway-crds-v2.2.0-beta.4.yaml"
DEPLOYMENT_ITEM = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def register_crds(registry, path):
    """What the emulator's CRD controller registers for each served version of each CRD in ``path``."""
    names = []
    for crd in yaml.safe_load_all(path.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        rts = [
            ResourceType(spec["group"], version["name"], spec["names"]["kind"], spec["names"]["plural"],
                         spec["scope"] == "Namespaced", verbs=ALL_VERBS,
                         subresources=tuple(s for s in ("status", "scale") if s in (version.get("subresources") or {})),
                         crd_name=crd["metadata"]["name"], schema=version["schema"]["openAPIV3Schema"])
            for version in spec["versions"] if version.get("served")
        ]
        registry.set_custom(crd["metadata"]["name"], rts)
        names.append(crd["metadata"]["name"])
    return names


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for key, value in node.items():
            if key not in ("enum", "default", "example"):
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def patch_meta_v3(doc, kind, *fields):
    """kubectl's lookup: the schema whose x-kubernetes-group-version-kind matches, then each field's
    extensions, following a single allOf and $ref to components.schemas (PatchMetaFromOpenAPIV3)."""
    schemas = doc["components"]["schemas"]
    (schema,) = [s for s in schemas.values() if any(g["kind"] == kind for g in s.get("x-kubernetes-group-version-kind", []))]
    meta = None
    for field in fields:
        prop = schema["properties"][field]
        meta = (prop.get("x-kubernetes-patch-merge-key"), prop.get("x-kubernetes-patch-strategy"))
        schema = prop.get("items", prop)
        if schema.get("allOf"):
            schema = schema["allOf"][0]
        if "$ref" in schema:
            schema = schemas[schema["$ref"].removeprefix("#/components/schemas/")]
    return meta


@pytest.fixture(scope="module")
def builtin():
    oa = OpenAPI(Registry())
    return oa


def test_index_lists_every_group_version_with_a_hash(builtin):
    index = builtin.v3_index()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/rbac.authorization.k8s.io/v1"} <= set(index)
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    assert url.split("hash=")[1] == builtin.v3_hash("apps", "v1")
    assert builtin.v3_group_version("example.com", "v1") is None


def test_apps_v1_resolves_every_ref(builtin):
    doc = builtin.v3_group_version("apps", "v1")
    assert doc["openapi"] == "3.0.0" and doc["info"]["version"] == "v1.36.4"
    schemas = doc["components"]["schemas"]
    found = list(refs(doc))
    assert len(found) > 500
    missing = {r for r in found if r.removeprefix("#/components/schemas/") not in schemas}
    assert missing == set()
    # converted from JSON Schema: no "null" types, no $defs references left
    assert schemas["io.k8s.api.apps.v1.Deployment"]["type"] == "object"
    assert not any(r.startswith("#/$defs/") for r in found)


def test_apps_v1_carries_strategic_merge_metadata_where_kubectl_reads_it(builtin):
    doc = builtin.v3_group_version("apps", "v1")
    assert patch_meta_v3(doc, "Deployment", "spec", "template", "spec", "containers") == ("name", "merge")
    assert patch_meta_v3(doc, "Deployment", "spec", "template", "spec", "containers", "ports") == ("containerPort", "merge")
    assert patch_meta_v3(doc, "Deployment", "spec", "template", "spec", "volumes") == ("name", "merge,retainKeys")
    assert patch_meta_v3(doc, "StatefulSet", "spec", "template", "spec", "containers", "env") == ("name", "merge")
    assert patch_meta_v3(doc, "Deployment", "metadata", "finalizers") == (None, "merge")
    service_doc = builtin.v3_group_version("", "v1")
    assert patch_meta_v3(service_doc, "Service", "spec", "ports") == ("port", "merge")


def test_patch_operations_accept_strategic_merge_and_carry_field_validation(builtin):
    doc = builtin.v3_group_version("apps", "v1")
    patch = doc["paths"][DEPLOYMENT_ITEM]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert patch["x-kubernetes-action"] == "patch"
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= {p["name"] for p in patch["parameters"] if p["in"] == "query"}
    assert set(doc["paths"][DEPLOYMENT_ITEM]) >= {"get", "put", "patch", "delete", "parameters"}
    scale = doc["paths"][DEPLOYMENT_ITEM + "/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    for path in builtin.v3_index()["paths"]:
        group, version = ("", path.split("/")[1]) if path.startswith("api/") else path.split("/")[1:3]
        for item in builtin.v3_group_version(group, version)["paths"].values():
            if "patch" in item:
                names = {p["name"] for p in item["patch"]["parameters"] if p["in"] == "query"}
                assert "fieldValidation" in names, path


def test_create_only_kinds_have_only_post(builtin):
    doc = builtin.v3_group_version("authorization.k8s.io", "v1")
    item = doc["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert set(item) == {"parameters", "post"}


def test_v3_documents_are_valid_openapi_3(builtin):
    for group, version in (("apps", "v1"), ("apiextensions.k8s.io", "v1")):
        errors = [str(e)[:200] for e in OpenAPIV30SpecValidator(builtin.v3_group_version(group, version)).iter_errors()]
        assert errors == []


def test_crd_group_versions_appear_after_registration_and_leave_builtins_cached():
    registry = Registry()
    oa = OpenAPI(registry)
    before = oa.v3_index()["paths"]
    apps = oa.v3_group_version("apps", "v1")
    assert "apis/gateway.networking.k8s.io/v1" not in before

    names = register_crds(registry, GATEWAY_API) + register_crds(registry, AGENTGATEWAY)
    after = oa.v3_index()["paths"]
    assert {"apis/gateway.networking.k8s.io/v1", "apis/gateway.networking.k8s.io/v1beta1", "apis/agentgateway.dev/v1alpha1"} <= set(after)
    assert all(after[p] == before[p] for p in before)
    assert oa.v3_group_version("apps", "v1") is apps  # untouched group-version served from the cache

    doc = oa.v3_group_version("gateway.networking.k8s.io", "v1")
    route = doc["components"]["schemas"]["io.k8s.networking.gateway.v1.HTTPRoute"]
    assert route["x-kubernetes-group-version-kind"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "version": "v1"}]
    assert route["properties"]["metadata"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert "rules" in route["properties"]["spec"]["properties"]
    patch = doc["paths"]["/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]  # kubectl falls back to merge patch
    assert "application/merge-patch+json" in patch["requestBody"]["content"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{name}/status" in doc["paths"]
    missing = {r for r in refs(doc) if r.removeprefix("#/components/schemas/") not in doc["components"]["schemas"]}
    assert missing == set()
    backend = oa.v3_group_version("agentgateway.dev", "v1alpha1")["components"]["schemas"]
    assert "dev.agentgateway.v1alpha1.AgentgatewayBackend" in backend
    assert list(OpenAPIV30SpecValidator(doc).iter_errors()) == []

    # A CRD update (new resource types) changes the hash; removing the CRD removes its group-version.
    old_hash = oa.v3_hash("gateway.networking.k8s.io", "v1")
    route_rts = [rt for rt in registry.all() if rt.crd_name == "httproutes.gateway.networking.k8s.io"]
    changed = {**route_rts[0].schema, "description": "changed"}
    registry.set_custom("httproutes.gateway.networking.k8s.io",
                        [ResourceType(rt.group, rt.version, rt.kind, rt.plural, rt.namespaced, subresources=rt.subresources,
                                      crd_name=rt.crd_name, schema=changed if rt.version == "v1" else rt.schema) for rt in route_rts])
    assert oa.v3_index()["paths"]["apis/gateway.networking.k8s.io/v1"]["serverRelativeURL"].split("hash=")[1] != old_hash
    for name in names:
        registry.remove_custom(name)
    assert oa.v3_index()["paths"] == before


def test_v2_is_valid_swagger_with_patch_consumes_and_field_validation():
    registry = Registry()
    register_crds(registry, GATEWAY_API)
    v2 = OpenAPI(registry).v2()
    assert v2["swagger"] == "2.0"
    patch = v2["paths"][DEPLOYMENT_ITEM]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "io.k8s.networking.gateway.v1.HTTPRoute" in v2["definitions"]
    int_or_string = v2["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string["format"] == "int-or-string" and int_or_string["type"] == "string"
    assert int_or_string["description"].startswith("IntOrString is a type that can hold an int32 or a string.")
    assert [str(e)[:200] for e in OpenAPIV2SpecValidator(v2).iter_errors()] == []
