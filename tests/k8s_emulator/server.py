"""The Kubernetes API emulator's HTTP server: kube-apiserver v1.36 routing and REST semantics.

``Emulator`` holds the state (store, registry, validator, authentication/authorization, controllers,
fault injection) and implements the REST verbs without HTTP; ``Handler`` maps HTTP/1.1 requests (TLS,
keep-alive, chunked watch streams) onto it and writes one JSON line per request to ``requests.log``.

Knowingly not emulated: managedFields (server-side apply is field-manager-less: the applied
configuration is merged onto the live object, fields dropped from it are not removed), protobuf/CBOR
encodings (JSON is always answered), admission webhooks, API priority and fairness.
"""

from __future__ import annotations

import base64
import copy
import datetime
import http.server
import json
import os
import random
import socket
import ssl
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import yaml

from k8s_emulator import protobuf, schemas, selectors, strategies, tables
from k8s_emulator.registry import ALL_VERBS, Registry, ResourceType
from k8s_emulator.store import ADDED, DELETED, MODIFIED, AlreadyExists, Conflict, Expired, NotFound, Store

CONTENT_JSON = "application/json"
PATCH_JSON = "application/json-patch+json"
PATCH_MERGE = "application/merge-patch+json"
PATCH_STRATEGIC = "application/strategic-merge-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"
DISCOVERY_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
DISCOVERY_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
OPENID_PATHS = ("/.well-known/openid-configuration", "/openid/v1/jwks")
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DEFAULT_WATCH_TIMEOUT = 1800
BOOKMARK_INTERVAL = 10.0
REVIEW_GROUPS = ("authorization.k8s.io", "authentication.k8s.io")
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def qualified_resource(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def qualified_kind(rt: ResourceType) -> str:
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


class ApiError(Exception):
    """An error answered as a ``Status`` body."""

    REASONS = {
        400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
        406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
        429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
    }

    def __init__(self, code: int, message: str, reason: Optional[str] = None, details: Optional[dict] = None,
                 headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or self.REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rt: ResourceType, name: str, kind: Optional[str] = None, causes: Optional[list] = None) -> dict:
    details: Dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = kind or rt.plural
    if causes:
        details["causes"] = causes
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, f'{qualified_resource(rt)} "{name}" not found', details=_details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, f'{qualified_resource(rt)} "{name}" already exists', "AlreadyExists", _details(rt, name))


def conflict(rt: ResourceType, name: str, why: str = "the object has been modified; please apply your changes to the latest version and try again") -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {qualified_resource(rt)} "{name}": {why}', "Conflict", _details(rt, name))


def invalid(rt: ResourceType, name: str, causes: list) -> ApiError:
    texts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    status_causes = [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes]
    return ApiError(422, f'{qualified_kind(rt)} "{name}" is invalid: {summary}', "Invalid",
                    _details(rt, name, kind=rt.kind, causes=status_causes))


class _SimpleCause:
    def __init__(self, field: str, reason: str, message: str):
        self.field, self.reason, self.message = field, reason, message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def unsupported_media(rt: ResourceType) -> ApiError:
    types = [PATCH_JSON, PATCH_MERGE, PATCH_APPLY]
    if not rt.crd_name:
        types.append(PATCH_STRATEGIC)
    return ApiError(415, "the body of the request was in an unknown format - accepted media types include: " + ", ".join(types),
                    "UnsupportedMediaType")


def warning_header(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


class Request:
    """What one API call carries besides its target: the user, query options, and collected warnings."""

    def __init__(self, user=None, query: Optional[Dict[str, List[str]]] = None):
        self.user = user
        self.query = query or {}
        self.warnings: List[str] = []

    def param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def dry_run(self) -> bool:
        values = self.query.get("dryRun") or []
        for value in values:
            if value != "All":
                raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return bool(values)

    @property
    def field_validation(self) -> str:
        value = self.param("fieldValidation") or "Warn"
        if value not in ("Strict", "Warn", "Ignore"):
            raise bad_request(f'fieldValidation: Unsupported value: "{value}": supported values: "Ignore", "Strict", "Warn"')
        return value


class Emulator:
    """State and REST semantics of one emulated cluster."""

    def __init__(self, state_dir: str, admin_token: str, ca_pem: str = "", controller_delay: float = 0.5,
                 start_controllers: bool = True):
        self.state_dir = state_dir
        self.admin_token = admin_token
        self.ca_pem = ca_pem
        self.store = Store()
        self.registry = Registry()
        self.allocator = strategies.ServiceAllocator()
        self._validator = None
        self._openapi = None
        self._lazy_lock = threading.Lock()
        from k8s_emulator.faults import FaultInjector

        self.faults = FaultInjector()
        self._auth_ready = False
        self.authenticator = self.authorizer = self.issuer = None
        self._init_auth()
        self.controllers = None
        self._controller_delay = controller_delay
        self._bootstrap()
        if start_controllers:
            self._start_controllers(controller_delay)

    # -- parts written by other owners -----------------------------------------------------------
    def _init_auth(self) -> None:
        from k8s_emulator.auth import Authenticator, Authorizer, TokenIssuer

        self.issuer = TokenIssuer(os.path.join(self.state_dir, "keys"), store=self.store)
        self.authenticator = Authenticator(self.store, self.admin_token, self.issuer)
        self.authorizer = Authorizer(self.store)

    def _start_controllers(self, delay: float) -> None:
        from k8s_emulator.controllers import ControllerManager

        self.controllers = ControllerManager(self.store, self.registry, delay_seconds=delay)
        self.controllers.start()

    @property
    def validator(self):
        if self._validator is None:
            with self._lazy_lock:
                if self._validator is None:
                    from k8s_emulator.validation import Validator

                    self._validator = Validator()
        return self._validator

    @property
    def openapi(self):
        if self._openapi is None:
            with self._lazy_lock:
                if self._openapi is None:
                    from k8s_emulator.openapi import OpenAPI

                    self._openapi = OpenAPI(self.registry)
        return self._openapi

    def stop(self) -> None:
        if self.controllers is not None:
            self.controllers.stop()

    # -- bootstrap ---------------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        """What a fresh cluster holds: the system namespaces (each with its kube-root-ca.crt ConfigMap and
        default ServiceAccount) and the ``kubernetes`` Service in ``default``."""
        ns_rt = self.registry.lookup("", "v1", "namespaces")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            strategies.prepare_namespace(namespace, None)
            self._persist_new(ns_rt, namespace)
            self._namespace_children(name)
        svc_rt = self.registry.lookup("", "v1", "services")
        kubernetes = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": strategies.KUBERNETES_SERVICE_IP, "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        }
        self._persist_new(svc_rt, kubernetes)

    def _persist_new(self, rt: ResourceType, obj: dict) -> dict:
        """Store a system object directly (no validation), as kube-apiserver's bootstrap controllers do."""
        self._init_metadata(rt, obj)
        if rt.key == ("", "services"):
            spec = obj["spec"]
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            strategies.prepare_service(obj, None, self.allocator)
        return self.store.create(rt.key, obj)

    def _namespace_children(self, namespace: str) -> None:
        cm_rt = self.registry.lookup("", "v1", "configmaps")
        sa_rt = self.registry.lookup("", "v1", "serviceaccounts")
        children = [
            (cm_rt, {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "kube-root-ca.crt", "namespace": namespace,
                                  "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                     "data": {"ca.crt": self.ca_pem}}),
            (sa_rt, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}}),
        ]
        for rt, obj in children:
            try:
                self._persist_new(rt, obj)
            except AlreadyExists:
                pass

    # -- helpers -------------------------------------------------------------------------------------
    def _init_metadata(self, rt: ResourceType, obj: dict) -> None:
        meta = obj.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta.pop("resourceVersion", None)
        meta.pop("deletionTimestamp", None)
        meta.pop("deletionGracePeriodSeconds", None)
        meta.pop("managedFields", None)
        if self._has_generation(rt):
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind

    @staticmethod
    def _has_generation(rt: ResourceType) -> bool:
        return bool(rt.crd_name) or rt.key in strategies.GENERATION_RESOURCES

    def output(self, rt: ResourceType, obj: dict) -> dict:
        """An object as read through ``rt``'s version (custom resources: conversion strategy None)."""
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    def crd_object(self, rt: ResourceType) -> Optional[dict]:
        if not rt.crd_name:
            return None
        return self.store.get(("apiextensions.k8s.io", "customresourcedefinitions"), "", rt.crd_name)

    def crd_version(self, rt: ResourceType) -> dict:
        crd = self.crd_object(rt) or {}
        for version in (crd.get("spec") or {}).get("versions") or []:
            if version.get("name") == rt.version:
                return version
        return {}

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str = "") -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise ApiError(404, f'namespaces "{namespace}" not found', details={"name": namespace, "kind": "namespaces"})
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, f'{qualified_resource(rt)} "{name}" is forbidden: unable to create new content in '
                                f'namespace {namespace} because it is being terminated', "Forbidden", _details(rt, name))

    def _decode_check(self, rt: ResourceType, body: Any, namespace: str, name: Optional[str] = None) -> dict:
        if not isinstance(body, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get version/kind; json parse error")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if not kind:
            raise bad_request(f"Object 'Kind' is missing in '{json.dumps(body, separators=(',', ':'))}'")
        if not api_version:
            raise bad_request(f"Object 'apiVersion' is missing in '{json.dumps(body, separators=(',', ':'))}'")
        if kind != rt.kind or (api_version != rt.api_version and self.registry.by_kind(api_version, kind) is None):
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})")
        if api_version != rt.api_version:
            group = api_version.rpartition("/")[0]
            if group != rt.group:
                raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})")
        meta = body.get("metadata")
        if meta is None:
            body["metadata"] = meta = {}
        elif not isinstance(meta, dict):
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: json: cannot unmarshal {type(meta).__name__} into Go struct field {rt.kind}.metadata of type v1.ObjectMeta')
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if name is not None and meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        if name is not None and not meta.get("name"):
            meta["name"] = name
        return body

    def _validate(self, rt: ResourceType, obj: dict, old: Optional[dict], req: Request) -> dict:
        """Run the validator; raise 400/422; collect warnings; return the object to persist."""
        name = obj.get("metadata", {}).get("name", "")
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            result = self.validator.validate_builtin(obj, rt, req.field_validation, old=old)
            self._raise_for(rt, name, result, req)
            result = self.validator.validate_crd(result.obj, old=old)
        elif rt.crd_name:
            result = self.validator.validate_custom(obj, rt, req.field_validation, old=old)
        else:
            result = self.validator.validate_builtin(obj, rt, req.field_validation, old=old)
        self._raise_for(rt, name, result, req)
        return result.obj

    @staticmethod
    def _raise_for(rt: ResourceType, name: str, result, req: Request) -> None:
        if result.bad_request:
            parts = []
            for text in result.bad_request:
                if "cannot be handled as" in text:
                    raise bad_request(text)
                parts.append(text)
            joined = ", ".join(parts)
            if joined.startswith("unknown field") or joined.startswith("duplicate field"):
                joined = "strict decoding error: " + joined
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {joined}')
        if result.errors:
            raise invalid(rt, name, result.errors)
        for warning in result.warnings or []:
            if warning not in req.warnings:
                req.warnings.append(warning)

    def _authorize_extra(self, req: Request, verb: str, rt: ResourceType, namespace: str, name: str, subresource: str = "") -> None:
        """Authorization checks made from inside a request (e.g. apply creating an object)."""
        if req.user is None:
            return
        from k8s_emulator.auth import RequestAttributes

        attrs = RequestAttributes(verb, rt.group, rt.plural, subresource, namespace, name, "", True)
        allowed, reason = self.authorizer.authorize(req.user, attrs)
        if not allowed:
            raise forbidden(req.user, verb, rt, namespace, name, subresource, reason)

    # -- reads -----------------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt, name)
        return self.output(rt, obj)

    def _field_requirements(self, rt: ResourceType, req: Request):
        extra: Tuple[str, ...] = ()
        if rt.crd_name:
            extra = tuple(f.get("jsonPath", "").lstrip(".") for f in self.crd_version(rt).get("selectableFields") or [])
        try:
            labels = selectors.parse_labels(req.param("labelSelector"))
            fields = selectors.parse_fields(req.param("fieldSelector"), rt.key, extra)
        except selectors.SelectorError as exc:
            raise bad_request(str(exc))
        return labels, fields

    def _matches(self, labels, fields, obj: dict) -> bool:
        return selectors.labels_match(labels, obj.get("metadata", {}).get("labels")) and (
            not fields or selectors.fields_match(fields, obj))

    def list(self, rt: ResourceType, namespace: Optional[str], req: Request) -> dict:
        labels, fields = self._field_requirements(rt, req)
        items, list_rv = self.store.list(rt.key, namespace or None)
        items = [self.output(rt, obj) for obj in items if self._matches(labels, fields, obj)]
        meta: Dict[str, Any] = {"resourceVersion": list_rv}
        limit = req.param("limit")
        token = req.param("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                start = state["start"]
                list_rv = meta["resourceVersion"] = str(state["rv"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: illegal base64 data at input byte 0")
            items = [obj for obj in items if self._sort_key(obj) > start]
        if limit and limit.isdigit() and int(limit) > 0 and len(items) > int(limit):
            cut = int(limit)
            last = self._sort_key(items[cut - 1])
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": last}).encode()).decode().rstrip("=")
            meta["remainingItemCount"] = len(items) - cut
            items = items[:cut]
        if not rt.crd_name:
            for obj in items:
                obj.pop("apiVersion", None)
                obj.pop("kind", None)
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items}

    @staticmethod
    def _sort_key(obj: dict) -> str:
        meta = obj.get("metadata", {})
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"

    # -- create ----------------------------------------------------------------------------------------
    def create(self, rt: ResourceType, namespace: str, body: Any, req: Request) -> Tuple[int, dict]:
        if "create" not in rt.verbs:
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
        body = self._decode_check(rt, body, namespace)
        if rt.group in REVIEW_GROUPS:
            from k8s_emulator.auth import handle_review

            try:
                return 201, handle_review(rt, body, req.user, self.authorizer, self.authenticator)
            except ValueError as exc:
                raise ApiError(422, str(exc), "Invalid", {"group": rt.group, "kind": rt.kind})
        meta = body["metadata"]
        if meta.get("resourceVersion"):
            raise ApiError(500, "resourceVersion should not be set on objects to be created", "InternalError",
                           details={"causes": [{"message": "resourceVersion should not be set on objects to be created"}]})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice(GENERATE_ALPHABET) for _ in range(5))
        name = meta.get("name", "")
        if not name:
            raise invalid(rt, "", [_SimpleCause("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")])
        self._check_namespace(rt, namespace, name)
        self._init_metadata(rt, body)
        self._prepare_create(rt, body)
        obj = self._validate(rt, body, None, req)
        self._init_metadata_keep(body, obj)
        if rt.key == ("", "services"):
            error = strategies.prepare_service(obj, None, self.allocator)
            if error:
                raise invalid(rt, name, [_SimpleCause("spec.clusterIPs", "FieldValueInvalid", error.split(": ", 1)[1])])
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._crd_status(obj)
            if not req.dry_run:
                obj["metadata"].setdefault("finalizers", [])
                if "customresourcecleanup.apiextensions.k8s.io" not in obj["metadata"]["finalizers"]:
                    obj["metadata"]["finalizers"].append("customresourcecleanup.apiextensions.k8s.io")
        if req.dry_run:
            if rt.key == ("", "services"):
                strategies.release_service(obj, self.allocator)
            return 201, self.output(rt, obj)
        try:
            stored = self.store.create(rt.key, obj)
        except AlreadyExists:
            if rt.key == ("", "services"):
                strategies.release_service(obj, self.allocator)
            raise already_exists(rt, name)
        if rt.key == ("", "namespaces"):
            self._namespace_children(name)
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._register_crd(stored)
        return 201, self.output(rt, stored)

    @staticmethod
    def _init_metadata_keep(before: dict, after: dict) -> None:
        """System metadata survives whatever the validator returns."""
        meta, out = before["metadata"], after.setdefault("metadata", {})
        for key in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            if key in meta:
                out[key] = meta[key]
            else:
                out.pop(key, None)

    def _prepare_create(self, rt: ResourceType, obj: dict) -> None:
        if "status" in rt.subresources and rt.key not in strategies.KEEP_STATUS_ON_CREATE:
            obj.pop("status", None)
            if rt.crd_name is None and rt.key != ("", "services"):
                # Go status structs serialize their non-omitempty fields even at zero.
                obj["status"] = dict(strategies.ZERO_STATUS.get(rt.key, {}))
        if rt.key == ("", "secrets"):
            strategies.prepare_secret(obj)
        elif rt.key == ("", "namespaces"):
            strategies.prepare_namespace(obj, None)

    # -- update ----------------------------------------------------------------------------------------
    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, req: Request,
               subresource: str = "") -> Tuple[int, dict]:
        body = self._decode_check(rt, body, namespace, name)
        old = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if old is None:
            raise not_found(rt, name)
        expected = body["metadata"].get("resourceVersion") or None
        if expected is None and (rt.crd_name or rt.key == ("apiextensions.k8s.io", "customresourcedefinitions")):
            raise invalid(rt, name, [_SimpleCause("metadata.resourceVersion", "FieldValueInvalid",
                                                  "Invalid value: 0x0: must be specified for an update")])
        if expected is not None and expected != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        return self._write_update(rt, old, body, expected, req, subresource)

    def _write_update(self, rt: ResourceType, old: dict, new: dict, expected: Optional[str], req: Request,
                      subresource: str = "") -> Tuple[int, dict]:
        name = old["metadata"]["name"]
        new = self._merge_system_fields(rt, old, new, subresource)
        obj = self._validate(rt, new, old, req)
        self._init_metadata_keep(new, obj)
        if rt.key == ("", "services") and subresource == "":
            error = strategies.prepare_service(obj, old, self.allocator)
            if error:
                raise invalid(rt, name, [_SimpleCause("spec.clusterIPs", "FieldValueInvalid", error.split(": ", 1)[1])])
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions") and subresource == "":
            self._crd_status(obj)
        if self._has_generation(rt) and subresource == "":
            if strategies.content_without_meta(obj) != strategies.content_without_meta(old):
                obj["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if req.dry_run:
            return 200, self.output(rt, obj)
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        try:
            stored = self.store.update(rt.key, obj, expected_rv=expected or old["metadata"]["resourceVersion"])
        except Conflict:
            raise conflict(rt, name)
        except NotFound:
            raise not_found(rt, name)
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"].get("finalizers") and rt.key != ("", "namespaces"):
            self._finalize_delete(rt, stored)
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._register_crd(stored)
        return 200, self.output(rt, stored)

    def _merge_system_fields(self, rt: ResourceType, old: dict, new: dict, subresource: str) -> dict:
        new = copy.deepcopy(new)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta, old_meta = new.setdefault("metadata", {}), old["metadata"]
        if subresource in ("status", "finalize"):
            merged = copy.deepcopy(old)
            if subresource == "status":
                if "status" in new:
                    merged["status"] = new["status"]
                else:
                    merged.pop("status", None)
            else:
                merged.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get("finalizers") or []
            merged["apiVersion"], merged["kind"] = rt.api_version, rt.kind
            return merged
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["name"] = old_meta["name"]
        if rt.namespaced:
            meta["namespace"] = old_meta["namespace"]
        meta.pop("managedFields", None)
        if "status" in rt.subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if rt.key == ("", "secrets"):
            strategies.prepare_secret(new)
        elif rt.key == ("", "namespaces"):
            strategies.prepare_namespace(new, old)
        return new

    # -- patch -----------------------------------------------------------------------------------------
    def patch(self, rt: ResourceType, namespace: str, name: str, patch_body: bytes, content_type: str,
              req: Request, subresource: str = "") -> Tuple[int, dict]:
        from k8s_emulator import patches

        ctype = (content_type or "").split(";")[0].strip().lower()
        if ctype not in (PATCH_JSON, PATCH_MERGE, PATCH_STRATEGIC, PATCH_APPLY) or (ctype == PATCH_STRATEGIC and rt.crd_name):
            raise unsupported_media(rt)
        ns = namespace if rt.namespaced else ""
        try:
            if ctype == PATCH_APPLY:
                patch = yaml.safe_load(patch_body.decode("utf-8")) if patch_body else None
            else:
                patch = json.loads(patch_body.decode("utf-8")) if patch_body else None
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"error decoding patch: {exc}")
        old = self.store.get(rt.key, ns, name)
        if ctype == PATCH_APPLY:
            return self._apply(rt, namespace, name, patch, old, req, subresource)
        if old is None:
            raise not_found(rt, name)
        if subresource == "scale":
            return self._patch_scale(rt, old, patch, ctype, req)
        current = self.output(rt, copy.deepcopy(old))
        try:
            if ctype == PATCH_JSON:
                if not isinstance(patch, list):
                    raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
                patched = patches.json_patch(current, patch)
            elif ctype == PATCH_MERGE:
                patched = patches.merge_patch(current, patch)
            else:
                patched = patches.strategic_merge_patch(current, patch, rt)
        except patches.PatchError as exc:
            raise ApiError(exc.code, exc.message, exc.reason)
        if not isinstance(patched, dict):
            raise bad_request("the patch produced something that is not an object")
        patched.setdefault("metadata", {})
        if patched["metadata"].get("name", name) != name:
            raise bad_request(f"the name of the object ({patched['metadata']['name']}) does not match the name on the URL ({name})")
        expected = patched["metadata"].get("resourceVersion") or None
        if expected is not None and expected != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        patched = self._decode_check(rt, patched, namespace, name)
        return self._write_update(rt, old, patched, expected, req, subresource)

    def _apply(self, rt: ResourceType, namespace: str, name: str, applied: Any, old: Optional[dict], req: Request,
               subresource: str) -> Tuple[int, dict]:
        """Server-side apply without field ownership (managedFields are not emulated)."""
        from k8s_emulator import patches

        if not req.param("fieldManager"):
            raise invalid_options("fieldManager: Required value: is required for apply patch")
        if not isinstance(applied, dict):
            raise bad_request("error decoding YAML: the applied configuration is not an object")
        applied = self._decode_check(rt, applied, namespace, name)
        if old is None:
            if subresource:
                raise not_found(rt, name)
            self._authorize_extra(req, "create", rt, namespace, name)
            return self.create(rt, namespace, applied, req)
        current = self.output(rt, copy.deepcopy(old))
        body = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind")}
        body["metadata"] = {k: v for k, v in applied["metadata"].items() if k not in ("namespace", "name")}
        try:
            if rt.crd_name:
                patched = patches.merge_patch(current, body)
            else:
                patched = patches.strategic_merge_patch(current, body, rt)
        except patches.PatchError as exc:
            raise ApiError(exc.code, exc.message, exc.reason)
        expected = applied["metadata"].get("resourceVersion") or None
        if expected is not None and expected != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        patched["metadata"].pop("resourceVersion", None)
        return self._write_update(rt, old, patched, expected, req, subresource)

    # -- scale subresource -----------------------------------------------------------------------------
    def _scale_paths(self, rt: ResourceType) -> Tuple[str, str, Optional[str]]:
        if rt.crd_name:
            scale = (self.crd_version(rt).get("subresources") or {}).get("scale") or {}
            return scale.get("specReplicasPath", ".spec.replicas"), scale.get("statusReplicasPath", ".status.replicas"), scale.get("labelSelectorPath")
        return ".spec.replicas", ".status.replicas", None

    def scale_of(self, rt: ResourceType, obj: dict) -> dict:
        spec_path, status_path, selector_path = self._scale_paths(rt)
        spec_values = tables.jsonpath(obj, spec_path)
        status_values = tables.jsonpath(obj, status_path)
        if selector_path:
            found = tables.jsonpath(obj, selector_path)
            selector = found[0] if found else ""
        else:
            sel = (obj.get("spec") or {}).get("selector") or {}
            selector = selectors.selector_from_match_labels(sel.get("matchLabels"), sel.get("matchExpressions"))
        meta = obj["metadata"]
        status: Dict[str, Any] = {"replicas": status_values[0] if status_values else 0}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
            "spec": {"replicas": spec_values[0] if spec_values else (1 if not rt.crd_name else 0)},
            "status": status,
        }

    def _set_replicas(self, rt: ResourceType, obj: dict, replicas: int) -> dict:
        spec_path = self._scale_paths(rt)[0]
        keys = [k for k in spec_path.split(".") if k]
        cur = obj
        for key in keys[:-1]:
            cur = cur.setdefault(key, {})
        cur[keys[-1]] = replicas
        return obj

    def _patch_scale(self, rt: ResourceType, old: dict, patch: Any, ctype: str, req: Request) -> Tuple[int, dict]:
        from k8s_emulator import patches

        scale = self.scale_of(rt, old)
        try:
            if ctype == PATCH_JSON:
                new_scale = patches.json_patch(scale, patch)
            elif ctype == PATCH_MERGE:
                new_scale = patches.merge_patch(scale, patch)
            else:
                scale_rt = ResourceType("autoscaling", "v1", "Scale", "scale", True)
                new_scale = patches.strategic_merge_patch(scale, patch, scale_rt)
        except patches.PatchError as exc:
            raise ApiError(exc.code, exc.message, exc.reason)
        return self.update_scale(rt, old, new_scale, req)

    def update_scale(self, rt: ResourceType, old: dict, scale: Any, req: Request) -> Tuple[int, dict]:
        name = old["metadata"]["name"]
        if not isinstance(scale, dict):
            raise bad_request("the body of the request is not a Scale object")
        expected = (scale.get("metadata") or {}).get("resourceVersion") or None
        if expected is not None and expected != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            scale_rt = ResourceType("autoscaling", "v1", "Scale", "scale", True)
            raise invalid(scale_rt, name, [_SimpleCause("spec.replicas", "FieldValueInvalid",
                                                        f"Invalid value: {replicas}: must be greater than or equal to 0")])
        new = self._set_replicas(rt, self.output(rt, copy.deepcopy(old)), replicas)
        code, stored = self._write_update(rt, old, new, expected, req)
        return code, self.scale_of(rt, stored)

    # -- delete ----------------------------------------------------------------------------------------
    def delete(self, rt: ResourceType, namespace: str, name: str, options: Optional[dict], req: Request) -> Tuple[int, dict]:
        options = options or {}
        ns = namespace if rt.namespaced else ""
        obj = self.store.get(rt.key, ns, name)
        if obj is None:
            raise not_found(rt, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
            raise conflict(rt, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {obj['metadata'].get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"].get("resourceVersion"):
            raise conflict(rt, name, f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in object meta: {obj['metadata'].get('resourceVersion')}")
        dry_run = req.dry_run or "All" in (options.get("dryRun") or [])
        propagation = options.get("propagationPolicy") or req.param("propagationPolicy")
        if options.get("orphanDependents") is True or (req.param("orphanDependents") == "true"):
            propagation = "Orphan"
        if propagation not in (None, "Orphan", "Background", "Foreground"):
            raise invalid_options(f'propagationPolicy: Unsupported value: "{propagation}": supported values: "Foreground", "Background", "Orphan", "nil"')
        if dry_run:
            return 200, self._deleted_answer(rt, obj)
        if rt.key == ("", "namespaces"):
            return self._delete_namespace(rt, obj)
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            return self._delete_crd(rt, obj)
        meta = obj["metadata"]
        if propagation == "Orphan":
            self._orphan_dependents(meta["uid"])
        elif propagation == "Foreground":
            self._delete_dependents(meta["uid"])
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return 200, self.output(rt, obj)
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            stored = self.store.update(rt.key, obj)
            return 200, self.output(rt, stored)
        return 200, self._finalize_delete(rt, obj, propagation != "Orphan")

    def _finalize_delete(self, rt: ResourceType, obj: dict, cascade: bool = True) -> dict:
        meta = obj["metadata"]
        try:
            gone = self.store.delete(rt.key, meta.get("namespace", ""), meta["name"])
        except NotFound:
            raise not_found(rt, meta["name"])
        if rt.key == ("", "services"):
            strategies.release_service(gone, self.allocator)
        if cascade:
            self._delete_dependents(meta["uid"])
        return self._deleted_answer(rt, gone)

    def _deleted_answer(self, rt: ResourceType, obj: dict) -> dict:
        if rt.key in (("", "pods"), ("", "namespaces")):
            return self.output(rt, obj)
        details: Dict[str, Any] = {"name": obj["metadata"]["name"]}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["uid"] = obj["metadata"].get("uid")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _dependents(self, owner_uid: str):
        for key in list(self.store.resources()):
            items, _ = self.store.list(key)
            for item in items:
                refs = item.get("metadata", {}).get("ownerReferences") or []
                if any(ref.get("uid") == owner_uid for ref in refs):
                    yield key, item

    def _rt_for_key(self, key: Tuple[str, str]) -> Optional[ResourceType]:
        versions = self.registry.by_resource(*key)
        return versions[0] if versions else None

    def _delete_dependents(self, owner_uid: str) -> None:
        """The garbage collector: dependents whose owners are all gone are deleted (in the background)."""
        for key, item in list(self._dependents(owner_uid)):
            rt = self._rt_for_key(key)
            if rt is not None:
                self._delete_or_mark(rt, item)

    def _delete_or_mark(self, rt: ResourceType, item: dict) -> None:
        """Delete an object as a controller does: objects with finalizers only get a deletionTimestamp."""
        meta = item["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339()
                meta["deletionGracePeriodSeconds"] = 0
                try:
                    self.store.update(rt.key, item)
                except (NotFound, Conflict):
                    pass
            return
        try:
            self._finalize_delete(rt, item)
        except ApiError:
            pass

    def _orphan_dependents(self, owner_uid: str) -> None:
        for key, item in list(self._dependents(owner_uid)):
            refs = [r for r in item["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
            if refs:
                item["metadata"]["ownerReferences"] = refs
            else:
                item["metadata"].pop("ownerReferences", None)
            try:
                self.store.update(key, item)
            except (NotFound, Conflict):
                pass

    def delete_collection(self, rt: ResourceType, namespace: Optional[str], options: Optional[dict], req: Request) -> Tuple[int, dict]:
        listed = self.list(rt, namespace, Request(req.user, {k: v for k, v in req.query.items() if k in ("labelSelector", "fieldSelector")}))
        deleted = []
        for item in listed["items"]:
            meta = item["metadata"]
            try:
                _, answer = self.delete(rt, meta.get("namespace", ""), meta["name"], options, req)
            except ApiError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(self.output(rt, item))
        if not rt.crd_name:
            for obj in deleted:
                obj.pop("apiVersion", None)
                obj.pop("kind", None)
        return 200, {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": self.store.current_rv()}, "items": deleted}

    # -- namespaces --------------------------------------------------------------------------------------
    def _delete_namespace(self, rt: ResourceType, ns_obj: dict) -> Tuple[int, dict]:
        name = ns_obj["metadata"]["name"]
        if name in ("default", "kube-system", "kube-public"):
            raise ApiError(403, f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           details={"name": name, "kind": "namespaces"})
        if not ns_obj["metadata"].get("deletionTimestamp"):
            ns_obj["metadata"]["deletionTimestamp"] = now_rfc3339()
            ns_obj["metadata"]["deletionGracePeriodSeconds"] = 0
            ns_obj["status"] = {"phase": "Terminating"}
            ns_obj = self.store.update(rt.key, ns_obj)
            threading.Thread(target=self._namespace_finalizer, args=(name,), daemon=True,
                             name=f"namespace-finalizer-{name}").start()
        return 200, self.output(rt, ns_obj)

    def _namespace_finalizer(self, name: str) -> None:
        """The namespace controller: delete everything in it, then the namespace once nothing is left."""
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            remaining = 0
            for rt in list(self.registry.all()):
                if not rt.namespaced or rt.group in REVIEW_GROUPS:
                    continue
                items, _ = self.store.list(rt.key, name)
                for item in items:
                    remaining += 1
                    self._delete_or_mark(rt, item)
            if remaining == 0 or not any(self.store.list(rt.key, name)[0] for rt in self.registry.all()
                                         if rt.namespaced and rt.group not in REVIEW_GROUPS):
                try:
                    self.store.delete(("", "namespaces"), "", name)
                except NotFound:
                    pass
                return
            time.sleep(0.1)

    # -- CustomResourceDefinitions --------------------------------------------------------------------------
    @staticmethod
    def _crd_status(crd: dict) -> None:
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", (names.get("kind") or "").lower())
        names.setdefault("listKind", (names.get("kind") or "") + "List")
        stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        previous = (crd.get("status") or {}).get("storedVersions") or []
        stamp = now_rfc3339()
        old_conditions = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or []}

        def condition(ctype: str, reason: str, message: str) -> dict:
            old = old_conditions.get(ctype)
            if old and old.get("status") == "True" and old.get("reason") == reason:
                return old
            return {"type": ctype, "status": "True", "lastTransitionTime": stamp, "reason": reason, "message": message}

        crd["status"] = {
            "conditions": [
                condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ],
            "acceptedNames": names,
            "storedVersions": previous + [v for v in stored if v not in previous],
        }

    def _register_crd(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        rts = []
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            subresources = version.get("subresources") or {}
            rts.append(ResourceType(
                group=spec.get("group", ""), version=version["name"], kind=names.get("kind", ""),
                plural=names.get("plural", ""), namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()), verbs=ALL_VERBS,
                subresources=tuple(s for s in ("status", "scale") if s in subresources),
                categories=tuple(names.get("categories") or ()),
                singular=names.get("singular") or names.get("kind", "").lower(),
                crd_name=crd["metadata"]["name"],
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            ))
        self.registry.set_custom(crd["metadata"]["name"], rts)
        self._openapi_changed()

    def _openapi_changed(self) -> None:
        if self._openapi is not None and hasattr(self._openapi, "invalidate"):
            self._openapi.invalidate()

    def _delete_crd(self, rt: ResourceType, crd: dict) -> Tuple[int, dict]:
        name = crd["metadata"]["name"]
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        crd["metadata"].setdefault("deletionTimestamp", now_rfc3339())
        crd["metadata"]["deletionGracePeriodSeconds"] = 0
        try:
            crd = self.store.update(rt.key, crd)
        except NotFound:
            raise not_found(rt, name)
        self.registry.remove_custom(name)
        self._openapi_changed()
        items, _ = self.store.list(key)
        for item in items:
            try:
                self.store.delete(key, item["metadata"].get("namespace", ""), item["metadata"]["name"])
            except NotFound:
                pass
        crd["metadata"]["finalizers"] = [f for f in crd["metadata"].get("finalizers") or []
                                         if f != "customresourcecleanup.apiextensions.k8s.io"]
        # From the first write with a deletionTimestamp on, the controllers' finalizer may remove the CRD as
        # soon as its finalizers are done, in their own thread: then it is deleted, not missing.
        try:
            stored = self.store.update(rt.key, crd)
            if stored["metadata"].get("finalizers"):
                return 200, self.output(rt, stored)
            return 200, self._finalize_delete(rt, stored)
        except (NotFound, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.code != 404:
                raise
            return 200, self._deleted_answer(rt, crd)

    # -- ServiceAccount tokens -------------------------------------------------------------------------------
    def create_token(self, rt: ResourceType, namespace: str, name: str, body: Any, req: Request) -> Tuple[int, dict]:
        if self.store.get(rt.key, namespace, name) is None:
            raise not_found(rt, name)
        body = body if isinstance(body, dict) else {}
        spec = body.get("spec") or {}
        audiences = spec.get("audiences") or [API_AUDIENCE]
        expiration = spec.get("expirationSeconds") or 3600
        if not isinstance(expiration, int) or expiration < 600:
            token_rt = ResourceType("authentication.k8s.io", "v1", "TokenRequest", "token", True)
            raise invalid(token_rt, name, [_SimpleCause("spec.expirationSeconds", "FieldValueInvalid",
                                                        f"Invalid value: {expiration}: may not specify a duration less than 10 minutes")])
        if req.dry_run:
            token, expires = "", (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expiration)).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            from k8s_emulator.auth import ServiceAccountNotFound

            try:
                token, expires = self.issuer.mint(namespace, name, audiences, expiration,
                                                  bound_object=spec.get("boundObjectRef") or None)
            except ServiceAccountNotFound:
                raise not_found(rt, name)
        return 201, {
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": token, "expirationTimestamp": expires},
        }

    # -- discovery ---------------------------------------------------------------------------------------------
    @staticmethod
    def _resource_entry(rt: ResourceType) -> dict:
        entry = {"name": rt.plural, "singularName": rt.singular_name, "namespaced": rt.namespaced,
                 "kind": rt.kind, "verbs": list(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        return entry

    @staticmethod
    def _subresource_facts(rt: ResourceType, sub: str) -> Tuple[str, str, str, List[str]]:
        if sub == "scale":
            return "autoscaling", "v1", "Scale", ["get", "patch", "update"]
        if sub == "token":
            return "authentication.k8s.io", "v1", "TokenRequest", ["create"]
        if sub == "eviction":
            return "policy", "v1", "Eviction", ["create"]
        if sub in ("log", "exec", "portforward"):
            return "", "v1", "Pod" if sub != "portforward" else "PodPortForwardOptions", ["get"] if sub == "log" else ["create", "get"]
        if sub == "finalize":
            return rt.group, rt.version, rt.kind, ["update"]
        return rt.group, rt.version, rt.kind, ["get", "patch", "update"]

    def api_resource_list(self, group: str, version: str) -> Optional[dict]:
        rts = self.registry.resources_in(group, version)
        if not rts:
            return None
        resources = []
        for rt in rts:
            resources.append(self._resource_entry(rt))
            for sub in rt.subresources:
                sgroup, sversion, skind, verbs = self._subresource_facts(rt, sub)
                entry = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced, "kind": skind, "verbs": verbs}
                if sgroup != rt.group or sversion != rt.version:
                    entry["group"], entry["version"] = sgroup, sversion
                resources.append(entry)
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources}

    def _ordered_groups(self) -> List[Tuple[str, List[str]]]:
        from k8s_emulator.registry import GROUP_ORDER

        groups = self.registry.groups()
        ordered = [g for g in GROUP_ORDER if g in groups] + sorted(g for g in groups if g and g not in GROUP_ORDER)
        return [(g, groups[g]) for g in ordered]

    def _preferred(self, group: str, versions: List[str]) -> str:
        for rt in self.registry.resources_in(group, versions[0]):
            if rt.crd_name:
                crd = self.store.get(("apiextensions.k8s.io", "customresourcedefinitions"), "", rt.crd_name) or {}
                for v in (crd.get("spec") or {}).get("versions") or []:
                    if v.get("storage") and v.get("name") in versions:
                        return v["name"]
        return _sort_versions(versions)[0]

    def api_group(self, group: str, versions: List[str]) -> dict:
        preferred = self._preferred(group, versions)
        ordered = [preferred] + [v for v in _sort_versions(versions) if v != preferred]
        return {"name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in ordered],
                "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred}}

    def api_group_list(self) -> dict:
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [self.api_group(g, vs) for g, vs in self._ordered_groups()]}

    def aggregated(self, core: bool, api_version: str) -> dict:
        groups = [("", ["v1"])] if core else self._ordered_groups()
        items = []
        for group, versions in groups:
            preferred = self._preferred(group, versions) if group else "v1"
            ordered = [preferred] + [v for v in _sort_versions(versions) if v != preferred]
            version_entries = []
            for version in ordered:
                resources = []
                for rt in self.registry.resources_in(group, version):
                    entry: Dict[str, Any] = {
                        "resource": rt.plural,
                        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                        "scope": "Namespaced" if rt.namespaced else "Cluster",
                        "singularResource": rt.singular_name,
                        "verbs": list(rt.verbs),
                    }
                    if rt.short_names:
                        entry["shortNames"] = list(rt.short_names)
                    if rt.categories:
                        entry["categories"] = list(rt.categories)
                    subs = []
                    for sub in rt.subresources:
                        sgroup, sversion, skind, verbs = self._subresource_facts(rt, sub)
                        subs.append({"subresource": sub, "responseKind": {"group": sgroup, "version": sversion, "kind": skind},
                                     "verbs": verbs})
                    if subs:
                        entry["subresources"] = subs
                    resources.append(entry)
                version_entries.append({"version": version, "resources": resources, "freshness": "Current"})
            items.append({"metadata": {"name": group, "creationTimestamp": None} if group else {"creationTimestamp": None},
                          "versions": version_entries})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}

    # -- tables ---------------------------------------------------------------------------------------------------
    def printer_columns(self, rt: ResourceType) -> Optional[List[dict]]:
        if not rt.crd_name:
            return None
        return self.crd_version(rt).get("additionalPrinterColumns") or None


def _sort_versions(versions: List[str]) -> List[str]:
    """Kubernetes version priority: GA > beta > alpha, higher numbers first, then others alphabetically."""
    import re

    def key(v: str):
        m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
        if not m:
            return (3, 0, 0, v)
        stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
        return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)

    return sorted(versions, key=key)


def invalid_options(message: str) -> ApiError:
    field, _, rest = message.partition(": ")
    return ApiError(422, f'PatchOptions.meta.k8s.io "" is invalid: {message}', "Invalid",
                    {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                        {"reason": "FieldValueRequired", "message": rest, "field": field}]})


def user_name(user) -> str:
    if user is None:
        return "system:anonymous"
    return getattr(user, "username", None) or getattr(user, "name", None) or str(user)


def user_groups(user) -> List[str]:
    return list(getattr(user, "groups", None) or [])


def forbidden(user, verb: str, rt: Optional[ResourceType], namespace: str, name: str, subresource: str, reason: str,
              path: str = "") -> ApiError:
    """kube-apiserver's 403 answer, built by the authorizer's owner (auth.forbidden_status)."""
    from k8s_emulator.auth import RequestAttributes, forbidden_status

    if rt is None:
        attrs = RequestAttributes(verb, path=path, resource_request=False)
    else:
        attrs = RequestAttributes(verb, rt.group, rt.plural, subresource, namespace if rt.namespaced else "", name, path, True)
    status = forbidden_status(user, attrs, reason)
    return ApiError(403, status["message"], "Forbidden", status.get("details"))


# ==================================================================================================
# HTTP
# ==================================================================================================

class RequestLog:
    """``requests.log``: one JSON object per line and request (never bodies, so never secrets)."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._handle = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            if not self._handle.closed:
                self._handle.write(line)

    def close(self) -> None:
        with self._lock:
            self._handle.close()


def _media_params(part: str) -> Tuple[str, Dict[str, str]]:
    pieces = [p.strip() for p in part.split(";")]
    params = {}
    for piece in pieces[1:]:
        key, _, value = piece.partition("=")
        params[key.strip().lower()] = value.strip()
    return pieces[0].lower(), params


def negotiate(accept: str) -> Tuple[str, Optional[str]]:
    """What to answer for an Accept header: ("json"|"table"|"partial"|"discovery", version)."""
    for part in (accept or "").split(","):
        media, params = _media_params(part)
        if media not in ("application/json", "*/*", "application/*", ""):
            continue
        kind = params.get("as")
        if kind == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return "table", params["v"]
        if kind in ("PartialObjectMetadata", "PartialObjectMetadataList") and params.get("g") == "meta.k8s.io":
            return "partial", params.get("v", "v1")
        if kind == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io" and params.get("v") in ("v2", "v2beta1"):
            return "discovery", params["v"]
        if kind is None:
            return "json", None
    return "json", None


def _not_found_path() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})


def _method_not_allowed() -> ApiError:
    return ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-emulator"
    sys_version = ""

    # -- plumbing --------------------------------------------------------------------------------------
    def log_message(self, format, *args):  # noqa: A002 - no stderr access log; requests.log has every request
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> Any:
        if not self._body:
            return None
        ctype = (self.headers.get("Content-Type") or CONTENT_JSON).split(";")[0].strip().lower()
        if ctype == protobuf.CONTENT_TYPE:
            try:
                return protobuf.decode(self._body)
            except protobuf.Unsupported as exc:
                raise ApiError(415, f"the body of the request was in an unknown format - accepted media types include: "
                                    f"application/json, application/yaml ({exc})", "UnsupportedMediaType")
            except protobuf.ProtobufError as exc:
                raise bad_request(f"unable to decode protobuf body: {exc}")
        if ctype not in (CONTENT_JSON, "application/yaml", "application/x-yaml", "text/yaml", "*/*", ""):
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                                "application/json, application/yaml", "UnsupportedMediaType")
        try:
            if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
                return yaml.safe_load(self._body.decode("utf-8"))
            return json.loads(self._body.decode("utf-8"))
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}")

    def _send(self, code: int, data: bytes, content_type: str, headers: Optional[Dict[str, str]] = None) -> None:
        self._status = code
        self.send_response(code)
        merged = {"Audit-Id": self._audit_id, "Cache-Control": "no-cache, private", "Content-Type": content_type}
        merged.update(headers or {})
        for key, value in merged.items():
            self.send_header(key, value)
        for warning in self._req.warnings if self._req is not None else []:
            self.send_header("Warning", warning_header(warning))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, code: int, obj: Any, content_type: str = CONTENT_JSON, headers: Optional[Dict[str, str]] = None) -> None:
        self._send(code, json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n", content_type, headers)

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        self._status = 0
        self._audit_id = str(uuid.uuid4())
        self._req: Optional[Request] = None
        self._info: Dict[str, Any] = {}
        self._user = None
        try:
            self._body = self._read_body()
            self._dispatch(method)
        except ApiError as exc:
            self._send_json(exc.code, exc.status(), headers=exc.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - answered like kube-apiserver's panic handler
            import traceback

            traceback.print_exc()
            try:
                self._send_json(500, ApiError(500, f"Internal error occurred: {exc}", "InternalError").status())
            except OSError:
                self.close_connection = True
        finally:
            entry = {
                "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "method": method,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "status": self._status,
                "user": user_name(self._user) if self._user is not None else None,
                "duration_ms": round((time.monotonic() - started) * 1000, 3),
            }
            entry.update(self._info)
            log = getattr(self.server, "request_log", None)
            if log is not None:
                log.write(entry)

    # -- routing ----------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        em = self.emulator
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = parse_qs(url.query, keep_blank_values=True)
        user = em.authenticator.authenticate(self.headers)
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        self._user = user
        self._req = Request(user, query)
        segs = [s for s in path.split("/") if s]
        resource_request = bool(segs) and ((segs[0] == "api" and len(segs) > 2) or (segs[0] == "apis" and len(segs) > 3))
        if not resource_request and not path.startswith("/_emulator"):
            self._inject_faults(method, path, user)
        if path in PUBLIC_PATHS or path in OPENID_PATHS:
            self._non_resource_authorize(method, path, user)
            return self._public(path)
        if path.startswith("/_emulator/"):
            return self._control(method, path, user)
        if not segs or segs[0] not in ("api", "apis", "openapi"):
            self._non_resource_authorize(method, path, user)
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if segs[0] == "openapi":
            self._non_resource_authorize(method, path, user)
            return self._openapi(method, segs)
        if segs[0] == "api":
            if len(segs) <= 2:
                self._non_resource_authorize(method, path, user)
                return self._discovery(method, None, segs[1] if len(segs) == 2 else None, core=True)
            return self._resource(method, "", segs[1], segs[2:], user, url.path)
        if len(segs) <= 3:
            self._non_resource_authorize(method, path, user)
            return self._discovery(method, segs[1] if len(segs) > 1 else None, segs[2] if len(segs) == 3 else None, core=False)
        return self._resource(method, segs[1], segs[2], segs[3:], user, url.path)

    def _inject_faults(self, method: str, path: str, user) -> None:
        """Answer with (or delay by) a configured fault, as faults.py decides for this request."""
        hit = self.emulator.faults.check(method, path, user_name(user))
        if hit:
            status, delay, message, retry_after = hit
            if delay:
                time.sleep(delay)
            if status:
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
                raise ApiError(status, message or "injected fault", headers=headers)

    def _non_resource_authorize(self, method: str, path: str, user) -> None:
        from k8s_emulator.auth import RequestAttributes

        verb = {"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}[method]
        self._info.update({"verb": verb})
        attrs = RequestAttributes(verb, path=path, resource_request=False)
        allowed, reason = self.emulator.authorizer.authorize(user, attrs)
        if not allowed:
            raise forbidden(user, verb, None, "", "", "", reason, path=path)

    def _public(self, path: str) -> None:
        if path == "/.well-known/openid-configuration":
            return self._send_json(200, self.emulator.issuer.openid_configuration())
        if path == "/openid/v1/jwks":
            return self._send_json(200, self.emulator.issuer.jwks(), content_type="application/jwk-set+json")
        if path == "/version":
            major, minor, _patch = schemas.KUBE_GIT_VERSION.lstrip("v").split(".")
            return self._send_json(200, {
                "major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
                "minCompatibilityMajor": major, "minCompatibilityMinor": str(int(minor) - 1),
                "gitVersion": schemas.KUBE_GIT_VERSION, "gitCommit": "0" * 40, "gitTreeState": "clean",
                "buildDate": "2026-10-01T00:00:00Z", "goVersion": "go1.25.3", "compiler": "gc",
                "platform": "linux/amd64"})
        return self._send(200, b"ok", "text/plain; charset=utf-8")

    def _control(self, method: str, path: str, user) -> None:
        """Admin-only test controls: fault injection and controller delay."""
        self._info.update({"verb": method.lower(), "resource": "_emulator"})
        if "system:masters" not in user_groups(user):
            raise forbidden(user, method.lower(), None, "", "", "", "", path=path)
        body = self._json_body() or {}
        em = self.emulator
        if path == "/_emulator/faults":
            if method == "DELETE":
                em.faults.clear()
                return self._send_json(200, {"rules": []})
            if method == "GET":
                return self._send_json(200, {"rules": em.faults.rules(), "log": em.faults.log()})
            if method == "POST":
                try:
                    if body.get("append"):
                        for rule in body.get("rules") or []:
                            em.faults.add(rule)
                    else:
                        em.faults.configure(body.get("rules") or [])
                except (ValueError, TypeError) as exc:
                    raise bad_request(str(exc))
                return self._send_json(200, {"rules": em.faults.rules()})
        if path == "/_emulator/controller-delay" and method == "POST":
            seconds = body.get("seconds")
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise bad_request("seconds must be a non-negative number")
            if em.controllers is not None:
                em.controllers.set_delay(float(seconds))
            return self._send_json(200, {"seconds": seconds})
        raise _not_found_path()

    def _openapi(self, method: str, segs: List[str]) -> None:
        if method != "GET":
            raise _method_not_allowed()
        oa = self.emulator.openapi
        if segs == ["openapi", "v2"]:
            return self._send_json(200, oa.v2())
        if segs == ["openapi", "v3"]:
            return self._send_json(200, oa.v3_index())
        doc = None
        if len(segs) == 4 and segs[:3] == ["openapi", "v3", "api"]:
            doc = oa.v3_group_version("", segs[3])
        elif len(segs) == 5 and segs[:3] == ["openapi", "v3", "apis"]:
            doc = oa.v3_group_version(segs[3], segs[4])
        if doc is None:
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        headers = None
        if "hash" in self._req.query:
            headers = {"Cache-Control": "public, immutable", "Expires": "Thu, 01 Jan 2037 00:00:00 GMT"}
        return self._send_json(200, doc, headers=headers)

    def _discovery(self, method: str, group: Optional[str], version: Optional[str], core: bool) -> None:
        em = self.emulator
        if method != "GET":
            raise _method_not_allowed()
        if version is None and group is None:
            wanted, wanted_version = negotiate(self.headers.get("Accept", ""))
            if wanted == "discovery":
                api_version = f"apidiscovery.k8s.io/{wanted_version}"
                ctype = DISCOVERY_V2 if wanted_version == "v2" else DISCOVERY_V2BETA1
                return self._send_json(200, em.aggregated(core, api_version), content_type=ctype)
            if core:
                host = f"127.0.0.1:{self.server.server_address[1]}"
                return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
            return self._send_json(200, em.api_group_list())
        if core:
            body = em.api_resource_list("", version)
        elif version is None:
            versions = em.registry.groups().get(group)
            body = dict(em.api_group(group, versions), kind="APIGroup", apiVersion="v1") if versions else None
        else:
            body = em.api_resource_list(group, version)
        if body is None:
            raise _not_found_path()
        return self._send_json(200, body)

    # -- resources ----------------------------------------------------------------------------------------
    def _resource(self, method: str, group: str, version: str, rest: List[str], user, raw_path: str) -> None:
        em = self.emulator
        namespace, rt, name, sub = "", None, "", ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = em.registry.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                if len(rest) > 5:
                    raise _not_found_path()
                namespace, rt = rest[1], candidate
                name = rest[3] if len(rest) > 3 else ""
                sub = rest[4] if len(rest) > 4 else ""
        if rt is None:
            if len(rest) > 3:
                raise _not_found_path()
            rt = em.registry.lookup(group, version, rest[0])
            name = rest[1] if len(rest) > 1 else ""
            sub = rest[2] if len(rest) > 2 else ""
            if rt is None or (rt.namespaced and name):
                raise _not_found_path()
        if sub and sub not in rt.subresources:
            raise _not_found_path()
        req = self._req
        watch = req.param("watch") in ("true", "1")
        if method == "GET":
            verb = "get" if name and not watch else ("watch" if watch else "list")
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        else:
            verb = "delete" if name else "deletecollection"
        self._info.update({"verb": verb, "resource": rt.plural, "namespace": namespace or None, "name": name or None})
        if sub:
            self._info["subresource"] = sub
        if rt.group:
            self._info["api_group"] = rt.group
        self._inject_faults(method, urlsplit(self.path).path.rstrip("/"), user)
        from k8s_emulator.auth import RequestAttributes

        authz_name = name
        if verb in ("list", "watch") and not name:
            for part in (req.param("fieldSelector") or "").split(","):
                key, sep, value = part.partition("=")
                if sep and key.strip() == "metadata.name" and not key.endswith("!"):
                    authz_name = value.lstrip("=").strip()
        attrs = RequestAttributes(verb, rt.group, rt.plural, sub, namespace, authz_name, raw_path, True)
        allowed, reason = em.authorizer.authorize(user, attrs)
        if not allowed:
            raise forbidden(user, verb, rt, namespace, authz_name, sub, reason)
        if verb not in rt.verbs and not sub:
            raise _method_not_allowed()
        if method == "GET":
            if watch:
                return self._watch(rt, namespace, name)
            if name:
                obj = em.get(rt, namespace, name)
                if sub == "scale":
                    return self._send_json(200, em.scale_of(rt, obj))
                if sub and sub != "status":
                    raise _method_not_allowed()
                return self._answer_object(rt, 200, obj)
            return self._answer_list(rt, em.list(rt, namespace or None, req))
        if method == "POST":
            body = self._json_body()
            if name and sub == "token" and rt.key == ("", "serviceaccounts"):
                code, obj = em.create_token(rt, namespace, name, body, req)
                return self._send_json(code, obj)
            if name or (rt.namespaced and not namespace):
                raise _method_not_allowed()
            code, obj = em.create(rt, namespace, body, req)
            return self._answer_object(rt, code, obj)
        if method == "PUT":
            if not name:
                raise _method_not_allowed()
            body = self._json_body()
            if sub == "scale":
                old = em.store.get(rt.key, namespace, name)
                if old is None:
                    raise not_found(rt, name)
                code, obj = em.update_scale(rt, old, body, req)
                return self._send_json(code, obj)
            code, obj = em.update(rt, namespace, name, body, req, sub)
            return self._answer_object(rt, code, obj)
        if method == "PATCH":
            if not name:
                raise _method_not_allowed()
            code, obj = em.patch(rt, namespace, name, self._body, self.headers.get("Content-Type", ""), req, sub)
            if sub == "scale":
                return self._send_json(code, obj)
            return self._answer_object(rt, code, obj)
        options = self._json_body() if self._body else None
        if options is not None and not isinstance(options, dict):
            raise bad_request("the body of the request is not a DeleteOptions object")
        if name:
            code, obj = em.delete(rt, namespace, name, options, req)
        else:
            code, obj = em.delete_collection(rt, namespace or None, options, req)
        return self._send_json(code, obj)

    def _answer_object(self, rt: ResourceType, code: int, obj: dict) -> None:
        wanted, version = negotiate(self.headers.get("Accept", ""))
        if wanted == "table" and obj.get("kind") == rt.kind:
            body = tables.table([obj], rt.key, self.emulator.printer_columns(rt), self._req.param("includeObject") or "Metadata",
                                {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
            body["apiVersion"] = f"meta.k8s.io/{version}"
            return self._send_json(code, body)
        if wanted == "partial" and obj.get("kind") == rt.kind:
            part = tables.partial_metadata(obj)
            part["apiVersion"] = f"meta.k8s.io/{version}"
            return self._send_json(code, part)
        return self._send_json(code, obj)

    def _answer_list(self, rt: ResourceType, listed: dict) -> None:
        wanted, version = negotiate(self.headers.get("Accept", ""))
        if wanted == "table":
            items = [self.emulator.output(rt, item) for item in listed["items"]]
            body = tables.table(items, rt.key, self.emulator.printer_columns(rt), self._req.param("includeObject") or "Metadata",
                                listed["metadata"])
            body["apiVersion"] = f"meta.k8s.io/{version}"
            return self._send_json(200, body)
        if wanted == "partial":
            items = [tables.partial_metadata(self.emulator.output(rt, item)) for item in listed["items"]]
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
            return self._send_json(200, {"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{version}",
                                         "metadata": listed["metadata"], "items": items})
        return self._send_json(200, listed)

    # -- watch -------------------------------------------------------------------------------------------------
    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _watch(self, rt: ResourceType, namespace: str, name: str) -> None:
        em, req = self.emulator, self._req
        if name:
            existing = req.param("fieldSelector") or ""
            req.query["fieldSelector"] = [f"metadata.name={name}" + (f",{existing}" if existing else "")]
        labels, fields = em._field_requirements(rt, req)
        since = req.param("resourceVersion") or ""
        send_initial = req.param("sendInitialEvents")
        bookmarks = req.param("allowWatchBookmarks") == "true"
        if send_initial == "true" and not bookmarks:
            raise invalid_watch("allowWatchBookmarks", "Forbidden", "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true")
        timeout = req.param("timeoutSeconds")
        duration = float(timeout) if timeout and timeout.isdigit() else DEFAULT_WATCH_TIMEOUT * (1 + random.random())
        deadline = time.monotonic() + duration
        wanted, table_version = negotiate(self.headers.get("Accept", ""))
        initial: List[dict] = []
        error_status = None
        watcher = None
        initial_rv = em.store.current_rv()
        if send_initial == "true" or (since in ("", "0") and send_initial != "false"):
            initial, initial_rv, watcher = em.store.list_and_watch(rt.key, namespace or None)
        elif since in ("", "0"):
            watcher = em.store.watch(rt.key, namespace or None, initial_rv)
        else:
            if not since.isdigit():
                raise bad_request(f'resourceVersion: Invalid value: "{since}": must be a valid resource version')
            try:
                watcher = em.store.watch(rt.key, namespace or None, since)
            except Expired:
                error_status = ApiError(410, f"too old resource version: {since} ({em.store.current_rv()})", "Expired").status()
        self._status = 200
        self.send_response(200)
        self.send_header("Audit-Id", self._audit_id)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", CONTENT_JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        columns_sent = [False]

        def encode(event_type: str, obj: dict) -> bytes:
            obj = em.output(rt, obj)
            if wanted == "table":
                tbl = tables.table([obj], rt.key, em.printer_columns(rt), req.param("includeObject") or "Metadata",
                                   {"resourceVersion": obj["metadata"].get("resourceVersion", "")}, not columns_sent[0])
                tbl["apiVersion"] = f"meta.k8s.io/{table_version}"
                columns_sent[0] = True
                obj = tbl
            elif wanted == "partial":
                obj = tables.partial_metadata(obj)
            return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode("utf-8") + b"\n"

        def bookmark(rv: str, initial_end: bool = False) -> bytes:
            meta: Dict[str, Any] = {"resourceVersion": rv}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
            return json.dumps({"type": "BOOKMARK", "object": obj}, separators=(",", ":")).encode("utf-8") + b"\n"

        try:
            if error_status is not None:
                self._chunk(json.dumps({"type": "ERROR", "object": error_status}, separators=(",", ":")).encode() + b"\n")
                return
            for obj in initial:
                if em._matches(labels, fields, obj):
                    self._chunk(encode(ADDED, obj))
            if send_initial == "true":
                self._chunk(bookmark(initial_rv, True))
            last_rv = initial_rv
            next_bookmark = time.monotonic() + BOOKMARK_INTERVAL
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                try:
                    event = watcher.next(timeout=max(0.0, min(deadline, next_bookmark) - now))
                except StopIteration:
                    break
                if event is None:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        self._chunk(bookmark(last_rv))
                        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL
                    elif time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL
                    continue
                event_type, obj = event
                last_rv = obj["metadata"].get("resourceVersion", last_rv)
                if not em._matches(labels, fields, obj):
                    continue
                self._chunk(encode(event_type, obj))
        finally:
            if watcher is not None:
                watcher.stop()
            try:
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True


def invalid_watch(field: str, reason: str, message: str) -> ApiError:
    return ApiError(422, f'ListOptions.meta.k8s.io "" is invalid: {field}: {message}', "Invalid",
                    {"group": "meta.k8s.io", "kind": "ListOptions", "causes": [
                        {"reason": f"FieldValue{reason}", "message": message, "field": field}]})


class EmulatorHTTPServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer with the TLS handshake done in each connection's own thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, emulator: Emulator, ssl_ctx: ssl.SSLContext, request_log: Optional[RequestLog]):
        self.emulator = emulator
        self.ssl_context = ssl_ctx
        self.request_log = request_log
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def ssl_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def kubeconfig(server_url: str, ca_pem: str, token: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "emulator", "cluster": {
            "server": server_url,
            "certificate-authority-data": base64.b64encode(ca_pem.encode("ascii")).decode("ascii")}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "admin", "namespace": "default"}}],
        "current-context": "emulator",
    }


def _write_atomic(path: str, text: str, mode: int = 0o600) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def build(state_dir: str, port: int = 0, controller_delay: float = 0.5, admin_token: Optional[str] = None):
    """Create the state directory's CA, kubeconfig and port file and a bound (not yet serving) server."""
    import secrets

    from k8s_emulator import certs

    os.makedirs(state_dir, exist_ok=True)
    ca_path, cert_path, key_path = certs.generate(state_dir)
    with open(ca_path, encoding="ascii") as handle:
        ca_pem = handle.read()
    token = admin_token or secrets.token_urlsafe(32)
    emulator = Emulator(state_dir, token, ca_pem, controller_delay)
    log = RequestLog(os.path.join(state_dir, "requests.log"))
    httpd = EmulatorHTTPServer(("127.0.0.1", port), emulator, ssl_context(cert_path, key_path), log)
    bound = httpd.server_address[1]
    _write_atomic(os.path.join(state_dir, "kubeconfig"),
                  yaml.safe_dump(kubeconfig(f"https://127.0.0.1:{bound}", ca_pem, token), sort_keys=False))
    _write_atomic(os.path.join(state_dir, "port"), f"{bound}\n", 0o644)
    return httpd, emulator
