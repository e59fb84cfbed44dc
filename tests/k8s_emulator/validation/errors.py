"""Field errors shaped like k8s.io/apimachinery/pkg/util/validation/field.

Each error becomes one ``Cause(field, reason, message)`` of a 422 ``Invalid`` status: ``reason`` is the
error type (``FieldValueInvalid``...), ``message`` is the body (``Invalid value: "x": detail``), exactly
as kube-apiserver's ``ErrorBody()`` renders it. :func:`format_value` mimics the Go value printing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
NOT_FOUND = "FieldValueNotFound"
INTERNAL = "InternalError"

_TITLES = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    TYPE_INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    NOT_FOUND: "Not found",
    INTERNAL: "Internal error",
}
# Error types whose body never shows the bad value.
_VALUELESS = {REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL}
OMIT = object()  # a bad value that is not shown (TooMany without a count)


@dataclass(frozen=True)
class Cause:
    """One StatusCause: ``field`` (JSON path like ``spec.rules[0].name``), ``reason``, ``message``."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def go_quote(text: str) -> str:
    """Go's ``%q`` for strings (JSON escaping is the same for the printable cases that matter)."""
    return json.dumps(text, ensure_ascii=False)


def _go_map(value: dict) -> str:
    # %#v of map[string]interface{} / map[string]string: keys sorted, values in Go syntax.
    if all(isinstance(v, str) for v in value.values()):
        inner = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + inner + "}"
    inner = ", ".join(f"{go_quote(k)}:{_go_any(v)}" for k, v in sorted(value.items()))
    return "map[string]interface {}{" + inner + "}"


def _go_any(value: Any) -> str:
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        return _go_map(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_any(v) for v in value) + "}"
    return go_quote(str(value))


def format_value(value: Any) -> str:
    """How ``field.Error.ErrorBody`` prints a bad value (a nil value prints as the string "null")."""
    if value is None:
        return '"null"'
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    return _go_any(list(value) if isinstance(value, tuple) else value)


def make(reason: str, field: str, value: Any = OMIT, detail: str = "") -> Cause:
    body = _TITLES[reason]
    if reason not in _VALUELESS and value is not OMIT:
        body = f"{body}: {format_value(value)}"
    if detail:
        body = f"{body}: {detail}"
    return Cause(field, reason, body)


def required(field: str, detail: str = "") -> Cause:
    return make(REQUIRED, field, OMIT, detail)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return make(INVALID, field, value, detail)


def type_invalid(field: str, value: Any, detail: str) -> Cause:
    return make(TYPE_INVALID, field, value, detail)


def not_supported(field: str, value: Any, supported: Sequence[str]) -> Cause:
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return make(NOT_SUPPORTED, field, value, detail)


def duplicate(field: str, value: Any) -> Cause:
    return make(DUPLICATE, field, value)


def forbidden(field: str, detail: str) -> Cause:
    return make(FORBIDDEN, field, OMIT, detail)


def not_found(field: str, value: Any) -> Cause:
    return make(NOT_FOUND, field, value)


def too_long(field: str, max_length: int) -> Cause:
    detail = f"may not be more than {max_length} bytes" if max_length >= 0 else "value is too long"
    return make(TOO_LONG, field, OMIT, detail)


def too_many(field: str, actual: Optional[int], maximum: int) -> Cause:
    detail = f"must have at most {maximum} items" if maximum >= 0 else "has too many items"
    return make(TOO_MANY, field, OMIT if actual is None or actual < 0 else actual, detail)


def dedupe(causes: Iterable[Cause]) -> List[Cause]:
    """Drop repeated identical errors, as ``ErrorList.ToAggregate`` does."""
    seen = set()
    out: List[Cause] = []
    for cause in causes:
        key = (cause.field, cause.message)
        if key not in seen:
            seen.add(key)
            out.append(cause)
    return out


# -- JSON paths as field.Path prints them ---------------------------------------------------------
def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64: shortest digits, e-notation when the exponent is < -4 or >= 6."""
    if value == 0:
        return "0"
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    from decimal import Decimal
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent  # position of the decimal point
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{prefix}{text}{'0' * (point - len(text))}"
    return f"{prefix}{text[:point]}.{text[point:]}"
