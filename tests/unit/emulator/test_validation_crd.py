"""CustomResourceDefinition objects: the real Gateway API and agentgateway CRDs are accepted and
defaulted; broken variants of them are rejected with kube-apiserver's field errors."""

import copy
import functools

import pytest
import yaml

from k8s_emulator.validation import Validator

CRD_FILES = ("/work/shared/crds/gateway-api-v1.4.0-standard-install.yaml",
             "/work/shared/crds/agentgateway-crds-v2.2.0-beta.4.yaml")


@functools.lru_cache(maxsize=None)
def _crds():
    out = []
    for path in CRD_FILES:
        with open(path, encoding="utf-8") as handle:
            out.extend(doc for doc in yaml.safe_load_all(handle) if doc)
    return tuple(out)


def crd(name):
    return copy.deepcopy(next(d for d in _crds() if d["metadata"]["name"] == name))


@pytest.fixture(scope="module")
def v():
    return Validator()


def messages(result):
    return [f"{c.field}: {c.message}" for c in result.errors]


def test_all_real_crds_are_valid(v):
    names = [d["metadata"]["name"] for d in _crds()]
    assert len(names) == 9
    for doc in _crds():
        r = v.validate_crd(copy.deepcopy(doc))
        assert (r.errors, r.bad_request, r.warnings) == ([], [], []), doc["metadata"]["name"]


def test_crd_defaults(v):
    obj = crd("httproutes.gateway.networking.k8s.io")
    del obj["spec"]["names"]["singular"]
    del obj["spec"]["names"]["listKind"]
    obj["spec"].pop("conversion", None)
    r = v.validate_crd(obj)
    assert r.errors == []
    assert r.obj["spec"]["names"]["singular"] == "httproute"
    assert r.obj["spec"]["names"]["listKind"] == "HTTPRouteList"
    assert r.obj["spec"]["conversion"] == {"strategy": "None"}
    assert v.validate_crd(r.obj).obj == r.obj


def test_name_must_be_plural_dot_group(v):
    obj = crd("gateways.gateway.networking.k8s.io")
    obj["metadata"]["name"] = "gateway.gateway.networking.k8s.io"
    assert messages(v.validate_crd(obj)) == [
        'metadata.name: Invalid value: "gateway.gateway.networking.k8s.io": must be spec.names.plural+"."+spec.group']


def test_exactly_one_storage_version(v):
    obj = crd("httproutes.gateway.networking.k8s.io")
    for version in obj["spec"]["versions"]:
        version["storage"] = True
    text = messages(v.validate_crd(obj))
    assert len(text) == 1 and text[0].startswith("spec.versions: Invalid value: ")
    assert text[0].endswith(": must have exactly one version marked as storage version")


def test_schema_required_per_version(v):
    obj = crd("agentgatewaybackends.agentgateway.dev")
    del obj["spec"]["versions"][0]["schema"]
    assert messages(v.validate_crd(obj)) == ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"]


def test_scope_plural_and_kind_required(v):
    obj = crd("agentgatewaypolicies.agentgateway.dev")
    del obj["spec"]["scope"]
    obj["spec"]["names"]["plural"] = ""
    del obj["spec"]["names"]["kind"]
    text = messages(v.validate_crd(obj))
    assert "spec.scope: Required value" in text
    assert "spec.names.plural: Required value" in text
    assert "spec.names.kind: Required value" in text
    obj = crd("agentgatewaypolicies.agentgateway.dev")
    obj["spec"]["scope"] = "Global"
    assert messages(v.validate_crd(obj)) == ['spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"']


def test_group_needs_a_dot(v):
    obj = crd("agentgatewaypolicies.agentgateway.dev")
    obj["spec"]["group"] = "agentgateway"
    obj["metadata"]["name"] = "agentgatewaypolicies.agentgateway"
    assert messages(v.validate_crd(obj)) == ['spec.group: Invalid value: "agentgateway": should be a domain with at least one dot']


def test_structural_schema_needs_types(v):
    obj = crd("agentgatewaybackends.agentgateway.dev")
    del obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
    assert messages(v.validate_crd(obj)) == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"]


def test_cel_rule_that_does_not_compile_is_rejected(v):
    obj = crd("agentgatewaybackends.agentgateway.dev")
    spec_schema = obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"][0]["rule"] = "has(self.ai) &&"
    text = messages(v.validate_crd(obj))
    assert len(text) == 1
    assert text[0].startswith("spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: "
                              'Invalid value: "has(self.ai) &&": compilation failed')


def test_group_is_immutable(v):
    old = crd("gateways.gateway.networking.k8s.io")
    new = copy.deepcopy(old)
    new["spec"]["group"] = "other.example.com"
    new["metadata"]["name"] = "gateways.other.example.com"
    assert 'spec.group: Invalid value: "other.example.com": field is immutable' in messages(v.validate_crd(new, old=old))


def test_unknown_fields_in_a_crd(v):
    obj = crd("gateways.gateway.networking.k8s.io")
    obj["spec"]["bogus"] = True
    r = v.validate_crd(obj, field_validation="Strict")
    assert r.bad_request == ['unknown field "spec.bogus"']
    r = v.validate_crd(obj)
    assert r.warnings == ['unknown field "spec.bogus"'] and "bogus" not in r.obj["spec"]
