"""Label and field selectors with kube-apiserver's grammar and error messages.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a`` (exists) and
``!a`` (does not exist), joined by commas. Field selectors: ``f=v``, ``f==v``, ``f!=v`` joined by commas,
over ``metadata.name``, ``metadata.namespace`` and the per-kind fields kube-apiserver supports.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Tuple


class SelectorError(ValueError):
    """A selector that does not parse (400 BadRequest)."""


Requirement = Tuple[str, str, Tuple[str, ...]]  # (key, operator, values)

_KEY = r"[A-Za-z0-9./_-]+"
_VALUE = r"[A-Za-z0-9._-]*"


def _split_top(text: str) -> List[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_labels(text: Optional[str]) -> List[Requirement]:
    requirements: List[Requirement] = []
    if not text or not text.strip():
        return requirements
    for raw in _split_top(text):
        part = raw.strip()
        if not part:
            raise SelectorError("unable to parse requirement: found '', expected: identifier")
        m = re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(","))
            for value in values:
                if not re.fullmatch(_VALUE, value):
                    raise SelectorError(f"unable to parse requirement: invalid label value: {value!r}")
            requirements.append((m.group(1), m.group(2), values))
            continue
        m = re.fullmatch(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})", part)
        if m:
            op = "=" if m.group(2) == "==" else m.group(2)
            requirements.append((m.group(1), op, (m.group(3),)))
            continue
        m = re.fullmatch(rf"!\s*({_KEY})", part)
        if m:
            requirements.append((m.group(1), "!", ()))
            continue
        m = re.fullmatch(rf"({_KEY})", part)
        if m:
            requirements.append((m.group(1), "exists", ()))
            continue
        raise SelectorError(f"unable to parse requirement: found '{part}', expected: in, notin, =, ==, !=, gt, lt")
    return requirements


def labels_match(requirements: List[Requirement], labels: Optional[Dict[str, str]]) -> bool:
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and (not present or value not in values):
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def selector_from_match_labels(match_labels: Optional[Dict[str, str]], match_expressions=None) -> str:
    """A LabelSelector object (matchLabels/matchExpressions) as the string form kubectl prints."""
    parts = [f"{k}={v}" for k, v in sorted((match_labels or {}).items())]
    for expr in match_expressions or []:
        op = (expr.get("operator") or "").lower()
        key = expr.get("key", "")
        values = ",".join(expr.get("values") or [])
        if op == "in":
            parts.append(f"{key} in ({values})")
        elif op == "notin":
            parts.append(f"{key} notin ({values})")
        elif op == "exists":
            parts.append(key)
        elif op == "doesnotexist":
            parts.append(f"!{key}")
    return ",".join(parts)


# -- field selectors -------------------------------------------------------------------------------

def _path_getter(path: str) -> Callable[[dict], str]:
    keys = path.split(".")

    def get(obj: dict) -> str:
        cur = obj
        for key in keys:
            if not isinstance(cur, dict):
                return ""
            cur = cur.get(key)
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get


# kube-apiserver's per-kind field labels (pkg/registry/*/strategy.go ToSelectableFields / GetAttrs).
BUILTIN_FIELDS: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("", "pods"): (
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
    ),
    ("", "secrets"): ("type",),
    ("", "namespaces"): ("status.phase",),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "events"): (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "source", "type",
    ),
    ("", "persistentvolumeclaims"): (),
    ("", "replicationcontrollers"): ("status.replicas",),
    ("apps", "replicasets"): ("status.replicas",),
    ("batch", "jobs"): ("status.successful",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("spec.signerName",),
}


def parse_fields(text: Optional[str], resource: Tuple[str, str], extra_fields: Tuple[str, ...] = ()) -> List[Requirement]:
    """Parse a field selector. ``extra_fields`` are a CRD's selectableFields (JSON paths without the dot)."""
    requirements: List[Requirement] = []
    if not text or not text.strip():
        return requirements
    allowed = ("metadata.name", "metadata.namespace") + BUILTIN_FIELDS.get(resource, ()) + tuple(extra_fields)
    for raw in text.split(","):
        part = raw.strip()
        m = re.fullmatch(r"([A-Za-z0-9._\[\]-]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field_name, op, value = m.group(1), m.group(2), m.group(3)
        if field_name not in allowed:
            raise SelectorError(f'field label not supported: {field_name}')
        requirements.append((field_name, "!=" if op == "!=" else "=", (value,)))
    return requirements


def fields_match(requirements: List[Requirement], obj: dict) -> bool:
    for field_name, op, values in requirements:
        if field_name == "source" and obj.get("kind") == "Event":
            value = (obj.get("source") or {}).get("component", "") or obj.get("reportingComponent", "")
        else:
            value = _path_getter(field_name)(obj)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and value == values[0]:
            return False
    return True
