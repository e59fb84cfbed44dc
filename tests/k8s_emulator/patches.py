"""The three patch types kube-apiserver accepts on PATCH (server-side apply is elsewhere).

* :func:`json_patch` - RFC 6902, with the semantics of ``gopkg.in/evanphx/json-patch.v4`` that
  kube-apiserver uses (negative array indices allowed, ``-`` appends, ``test`` compares JSON values).
* :func:`merge_patch` - RFC 7386 as ``jsonpatch.MergePatch`` does it (nulls inside added values are
  pruned, arrays replace).
* :func:`strategic_merge_patch` - the server half of ``k8s.io/apimachinery/pkg/util/strategicpatch``
  (``StrategicMergeMapPatch`` with ``MergeParallelList`` and ``IgnoreUnmatchedNulls``): merge keys and
  strategies come from the real schema of the built-in kind (``x-kubernetes-patch-merge-key`` /
  ``x-kubernetes-patch-strategy`` in :mod:`k8s_emulator.schemas`), and the directives ``$patch``
  (``replace``/``delete``/``merge``), ``$setElementOrder/<field>``, ``$retainKeys`` and
  ``$deleteFromPrimitiveList/<field>`` are honoured, including the ordering rules kubectl's three-way
  patches rely on.

Nothing here mutates its inputs. Errors are :class:`PatchError` carrying the HTTP status kube-apiserver
answers with: 400 for malformed patches, 422 for patches that do not apply (failed ``test``, missing
path, lists of lists), 415 for a strategic merge patch on a kind without a Go struct (custom
resources), 413 for more than 10000 JSON patch operations, and 500 (reason ``Unknown``, message only)
for the strategic merge errors kube-apiserver does not classify (e.g. a list element without its merge
key: ``map: map[image:nginx] does not contain declared merge key: name``).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from k8s_emulator import schemas

MAX_JSON_PATCH_OPERATIONS = 10000
_GO_INT = re.compile(r"[+-]?[0-9]+\Z")

_DIRECTIVE = "$patch"
_REPLACE = "replace"
_DELETE = "delete"
_MERGE = "merge"
_RETAIN_KEYS = "$retainKeys"
_RETAIN_KEYS_STRATEGY = "retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid", 500: "Unknown"}


class PatchError(Exception):
    """A patch that kube-apiserver would refuse; ``code`` is the HTTP status it answers with."""

    def __init__(self, message: str, code: int = 422):
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def reason(self) -> str:
        """The ``reason`` of the ``Status`` object kube-apiserver sends with this code."""
        return REASONS.get(self.code, "Unknown")


# ------------------------------------------------------------------------------------------------
# helpers shared by all patch types


def _clone(value: Any) -> Any:
    """Deep copy of a JSON value (much faster than copy.deepcopy for JSON trees)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1 (Python's bool is an int, JSON's is not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def go_format(value: Any) -> str:
    """A JSON value the way Go's ``%v`` prints the ``interface{}`` it decodes to (used in messages)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    return str(value)


# ------------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split_pointer(path: Any, op: str, what: str = "path") -> List[str]:
    if not isinstance(path, str):
        raise PatchError(f"{op} operation failed to decode {what}", 422)
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"{op} operation does not apply: doc is missing {what}: \"{path}\": missing value", 422)
    return [_unescape(t) for t in path.split("/")[1:]]


def _array_index(token: str, length: int, for_add: bool, path: str) -> int:
    if not _GO_INT.match(token):  # strconv.Atoi: optional sign, ASCII digits only
        raise PatchError(f"value was not a proper array index: '{token}': strconv.Atoi: parsing \"{token}\": invalid syntax", 422)
    idx = int(token)
    size = length + 1 if for_add else length
    if idx >= size or idx < -size:
        raise PatchError(f"Unable to access invalid index: {idx}: invalid index referenced", 422)
    if idx < 0:
        idx += size
    return idx


def _parent(doc: Any, tokens: List[str], op: str, path: str) -> Any:
    """The container holding the last token of ``tokens``."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value", 422)
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), False, path)]
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value", 422)
    if not isinstance(node, (dict, list)):
        raise PatchError(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value", 422)
    return node


def _slot(doc: Any, tokens: List[str], op: str, path: str, missing: str) -> Tuple[Any, Any]:
    """(container, key or index) of an existing member; ``missing`` is the message when there is none."""
    if not tokens:
        raise PatchError(missing, 422)
    parent = _parent(doc, tokens, op, path)
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise PatchError(missing, 422)
        return parent, key
    return parent, _array_index(key, len(parent), False, path)


def _get(doc: Any, tokens: List[str], op: str, path: str) -> Any:
    if not tokens:
        return doc
    parent, key = _slot(doc, tokens, op, path, f"{op} operation does not apply: doc is missing path: \"{path}\": missing value")
    return parent[key]


def _add(doc: Any, tokens: List[str], value: Any, op: str, path: str) -> Any:
    if not tokens:  # evanphx/json-patch v4 has no whole-document add/replace
        raise PatchError(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value", 422)
    parent = _parent(doc, tokens, op, path)
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif key == "-":
        parent.append(value)
    else:
        parent.insert(_array_index(key, len(parent), True, path), value)
    return doc


def _remove(doc: Any, tokens: List[str], op: str, path: str) -> Any:
    missing = f"error in remove for path: '{path}': Unable to remove nonexistent key: {tokens[-1] if tokens else ''}: missing value"
    parent, key = _slot(doc, tokens, op, path, missing)
    return parent.pop(key)


def json_patch(obj: Any, ops: Any) -> Any:
    """Apply an RFC 6902 JSON patch (a list of operations) to a copy of ``obj``."""
    if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}", 413)
    doc = _clone(obj)
    for operation in ops:
        kind = operation.get("op", "unknown")
        path = operation.get("path")
        if kind in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"{kind} operation does not apply: missing value", 422)
        tokens = _split_pointer(path, kind)
        if kind == "add":
            doc = _add(doc, tokens, _clone(operation["value"]), kind, path)
        elif kind == "remove":
            _remove(doc, tokens, kind, path)
        elif kind == "replace":
            missing = f"replace operation does not apply: doc is missing key: {path}: missing value"
            parent, key = _slot(doc, tokens, kind, path, missing)
            parent[key] = _clone(operation["value"])
        elif kind in ("move", "copy"):
            source = operation.get("from")
            from_tokens = _split_pointer(source, kind, "from path")
            try:
                if not from_tokens:
                    raise PatchError("", 422)
                value = _get(doc, from_tokens, kind, source)
            except PatchError:
                raise PatchError(f"{kind} operation does not apply: doc is missing from path: {source}: missing value", 422) from None
            if kind == "move":
                if tokens[: len(from_tokens)] == from_tokens and len(tokens) > len(from_tokens):
                    raise PatchError(f"move operation does not apply: \"from\" {source} is a prefix of \"path\" {path}", 422)
                if from_tokens == tokens:
                    continue
                _remove(doc, from_tokens, kind, source)
            else:
                value = _clone(value)
            doc = _add(doc, tokens, value, kind, path)
        elif kind == "test":
            try:
                current = _get(doc, tokens, kind, path)
            except PatchError:
                raise PatchError(f"testing value {path} failed: test failed", 422) from None
            if not _json_equal(current, operation["value"]):
                raise PatchError(f"testing value {path} failed: test failed", 422)
        else:
            raise PatchError(f"Unexpected kind: {kind}", 422)
    return doc


# ------------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _merge_docs(doc: Dict[str, Any], patch: Dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, dict) and isinstance(doc.get(key), dict):
            _merge_docs(doc[key], value)
        else:
            doc[key] = _prune_nulls(value)


def merge_patch(obj: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch to a copy of ``obj``."""
    if not isinstance(patch, dict):
        raise PatchError("Invalid JSON Patch", 400)
    if not isinstance(obj, dict):
        return _prune_nulls(_clone(patch))
    doc = _clone(obj)
    _merge_docs(doc, _clone(patch))
    return doc


# ------------------------------------------------------------------------------------------------
# strategic merge patch


class _Meta:
    """Patch metadata of one field: its strategies, merge key and the (resolved) schema of its value
    (for a list: of its items). ``schema`` is None where the schema says nothing (free-form maps)."""

    __slots__ = ("schema", "strategies", "merge_key")

    def __init__(self, schema: Optional[dict], strategies: Tuple[str, ...] = (), merge_key: str = ""):
        self.schema = schema
        self.strategies = strategies
        self.merge_key = merge_key


_NO_META = _Meta(None)
_lookup_cache: Dict[Tuple[int, str, bool], _Meta] = {}


def _resolved(schema: Optional[dict]) -> Optional[dict]:
    if not isinstance(schema, dict):
        return None
    return schemas.resolve(schema)


def _lookup(schema: Optional[dict], key: str, for_slice: bool) -> _Meta:
    """LookupPatchMetadataForStruct / ForSlice against a JSON schema definition."""
    if schema is None:
        return _NO_META
    cache_key = (id(schema), key, for_slice)
    meta = _lookup_cache.get(cache_key)
    if meta is not None:
        return meta
    prop = (schema.get("properties") or {}).get(key)
    if prop is None:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):  # a Go map: values have no patch metadata of their own
            sub = _resolved(extra)
            meta = _Meta(_resolved(sub.get("items")) if for_slice and sub else sub)
        else:
            meta = _NO_META
    else:
        strategy = prop.get("x-kubernetes-patch-strategy")
        sub = _resolved(prop)
        if for_slice and sub is not None:
            sub = _resolved(sub.get("items"))
        meta = _Meta(sub, tuple(strategy.split(",")) if strategy else (), prop.get("x-kubernetes-patch-merge-key", ""))
    _lookup_cache[cache_key] = meta
    return meta


def _strategy(meta: _Meta) -> str:
    """extractRetainKeysPatchStrategy: the strategy other than retainKeys."""
    strategies = meta.strategies
    if len(strategies) == 0:
        return ""
    if len(strategies) == 1:
        return "" if strategies[0] == _RETAIN_KEYS_STRATEGY else strategies[0]
    if len(strategies) == 2 and _RETAIN_KEYS_STRATEGY in strategies:
        return strategies[1] if strategies[0] == _RETAIN_KEYS_STRATEGY else strategies[0]
    raise PatchError(f"unexpected patch strategy: {go_format(list(strategies))}", 500)


_GO_TYPES = {dict: "map[string]interface {}", list: "[]interface {}", bool: "bool", int: "int64", float: "float64", str: "string"}


def _go_type(value: Any) -> str:
    """The dynamic Go type encoding/json gives a JSON value (int64 with kube-apiserver's PreserveInts)."""
    return _GO_TYPES.get(type(value), "<nil>")


def _bad_arg_type(expected: str, actual: Any) -> PatchError:
    return PatchError(f"expected a {expected}, but received a {_go_type(actual)}", 500)


def _no_merge_key(item: dict, merge_key: str) -> PatchError:
    return PatchError(f"map: {go_format(item)} does not contain declared merge key: {merge_key}", 500)


def _key(value: Any) -> Tuple[str, Any]:
    """Identity of a scalar as Go's interface comparison sees it (int64(1) != float64(1) != true)."""
    if isinstance(value, (dict, list)):
        return (_go_type(value), go_format(value))
    return (_go_type(value), value)


def _slice_element_type(*slices: List[Any]) -> str:
    found: Optional[str] = None
    for items in slices:
        for item in items:
            current = _go_type(item)
            if found is None:
                found = current
                if current == "[]interface {}":
                    raise PatchError("lists of lists are not supported", 422)
            elif current != found:
                raise PatchError("list element types are not identical: " + go_format(list(slices)), 500)
    if found is None:
        raise PatchError("no elements in any of the given slices", 500)
    return found


def _discard_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if v is None]:
            del value[k]
        for v in value.values():
            _discard_nulls(v)
    elif isinstance(value, list):
        for v in value:
            _discard_nulls(v)


def _remove_directives(value: Any) -> Tuple[Any, bool]:
    """Drop maps carrying ``$patch`` from a value that is taken over as-is; (value, keep)."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        for k in list(value):
            new, keep = _remove_directives(value[k])
            if keep:
                value[k] = new
            else:
                del value[k]
        return value, True
    if isinstance(value, list):
        out = []
        for v in value:
            new, keep = _remove_directives(v)
            if keep:
                out.append(new)
        return out, True
    return value, True


def _merge_key_value(item: Any, merge_key: str) -> Any:
    if not isinstance(item, dict):
        raise _bad_arg_type("map[string]interface {}", item)
    if merge_key not in item:
        raise _no_merge_key(item, merge_key)
    return item[merge_key]


def _identity(item: Any, merge_key: str, is_map: bool) -> Tuple[str, Any]:
    if is_map:
        return _key(item.get(merge_key)) if isinstance(item, dict) else ("<nil>", None)
    return _key(item)


def _positions(order: List[Any], merge_key: str, is_map: bool) -> Dict[Tuple[str, Any], int]:
    positions: Dict[Tuple[str, Any], int] = {}
    for i, item in enumerate(order):
        positions.setdefault(_identity(item, merge_key, is_map), i)
    return positions


def _normalize_slice_order(to_sort: List[Any], order: List[Any], merge_key: str, is_map: bool) -> List[Any]:
    to_delete: List[Any] = []
    if is_map:
        for items in (to_sort, order):
            for item in items:
                _merge_key_value(item, merge_key)
        keep = []
        for item in to_sort:
            (to_delete if item.get(_DIRECTIVE) == _DELETE else keep).append(item)
        to_sort = keep
    positions = _positions(order, merge_key, is_map)
    unknown = len(order)
    ranked = sorted(
        enumerate(to_sort),
        key=lambda pair: (positions.get(_identity(pair[1], merge_key, is_map), unknown), pair[0]),
    )
    return [item for _, item in ranked] + to_delete


def _merge_sorted(left: List[Any], right: List[Any], server_order: List[Any], merge_key: str, is_map: bool) -> List[Any]:
    """mergeSortedSlice: interleave server-only items (left) into patch items (right)."""
    positions = _positions(server_order, merge_key, is_map)
    out: List[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = positions.get(_identity(left[i], merge_key, is_map), -1)
            ri = positions.get(_identity(right[j], merge_key, is_map), -1)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_element_order(patch_items, server_only, patch_order, server_order, merge_key, is_map) -> List[Any]:
    patch_items = _normalize_slice_order(patch_items, patch_order, merge_key, is_map)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, is_map)
    return _merge_sorted(server_only, patch_items, server_order, merge_key, is_map)


def _partition(merged: List[Any], by: List[Any], merge_key: str) -> Tuple[List[Any], List[Any]]:
    """partitionPrimitivesByPresentInList / partitionMapsByPresentInList."""
    in_patch: List[Any] = []
    server_only: List[Any] = []
    if not merge_key:
        present = {_key(v) for v in by}
        for v in merged:
            (in_patch if _key(v) in present else server_only).append(v)
        return in_patch, server_only
    present_keys = set()
    for v in by:
        if not isinstance(v, dict):
            raise PatchError(f"value for key {by.index(v)} is not a map", 500)
        if merge_key in v:
            present_keys.add(_key(v[merge_key]))
    for v in merged:
        value = _merge_key_value(v, merge_key)
        (in_patch if _key(value) in present_keys else server_only).append(v)
    return in_patch, server_only


def _find_by_key(items: List[Any], merge_key: str, value: Any) -> int:
    wanted = _key(value)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map", 500)
        if merge_key in item and _key(item[merge_key]) == wanted:
            return i
    return -1


def _merge_slice(original: List[Any], patch: List[Any], meta: _Meta, merge_key: str, delete_list: bool) -> List[Any]:
    if not original and not patch:
        return original
    element_type = _slice_element_type(original, patch)
    is_map = element_type == "map[string]interface {}"
    if not is_map:
        if delete_list:
            doomed = {_key(v) for v in patch}
            return [v for v in original if _key(v) not in doomed]
        merged: List[Any] = []
        seen = set()
        for v in original + patch:
            k = _key(v)
            if k not in seen:
                seen.add(k)
                merged.append(v)
    else:
        if not merge_key:
            raise PatchError("cannot merge lists without merge key for " + _schema_name(meta.schema), 500)
        # $patch directives inside the list. Deletions shift the caller's list in place, as Go's
        # append(original[:i], original[i+1:]...) does on the shared backing array: the caller's
        # $setElementOrder handling later reads that array (with its stale tail) as the live order.
        backing = original
        live_len = len(backing)
        plain: List[Any] = []
        replace = False
        for item in patch:
            if _DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[_DIRECTIVE]
            if directive == _DELETE:
                if merge_key not in item:
                    raise _no_merge_key(item, merge_key)
                while True:
                    index = _find_by_key(backing[:live_len], merge_key, item[merge_key])
                    if index < 0:
                        break
                    backing[index:live_len - 1] = backing[index + 1:live_len]
                    live_len -= 1
            elif directive == _REPLACE:
                replace = True
            elif directive == _MERGE:
                raise PatchError("merging lists cannot yet be specified in the patch", 500)
            else:
                raise PatchError(f"unknown patch type: {go_format(directive)} in map: {go_format(item)}", 500)
        if replace:
            original, patch, backing = plain, [], None
        else:
            original, patch = backing[:live_len], plain
        merged = list(original)
        for item in patch:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            index = _find_by_key(merged, merge_key, item[merge_key])
            if index >= 0:
                merged[index] = _merge_map(merged[index], item, meta.schema)
                if backing is not None:
                    backing[index] = merged[index]
            else:
                merged.append(item)
                if backing is not None and len(merged) <= len(backing):
                    backing[len(merged) - 1] = item  # an append that lands in the shared array
    in_patch, server_only = _partition(merged, patch, merge_key)
    return _normalize_element_order(in_patch, server_only, patch, original, merge_key, is_map)


def _schema_name(schema: Optional[dict]) -> str:
    if schema:
        for name, definition in schemas.definitions().items():
            if definition is schema:
                return name
    return "struct"


def _merge_slice_handler(original: Any, patch: Any, meta: _Meta, delete_list: bool) -> List[Any]:
    if not isinstance(original, list):
        raise _bad_arg_type("[]interface {}", original)
    if not isinstance(patch, list):
        raise _bad_arg_type("[]interface {}", patch)
    if _strategy(meta) == _MERGE or delete_list:
        return _merge_slice(original, patch, meta, meta.merge_key, delete_list)
    return patch


def _apply_retain_keys(original: dict, patch: dict) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError("invalid patch format of retainKeys", 400)
    allowed = {_key(v) for v in retain}
    for k, v in patch.items():
        if v is None or k.startswith(_DELETE_FROM_PRIMITIVE_LIST) or k.startswith(_SET_ELEMENT_ORDER):
            continue
        if _key(k) not in allowed:
            raise PatchError("invalid patch format of retainKeys", 400)
    for k in [k for k in original if _key(k) not in allowed]:
        del original[k]


def _extract_key(key: str, prefix: str) -> str:
    head, sep, tail = key.partition("/")
    if not sep or head != prefix:
        if prefix == _DELETE_FROM_PRIMITIVE_LIST:
            raise PatchError("invalid patch format of primitive list", 400)
        raise PatchError("invalid patch format of setElementOrder list", 400)
    return tail


def _validate_set_order(patch_list: Any, order: Any, merge_key: str) -> None:
    if not isinstance(order, list) or not isinstance(patch_list, list):
        raise PatchError("invalid patch format of setElementOrder list", 400)
    if not order or not patch_list:
        return
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
        candidates = [item for item in patch_list if item.get(_DIRECTIVE) != _DELETE]
    else:
        candidates = patch_list
    p = s = 0
    while p < len(candidates) and s < len(order):
        if isinstance(candidates[p], dict) and _DIRECTIVE in candidates[p]:
            p += 1
            continue
        if merge_key:
            equal = _key(_merge_key_value(candidates[p], merge_key)) == _key(_merge_key_value(order[s], merge_key))
        else:
            equal = _key(candidates[p]) == _key(order[s])
        if equal:
            p += 1
        s += 1
    if p < len(candidates) and s >= len(order):
        raise PatchError(
            f"the order in patch list:\n{go_format(patch_list)}\n doesn't match {_SET_ELEMENT_ORDER} list:\n{go_format(order)}", 500
        )


def _merge_set_element_order(original: dict, patch: dict, schema: Optional[dict]) -> None:
    """mergePatchIntoOriginal: merge every list that has a $setElementOrder directive, in its order."""
    for key in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        field = _extract_key(key, _SET_ELEMENT_ORDER)
        found_original, found_patch = field in original, field in patch
        original_list: List[Any] = []
        patch_list: List[Any] = []
        if found_original:
            original_list = original[field]
            if not isinstance(original_list, list):
                raise _bad_arg_type("[]interface {}", original_list)
        if found_patch:
            patch_list = patch[field]
            if not isinstance(patch_list, list):
                raise _bad_arg_type("[]interface {}", patch_list)
        meta = _lookup(schema, field, True)
        _strategy(meta)
        merge_key = meta.merge_key
        _validate_set_order(patch_list, order, merge_key)
        if found_original and not found_patch:
            merged = original_list
        elif found_patch and not found_original:
            merged = _remove_directives(patch_list)[0]
        elif found_original and found_patch:
            merged = _merge_slice_handler(original_list, patch_list, meta, False)
        else:
            continue
        if merge_key:
            in_patch, server_only = _partition(merged, order, merge_key)
        else:
            in_patch, server_only = _partition(merged, order, "")
        element_type = _slice_element_type(original_list, patch_list)
        original[field] = _normalize_element_order(
            in_patch, server_only, order, original_list, merge_key, element_type == "map[string]interface {}"
        )
        patch.pop(field, None)


def _merge_map(original: Optional[dict], patch: dict, schema: Optional[dict]) -> dict:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == _REPLACE:
            del patch[_DIRECTIVE]
            return patch
        if directive == _DELETE:
            return {}
        raise PatchError(f"unknown patch type: {go_format(directive)} in map: {go_format(patch)}", 500)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, schema)
    for key in list(patch):
        value = patch[key]
        delete_list = False
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            key = _extract_key(key, _DELETE_FROM_PRIMITIVE_LIST)
            delete_list = True
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _go_type(original[key]) != _go_type(value):
            if not delete_list:
                _discard_nulls(value)
                new, keep = _remove_directives(value)
                if keep:
                    original[key] = new
                else:
                    original.pop(key, None)
            continue
        current = original[key]
        if isinstance(current, dict):
            meta = _lookup(schema, key, False)
            if _strategy(meta) == _REPLACE:
                original[key] = value
            else:
                original[key] = _merge_map(current, value, meta.schema)
        elif isinstance(current, list):
            meta = _lookup(schema, key, True)
            original[key] = _merge_slice_handler(current, value, meta, delete_list)
        else:
            new, keep = _remove_directives(value)
            if keep:
                original[key] = new
            else:
                original.pop(key, None)
    return original


def strategic_merge_patch(obj: dict, patch: Any, rt) -> dict:
    """Apply a strategic merge patch to a copy of ``obj``, a built-in kind described by ``rt``
    (a :class:`k8s_emulator.registry.ResourceType`), as kube-apiserver does."""
    definition = None
    if getattr(rt, "crd_name", None) is None:
        definition = schemas.definition(rt.group, rt.version, rt.kind)
    if definition is None:
        raise PatchError(
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            415,
        )
    if not isinstance(patch, dict):
        raise PatchError("invalid JSON document", 400)
    if not isinstance(obj, dict):
        obj = {}
    return _merge_map(_clone(obj), _clone(patch), definition)
