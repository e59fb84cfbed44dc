"""Custom resources validated against the real Gateway API v1.4.0 and agentgateway v2.2.0-beta.4 CRDs:
OpenAPI value validation, pruning in the three fieldValidation modes, defaulting and CEL rules."""

import copy
import functools

import pytest
import yaml

from k8s_emulator.validation import Validator
from k8s_emulator.validation.crd import resource_type

CRD_FILES = ("/work/shared/crds/gateway-api-v1.4.0-standard-install.yaml",
             "/work/shared/crds/agentgateway-crds-v2.2.0-beta.4.yaml")


@functools.lru_cache(maxsize=None)
def crds():
    out = {}
    for path in CRD_FILES:
        with open(path, encoding="utf-8") as handle:
            for doc in yaml.safe_load_all(handle):
                if doc:
                    out[doc["spec"]["names"]["kind"]] = doc
    return out


def rt(kind, version=None):
    return resource_type(crds()[kind], version)


@pytest.fixture(scope="module")
def v():
    return Validator()


def messages(result):
    return [f"{c.field}: {c.message}" for c in result.errors]


def httproute(**spec_overrides):
    spec = {
        "parentRefs": [{"name": "agentgateway-proxy", "namespace": "agentgateway-system"}],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/mcp/mcp-example"}}],
                   "backendRefs": [{"group": "agentgateway.dev", "kind": "AgentgatewayBackend", "name": "mcp-example"}]}],
    }
    spec.update(spec_overrides)
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "mcp-example", "namespace": "mcp"}, "spec": spec}


def gateway(listeners=None, **spec_overrides):
    spec = {"gatewayClassName": "agentgateway",
            "listeners": listeners if listeners is not None else [{"name": "http", "port": 8080, "protocol": "HTTP"}]}
    spec.update(spec_overrides)
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "agentgateway-proxy", "namespace": "agentgateway-system"}, "spec": spec}


def backend(target=None):
    target = target or {"name": "mcp-example", "static": {"host": "mcp-example.mcp.svc.cluster.local", "port": 8000,
                                                          "protocol": "StreamableHTTP"}}
    return {"apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayBackend",
            "metadata": {"name": "mcp-example", "namespace": "mcp"}, "spec": {"mcp": {"targets": [target]}}}


def jwt_policy(**spec_overrides):
    spec = {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "agentgateway-proxy"}],
            "traffic": {"jwtAuthentication": {"mode": "Strict", "providers": [{
                "issuer": "https://login.microsoftonline.com/tenant/v2.0", "audiences": ["api://mcp"],
                "jwks": {"remote": {"jwksPath": "/discovery/v2.0/keys",
                                    "backendRef": {"name": "login", "kind": "Service", "port": 443}}}}]}}}
    spec.update(spec_overrides)
    return {"apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayPolicy",
            "metadata": {"name": "azure-jwt", "namespace": "agentgateway-system"}, "spec": spec}


# -- valid objects and defaults ----------------------------------------------------------------------
def test_valid_httproute_gets_the_crd_defaults(v):
    obj = httproute()
    before = copy.deepcopy(obj)
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    assert r.errors == [] and r.bad_request == [] and r.warnings == []
    assert obj == before, "the input must not be mutated"
    parent = r.obj["spec"]["parentRefs"][0]
    assert parent["group"] == "gateway.networking.k8s.io" and parent["kind"] == "Gateway"
    assert r.obj["spec"]["rules"][0]["backendRefs"][0]["weight"] == 1


def test_httproute_rule_without_matches_defaults_to_path_prefix_slash(v):
    obj = httproute(rules=[{"backendRefs": [{"name": "svc", "port": 8000}]}])
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    assert r.errors == []
    assert r.obj["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    backend_ref = r.obj["spec"]["rules"][0]["backendRefs"][0]
    assert backend_ref["group"] == "" and backend_ref["kind"] == "Service"


@pytest.mark.parametrize("kind,factory", [("HTTPRoute", httproute), ("Gateway", gateway),
                                          ("AgentgatewayBackend", backend), ("AgentgatewayPolicy", jwt_policy)])
def test_defaulting_is_idempotent(v, kind, factory):
    first = v.validate_custom(factory(), rt(kind), "Strict")
    assert first.errors == [], messages(first)
    second = v.validate_custom(first.obj, rt(kind), "Strict")
    assert second.obj == first.obj and second.errors == [] and second.warnings == []


def test_nested_defaults_apply_inside_defaulted_objects(v):
    r = v.validate_custom(jwt_policy(), rt("AgentgatewayPolicy"), "Strict")
    assert r.errors == [], messages(r)
    remote = r.obj["spec"]["traffic"]["jwtAuthentication"]["providers"][0]["jwks"]["remote"]
    assert remote["cacheDuration"] == "5m"


# -- unknown fields -------------------------------------------------------------------------------------
def _with_unknown():
    obj = httproute()
    obj["spec"]["foo"] = 1
    obj["spec"]["rules"][0]["matches"][0]["bar"] = {"x": 1}
    obj["metadata"]["bogus"] = "x"
    return obj


def test_unknown_fields_strict_is_a_bad_request(v):
    r = v.validate_custom(_with_unknown(), rt("HTTPRoute"), "Strict")
    assert sorted(r.bad_request) == ['unknown field "metadata.bogus"', 'unknown field "spec.foo"',
                                     'unknown field "spec.rules[0].matches[0].bar"']
    assert r.bad_request_message.startswith('strict decoding error: unknown field "')
    assert r.warnings == []


def test_unknown_fields_warn_prunes_and_warns(v):
    r = v.validate_custom(_with_unknown(), rt("HTTPRoute"), "Warn")
    assert r.bad_request == []
    assert sorted(r.warnings) == ['unknown field "metadata.bogus"', 'unknown field "spec.foo"',
                                  'unknown field "spec.rules[0].matches[0].bar"']
    assert "foo" not in r.obj["spec"] and "bar" not in r.obj["spec"]["rules"][0]["matches"][0]
    assert "bogus" not in r.obj["metadata"]


def test_unknown_fields_ignore_prunes_silently(v):
    r = v.validate_custom(_with_unknown(), rt("HTTPRoute"), "Ignore")
    assert r.bad_request == [] and r.warnings == [] and r.errors == []
    assert "foo" not in r.obj["spec"]


def test_preserve_unknown_fields_keeps_arbitrary_content(v):
    obj = backend()
    obj["spec"]["mcp"]["targets"][0]["static"]["policies"] = {"mcp": {"authentication": {
        "issuer": "https://issuer", "jwks": {"jwksPath": "/keys", "backendRef": {"name": "login", "kind": "Service", "port": 443}},
        "resourceMetadata": {"anything": {"deep": [1, {"x": True}]}}}}}
    r = v.validate_custom(obj, rt("AgentgatewayBackend"), "Strict")
    assert r.bad_request == [] and r.errors == [], messages(r)
    meta = r.obj["spec"]["mcp"]["targets"][0]["static"]["policies"]["mcp"]["authentication"]["resourceMetadata"]
    assert meta == {"anything": {"deep": [1, {"x": True}]}}


# -- OpenAPI value validation -------------------------------------------------------------------------
def test_pattern_violation_message(v):
    r = v.validate_custom(httproute(hostnames=["Bad_Host"]), rt("HTTPRoute"), "Strict")
    assert messages(r) == [
        "spec.hostnames[0]: Invalid value: \"Bad_Host\": spec.hostnames[0] in body should match "
        "'^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"]
    assert r.errors[0].reason == "FieldValueInvalid"


def test_enum_violation_is_unsupported_value(v):
    obj = httproute()
    obj["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    assert ('spec.rules[0].matches[0].path.type: Unsupported value: "Prefix": supported values: '
            '"Exact", "PathPrefix", "RegularExpression"') in messages(r)
    assert r.errors[0].reason == "FieldValueNotSupported"


def test_type_errors_integer_vs_string_block_cel(v):
    r = v.validate_custom(gateway([{"name": "http", "port": "8080", "protocol": "HTTP"}]), rt("Gateway"), "Strict")
    assert messages(r)[0] == ('spec.listeners[0].port: Invalid value: "string": spec.listeners[0].port in body '
                              'must be of type integer: "string"')
    assert r.errors[0].reason == "FieldValueTypeInvalid"
    assert messages(r)[-1] == ('<nil>: Invalid value: "null": some validation rules were not checked because the object '
                               'was invalid; correct the existing errors to complete validation')


def test_number_is_not_an_integer(v):
    r = v.validate_custom(gateway([{"name": "http", "port": 80.5, "protocol": "HTTP"}]), rt("Gateway"), "Strict")
    assert "must be of type integer: \"number\"" in messages(r)[0]


def test_minimum_and_maximum(v):
    low = v.validate_custom(gateway([{"name": "http", "port": 0, "protocol": "HTTP"}]), rt("Gateway"), "Strict")
    assert messages(low) == ["spec.listeners[0].port: Invalid value: 0: spec.listeners[0].port in body should be "
                             "greater than or equal to 1"]
    high = v.validate_custom(gateway([{"name": "http", "port": 70000, "protocol": "HTTP"}]), rt("Gateway"), "Strict")
    assert messages(high) == ["spec.listeners[0].port: Invalid value: 70000: spec.listeners[0].port in body should be "
                              "less than or equal to 65535"]


def test_required_property(v):
    obj = httproute(parentRefs=[{"namespace": "agentgateway-system"}])
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    assert "spec.parentRefs[0].name: Required value" in messages(r)
    assert all(e.reason == "FieldValueRequired" for e in r.errors if e.field == "spec.parentRefs[0].name")


def test_min_and_max_length(v):
    long_name = "a" * 254
    r = v.validate_custom(httproute(parentRefs=[{"name": long_name}]), rt("HTTPRoute"), "Strict")
    assert "spec.parentRefs[0].name: Too long: may not be more than 253 bytes" in messages(r)
    r = v.validate_custom(httproute(parentRefs=[{"name": ""}]), rt("HTTPRoute"), "Strict")
    assert 'spec.parentRefs[0].name: Invalid value: "": spec.parentRefs[0].name in body should be at least 1 chars long' in messages(r)


def test_min_and_max_items(v):
    r = v.validate_custom(httproute(hostnames=[f"h{i}.example.com" for i in range(17)]), rt("HTTPRoute"), "Strict")
    assert messages(r) == ["spec.hostnames: Too many: 17: must have at most 16 items"]
    r = v.validate_custom(gateway([]), rt("Gateway"), "Strict")
    assert "spec.listeners: Invalid value: 0: spec.listeners in body should have at least 1 items" in messages(r)


def test_max_properties(v):
    labels = {f"k{i}": "v" for i in range(9)}
    r = v.validate_custom(gateway(infrastructure={"labels": labels}), rt("Gateway"), "Strict")
    assert messages(r) == ["spec.infrastructure.labels: Too many: 9: must have at most 8 items"]


def test_list_type_map_duplicate_keys(v):
    listeners = [{"name": "http", "port": 8080, "protocol": "HTTP"}, {"name": "http", "port": 8081, "protocol": "HTTP"}]
    r = v.validate_custom(gateway(listeners), rt("Gateway"), "Strict")
    assert 'spec.listeners[1]: Duplicate value: map[string]interface {}{"name":"http"}' in messages(r)


def test_list_type_set_duplicates(v):
    obj = httproute()
    obj["spec"]["rules"][0]["filters"] = [{"type": "RequestHeaderModifier",
                                           "requestHeaderModifier": {"remove": ["x-a", "x-a"]}}]
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    assert 'spec.rules[0].filters[0].requestHeaderModifier.remove[1]: Duplicate value: "x-a"' in messages(r)


def test_int_or_string_accepts_both_and_checks_string_pattern(v):
    params = {"apiVersion": "agentgateway.dev/v1alpha1", "kind": "AgentgatewayParameters",
              "metadata": {"name": "p", "namespace": "agentgateway-system"},
              "spec": {"resources": {"limits": {"cpu": 2, "memory": "512Mi"}}}}
    r = v.validate_custom(params, rt("AgentgatewayParameters"), "Strict")
    assert r.errors == [], messages(r)
    params["spec"]["resources"]["limits"]["memory"] = "lots"
    params["spec"]["resources"]["limits"]["cpu"] = True
    r = v.validate_custom(params, rt("AgentgatewayParameters"), "Strict")
    text = messages(r)
    assert any(m.startswith('spec.resources.limits.memory: Invalid value: "lots": spec.resources.limits.memory in body should match') for m in text)
    assert any(m.startswith('spec.resources.limits.cpu: Invalid value: "boolean"') and "integer,string" in m for m in text)


def test_one_of_with_ipv4_format(v):
    good = v.validate_custom(gateway(addresses=[{"type": "IPAddress", "value": "10.0.0.1"}]), rt("Gateway"), "Strict")
    assert good.errors == [], messages(good)
    bad = v.validate_custom(gateway(addresses=[{"type": "IPAddress", "value": "10.0.0.999"}]), rt("Gateway"), "Strict")
    text = messages(bad)
    assert any("must validate one and only one schema (oneOf)" in m for m in text)
    assert 'spec.addresses[0].value: Invalid value: "10.0.0.999": spec.addresses[0].value in body must be of type ipv4: "10.0.0.999"' in text


def test_metadata_name_must_be_a_dns_subdomain(v):
    obj = httproute()
    obj["metadata"]["name"] = "Not_Valid"
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    assert messages(r)[0].startswith('metadata.name: Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain must consist of')


def test_metadata_labels_are_validated(v):
    obj = httproute()
    obj["metadata"]["labels"] = {"bad key!": "v", "ok": "bad value!"}
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    fields = {e.field for e in r.errors}
    assert fields == {"metadata.labels"} and len(r.errors) == 2


# -- CEL rules from the real CRDs --------------------------------------------------------------------
def test_gateway_api_cel_rule_rejects_relative_path(v):
    obj = httproute()
    obj["spec"]["rules"][0]["matches"][0]["path"]["value"] = "mcp/x"
    r = v.validate_custom(obj, rt("HTTPRoute"), "Strict")
    assert messages(r) == ["spec.rules[0].matches[0].path: Invalid value: \"object\": value must be an absolute path "
                           "and start with '/' when type one of ['Exact', 'PathPrefix']"]


def test_gateway_api_cel_rule_on_listeners(v):
    listeners = [{"name": "http", "port": 8080, "protocol": "HTTP", "tls": {"mode": "Terminate"}}]
    r = v.validate_custom(gateway(listeners), rt("Gateway"), "Strict")
    assert "spec.listeners: Invalid value: \"array\": tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']" in messages(r)


def test_cel_split_extension_on_label_keys(v):
    prefix = "a" * 253
    r = v.validate_custom(gateway(infrastructure={"labels": {f"{prefix}/x": "v"}}), rt("Gateway"), "Strict")
    assert ("spec.infrastructure.labels: Invalid value: \"object\": If specified, the label key's prefix must be a DNS "
            "subdomain not longer than 253 characters in total.") in messages(r)


def test_agentgateway_cel_rule_exactly_one_target_kind(v):
    target = {"name": "mcp-example"}
    r = v.validate_custom(backend(target), rt("AgentgatewayBackend"), "Strict")
    assert messages(r) == ['spec.mcp.targets[0]: Invalid value: "object": exactly one of the fields in [selector static] must be set']


def test_agentgateway_policy_cel_rules(v):
    r = v.validate_custom(jwt_policy(targetRefs=[{"group": "", "kind": "Service", "name": "x"}]), rt("AgentgatewayPolicy"), "Strict")
    assert "spec: Invalid value: \"object\": the 'traffic' field can only target a Gateway, XListenerSet, or HTTPRoute" in messages(r)
    both = jwt_policy(targetSelectors=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "matchLabels": {"a": "b"}}])
    r = v.validate_custom(both, rt("AgentgatewayPolicy"), "Strict")
    assert 'spec: Invalid value: "object": exactly one of the fields in [targetRefs targetSelectors] must be set' in messages(r)


def test_agentgateway_duration_rule(v):
    policy = jwt_policy()
    policy["spec"]["traffic"]["jwtAuthentication"]["providers"][0]["jwks"]["remote"]["cacheDuration"] = "1s"
    r = v.validate_custom(policy, rt("AgentgatewayPolicy"), "Strict")
    assert len(r.errors) == 1 and r.errors[0].field.endswith("jwks.remote.cacheDuration")
    assert r.errors[0].message.startswith('Invalid value: "string": ')


def test_transition_rule_only_on_update(v):
    gc = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "agentgateway"},
          "spec": {"controllerName": "agentgateway.dev/agentgateway"}}
    created = v.validate_custom(gc, rt("GatewayClass"), "Strict")
    assert created.errors == []
    same = v.validate_custom(gc, rt("GatewayClass"), "Strict", old=created.obj)
    assert same.errors == []
    changed = copy.deepcopy(gc)
    changed["spec"]["controllerName"] = "example.com/other"
    r = v.validate_custom(changed, rt("GatewayClass"), "Strict", old=created.obj)
    assert messages(r) == ['spec.controllerName: Invalid value: "string": Value is immutable']


def test_every_cel_rule_in_both_crd_files_compiles(v):
    from k8s_emulator.validation import structural

    count = 0
    for crd in crds().values():
        for version in crd["spec"]["versions"]:
            node = v.compiled(version["schema"]["openAPIV3Schema"])
            rules = list(structural.all_rules(node))
            count += len(rules)
            assert all(rule.program is not None for rule in rules)
    assert count >= 400  # 233 Gateway API + 185 agentgateway rule occurrences


def test_compiled_schema_is_cached_per_schema_object(v):
    schema = rt("HTTPRoute").schema
    assert v.compiled(schema) is v.compiled(schema)
