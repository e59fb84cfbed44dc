"""Custom resources against a CRD's structural openAPIV3Schema, as apiextensions-apiserver does it:
pruning of unknown fields, defaulting, OpenAPI value validation (kube-openapi wording), list-type
invariants and x-kubernetes-validations (CEL).

A schema is compiled once into a tree of :class:`Node` (patterns, CEL programs, escaped names...).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from . import cel
from . import errors as fe

# Formats apiextensions keeps (StripUnsupportedFormatsPostProcess); others, e.g. int32, are ignored.
SUPPORTED_FORMATS = {"bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3",
                     "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor",
                     "byte", "password", "date", "duration", "datetime"}
NIL = "<nil>"


def _re(pattern: str):
    try:
        import re2
        return re2.compile(pattern)
    except Exception:
        return re.compile(pattern)


class Rule:
    __slots__ = ("rule", "program", "message", "message_expression", "reason", "field_path", "optional_old_self")

    def __init__(self, spec: dict):
        self.rule = spec.get("rule", "")
        self.program = cel.compile_program(self.rule)
        self.message = (spec.get("message") or "").strip()
        expr = spec.get("messageExpression")
        self.message_expression = cel.compile_program(expr) if expr else None
        self.reason = spec.get("reason")
        self.field_path = spec.get("fieldPath") or ""
        self.optional_old_self = bool(spec.get("optionalOldSelf"))

    @property
    def is_transition(self) -> bool:
        return self.program.uses_old_self


class Node:
    """One compiled schema node."""

    def __init__(self, schema: dict, cel_name: Optional[str] = None):
        s = schema or {}
        self.raw = s
        self.type: Optional[str] = s.get("type")
        fmt = s.get("format")
        self.format: Optional[str] = fmt if fmt and fmt.replace("-", "") in SUPPORTED_FORMATS else None
        self.nullable = bool(s.get("nullable"))
        self.int_or_string = bool(s.get("x-kubernetes-int-or-string"))
        self.preserve_unknown = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        self.embedded = bool(s.get("x-kubernetes-embedded-resource"))
        self.cel_name = cel_name
        self.properties: Optional[Dict[str, Node]] = None
        if "properties" in s:
            self.properties = {k: Node(v, cel.escape(k)) for k, v in (s.get("properties") or {}).items()}
        extra = s.get("additionalProperties")
        self.additional: Optional[Node] = Node(extra) if isinstance(extra, dict) else None
        self.additional_forbidden = extra is False
        self.items: Optional[Node] = Node(s["items"]) if isinstance(s.get("items"), dict) else None
        self.required: Tuple[str, ...] = tuple(s.get("required") or ())
        self.enum = s.get("enum")
        self.pattern = s.get("pattern")
        self.pattern_re = _re(self.pattern) if self.pattern else None
        self.minimum, self.maximum = s.get("minimum"), s.get("maximum")
        self.exclusive_minimum, self.exclusive_maximum = bool(s.get("exclusiveMinimum")), bool(s.get("exclusiveMaximum"))
        self.multiple_of = s.get("multipleOf")
        self.min_length, self.max_length = s.get("minLength"), s.get("maxLength")
        self.min_items, self.max_items = s.get("minItems"), s.get("maxItems")
        self.unique_items = bool(s.get("uniqueItems"))
        self.min_properties, self.max_properties = s.get("minProperties"), s.get("maxProperties")
        self.list_type = s.get("x-kubernetes-list-type")
        self.list_map_keys: Tuple[str, ...] = tuple(s.get("x-kubernetes-list-map-keys") or ())
        self.has_default = "default" in s
        self.default = s.get("default")
        self.all_of = [Node(x) for x in s.get("allOf") or []]
        self.any_of = [Node(x) for x in s.get("anyOf") or []]
        self.one_of = [Node(x) for x in s.get("oneOf") or []]
        self.not_ = Node(s["not"]) if isinstance(s.get("not"), dict) else None
        self.rules = [Rule(r) for r in s.get("x-kubernetes-validations") or []]
        children = list((self.properties or {}).values()) + [n for n in (self.additional, self.items) if n]
        self.rules_below = bool(self.rules) or any(c.rules_below for c in children)
        self.defaults_below = any(c.has_default or c.defaults_below for c in children)

    def child(self, key: str) -> Optional["Node"]:
        if self.properties is not None and key in self.properties:
            return self.properties[key]
        return self.additional

    def type_name(self) -> str:
        if self.int_or_string:
            return "integer,string"
        return self.type or ""


def compile_schema(schema: dict) -> Node:
    return Node(schema)


def all_rules(node: Node):
    """Every Rule of a compiled schema (for tests and CRD checks)."""
    yield from node.rules
    for sub in list((node.properties or {}).values()) + [n for n in (node.additional, node.items, node.not_) if n] \
            + node.all_of + node.any_of + node.one_of:
        yield from all_rules(sub)


# -- pruning --------------------------------------------------------------------------------------
ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def prune(value: Any, node: Optional[Node], path: str, pruned: List[str], root: bool = False) -> Any:
    """Drop fields the schema does not declare, recording their paths; returns the pruned value."""
    if node is None:
        return value
    if isinstance(value, dict):
        if node.properties is None and node.additional is None:
            if node.preserve_unknown or node.type != "object":
                return value
        out = {}
        for k, v in value.items():
            if (root or node.embedded) and k in ROOT_FIELDS:
                out[k] = v
                continue
            sub = node.properties.get(k) if node.properties is not None else None
            if sub is None and node.additional is not None:
                out[k] = prune(v, node.additional, fe.child(path, k), pruned)
            elif sub is None:
                if node.preserve_unknown:
                    out[k] = v
                else:
                    pruned.append(fe.child(path, k))
            else:
                out[k] = prune(v, sub, fe.child(path, k), pruned)
        return out
    if isinstance(value, list) and node.items is not None:
        return [prune(v, node.items, fe.index(path, i), pruned) for i, v in enumerate(value)]
    return value


# -- defaulting -----------------------------------------------------------------------------------
def default(value: Any, node: Optional[Node]) -> None:
    """Apply ``default``s in place: absent (or non-nullable null) properties first, then nested values.
    Non-nullable nulls without a default are dropped (PruneNonNullableNullsWithoutDefaults)."""
    if node is None:
        return
    if isinstance(value, dict):
        if node.properties:
            for k, prop in node.properties.items():
                if k in value and value[k] is None and not prop.nullable:
                    if prop.has_default:
                        value[k] = copy.deepcopy(prop.default)
                    else:
                        del value[k]
                elif k not in value and prop.has_default:
                    value[k] = copy.deepcopy(prop.default)
        for k, v in value.items():
            sub = node.child(k)
            if sub is not None and (sub.defaults_below or sub.properties or sub.items or sub.additional):
                default(v, sub)
    elif isinstance(value, list) and node.items is not None:
        for v in value:
            default(v, node.items)


# -- value validation -----------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value == int(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, node: Node) -> bool:
    actual = _json_type(value)
    if node.int_or_string:
        return actual in ("integer", "string")
    t = node.type
    if not t:
        return True
    if t == "number":
        return actual in ("integer", "number")
    return actual == t


_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*\.?$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DURATION = re.compile(r"^[-+]?([0-9]*(\.[0-9]*)?[a-zµμ]+)+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_HEXCOLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def format_ok(fmt: str, value: str) -> bool:
    fmt = fmt.replace("-", "")
    try:
        if fmt == "ipv4":
            return isinstance(ipaddress.ip_address(value), ipaddress.IPv4Address)
        if fmt == "ipv6":
            return isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address)
        if fmt == "cidr":
            ipaddress.ip_network(value, strict=False)
            return "/" in value
    except ValueError:
        return False
    if fmt == "hostname":
        return len(value) <= 255 and bool(_HOSTNAME.match(value))
    if fmt == "datetime":
        return bool(_DATE_TIME.match(value))
    if fmt == "date":
        return bool(_DATE.match(value))
    if fmt.startswith("uuid"):
        return bool(_UUID.match(value))
    if fmt == "email":
        return bool(_EMAIL.match(value))
    if fmt == "duration":
        return bool(_DURATION.match(value))
    if fmt == "mac":
        return bool(_MAC.match(value))
    if fmt == "hexcolor":
        return bool(_HEXCOLOR.match(value))
    if fmt == "byte":
        from .decode import base64_error
        return base64_error(value) is None
    if fmt == "uri":
        return "://" in value or value.startswith("/")
    return True


def _limit(limit: float, value: Any) -> str:
    if isinstance(value, int) and float(limit) == int(limit):
        return str(int(limit))
    return fe.go_float(float(limit))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def validate(value: Any, node: Node, path: str, errs: List[fe.Cause]) -> None:
    """kube-openapi value validation plus x-kubernetes-list-type invariants."""
    name = path or "."
    where = path or NIL
    if value is None:
        if node.nullable or not (node.type or node.int_or_string):
            return
        errs.append(fe.type_invalid(where, "null", f"{name} in body must be of type {node.type_name()}: \"null\""))
        return
    if not _type_ok(value, node):
        actual = _json_type(value)
        errs.append(fe.type_invalid(where, actual, f"{name} in body must be of type {node.type_name()}: \"{actual}\""))
        return
    if node.enum is not None and value not in node.enum:
        errs.append(fe.not_supported(where, value, [v if isinstance(v, str) else json.dumps(v) for v in node.enum]))
    if isinstance(value, str):
        if node.format and not format_ok(node.format, value):
            errs.append(fe.type_invalid(where, value, f"{name} in body must be of type {node.format}: {fe.go_quote(value)}"))
        length = len(value)
        if node.max_length is not None and length > node.max_length:
            errs.append(fe.too_long(where, node.max_length))
        if node.min_length is not None and length < node.min_length:
            errs.append(fe.invalid(where, value, f"{name} in body should be at least {node.min_length} chars long"))
        if node.pattern_re is not None and not node.pattern_re.search(value):
            errs.append(fe.invalid(where, value, f"{name} in body should match '{node.pattern}'"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if node.maximum is not None:
            if value > node.maximum or (node.exclusive_maximum and value == node.maximum):
                word = "less than" if node.exclusive_maximum else "less than or equal to"
                errs.append(fe.invalid(where, value, f"{name} in body should be {word} {_limit(node.maximum, value)}"))
        if node.minimum is not None:
            if value < node.minimum or (node.exclusive_minimum and value == node.minimum):
                word = "greater than" if node.exclusive_minimum else "greater than or equal to"
                errs.append(fe.invalid(where, value, f"{name} in body should be {word} {_limit(node.minimum, value)}"))
        if node.multiple_of and (value / node.multiple_of) != int(value / node.multiple_of):
            errs.append(fe.invalid(where, value, f"{name} in body should be a multiple of {_limit(node.multiple_of, value)}"))
    elif isinstance(value, list):
        if node.max_items is not None and len(value) > node.max_items:
            errs.append(fe.too_many(where, len(value), node.max_items))
        if node.min_items is not None and len(value) < node.min_items:
            errs.append(fe.invalid(where, len(value), f"{name} in body should have at least {node.min_items} items"))
        if node.unique_items and len({_canonical(v) for v in value}) != len(value):
            errs.append(fe.invalid(where, "", f"{name} in body shouldn't contain duplicates"))
        if node.items is not None:
            for i, item in enumerate(value):
                validate(item, node.items, fe.index(path, i), errs)
        _list_type(value, node, where, errs)
    elif isinstance(value, dict):
        if node.max_properties is not None and len(value) > node.max_properties:
            errs.append(fe.too_many(where, len(value), node.max_properties))
        if node.min_properties is not None and len(value) < node.min_properties:
            errs.append(fe.invalid(where, len(value), f"{name} in body should have at least {node.min_properties} properties"))
        for req in node.required:
            if req not in value:
                errs.append(fe.required(fe.child(path, req)))
        for k in sorted(value):
            sub = node.properties.get(k) if node.properties else None
            if sub is None:
                sub = node.additional
            if sub is not None:
                validate(value[k], sub, fe.child(path, k), errs)
    _junctors(value, node, path, errs)


def _junctors(value: Any, node: Node, path: str, errs: List[fe.Cause]) -> None:
    if not (node.all_of or node.any_of or node.one_of or node.not_):
        return
    name = path or "."
    for sub in node.all_of:
        validate(value, sub, path, errs)
    if node.any_of:
        results = []
        for sub in node.any_of:
            sub_errs: List[fe.Cause] = []
            validate(value, sub, path, sub_errs)
            results.append(sub_errs)
        if all(results):
            errs.append(fe.invalid(NIL, "", f'"{name}" must validate at least one schema (anyOf)'))
            errs.extend(results[0])
    if node.one_of:
        results = []
        for sub in node.one_of:
            sub_errs = []
            validate(value, sub, path, sub_errs)
            results.append(sub_errs)
        valid = sum(1 for r in results if not r)
        if valid == 0:
            errs.append(fe.invalid(NIL, "", f'"{name}" must validate one and only one schema (oneOf). Found none valid'))
            errs.extend(results[0])
        elif valid > 1:
            errs.append(fe.invalid(NIL, "", f'"{name}" must validate one and only one schema (oneOf). Found {valid} valid alternatives'))
    if node.not_ is not None:
        sub_errs = []
        validate(value, node.not_, path, sub_errs)
        if not sub_errs:
            errs.append(fe.invalid(NIL, "", f'"{name}" must not validate the schema (not)'))


def _list_type(value: list, node: Node, where: str, errs: List[fe.Cause]) -> None:
    if node.list_type == "set":
        seen = {}
        for i, item in enumerate(value):
            key = _canonical(item)
            if key in seen:
                errs.append(fe.duplicate(fe.index(where, i), item))
            else:
                seen[key] = i
    elif node.list_type == "map" and node.list_map_keys:
        seen = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            keys = {}
            for k in node.list_map_keys:
                if k in item:
                    keys[k] = item[k]
                else:
                    sub = node.items.properties.get(k) if node.items is not None and node.items.properties else None
                    if sub is not None and sub.has_default:
                        keys[k] = sub.default
            canon = _canonical(keys)
            if canon in seen:
                inner = ", ".join(f"{fe.go_quote(k)}:{fe._go_any(v)}" for k, v in sorted(keys.items()))
                errs.append(fe.Cause(fe.index(where, i), fe.DUPLICATE, "Duplicate value: map[string]interface {}{" + inner + "}"))
            else:
                seen[canon] = i


# -- CEL ------------------------------------------------------------------------------------------
def _map_key_of(item: dict, keys: Tuple[str, ...]) -> str:
    return _canonical({k: item.get(k) for k in keys})


def validate_cel(value: Any, node: Node, path: str, errs: List[fe.Cause], old: Any = None, has_old: bool = False,
                 cel_value: Any = None, old_cel: Any = None, root: bool = False) -> None:
    """Evaluate x-kubernetes-validations, walking the new and (correlated) old values together."""
    if not node.rules_below or value is None:
        return
    if cel_value is None:
        cel_value = cel.to_cel(value, node)
    if has_old and old_cel is None and old is not None:
        old_cel = cel.to_cel(old, node)
    where = path or NIL
    for rule in node.rules:
        if rule.is_transition and not has_old and not rule.optional_old_self:
            continue
        activation = {"self": cel_value}
        if rule.optional_old_self:
            activation["oldSelf"] = cel.Optional_(old_cel, has_old)
        elif rule.is_transition:
            activation["oldSelf"] = old_cel
        _run_rule(rule, activation, node, where, path, errs)
    if isinstance(value, dict):
        for k, v in value.items():
            sub = node.properties.get(k) if node.properties else None
            if sub is None:
                sub = node.additional
            if sub is None or not sub.rules_below or ((root or node.embedded) and k in ROOT_FIELDS and sub is None):
                continue
            child_old_has = has_old and isinstance(old, dict) and k in old
            validate_cel(v, sub, fe.child(path, k), errs, old[k] if child_old_has else None, child_old_has,
                         cel.cel_child(cel_value, node, k), cel.cel_child(old_cel, node, k) if child_old_has else None)
    elif isinstance(value, list) and node.items is not None and node.items.rules_below:
        old_items: Dict[str, Tuple[Any, Any]] = {}
        if has_old and isinstance(old, list) and node.list_type == "map" and node.list_map_keys:
            for j, o in enumerate(old):
                if isinstance(o, dict):
                    old_items[_map_key_of(o, node.list_map_keys)] = (o, old_cel[j] if old_cel is not None else None)
        for i, item in enumerate(value):
            match = old_items.get(_map_key_of(item, node.list_map_keys)) if old_items and isinstance(item, dict) else None
            validate_cel(item, node.items, fe.index(path, i), errs, match[0] if match else None, match is not None,
                         cel_value[i] if cel_value is not None else None, match[1] if match else None)


def _run_rule(rule: Rule, activation: dict, node: Node, where: str, path: str, errs: List[fe.Cause]) -> None:
    field = where
    if rule.field_path:
        field = (path + rule.field_path if rule.field_path.startswith("[") else fe.child(path, rule.field_path.lstrip(".")))
        field = re.sub(r"\['([^']*)'\]", r"[\1]", field) or NIL
    type_value = node.type or ("object" if node.properties is not None else "")
    try:
        result = rule.program.evaluate(activation)
    except cel.CelError as exc:
        errs.append(fe.invalid(field, type_value, f"{exc} evaluating rule: {rule.message or rule.rule.strip()}"))
        return
    if isinstance(result, bool) and result:  # celtypes.BoolType is a bool-like int subclass
        return
    if type(result).__name__ == "BoolType" and bool(result):
        return
    detail = rule.message or f"failed rule: {rule.rule.strip()}"
    if rule.message_expression is not None:
        try:
            text = rule.message_expression.evaluate(activation)
            if isinstance(text, str) and text.strip() and "\n" not in text:
                detail = str(text)
        except cel.CelError:
            pass
    if rule.reason == "FieldValueForbidden":
        errs.append(fe.forbidden(field, detail))
    elif rule.reason == "FieldValueRequired":
        errs.append(fe.required(field, detail))
    elif rule.reason == "FieldValueDuplicate":
        errs.append(fe.duplicate(field, type_value))
    else:
        errs.append(fe.invalid(field, type_value, detail))


def blocking(errs: List[fe.Cause]) -> bool:
    return any(e.reason in (fe.TYPE_INVALID, fe.NOT_SUPPORTED) for e in errs)


NOT_CHECKED = fe.invalid(NIL, None, "some validation rules were not checked because the object was invalid; "
                                   "correct the existing errors to complete validation")
