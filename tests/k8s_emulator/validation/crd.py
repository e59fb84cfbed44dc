"""CustomResourceDefinition objects themselves: the checks and defaults apiextensions-apiserver applies
(names, group, scope, versions, one storage version, structural schemas, CEL rules that compile)."""

from __future__ import annotations

from typing import Any, List, Optional

from . import cel
from . import errors as fe
from . import names

SCHEMA_KEYS_NEEDING_TYPE = ("properties", "items", "additionalProperties")


def apply_defaults(crd: dict) -> None:
    spec = crd.setdefault("spec", {})
    conversion = spec.setdefault("conversion", {})
    if not conversion.get("strategy"):
        conversion["strategy"] = "None"
    names_ = spec.setdefault("names", {})
    kind = names_.get("kind") or ""
    if kind and not names_.get("singular"):
        names_["singular"] = kind.lower()
    if kind and not names_.get("listKind"):
        names_["listKind"] = kind + "List"


def _structural(schema: Any, path: str, causes: List[fe.Cause], root: bool = False) -> None:
    """Structural-schema checks (every specified field has a type) and CEL compilation."""
    if not isinstance(schema, dict):
        return
    has_type = bool(schema.get("type")) or bool(schema.get("x-kubernetes-int-or-string")) \
        or bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if root:
        if schema.get("type") != "object":
            if not schema.get("type"):
                causes.append(fe.required(fe.child(path, "type"), "must not be empty at the root"))
            else:
                causes.append(fe.invalid(fe.child(path, "type"), schema["type"], "must be object at the root"))
    elif not has_type:
        causes.append(fe.required(fe.child(path, "type"), "must not be empty for specified object fields"))
    for i, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        rp = fe.index(fe.child(path, "x-kubernetes-validations"), i)
        text = rule.get("rule") or ""
        if not text.strip():
            causes.append(fe.required(fe.child(rp, "rule"), ""))
            continue
        try:
            cel.compile_program(text)
        except cel.CelError as exc:
            causes.append(fe.invalid(fe.child(rp, "rule"), text, str(exc)))
        if rule.get("messageExpression"):
            try:
                cel.compile_program(rule["messageExpression"])
            except cel.CelError as exc:
                causes.append(fe.invalid(fe.child(rp, "messageExpression"), rule["messageExpression"], str(exc)))
        reason = rule.get("reason")
        if reason and reason not in ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"):
            causes.append(fe.not_supported(fe.child(rp, "reason"), reason, ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]))
    if schema.get("type") == "array" and not isinstance(schema.get("items"), dict):
        causes.append(fe.required(fe.child(path, "items"), "must be specified"))
    for k, sub in (schema.get("properties") or {}).items():
        _structural(sub, fe.key(fe.child(path, "properties"), k), causes)
    if isinstance(schema.get("items"), dict):
        _structural(schema["items"], fe.child(path, "items"), causes)
    if isinstance(schema.get("additionalProperties"), dict):
        _structural(schema["additionalProperties"], fe.child(path, "additionalProperties"), causes)
    if schema.get("properties") and isinstance(schema.get("additionalProperties"), dict):
        causes.append(fe.forbidden(fe.child(path, "additionalProperties"), "additionalProperties and properties are mutual exclusive"))


def validate(crd: dict, old: Optional[dict] = None) -> List[fe.Cause]:
    causes: List[fe.Cause] = []
    meta = crd.get("metadata") or {}
    spec = crd.get("spec") or {}
    names_ = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names_.get("plural") or ""
    name = meta.get("name") or ""
    if not name:
        causes.append(fe.required("metadata.name", "name or generateName is required"))
    else:
        for msg in names.is_dns1123_subdomain(name):
            causes.append(fe.invalid("metadata.name", name, msg))
        if name != f"{plural}.{group}":
            causes.append(fe.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        causes.append(fe.required("spec.group"))
    else:
        for msg in names.is_dns1123_subdomain(group):
            causes.append(fe.invalid("spec.group", group, msg))
        if "." not in group:
            causes.append(fe.invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        causes.append(fe.required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        causes.append(fe.not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    for key, check in (("plural", names.is_dns1035_label), ("singular", names.is_dns1035_label)):
        value = names_.get(key) or ""
        if not value and key == "plural":
            causes.append(fe.required("spec.names.plural"))
        elif value:
            for msg in check(value):
                causes.append(fe.invalid(f"spec.names.{key}", value, msg))
    for key in ("kind", "listKind"):
        value = names_.get(key) or ""
        if not value:
            causes.append(fe.required(f"spec.names.{key}"))
        elif names.is_dns1035_label(value.lower()):
            msgs = ",".join(names.is_dns1035_label(value.lower()))
            causes.append(fe.invalid(f"spec.names.{key}", value, "may have mixed case, but should otherwise match: " + msgs))
    if names_.get("kind") and names_.get("kind") == names_.get("listKind"):
        causes.append(fe.invalid("spec.names.listKind", names_["listKind"], "kind and listKind may not be the same"))
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(fe.invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
    seen = set()
    for i, version in enumerate(versions):
        vp = fe.index("spec.versions", i)
        causes += names.unique_name_errors(version.get("name") or "", fe.child(vp, "name"), names.is_dns1035_label, seen)
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        sp = fe.child(vp, "schema.openAPIV3Schema")
        if not isinstance(schema, dict):
            causes.append(fe.required(sp, "schemas are required"))
        else:
            _structural(schema, sp, causes, root=True)
    if old is not None:
        old_spec = old.get("spec") or {}
        for key in ("group", "scope"):
            if key in old_spec and spec.get(key) != old_spec.get(key):
                causes.append(fe.invalid(f"spec.{key}", spec.get(key), "field is immutable"))
    return causes


def resource_type(crd: dict, version: Optional[str] = None):
    """The ResourceType of one version of a CRD (the storage version by default), schema included."""
    from ..registry import ResourceType

    spec = crd["spec"]
    versions = spec.get("versions") or []
    chosen = next(v for v in versions if (v["name"] == version if version else v.get("storage")))
    names_ = spec["names"]
    return ResourceType(spec["group"], chosen["name"], names_["kind"], names_["plural"], spec.get("scope") == "Namespaced",
                        tuple(names_.get("shortNames") or ()), categories=tuple(names_.get("categories") or ()),
                        singular=names_.get("singular") or "", crd_name=crd["metadata"]["name"],
                        schema=(chosen.get("schema") or {}).get("openAPIV3Schema"))
