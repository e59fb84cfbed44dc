"""The OpenAPI documents kube-apiserver serves: ``/openapi/v3`` (an index), ``/openapi/v3/<gv path>``
(one document per group-version) and ``/openapi/v2`` (swagger 2.0).

Clients depend on them:

* ``kubectl apply`` computes its three-way strategic merge patch from the v3 document of the object's
  group-version: it looks for a PATCH operation whose ``x-kubernetes-group-version-kind`` is the kind
  and whose request body accepts ``application/strategic-merge-patch+json`` (built-ins only; for custom
  resources it falls back to a JSON merge patch), then reads ``x-kubernetes-patch-merge-key`` /
  ``x-kubernetes-patch-strategy`` from ``components.schemas`` (following ``$ref`` and single-element
  ``allOf`` as upstream emits them).
* kubectl decides whether the server validates fields itself (``fieldValidation``) by finding the PATCH
  operation of the kind and a ``fieldValidation`` query parameter on it.
* ``kubectl explain`` reads the definitions (descriptions, types, required fields).

Built-in definitions come from :mod:`k8s_emulator.schemas` (kubernetes-validate's JSON Schema), turned
back into OpenAPI: ``#/$defs/X`` becomes ``#/components/schemas/X`` (``#/definitions/X`` in v2), a
reference with siblings is wrapped in ``allOf`` as upstream does, ``["string", "null"]`` types lose the
``null``, and what the strict flavour added (``additionalProperties: false``, ``enum`` on
``apiVersion``/``kind``) is dropped. A custom resource's definition is its CRD version's
``openAPIV3Schema`` named ``<reversed group>.<version>.<Kind>`` with ``apiVersion``/``kind``/``metadata``
filled in and ``x-kubernetes-group-version-kind``, as apiextensions-apiserver publishes it.

Documents are built on demand and cached per group-version; a cache entry is reused while the
group-version's resource types are the very same objects in the registry (a CRD change replaces them).
The returned dicts share sub-objects with the cache: callers must not modify them. The ``*_json``
methods return the serialized document (cached too) for the HTTP layer.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Dict, Iterable, List, Optional, Tuple

from k8s_emulator import schemas

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META + "ObjectMeta"
LIST_META = META + "ListMeta"
STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
PATCH = META + "Patch"
WATCH_EVENT = META + "WatchEvent"
API_RESOURCE_LIST = META + "APIResourceList"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"

MEDIA = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/cbor"]
WATCH_MEDIA = MEDIA + ["application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch", "application/cbor-seq"]
CRD_MEDIA = ["application/json", "application/yaml", "application/cbor"]
CRD_WATCH_MEDIA = CRD_MEDIA + ["application/json;stream=watch", "application/cbor-seq"]
PATCH_TYPES = [
    "application/apply-patch+cbor",
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
]
CRD_PATCH_TYPES = [t for t in PATCH_TYPES if "strategic" not in t]

# Query and path parameters, as upstream describes them (name -> (in, type, description)).
PARAMETERS: Dict[str, Tuple[str, str, str]] = {
    "name": ("path", "string", "name of the {kind}"),
    "namespace": ("path", "string", "object name and auth scope, such as for teams and projects"),
    "pretty": ("query", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
    "dryRun": ("query", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed"),
    "fieldManager": ("query", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."),
    "fieldManagerPatch": ("query", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch)."),
    "fieldValidation": ("query", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered."),
    "force": ("query", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."),
    "gracePeriodSeconds": ("query", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": ("query", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it"),
    "orphanDependents": ("query", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."),
    "propagationPolicy": ("query", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
    "allowWatchBookmarks": ("query", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored."),
    "continue": ("query", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize."),
    "fieldSelector": ("query", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    "labelSelector": ("query", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    "limit": ("query", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results."),
    "resourceVersion": ("query", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    "resourceVersionMatch": ("query", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    "sendInitialEvents": ("query", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection."),
    "timeoutSeconds": ("query", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
    "watch": ("query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
    "container": ("query", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
    "follow": ("query", "boolean", "Follow the log stream of the pod. Defaults to false."),
    "previous": ("query", "boolean", "Return previous terminated container logs. Defaults to false."),
    "sinceSeconds": ("query", "integer", "A relative time in seconds before the current time from which to show logs."),
    "tailLines": ("query", "integer", "If set, the number of lines from the end of the logs to show."),
    "timestamps": ("query", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
    "command": ("query", "string", "Command is the remote command to execute. argv array. Not executed within a shell."),
    "stdin": ("query", "boolean", "Redirect the standard input stream of the pod for this call. Defaults to false."),
    "stdout": ("query", "boolean", "Redirect the standard output stream of the pod for this call."),
    "stderr": ("query", "boolean", "Redirect the standard error stream of the pod for this call."),
    "tty": ("query", "boolean", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
    "limitBytes": ("query", "integer", "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit."),
    "ports": ("query", "integer", "List of ports to forward Required when using WebSockets"),
}
LIST_PARAMETERS = ["allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
                   "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"]
DELETE_PARAMETERS = ["dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "orphanDependents", "propagationPolicy"]
WRITE_PARAMETERS = ["dryRun", "fieldManager", "fieldValidation"]
PATCH_PARAMETERS = ["dryRun", "fieldManagerPatch", "fieldValidation", "force"]


# ------------------------------------------------------------------------------------------------
# schema conversion (kubernetes-validate JSON Schema -> OpenAPI v3 / v2)

_NON_SCHEMA_VALUES = {"enum", "default", "example", "required", "x-kubernetes-group-version-kind",
                      "x-kubernetes-list-map-keys", "x-kubernetes-unions", "x-kubernetes-validations"}


def _refs_in(value: Any, found: List[str], prefix: str) -> None:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            found.append(ref[len(prefix):])
        for key, sub in value.items():
            if key == "properties" and isinstance(sub, dict):
                for prop in sub.values():
                    _refs_in(prop, found, prefix)
            elif key not in _NON_SCHEMA_VALUES:
                _refs_in(sub, found, prefix)
    elif isinstance(value, list):
        for sub in value:
            _refs_in(sub, found, prefix)


def _convert(schema: Any, v2: bool, drop_type_enums: bool = False) -> Any:
    """One JSON Schema node of a built-in definition as OpenAPI v3 (or v2)."""
    if not isinstance(schema, dict):
        return schema
    out: Dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("$schema", "$id"):
            continue
        if key == "$ref":
            out[key] = (V2_REF if v2 else V3_REF) + value[len(schemas.REF_PREFIX):]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "additionalProperties" and value is False:
            continue
        elif key == "properties":
            properties = {}
            for name, sub in value.items():
                converted = _convert(sub, v2)
                if drop_type_enums and name in ("apiVersion", "kind"):
                    converted.pop("enum", None)  # added by kubernetes-validate, not upstream
                properties[name] = converted
            out[key] = properties
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _convert(value, v2)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [_convert(v, v2) for v in value]
        else:
            out[key] = value
    if "$ref" in out and len(out) > 1 and not v2:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


SPECIAL_DESCRIPTIONS = {
    INT_OR_STRING: "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and "
                   "unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON "
                   "field that can accept a name or number.",
    QUANTITY: "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in "
              "JSON and YAML, in addition to String() and AsInt64() accessors.",
}


def _special(name: str, converted: dict, v2: bool) -> dict:
    """IntOrString and Quantity are custom-marshalled types; upstream describes them by hand."""
    description = {"description": converted.get("description") or SPECIAL_DESCRIPTIONS.get(name, "")}
    if name == INT_OR_STRING:
        if v2:
            return {**description, "format": "int-or-string", "type": "string"}
        return {**description, "format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
    if name == QUANTITY:
        if v2:
            return {**description, "type": "string"}
        return {**description, "oneOf": [{"type": "string"}, {"type": "number"}]}
    return converted


class _Definitions:
    """Converted built-in definitions (shared by every document), each with the names it references."""

    def __init__(self, v2: bool):
        self.v2 = v2
        self.prefix = V2_REF if v2 else V3_REF
        self._converted: Dict[str, Tuple[dict, Tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Tuple[dict, Tuple[str, ...]]:
        entry = self._converted.get(name)
        if entry is None:
            source = schemas.definitions()[name]
            converted = _special(name, _convert(source, self.v2, "x-kubernetes-group-version-kind" in source), self.v2)
            found: List[str] = []
            _refs_in(converted, found, self.prefix)
            entry = (converted, tuple(dict.fromkeys(found)))
            with self._lock:
                self._converted.setdefault(name, entry)
        return entry

    def closure(self, seeds: Iterable[str], into: Dict[str, dict]) -> None:
        """Add ``seeds`` and every definition they reference (transitively) to ``into``."""
        pending = [s for s in seeds if s not in into]
        while pending:
            name = pending.pop()
            if name in into:
                continue
            converted, refs = self.get(name)
            into[name] = converted
            pending.extend(r for r in refs if r not in into)


_V3_DEFS = _Definitions(v2=False)
_V2_DEFS = _Definitions(v2=True)


def _v2_schema(schema: Any) -> Any:
    """A CRD (OpenAPI v3) schema in swagger 2.0 terms: what v2 cannot say is dropped, as upstream does."""
    if isinstance(schema, list):
        return [_v2_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("oneOf", "anyOf", "not", "nullable"):
            continue
        if key == "$ref" and isinstance(value, str):
            out[key] = value.replace(V3_REF, V2_REF)
        elif key == "properties":
            out[key] = {name: _v2_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = _v2_schema(value)
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.setdefault("type", "string")
        out.setdefault("format", "int-or-string")
    return out


# ------------------------------------------------------------------------------------------------
# operations


def _camel(group: str, custom: bool = False) -> str:
    """The group as upstream spells it in operation ids: "" -> Core, rbac.authorization.k8s.io ->
    RbacAuthorization; a custom resource's group keeps its suffix: gateway.networking.k8s.io ->
    GatewayNetworkingK8sIo."""
    if not group:
        return "Core"
    if group.endswith(".k8s.io") and not custom:
        group = group[: -len(".k8s.io")]
    return "".join(part[:1].upper() + part[1:] for part in group.replace("-", ".").split("."))


def _tag(group: str, version: str, custom: bool) -> str:
    name = _camel(group, custom)
    return name[:1].lower() + name[1:] + "_" + version


def _reversed_group(group: str) -> str:
    return ".".join(reversed(group.split(".")))


class _Op:
    """One operation, in version-neutral terms."""

    __slots__ = ("method", "op_id", "description", "action", "gvk", "params", "body", "body_types", "response",
                 "response_types", "codes")

    def __init__(self, method, op_id, description, action, gvk, params, body, body_types, response, response_types, codes):
        self.method, self.op_id, self.description, self.action, self.gvk = method, op_id, description, action, gvk
        self.params, self.body, self.body_types = params, body, body_types
        self.response, self.response_types, self.codes = response, response_types, codes


CODES = {"200": "OK", "201": "Created", "202": "Accepted"}


class _PathBuilder:
    """Collects paths -> (path parameters, operations) for one group-version."""

    def __init__(self, group: str, version: str, custom: bool):
        self.group, self.version, self.custom = group, version, custom
        self.prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        self.paths: Dict[str, Tuple[List[str], List[_Op]]] = {}
        self.media = CRD_MEDIA if custom else MEDIA
        self.watch_media = CRD_WATCH_MEDIA if custom else WATCH_MEDIA
        self.gv = _camel(group, custom) + version[:1].upper() + version[1:]

    def add(self, path: str, params: List[str], op: _Op) -> None:
        self.paths.setdefault(path, (params, []))[1].append(op)

    def resource(self, rt, definition: str, list_definition: str) -> None:
        gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
        verbs = set(rt.verbs)
        scope = "Namespaced" if rt.namespaced else ""
        base = f"{self.prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{self.prefix}/{rt.plural}"
        scope_params = ["namespace", "pretty"] if rt.namespaced else ["pretty"]
        kind, gv = rt.kind, self.gv
        mk = lambda *a: _Op(*a)  # noqa: E731 - keeps the table below readable
        if "list" in verbs:
            self.add(base, scope_params, mk("get", f"list{gv}{scope}{kind}", f"list or watch objects of kind {kind}", "list", gvk,
                                            LIST_PARAMETERS, None, None, list_definition, self.watch_media, ("200",)))
            if rt.namespaced:
                self.add(f"{self.prefix}/{rt.plural}", ["pretty"], mk(
                    "get", f"list{gv}{kind}ForAllNamespaces", f"list or watch objects of kind {kind}", "list", gvk,
                    LIST_PARAMETERS, None, None, list_definition, self.watch_media, ("200",)))
        if "create" in verbs:
            self.add(base, scope_params, mk("post", f"create{gv}{scope}{kind}", f"create a {kind}", "post", gvk,
                                            WRITE_PARAMETERS, definition, ["*/*"], definition, self.media, ("200", "201", "202")))
        if "deletecollection" in verbs:
            self.add(base, scope_params, mk("delete", f"delete{gv}Collection{scope}{kind}", f"delete collection of {kind}",
                                            "deletecollection", gvk, DELETE_PARAMETERS + LIST_PARAMETERS[:-1],
                                            DELETE_OPTIONS, ["*/*"], STATUS, self.media, ("200",)))
        item = f"{base}/{{name}}"
        item_params = ["name"] + scope_params
        if "get" in verbs:
            self.add(item, item_params, mk("get", f"read{gv}{scope}{kind}", f"read the specified {kind}", "get", gvk,
                                           [], None, None, definition, self.media, ("200",)))
        if "update" in verbs:
            self.add(item, item_params, mk("put", f"replace{gv}{scope}{kind}", f"replace the specified {kind}", "put", gvk,
                                           WRITE_PARAMETERS, definition, ["*/*"], definition, self.media, ("200", "201")))
        if "patch" in verbs:
            self.add(item, item_params, self.patch_op(f"patch{gv}{scope}{kind}", f"partially update the specified {kind}", gvk, definition))
        if "delete" in verbs:
            self.add(item, item_params, mk("delete", f"delete{gv}{scope}{kind}", f"delete a {kind}", "delete", gvk,
                                           DELETE_PARAMETERS, DELETE_OPTIONS, ["*/*"], STATUS, self.media, ("200", "202")))
        if "watch" in verbs:
            watch_base = base.replace(self.prefix, self.prefix + "/watch", 1)
            self.add(watch_base, scope_params, mk(
                "get", f"watch{gv}{scope}{kind}List", f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead.",
                "watchlist", gvk, LIST_PARAMETERS, None, None, WATCH_EVENT, self.watch_media, ("200",)))
            self.add(f"{watch_base}/{{name}}", item_params, mk(
                "get", f"watch{gv}{scope}{kind}", f"watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
                "watch", gvk, LIST_PARAMETERS, None, None, WATCH_EVENT, self.watch_media, ("200",)))
        for sub in rt.subresources:
            self.subresource(rt, sub, item, item_params, gvk, definition)

    def patch_op(self, op_id: str, description: str, gvk: dict, definition: str) -> _Op:
        return _Op("patch", op_id, description, "patch", gvk, PATCH_PARAMETERS, PATCH,
                   CRD_PATCH_TYPES if self.custom else PATCH_TYPES, definition, self.media, ("200", "201"))

    def subresource(self, rt, sub: str, item: str, item_params: List[str], gvk: dict, definition: str) -> None:
        scope = "Namespaced" if rt.namespaced else ""
        name = f"{self.gv}{scope}{rt.kind}{sub[:1].upper()}{sub[1:]}"
        path = f"{item}/{sub}"
        params = item_params
        if sub in ("status", "scale"):
            target = definition
            target_gvk = gvk
            if sub == "scale":
                target, target_gvk = "io.k8s.api.autoscaling.v1.Scale", {"group": "autoscaling", "kind": "Scale", "version": "v1"}
            what = f"{sub} of the specified {rt.kind}"
            self.add(path, params, _Op("get", f"read{name}", f"read {what}", "get", target_gvk, [], None, None, target, self.media, ("200",)))
            self.add(path, params, _Op("put", f"replace{name}", f"replace {what}", "put", target_gvk, WRITE_PARAMETERS, target, ["*/*"],
                                       target, self.media, ("200", "201")))
            self.add(path, params, self.patch_op(f"patch{name}", f"partially update {what}", target_gvk, target))
        elif sub == "token":
            target, target_gvk = "io.k8s.api.authentication.v1.TokenRequest", {"group": "authentication.k8s.io", "kind": "TokenRequest", "version": "v1"}
            self.add(path, params, _Op("post", f"create{name}", f"create token of a {rt.kind}", "post", target_gvk, WRITE_PARAMETERS,
                                       target, ["*/*"], target, self.media, ("200", "201", "202")))
        elif sub == "eviction":
            target, target_gvk = "io.k8s.api.policy.v1.Eviction", {"group": "policy", "kind": "Eviction", "version": "v1"}
            self.add(path, params, _Op("post", f"create{name}", f"create eviction of a {rt.kind}", "post", target_gvk, WRITE_PARAMETERS,
                                       target, ["*/*"], target, self.media, ("200", "201", "202")))
        elif sub == "finalize":
            self.add(path, params, _Op("put", f"replace{name}", f"replace finalize of the specified {rt.kind}", "put", gvk,
                                       WRITE_PARAMETERS, definition, ["*/*"], definition, self.media, ("200", "201")))
        elif sub == "log":
            self.add(path, params, _Op("get", f"read{name}", f"read log of the specified {rt.kind}", "get", gvk,
                                       ["container", "follow", "limitBytes", "previous", "sinceSeconds", "tailLines", "timestamps"],
                                       None, None, "", ["text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"], ("200",)))
        elif sub in ("exec", "portforward", "attach", "proxy"):
            options_kind = {"exec": "PodExecOptions", "portforward": "PodPortForwardOptions", "attach": "PodAttachOptions", "proxy": "PodProxyOptions"}[sub]
            query = {"exec": ["command", "container", "stderr", "stdin", "stdout", "tty"], "portforward": ["ports"]}.get(sub, [])
            options_gvk = {"group": rt.group, "kind": options_kind, "version": rt.version}
            for method in ("get", "post"):
                self.add(path, params, _Op(method, f"connect{method.title()}{name}", f"connect {method.upper()} requests to {sub} of {rt.kind}",
                                           "connect", options_gvk, query, None, None, "", ["*/*"], ("200",)))


# ------------------------------------------------------------------------------------------------
# rendering


def _parameter_v3(name: str, kind: str) -> dict:
    where, typ, description = PARAMETERS.get(name, ("query", "integer", ""))
    real = "fieldManager" if name == "fieldManagerPatch" else name
    param = {"description": description.replace("{kind}", kind), "in": where, "name": real,
             "schema": {"type": typ, "uniqueItems": True}}
    if where == "path":
        param["required"] = True
    return param


def _parameter_v2(name: str, kind: str) -> dict:
    where, typ, description = PARAMETERS.get(name, ("query", "integer", ""))
    real = "fieldManager" if name == "fieldManagerPatch" else name
    param = {"description": description.replace("{kind}", kind), "in": where, "name": real, "type": typ, "uniqueItems": True}
    if where == "path":
        param["required"] = True
    return param


def _extensions(op: _Op) -> dict:
    out: Dict[str, Any] = {}
    if op.action:
        out["x-kubernetes-action"] = op.action
    if op.gvk:
        out["x-kubernetes-group-version-kind"] = op.gvk
    return out


def _render_v3(builder: _PathBuilder) -> Dict[str, dict]:
    tag = [_tag(builder.group, builder.version, builder.custom)]
    paths: Dict[str, dict] = {}
    for path, (path_params, ops) in builder.paths.items():
        kind = ops[0].gvk["kind"] if ops[0].gvk else ""
        item: Dict[str, Any] = {"parameters": [_parameter_v3(p, kind) for p in path_params]} if path_params else {}
        for op in ops:
            rendered: Dict[str, Any] = {"description": op.description, "operationId": op.op_id}
            if op.params:
                rendered["parameters"] = [_parameter_v3(p, kind) for p in op.params]
            if op.body:
                rendered["requestBody"] = {"content": {t: {"schema": {"$ref": V3_REF + op.body}} for t in op.body_types}}
                if op.method != "delete":
                    rendered["requestBody"]["required"] = True
            schema = {"$ref": V3_REF + op.response} if op.response else {"type": "string"}
            content = {t: {"schema": schema} for t in op.response_types}
            responses = {code: {"content": content, "description": CODES[code]} for code in op.codes}
            responses["401"] = {"description": "Unauthorized"}
            rendered.update({"responses": responses, "tags": tag})
            rendered.update(_extensions(op))
            item[op.method] = rendered
        paths[path] = item
    return paths


def _render_v2(builder: _PathBuilder, paths: Dict[str, dict]) -> None:
    tag = [_tag(builder.group, builder.version, builder.custom)]
    for path, (path_params, ops) in builder.paths.items():
        kind = ops[0].gvk["kind"] if ops[0].gvk else ""
        item: Dict[str, Any] = {"parameters": [_parameter_v2(p, kind) for p in path_params]} if path_params else {}
        for op in ops:
            params = [_parameter_v2(p, kind) for p in op.params]
            rendered: Dict[str, Any] = {"description": op.description, "operationId": op.op_id}
            if op.body:
                params.insert(0, {"in": "body", "name": "body", "required": op.method != "delete",
                                  "schema": {"$ref": V2_REF + op.body}})
                rendered["consumes"] = op.body_types
            if params:
                rendered["parameters"] = params
            schema = {"$ref": V2_REF + op.response} if op.response else {"type": "string"}
            responses = {code: {"description": CODES[code], "schema": schema} for code in op.codes}
            responses["401"] = {"description": "Unauthorized"}
            rendered.update({"produces": op.response_types, "responses": responses, "schemes": ["https"], "tags": tag})
            rendered.update(_extensions(op))
            item[op.method] = rendered
        paths[path] = item


def _crd_definitions(rt, v2: bool) -> Tuple[str, dict, str, dict]:
    """A custom resource's schema and its list's, named as apiextensions-apiserver names them."""
    ref = V2_REF if v2 else V3_REF
    base = f"{_reversed_group(rt.group)}.{rt.version}."
    name, list_name = base + rt.kind, base + rt.list_kind
    source = rt.schema if isinstance(rt.schema, dict) else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if v2:
        source = _v2_schema(source)

    def wrap(target: str, description: str) -> dict:
        if v2:
            return {"$ref": ref + target, "description": description}
        return {"allOf": [{"$ref": ref + target}], "description": description}

    common = {
        "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"},
        "kind": {"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"},
    }
    properties = dict(source.get("properties") or {})
    properties.update(common)
    properties["metadata"] = wrap(OBJECT_META, "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
    schema = {**source, "properties": properties, "type": "object",
              "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": rt.kind, "version": rt.version}]}
    list_schema = {
        "description": f"{rt.kind}List is a list of {rt.kind}",
        "properties": {
            **common,
            "items": {"description": f"List of {rt.plural}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", "items": {"$ref": ref + name}, "type": "array"},
            "metadata": wrap(LIST_META, "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"),
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": rt.list_kind, "version": rt.version}],
    }
    return name, schema, list_name, list_schema


def _builder_for(group: str, version: str, rts: List[Any], v2: bool, definitions: Dict[str, dict], defs: _Definitions) -> _PathBuilder:
    custom = any(rt.crd_name for rt in rts)
    builder = _PathBuilder(group, version, custom)
    seeds = [API_RESOURCE_LIST, STATUS, DELETE_OPTIONS, PATCH, WATCH_EVENT]
    for rt in rts:
        if rt.crd_name:
            name, schema, list_name, list_schema = _crd_definitions(rt, v2)
            definitions[name], definitions[list_name] = schema, list_schema
            seeds += [OBJECT_META, LIST_META]
            found: List[str] = []
            _refs_in(schema, found, defs.prefix)
            seeds += [f for f in found if f in schemas.definitions()]
        else:
            name = schemas.definition_name(rt.group, rt.version, rt.kind)
            list_name = schemas.definition_name(rt.group, rt.version, rt.list_kind) or ""
            if name is None:
                continue
            seeds += [name] + ([list_name] if list_name else [])
        builder.resource(rt, name, list_name or name)
    for _, ops in builder.paths.values():
        for op in ops:
            seeds += [d for d in (op.body, op.response) if d and d in schemas.definitions()]
    defs.closure(seeds, definitions)
    builder.add(builder.prefix + "/", [], _Op("get", f"get{builder.gv}APIResources", "get available resources", "", None,
                                               [], None, None, API_RESOURCE_LIST, ["application/json", "application/yaml",
                                                                                   "application/vnd.kubernetes.protobuf", "application/cbor"], ("200",)))
    return builder


def _sorted(mapping: Dict[str, Any]) -> Dict[str, Any]:
    return {k: mapping[k] for k in sorted(mapping)}


def gv_path(group: str, version: str) -> str:
    """The index key of a group-version: ``api/v1`` or ``apis/<group>/<version>``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


class OpenAPI:
    """The OpenAPI documents of whatever ``registry`` serves at the moment they are asked for."""

    def __init__(self, registry):
        self._registry = registry
        self._lock = threading.Lock()
        # (group, version) -> (resource types it was built from, document, JSON bytes, hash)
        self._v3: Dict[Tuple[str, str], Tuple[Tuple[Any, ...], dict, bytes, str]] = {}
        self._v2: Optional[Tuple[Tuple[Any, ...], dict, bytes]] = None

    def invalidate(self) -> None:
        """Forget every cached document (they are also rebuilt by themselves when the registry changes)."""
        with self._lock:
            self._v3.clear()
            self._v2 = None

    # -- v3 ----------------------------------------------------------------------------------------
    def _group_versions(self) -> Dict[Tuple[str, str], Tuple[Any, ...]]:
        out: Dict[Tuple[str, str], List[Any]] = {}
        for rt in self._registry.all():
            out.setdefault((rt.group, rt.version), []).append(rt)
        return {gv: tuple(rts) for gv, rts in out.items()}

    @staticmethod
    def _same(a: Tuple[Any, ...], b: Tuple[Any, ...]) -> bool:
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))

    def _v3_entry(self, group: str, version: str, rts: Tuple[Any, ...]):
        with self._lock:
            entry = self._v3.get((group, version))
            if entry is not None and self._same(entry[0], rts):
                return entry
        definitions: Dict[str, dict] = {}
        builder = _builder_for(group, version, list(rts), False, definitions, _V3_DEFS)
        doc = {
            "components": {"schemas": _sorted(definitions), "securitySchemes": {"BearerToken": {
                "description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}}},
            "info": {"title": "Kubernetes", "version": schemas.KUBE_GIT_VERSION},
            "openapi": "3.0.0",
            "paths": _sorted(_render_v3(builder)),
            "security": [{"BearerToken": []}],
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        entry = (rts, doc, raw, hashlib.sha512(raw).hexdigest().upper())
        with self._lock:
            self._v3[(group, version)] = entry
        return entry

    def v3_index(self) -> dict:
        """``/openapi/v3``: every served group-version with a URL that changes with its document."""
        paths = {}
        current = self._group_versions()
        for (group, version), rts in current.items():
            entry = self._v3_entry(group, version, rts)
            path = gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={entry[3]}"}
        with self._lock:
            for gone in [gv for gv in self._v3 if gv not in current]:
                del self._v3[gone]
        return {"paths": _sorted(paths)}

    def v3_group_version(self, group: str, version: str) -> Optional[dict]:
        """``/openapi/v3/api/v1`` (group "") or ``/openapi/v3/apis/<group>/<version>``; None if not served."""
        entry = self._v3_lookup(group, version)
        return entry[1] if entry else None

    def v3_group_version_json(self, group: str, version: str) -> Optional[bytes]:
        """The same document serialized as compact JSON (cached)."""
        entry = self._v3_lookup(group, version)
        return entry[2] if entry else None

    def v3_hash(self, group: str, version: str) -> Optional[str]:
        """The ``hash`` the index advertises for a group-version (upper-case hex SHA-512 of its JSON)."""
        entry = self._v3_lookup(group, version)
        return entry[3] if entry else None

    def _v3_lookup(self, group: str, version: str):
        rts = tuple(rt for rt in self._registry.all() if rt.group == group and rt.version == version)
        if not rts:
            return None
        return self._v3_entry(group, version, rts)

    # -- v2 ----------------------------------------------------------------------------------------
    def _v2_entry(self):
        rts = tuple(self._registry.all())
        with self._lock:
            if self._v2 is not None and self._same(self._v2[0], rts):
                return self._v2
        definitions: Dict[str, dict] = {}
        paths: Dict[str, dict] = {}
        for (group, version), gv_rts in self._group_versions().items():
            _render_v2(_builder_for(group, version, list(gv_rts), True, definitions, _V2_DEFS), paths)
        doc = {
            "definitions": _sorted(definitions),
            "info": {"title": "Kubernetes", "version": schemas.KUBE_GIT_VERSION},
            "paths": _sorted(paths),
            "security": [{"BearerToken": []}],
            "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                                    "name": "authorization", "type": "apiKey"}},
            "swagger": "2.0",
        }
        entry = (rts, doc, json.dumps(doc, separators=(",", ":")).encode())
        with self._lock:
            self._v2 = entry
        return entry

    def v2(self) -> dict:
        """``/openapi/v2`` as JSON (swagger 2.0) covering every served resource."""
        return self._v2_entry()[1]

    def v2_json(self) -> bytes:
        return self._v2_entry()[2]
