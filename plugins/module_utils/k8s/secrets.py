# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and write Secret data through kubernetes.core's client, never exposing values.

``SecretState`` keeps the decoded values privately (``value(key)``); everything meant for
module results (``summary()``, ``repr()``) carries key names and metadata only. Writes go
through create or a full replace carrying ``metadata.resourceVersion`` so a concurrent
writer makes the API server answer 409 instead of being overwritten.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy

try:
    from kubernetes.dynamic.exceptions import ConflictError, NotFoundError
except ImportError:
    # Handled by AnsibleK8SModule(check_k8s=True), which fails with missing_required_lib. Distinct
    # placeholders (never raised) keep the generic ``except Exception`` handlers below reachable.
    class ConflictError(Exception):
        pass

    class NotFoundError(Exception):
        pass


class SecretError(Exception):
    """A Secret could not be read or written; the message names the Secret, never a value."""


class SecretConflict(SecretError):
    """The Secret changed since it was read (HTTP 409 on the resourceVersion precondition)."""


def _b64decode(value):
    return base64.b64decode(value or "").decode("utf-8")


def _b64encode(value):
    if isinstance(value, bytes):
        raw = value
    else:
        raw = str(value).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _reason(exc):
    """A short description of an API error that never includes the request body."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    summary = getattr(exc, "summary", None)
    text = summary() if callable(summary) else None
    if status:
        return "HTTP %s %s" % (status, text or reason)
    return str(reason)


class SecretState:
    """A Secret as read from the API: metadata plus privately held decoded values."""

    def __init__(self, obj):
        metadata = obj.get("metadata") or {}
        self.name = metadata.get("name")
        self.namespace = metadata.get("namespace")
        self.resource_version = metadata.get("resourceVersion")
        self.labels = dict(metadata.get("labels") or {})
        self.annotations = dict(metadata.get("annotations") or {})
        self.type = obj.get("type") or "Opaque"
        self._raw = obj
        self._data = {}
        for key, value in (obj.get("data") or {}).items():
            try:
                self._data[key] = _b64decode(value)
            except (ValueError, UnicodeDecodeError):
                self._data[key] = None  # binary value: cannot be compared as text
        for key, value in (obj.get("stringData") or {}).items():
            self._data[key] = value

    @property
    def keys(self):
        return sorted(self._data)

    def has(self, key):
        return key in self._data

    def value(self, key):
        return self._data.get(key)

    def summary(self):
        """What may be returned by a module: name, namespace, type and key names only."""
        return {"name": self.name, "namespace": self.namespace, "type": self.type, "keys": self.keys}

    def __repr__(self):
        return "SecretState(%s/%s, keys=%r)" % (self.namespace, self.name, self.keys)


class SecretStore:
    """Secrets in one cluster, through a kubernetes.core ``K8SClient``."""

    def __init__(self, client):
        self.client = client
        self.resource = client.resource("Secret", "v1")

    def read(self, name, namespace):
        """The Secret as a SecretState, or None when it does not exist."""
        try:
            obj = self.client.get(self.resource, name=name, namespace=namespace)
        except NotFoundError:
            return None
        except Exception as exc:
            raise SecretError("Failed to read Secret %s/%s: %s" % (namespace, name, _reason(exc)))
        return SecretState(obj.to_dict())

    def read_key(self, name, namespace, key):
        """The text value of ``key`` in Secret ``namespace/name``; SecretError naming the Secret and the key
        (never a value) when the Secret does not exist, has no such key, or holds an empty or binary value."""
        secret = self.read(name, namespace)
        if secret is None:
            raise SecretError("Secret %s/%s not found (wanted key %s)" % (namespace, name, key))
        if not secret.has(key):
            raise SecretError("Secret %s/%s has no key %s (it has: %s)"
                              % (namespace, name, key, ", ".join(secret.keys) or "no keys"))
        value = secret.value(key)
        if value is None or not value.strip():
            raise SecretError("Secret %s/%s key %s is %s" % (namespace, name, key,
                                                             "not text" if value is None else "empty"))
        return value

    def write(self, name, namespace, data, current=None, annotations=None, labels=None,
              secret_type=None, replace_data=False):
        """Create the Secret or update it with a resourceVersion precondition.

        ``data`` maps keys to plain-text values. With ``replace_data`` the Secret's data is
        exactly ``data``; otherwise the keys are merged into what is there. ``annotations``
        and ``labels`` are merged. Returns the written SecretState; raises SecretConflict on
        409, SecretError otherwise.
        """
        encoded = dict((key, _b64encode(value)) for key, value in data.items())
        if current is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace},
                "type": secret_type or "Opaque",
                "data": encoded,
            }
            if annotations:
                body["metadata"]["annotations"] = dict(annotations)
            if labels:
                body["metadata"]["labels"] = dict(labels)
            try:
                created = self.client.create(self.resource, body, namespace=namespace)
            except ConflictError:
                raise SecretConflict("Secret %s/%s was created concurrently" % (namespace, name))
            except Exception as exc:
                raise SecretError("Failed to create Secret %s/%s: %s" % (namespace, name, _reason(exc)))
            return SecretState(created.to_dict())

        body = copy.deepcopy(current._raw)
        body.pop("status", None)
        body.pop("stringData", None)
        metadata = body.setdefault("metadata", {})
        metadata["resourceVersion"] = current.resource_version
        metadata.pop("managedFields", None)
        if annotations:
            metadata.setdefault("annotations", {}).update(annotations)
        if labels:
            metadata.setdefault("labels", {}).update(labels)
        if secret_type:
            body["type"] = secret_type
        if replace_data:
            body["data"] = encoded
        else:
            body.setdefault("data", {})
            body["data"] = dict(body["data"] or {}, **encoded)
        try:
            replaced = self.client.replace(self.resource, body, namespace=namespace)
        except ConflictError:
            raise SecretConflict(
                "Secret %s/%s changed since it was read (resourceVersion %s); not overwritten"
                % (namespace, name, current.resource_version)
            )
        except Exception as exc:
            raise SecretError("Failed to update Secret %s/%s: %s" % (namespace, name, _reason(exc)))
        return SecretState(replaced.to_dict())


def masked_view(keys, labels=None, annotations=None, secret_type=None):
    """A diff-friendly view of a Secret: key names with masked values, plus metadata."""
    view = {"data": dict((key, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") for key in sorted(keys))}
    if labels is not None:
        view["labels"] = dict(labels)
    if annotations is not None:
        view["annotations"] = dict(annotations)
    if secret_type is not None:
        view["type"] = secret_type
    return view
