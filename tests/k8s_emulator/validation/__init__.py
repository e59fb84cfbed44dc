"""Validation, defaulting and pruning of API objects, as kube-apiserver v1.36 does them.

The server core calls exactly this::

    v = Validator()
    r = v.validate_builtin(obj, rt, field_validation="Strict", old=None)   # built-in kinds
    r = v.validate_custom(obj, rt, field_validation="Strict", old=None)    # custom resources (rt.schema)
    r = v.validate_crd(crd_obj, old=None)                                  # CustomResourceDefinitions
    r.obj          # defaulted, pruned deep copy to persist (the input is never mutated)
    r.errors       # list[Cause(field, reason, message)] -> 422 Invalid
    r.bad_request  # list[str] -> 400 BadRequest: one JSON decoding error, or 'unknown field "spec.foo"'
                   # entries (fieldValidation=Strict); r.bad_request_message joins them as the server does
    r.warnings     # list[str] -> Warning headers (unknown fields under fieldValidation=Warn)

Order, as in kube-apiserver: decode (unknown fields, type errors) -> prune -> default -> validate.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .. import schemas
from . import crd as crd_checks
from . import decode as dec
from . import defaults
from . import errors as fe
from . import semantic
from . import structural
from .errors import Cause
from .metadata import validate_object_meta

__all__ = ["Validator", "ValidationResult", "Cause"]

OBJECT_META = {"$ref": schemas.REF_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
CRD_GROUP = "apiextensions.k8s.io"


@dataclass
class ValidationResult:
    obj: Any
    errors: List[Cause] = field(default_factory=list)
    bad_request: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.bad_request

    @property
    def bad_request_message(self) -> str:
        """The 400 message body after ``<Kind> in version "<v>" cannot be handled as a <Kind>: ``.

        A JSON decoding error stands alone (Go's decoder stops there); unknown fields under Strict are
        joined after one ``strict decoding error: `` prefix, as kube-apiserver reports them."""
        if not self.bad_request:
            return ""
        if all(m.startswith(("unknown field", "duplicate field")) for m in self.bad_request):
            return STRICT_PREFIX + ", ".join(self.bad_request)
        return self.bad_request[0]


STRICT_PREFIX = "strict decoding error: "


def _unknown_fields(result: ValidationResult, unknown: List[str], field_validation: str) -> None:
    mode = (field_validation or "Warn").capitalize()
    for path in unknown:
        if mode == "Strict":
            result.bad_request.append(f'unknown field "{path}"')
        elif mode == "Warn":
            result.warnings.append(f'unknown field "{path}"')


class Validator:
    """Cheap to construct; schemas are loaded lazily and compiled schemas cached (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled: Dict[int, Tuple[dict, structural.Node]] = {}

    # -- compiled CRD schemas ------------------------------------------------------------------
    def compiled(self, schema: dict) -> structural.Node:
        """The compiled form of an openAPIV3Schema (cached by object identity)."""
        key = id(schema)
        hit = self._compiled.get(key)
        if hit is not None and hit[0] is schema:
            return hit[1]
        node = structural.compile_schema(schema)
        with self._lock:
            self._compiled[key] = (schema, node)
        return node

    # -- built-in kinds ------------------------------------------------------------------------
    def validate_builtin(self, obj: dict, rt, field_validation: str = "Strict", old: Optional[dict] = None) -> ValidationResult:
        name = schemas.definition_name(rt.group, rt.version, rt.kind)
        if name is None:
            return ValidationResult(copy.deepcopy(obj))
        ctx = dec.DecodeContext()
        out = self._decode_root(obj, name, ctx)
        result = ValidationResult(out)
        if ctx.decode_errors or not isinstance(out, dict):
            result.bad_request = ctx.decode_errors[:1]
            return result
        _unknown_fields(result, ctx.unknown, field_validation)
        defaults.apply(out, rt.kind)
        causes = semantic.validate(out, rt.kind, rt.namespaced)
        flagged = {c.field for c in causes}
        causes += [c for c in ctx.causes if c.field not in flagged]
        result.errors = fe.dedupe(causes)
        return result

    @staticmethod
    def _decode_root(obj: dict, definition: str, ctx: dec.DecodeContext) -> Any:
        schema = {"$ref": schemas.REF_PREFIX + definition}
        if not isinstance(obj, dict):
            return dec.decode(obj, schema, "", ctx)
        props = schemas.definitions()[definition].get("properties", {})
        out = {}
        for k, v in obj.items():
            sub = props.get(k)
            if sub is None:
                ctx.unknown.append(k)
            elif v is not None:
                out[k] = dec.decode(v, sub, k, ctx, definition.split(".")[-1], check_required=(k != "status"))
        return out

    # -- custom resources ----------------------------------------------------------------------
    def validate_custom(self, obj: dict, rt, field_validation: str = "Strict", old: Optional[dict] = None) -> ValidationResult:
        out = copy.deepcopy(obj)
        result = ValidationResult(out)
        ctx = dec.DecodeContext()
        unknown: List[str] = []
        if isinstance(out.get("metadata"), dict):
            out["metadata"] = dec.decode(out["metadata"], OBJECT_META, "metadata", ctx, "ObjectMeta", check_required=False)
            unknown.extend(ctx.unknown)
        if ctx.decode_errors:
            result.bad_request = ctx.decode_errors[:1]
            return result
        if rt.schema is None:
            result.errors = validate_object_meta(out.get("metadata"), semantic.name_fn(""), rt.namespaced)
            return result
        node = self.compiled(rt.schema)
        pruned: List[str] = []
        out = structural.prune(out, node, "", pruned, root=True)
        result.obj = out
        _unknown_fields(result, unknown + sorted(pruned), field_validation)
        structural.default(out, node)
        causes = validate_object_meta(out.get("metadata"), semantic.name_fn(""), rt.namespaced)
        body = {k: v for k, v in out.items() if k not in structural.ROOT_FIELDS}
        structural.validate(body, _without_root_fields(node), "", causes)
        if structural.blocking(causes):
            causes.append(structural.NOT_CHECKED)
        else:
            old_body = {k: v for k, v in old.items() if k not in structural.ROOT_FIELDS} if isinstance(old, dict) else None
            structural.validate_cel(body, node, "", causes, old_body, old_body is not None, root=True)
        result.errors = fe.dedupe(causes)
        return result

    # -- CustomResourceDefinitions -------------------------------------------------------------
    def validate_crd(self, crd_obj: dict, old: Optional[dict] = None, field_validation: str = "Warn") -> ValidationResult:
        name = schemas.definition_name(CRD_GROUP, "v1", "CustomResourceDefinition")
        ctx = dec.DecodeContext()
        out = self._decode_root(crd_obj, name, ctx) if name else copy.deepcopy(crd_obj)
        result = ValidationResult(out)
        if ctx.decode_errors:
            result.bad_request = ctx.decode_errors[:1]
            return result
        _unknown_fields(result, ctx.unknown, field_validation)
        crd_checks.apply_defaults(out)
        result.errors = fe.dedupe(crd_checks.validate(out, old))
        return result


_ROOTLESS: Dict[int, Tuple[structural.Node, structural.Node]] = {}


def _without_root_fields(node: structural.Node) -> structural.Node:
    """The root node minus apiVersion/kind/metadata (validated as ObjectMeta, not by the CRD schema)."""
    hit = _ROOTLESS.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    clone = copy.copy(node)
    if node.properties is not None:
        clone.properties = {k: v for k, v in node.properties.items() if k not in structural.ROOT_FIELDS}
    clone.required = tuple(r for r in node.required if r not in structural.ROOT_FIELDS)
    _ROOTLESS[id(node)] = (node, clone)
    return clone
