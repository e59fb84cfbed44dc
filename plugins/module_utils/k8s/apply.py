# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a list of objects in one pass: no request for what is already in place, one wait for all.

kubernetes.core's client-side apply sends a PATCH for every object that holds a list (its merge always
carries lists), even when nothing differs: a no-op re-run of the platform wrote 28 times. Here an object
is left alone when applying it cannot change it (see :func:`unchanged`); every other object goes through
kubernetes.core's own ``perform_action`` (apply, check mode, diff, warnings) unchanged. The waits of all
objects are then one loop over what is not ready yet, polling every ``wait_sleep`` seconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import time

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner import perform_action
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import get_waiter

try:
    from kubernetes.dynamic.exceptions import NotFoundError
except ImportError:  # the module reports the missing library through AnsibleK8SModule
    NotFoundError = Exception

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def contains(actual, desired):
    """Every field of ``desired`` has the same value in ``actual`` (lists: same length, item by item)."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(key in actual and contains(actual[key], value)
                                                for key, value in desired.items())
    if isinstance(desired, list):
        return (isinstance(actual, list) and len(actual) == len(desired)
                and all(contains(item, wanted) for item, wanted in zip(actual, desired)))
    return actual == desired


def unchanged(existing, definition, status_subresource=False):
    """True only when applying ``definition`` to ``existing`` cannot change it: the object's
    last-applied configuration is this very definition (so no field is to be removed) and every field
    of the definition has that value in the live object (so nobody changed it since). Anything else --
    a new or removed field, drift, a value the API server normalised (``"8000"`` against ``8000``), a
    Secret's ``stringData`` -- is not unchanged and is applied as kubernetes.core applies it. Where the
    kind has a status subresource, the API server ignores a ``status`` in what is applied (manifests such
    as the Gateway API CRDs carry an empty one), so it is not compared."""
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    try:
        last_applied = json.loads(annotations.get(LAST_APPLIED) or "null")
    except ValueError:
        return False
    compared = {k: v for k, v in definition.items() if not (status_subresource and k == "status")}
    return last_applied == json.loads(json.dumps(definition)) and contains(existing, compared)


def _label(definition):
    meta = definition["metadata"]
    return "%s %s%s" % (definition["kind"], meta.get("namespace", "") + "/" if meta.get("namespace") else "",
                        meta.get("name"))


def _deletion_diff(existing):
    """What ``--diff`` shows of a deleted object: the live object without status and managed fields, and
    without a Secret's values."""
    hidden = ("status", "data", "stringData") if existing.get("kind") == "Secret" else ("status",)
    before = {k: v for k, v in existing.items() if k not in hidden}
    before["metadata"] = {k: v for k, v in (existing.get("metadata") or {}).items() if k != "managedFields"}
    return {"before": before, "after": {}}


def delete_all(svc, references, check_mode, diff):
    """Delete each referenced object that exists (one GET for one that does not). Returns one dict per
    reference, as :func:`apply_all` does (method ``absent`` or ``delete``), and the waits for their
    deletion."""
    results, waits = [], []
    for reference in references:
        resource = svc.find_resource(reference["kind"], reference["apiVersion"], fail=True)
        meta = reference["metadata"]
        definition = {"apiVersion": resource.group_version, "kind": resource.kind,
                      "metadata": {k: meta[k] for k in ("name", "namespace") if meta.get(k)}}
        existing = svc.retrieve(resource, definition)
        entry = {"kind": resource.kind, "name": meta.get("name"), "namespace": meta.get("namespace"),
                 "method": "delete" if existing else "absent", "changed": bool(existing)}
        if existing:
            if diff:
                entry["diff"] = _deletion_diff(existing.to_dict())
            if not check_mode:
                svc.delete(resource, definition, existing)
                waits.append((resource, definition, "absent"))
        results.append(entry)
    return results, waits


def _perform(svc, definition, params, attempts=3):
    """kubernetes.core's apply, again over what is there now when another writer came first (another run at
    the same time): 409 AlreadyExists (it created the object between our read and our create) or 409
    Conflict (it changed the object between our read and our patch). Up to ``attempts`` tries."""
    for _attempt in range(attempts - 1):
        try:
            return perform_action(svc, copy.deepcopy(definition), params)
        except CoreException as exc:
            if '"code":409' not in str(exc).replace(" ", ""):
                raise
    return perform_action(svc, copy.deepcopy(definition), params)


def apply_all(svc, definitions, params, check_mode, absent=()):
    """Apply each definition (skipping those :func:`unchanged`), delete each object of ``absent`` that
    exists, then wait for all of them at once.

    Returns ``(results, not_ready)``: one dict per definition and then per reference of ``absent`` (kind,
    name, namespace, method, changed, and diff where one was made) and the labels of the objects still not
    ready (or not gone) at the end of the wait (empty without ``params['wait']``)."""
    results, waits = [], []
    action_params = dict(params, state="present", apply=True, wait=False)
    for definition in definitions:
        resource = svc.find_resource(definition["kind"], definition["apiVersion"], fail=True)
        definition = dict(definition, kind=resource.kind, apiVersion=resource.group_version)
        existing = svc.retrieve(resource, definition)
        meta = definition["metadata"]
        entry = {"kind": resource.kind, "name": meta.get("name"), "namespace": meta.get("namespace")}
        if existing and unchanged(existing.to_dict(), definition, "status" in (resource.subresources or {})):
            entry.update(method="unchanged", changed=False)
        else:
            outcome = _perform(svc, definition, action_params)
            entry.update(method="apply" if existing else "create", changed=outcome["changed"])
            if "diff" in outcome:
                entry["diff"] = outcome["diff"]
            if outcome.get("warnings"):
                entry["warnings"] = outcome["warnings"]
        results.append(entry)
        waits.append((resource, definition, "present"))
    deleted, deletions = delete_all(svc, absent, check_mode, getattr(svc.module, "_diff", False))
    if not params.get("wait") or check_mode:
        return results + deleted, []
    return results + deleted, wait_all(svc.client, waits + deletions, params)


def wait_all(client, waits, params):
    """Poll every object that is not ready (or, for state ``absent``, not gone) yet, every ``wait_sleep``
    seconds, until all are or ``wait_timeout`` seconds have passed; returns the labels of the others."""
    pending = [(get_waiter(client, resource, state=state,
                           condition=(params.get("wait_condition") or None) if state == "present" else None),
                resource, definition)
               for resource, definition, state in waits]
    deadline = time.monotonic() + params["wait_timeout"]
    while True:
        still = []
        for waiter, resource, definition in pending:
            meta = definition["metadata"]
            try:
                instance = client.get(resource, name=meta["name"], namespace=meta.get("namespace"))
            except NotFoundError:
                instance = None
            if not waiter.predicate(instance):
                still.append((waiter, resource, definition))
        pending = still
        if not pending or time.monotonic() >= deadline:
            return [_label(definition) for _waiter, _resource, definition in pending]
        time.sleep(params["wait_sleep"])
