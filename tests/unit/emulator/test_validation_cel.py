"""x-kubernetes-validations features the real CRDs do not exercise (messageExpression, reason, fieldPath,
optionalOldSelf, escaping, list-map correlation, Kubernetes CEL libraries) and nullable, each on a small
schema written for the feature under test."""

import pytest

from k8s_emulator.registry import ResourceType
from k8s_emulator.validation import Validator, cel


@pytest.fixture(scope="module")
def v():
    return Validator()


def widget_rt(spec_schema):
    schema = {"type": "object", "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                               "metadata": {"type": "object"}, "spec": spec_schema}}
    return ResourceType("example.com", "v1", "Widget", "widgets", True, crd_name="widgets.example.com", schema=schema)


def widget(spec):
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": spec}


def messages(result):
    return [f"{c.field}: {c.message}" for c in result.errors]


def test_message_expression_reason_and_field_path(v):
    rt = widget_rt({"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                    "x-kubernetes-validations": [{
                        "rule": "self.min <= self.max", "messageExpression": "'min ' + string(self.min) + ' exceeds max'",
                        "reason": "FieldValueForbidden", "fieldPath": ".max"}]})
    r = v.validate_custom(widget({"min": 5, "max": 1}), rt)
    assert [(c.field, c.reason, c.message) for c in r.errors] == [
        ("spec.max", "FieldValueForbidden", "Forbidden: min 5 exceeds max")]


def test_rule_without_message_reports_the_rule(v):
    rt = widget_rt({"type": "object", "properties": {"n": {"type": "integer"}},
                    "x-kubernetes-validations": [{"rule": "self.n > 3"}]})
    assert messages(v.validate_custom(widget({"n": 1}), rt)) == ['spec: Invalid value: "object": failed rule: self.n > 3']


def test_evaluation_error_is_reported(v):
    rt = widget_rt({"type": "object", "properties": {"n": {"type": "integer"}},
                    "x-kubernetes-validations": [{"rule": "self.missing == 1", "message": "m"}]})
    assert messages(v.validate_custom(widget({"n": 1}), rt)) == ['spec: Invalid value: "object": no such key: missing evaluating rule: m']


def test_reserved_property_names_are_escaped(v):
    rt = widget_rt({"type": "object", "properties": {"namespace": {"type": "string"}, "x-y": {"type": "string"}},
                    "x-kubernetes-validations": [{"rule": "self.__namespace__ == self.x__dash__y", "message": "differ"}]})
    assert v.validate_custom(widget({"namespace": "a", "x-y": "a"}), rt).errors == []
    assert messages(v.validate_custom(widget({"namespace": "a", "x-y": "b"}), rt)) == ['spec: Invalid value: "object": differ']


def test_transition_rule_correlates_list_map_items_by_key(v):
    rt = widget_rt({"type": "object", "properties": {"items": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"},
            "size": {"type": "integer", "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "may not shrink"}]}}}}}})
    old = v.validate_custom(widget({"items": [{"name": "a", "size": 5}]}), rt).obj
    reordered = widget({"items": [{"name": "b", "size": 1}, {"name": "a", "size": 4}]})
    assert messages(v.validate_custom(reordered, rt, old=old)) == ['spec.items[1].size: Invalid value: "integer": may not shrink']
    assert v.validate_custom(reordered, rt).errors == [], "transition rules only run on update"


def test_optional_old_self_runs_on_create(v):
    rt = widget_rt({"type": "object", "properties": {"v": {"type": "string", "x-kubernetes-validations": [{
        "rule": "oldSelf.hasValue() ? self == oldSelf.value() : self == 'initial'", "optionalOldSelf": True,
        "message": "must start as initial and never change"}]}}})
    assert messages(v.validate_custom(widget({"v": "other"}), rt)) == [
        'spec.v: Invalid value: "string": must start as initial and never change']
    created = v.validate_custom(widget({"v": "initial"}), rt)
    assert created.errors == []
    assert v.validate_custom(widget({"v": "initial"}), rt, old=created.obj).errors == []


def test_nullable_and_non_nullable_nulls(v):
    rt = widget_rt({"type": "object", "properties": {
        "keep": {"type": "string", "nullable": True},
        "drop": {"type": "string"},
        "fill": {"type": "string", "default": "x"}}})
    r = v.validate_custom(widget({"keep": None, "drop": None, "fill": None}), rt)
    assert r.errors == [] and r.obj["spec"] == {"keep": None, "fill": "x"}


def test_additional_properties_map_values_validated_and_defaulted(v):
    rt = widget_rt({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {
        "type": "object", "properties": {"port": {"type": "integer", "default": 80, "maximum": 100}}}}}})
    r = v.validate_custom(widget({"m": {"a": {}, "b": {"port": 101}}}), rt)
    assert r.obj["spec"]["m"]["a"] == {"port": 80}
    assert messages(r) == ["spec.m.b.port: Invalid value: 101: spec.m.b.port in body should be less than or equal to 100"]


def test_exclusive_bounds_and_multiple_of(v):
    rt = widget_rt({"type": "object", "properties": {
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1.5, "exclusiveMaximum": True},
        "step": {"type": "integer", "multipleOf": 5}}})
    r = v.validate_custom(widget({"ratio": 0, "step": 7}), rt)
    assert messages(r) == ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
                           "spec.step: Invalid value: 7: spec.step in body should be a multiple of 5"]
    r = v.validate_custom(widget({"ratio": 1.5}), rt)
    assert messages(r) == ["spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than 1.5"]


@pytest.mark.parametrize("expr,expected", [
    ("'a/b/c'.split('/')", ["a", "b", "c"]),
    ("'Hello'.lowerAscii() + 'x'.upperAscii()", "helloX"),
    ("'  x '.trim()", "x"),
    ("'abc'.indexOf('c')", 2),
    ("[1, 2, 3].sum()", 6),
    ("[1, 3, 2].isSorted()", False),
    ("'abc123'.find('[0-9]+')", "123"),
    ("isURL('https://example.com/x') && url('https://example.com:8443/x').getPort() == '8443'", True),
    ("isIP('10.0.0.1') && !isIP('10.0.0.300') && cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))", True),
    ("quantity('1Gi').isGreaterThan(quantity('1000M')) && quantity('500m').asApproximateFloat() == 0.5", True),
    ("['a', 'b'].join('-')", "a-b"),
])
def test_kubernetes_cel_libraries(expr, expected):
    result = cel.compile_program(expr).evaluate({})
    assert result == expected


def test_invalid_rule_does_not_compile():
    with pytest.raises(cel.CelError, match="compilation failed"):
        cel.compile_program("self.x ==")
