"""Strict decoding of built-in kinds against their real OpenAPI schemas (kubernetes-validate, strict).

This is what kube-apiserver's JSON decoder does before any validation: fields the Go types do not
have are unknown (reported or dropped according to ``fieldValidation``), JSON type mismatches are
decoding errors (400), ``null`` fields decode to absent values. The walk returns a new object and never
mutates its input.
"""

from __future__ import annotations

import base64
import json
import binascii
import re
from typing import Any, List, Optional, Tuple

from .. import schemas
from . import errors as fe

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_INT_RANGES = {"int32": (-(2 ** 31), 2 ** 31 - 1), "int64": (-(2 ** 63), 2 ** 63 - 1)}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}


class DecodeContext:
    """What one decode found: unknown field paths, decoding errors (400) and schema-required errors."""

    def __init__(self) -> None:
        self.unknown: List[str] = []
        self.decode_errors: List[str] = []
        self.causes: List[fe.Cause] = []


def _types(schema: dict) -> Tuple[str, ...]:
    t = schema.get("type")
    if t is None:
        return ()
    return tuple(x for x in ([t] if isinstance(t, str) else t) if x != "null")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return _JSON_KIND.get(type(value), "value")


def _ref_name(schema: dict) -> Optional[str]:
    ref = schema.get("$ref")
    return ref[len(schemas.REF_PREFIX):] if ref else None


def go_type(schema: dict) -> str:
    """A Go-like type name for decoding error messages (``int32``, ``[]v1.Container``...)."""
    name = _ref_name(schema)
    if name:
        if name == INT_OR_STRING:
            return "intstr.IntOrString"
        if name == QUANTITY:
            return "resource.Quantity"
        parts = name.split(".")
        return f"{parts[-2]}.{parts[-1]}"
    types = _types(schema)
    if "array" in types:
        return "[]" + go_type(schema.get("items", {}))
    if "object" in types:
        extra = schema.get("additionalProperties")
        return "map[string]" + (go_type(extra) if isinstance(extra, dict) else "interface {}")
    if "integer" in types:
        return schema.get("format", "int64")
    if "number" in types:
        return "float64"
    if "boolean" in types:
        return "bool"
    if "string" in types:
        return "[]uint8" if schema.get("format") == "byte" else "string"
    return "interface {}"


def _struct_path(path: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", path)


def decode(value: Any, schema: dict, path: str, ctx: DecodeContext, struct: str = "", check_required: bool = True) -> Any:
    """Return the decoded copy of ``value`` (unknown fields and nulls dropped)."""
    ref = _ref_name(schema)
    resolved = schemas.resolve(schema) if ref else schema
    if ref == INT_OR_STRING:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            ctx.decode_errors.append(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{_struct_path(path)} of type intstr.IntOrString" if struct else "intstr: cannot unmarshal")
        return value
    if ref == QUANTITY:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            ctx.decode_errors.append(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{_struct_path(path)} of type resource.Quantity")
        elif isinstance(value, str) and not _QUANTITY.match(value.strip()):
            ctx.decode_errors.append("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        return value
    types = _types(resolved)
    if not types and "oneOf" not in resolved and "properties" not in resolved:
        return value  # free-form (e.g. RawExtension, JSON)

    def mismatch() -> None:
        where = f"Go struct field {struct}.{_struct_path(path)}" if struct else "Go value"
        kind = _json_kind(value)
        if kind == "number" and ("integer" in types):
            kind = f"number {json.dumps(value)}"
        ctx.decode_errors.append(f"json: cannot unmarshal {kind} into {where} of type {go_type(schema if not ref else {'$ref': schema['$ref']})}")

    if "object" in types or ("properties" in resolved and not types):
        if not isinstance(value, dict):
            mismatch()
            return value
        props = resolved.get("properties")
        extra = resolved.get("additionalProperties")
        own = ref.split(".")[-1] if ref else struct
        out = {}
        if props is not None or extra is False:
            for k, v in value.items():
                sub = (props or {}).get(k)
                child_path = fe.child(path, k)
                if sub is None:
                    if isinstance(extra, dict):
                        if v is not None:
                            out[k] = decode(v, extra, fe.key(path, k) if path else k, ctx, own, check_required)
                        continue
                    ctx.unknown.append(child_path)
                    continue
                if v is None:
                    continue
                out[k] = decode(v, sub, child_path, ctx, own, check_required)
            if check_required:
                for req in resolved.get("required", ()):
                    if req not in out:
                        ctx.causes.append(fe.required(fe.child(path, req)))
            return out
        if isinstance(extra, dict):
            for k, v in value.items():
                if v is None:
                    continue
                out[k] = decode(v, extra, fe.key(path, k), ctx, struct, check_required)
            return out
        return dict(value)
    if "array" in types:
        if not isinstance(value, list):
            mismatch()
            return value
        items = resolved.get("items", {})
        return [decode(v, items, fe.index(path, i), ctx, struct, check_required) for i, v in enumerate(value) if v is not None]
    if "integer" in types:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and value != int(value)):
            mismatch()
            return value
        value = int(value)
        low, high = _INT_RANGES.get(resolved.get("format", "int64"), _INT_RANGES["int64"])
        if not low <= value <= high:
            mismatch()
        return value
    if "number" in types:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            mismatch()
        return value
    if "boolean" in types:
        if not isinstance(value, bool):
            mismatch()
        return value
    if "string" in types:
        if not isinstance(value, str):
            mismatch()
            return value
        fmt = resolved.get("format")
        if fmt == "byte":
            err = base64_error(value)
            if err:
                ctx.decode_errors.append(err)
        elif fmt == "date-time" and value and not _RFC3339.match(value):
            ctx.decode_errors.append(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as "2006"')
        return value
    return value


def base64_error(text: str) -> Optional[str]:
    """Go's base64.StdEncoding error for ``text``, or None if it decodes."""
    try:
        base64.b64decode(text, validate=True)
        return None
    except (binascii.Error, ValueError):
        alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        stripped = text.rstrip("=")
        for i, ch in enumerate(stripped):
            if ch not in alphabet:
                return f"illegal base64 data at input byte {i}"
        return f"illegal base64 data at input byte {len(text) - (len(text) % 4 or 4) if len(text) % 4 else len(text)}"
