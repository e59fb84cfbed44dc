"""The real OpenAPI schemas of built-in kinds, as shipped by the ``kubernetes-validate`` package.

``kubernetes-validate`` carries, per Kubernetes release, the upstream OpenAPI definitions converted to
JSON Schema (draft 2020-12). The ``-strict`` flavour sets ``additionalProperties: false`` everywhere, which
is what kube-apiserver's strict field validation enforces. The definitions keep the upstream vendor
extensions (``x-kubernetes-patch-merge-key``, ``x-kubernetes-patch-strategy``,
``x-kubernetes-list-type``, ``x-kubernetes-group-version-kind``, ...), so validation, strategic merge
patch and the OpenAPI documents the emulator serves all come from this one source.

Definitions are referenced as ``{"$ref": "#/$defs/<name>"}``; :func:`resolve` follows such a reference.
"""

from __future__ import annotations

import functools
import json
from typing import Dict, Optional, Tuple

import importlib.resources

KUBE_VERSION = "1.36"
KUBE_GIT_VERSION = "v1.36.4"
SCHEMA_SET = "v1.36.0-local-strict"
REF_PREFIX = "#/$defs/"


@functools.lru_cache(maxsize=1)
def definitions() -> Dict[str, dict]:
    """Every definition of the emulated release, by name (e.g. ``io.k8s.api.apps.v1.Deployment``)."""
    root = importlib.resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", SCHEMA_SET, "_definitions.json")
    with root.open("r", encoding="utf-8") as handle:
        return json.load(handle)["$defs"]


@functools.lru_cache(maxsize=1)
def _gvk_index() -> Dict[Tuple[str, str, str], str]:
    index: Dict[Tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            index.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
    return index


def definition_name(group: str, version: str, kind: str) -> Optional[str]:
    """The definition name of a built-in kind, or None if the release has no such kind.

    Kinds shared by every group (``DeleteOptions``, ``WatchEvent``, ...) are listed under many GVKs; the
    first definition that claims a GVK wins, which for top-level kinds is the only one.
    """
    return _gvk_index().get((group, version, kind))


def definition(group: str, version: str, kind: str) -> Optional[dict]:
    name = definition_name(group, version, kind)
    return definitions()[name] if name else None


def resolve(schema: Optional[dict]) -> Optional[dict]:
    """Follow ``$ref`` (possibly chained) to the referenced definition; other schemas pass through."""
    seen = 0
    while schema is not None and "$ref" in schema and seen < 32:
        ref = schema["$ref"]
        if not ref.startswith(REF_PREFIX):
            raise ValueError(f"unsupported $ref {ref!r}")
        schema = definitions()[ref[len(REF_PREFIX):]]
        seen += 1
    return schema
