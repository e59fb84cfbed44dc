"""ObjectMeta validation (apimachinery ValidateObjectMeta): name, generateName, namespace, labels, annotations."""

from __future__ import annotations

from typing import Callable, List

from . import errors as fe
from . import names

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
NameFn = Callable[[str], List[str]]


def validate_labels(labels, path: str) -> List[fe.Cause]:
    causes = []
    if not isinstance(labels, dict):
        return causes
    for k, v in labels.items():
        for msg in names.is_qualified_name(k):
            causes.append(fe.invalid(path, k, msg))
        for msg in names.is_valid_label_value(v if isinstance(v, str) else str(v)):
            causes.append(fe.invalid(path, v, msg))
    return causes


def validate_annotations(annotations, path: str) -> List[fe.Cause]:
    causes = []
    if not isinstance(annotations, dict):
        return causes
    total = 0
    for k, v in annotations.items():
        for msg in names.is_qualified_name(k.lower()):
            causes.append(fe.invalid(path, k, msg))
        total += len(k.encode()) + len(str(v).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(fe.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def validate_object_meta(meta, name_fn: NameFn, namespaced: bool, path: str = "metadata",
                         require_name: bool = True) -> List[fe.Cause]:
    causes: List[fe.Cause] = []
    if not isinstance(meta, dict):
        meta = {}
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    if generate:
        for msg in name_fn(names.mask_trailing_dash(generate)):
            causes.append(fe.invalid(fe.child(path, "generateName"), generate, msg))
    if not name and not generate:
        if require_name:
            causes.append(fe.required(fe.child(path, "name"), "name or generateName is required"))
    elif name:
        for msg in name_fn(name):
            causes.append(fe.invalid(fe.child(path, "name"), name, msg))
    namespace = meta.get("namespace") or ""
    if namespaced and namespace:
        for msg in names.is_dns1123_label(namespace):
            causes.append(fe.invalid(fe.child(path, "namespace"), namespace, msg))
    elif not namespaced and namespace:
        causes.append(fe.forbidden(fe.child(path, "namespace"), "not allowed on this type"))
    causes += validate_labels(meta.get("labels"), fe.child(path, "labels"))
    causes += validate_annotations(meta.get("annotations"), fe.child(path, "annotations"))
    return causes
