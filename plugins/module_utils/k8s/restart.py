# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout restart and rollout status, the way kubectl does them.

* restart: a strategic merge patch setting
  ``spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`` to now (RFC 3339),
  exactly what ``kubectl rollout restart`` sends;
* status: the readiness rules of ``kubectl rollout status`` per kind (observedGeneration,
  updated/ready/available replicas, StatefulSet revisions, DaemonSet scheduled/available), with a
  message naming what is not ready, e.g. ``StatefulSet default/hubspot-mcp: 0/1 replicas updated``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import clock

try:
    from kubernetes.dynamic.exceptions import NotFoundError
except ImportError:
    # Handled by AnsibleK8SModule(check_k8s=True), which fails with missing_required_lib.
    NotFoundError = Exception

RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
API_VERSION = "apps/v1"


class RestartError(Exception):
    pass


def now_rfc3339():
    # kubectl uses time.Now().Format(time.RFC3339): local offset; UTC 'Z' is the same instant.
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def restart_patch(restarted_at):
    """The strategic merge patch body of ``kubectl rollout restart``."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: restarted_at}}}}}


def _ident(obj):
    meta = obj.get("metadata") or {}
    return "%s %s/%s" % (obj.get("kind"), meta.get("namespace"), meta.get("name"))


def _int(value):
    return int(value or 0)


def rollout_status(obj):
    """(done, reason) for a Deployment, StatefulSet or DaemonSet dict, per kubectl's rules.

    ``reason`` is a short phrase ("0/1 replicas updated", "spec update not observed ...")
    or "rolled out" when done.
    """
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation = _int(meta.get("generation"))
    observed = status.get("observedGeneration")
    if observed is None or generation > _int(observed):
        return False, "spec update not observed yet (generation %d, observed %s)" % (
            generation, "none" if observed is None else observed)

    if kind == "Deployment":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return False, "exceeded its progress deadline"
        desired = spec.get("replicas", 1)
        updated = _int(status.get("updatedReplicas"))
        if desired is not None and updated < desired:
            return False, "%d/%d replicas updated" % (updated, desired)
        total = _int(status.get("replicas"))
        if total > updated:
            return False, "%d old replicas pending termination" % (total - updated)
        available = _int(status.get("availableReplicas"))
        if available < updated:
            return False, "%d/%d updated replicas available" % (available, updated)
        return True, "rolled out"

    if kind == "StatefulSet":
        strategy = (spec.get("updateStrategy") or {}).get("type") or "RollingUpdate"
        if strategy != "RollingUpdate":
            return False, "rollout status is only available for the RollingUpdate strategy (has %s)" % strategy
        desired = spec.get("replicas", 1)
        updated = _int(status.get("updatedReplicas"))
        ready = _int(status.get("readyReplicas"))
        partition = _int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition"))
        if desired is not None and updated < desired - partition:
            return False, "%d/%d replicas updated" % (updated, desired - partition)
        if desired is not None and ready < desired:
            return False, "%d/%d replicas ready" % (ready, desired)
        if partition > 0:
            return True, "rolled out"
        if status.get("updateRevision") != status.get("currentRevision"):
            return False, "update revision %s not yet current (current %s)" % (
                status.get("updateRevision"), status.get("currentRevision"))
        return True, "rolled out"

    if kind == "DaemonSet":
        strategy = (spec.get("updateStrategy") or {}).get("type") or "RollingUpdate"
        if strategy != "RollingUpdate":
            return False, "rollout status is only available for the RollingUpdate strategy (has %s)" % strategy
        desired = _int(status.get("desiredNumberScheduled"))
        updated = _int(status.get("updatedNumberScheduled"))
        available = _int(status.get("numberAvailable"))
        if updated < desired:
            return False, "%d/%d pods updated" % (updated, desired)
        if available < desired:
            return False, "%d/%d updated pods available" % (available, desired)
        return True, "rolled out"

    raise RestartError("rollout status is not supported for kind %s" % kind)


class WorkloadRestarter:
    """Restart and watch workloads through a kubernetes.core ``K8SClient``."""

    def __init__(self, client, kind):
        if kind not in WORKLOAD_KINDS:
            raise RestartError("kind must be one of %s, got %s" % (", ".join(WORKLOAD_KINDS), kind))
        self.client = client
        self.kind = kind
        self.resource = client.resource(kind, API_VERSION)

    def find(self, namespace, name=None, label_selectors=None):
        """The matching workloads as dicts. A named workload that does not exist is an error."""
        if name:
            try:
                return [self.client.get(self.resource, name=name, namespace=namespace).to_dict()]
            except NotFoundError:
                raise RestartError("%s %s/%s not found" % (self.kind, namespace, name))
        params = {"namespace": namespace}
        if label_selectors:
            params["label_selector"] = ",".join(label_selectors)
        listed = self.client.get(self.resource, **params).to_dict()
        return sorted(listed.get("items") or [], key=lambda o: o["metadata"]["name"])

    def restart(self, obj, restarted_at):
        """Patch the restartedAt annotation; returns the patched object as a dict."""
        meta = obj["metadata"]
        patched = self.client.patch(
            self.resource,
            restart_patch(restarted_at),
            name=meta["name"],
            namespace=meta["namespace"],
            content_type="application/strategic-merge-patch+json",
        )
        return patched.to_dict()

    def get(self, namespace, name):
        try:
            return self.client.get(self.resource, name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def wait(self, workloads, timeout, sleep):
        """Poll until every workload has rolled out or ``timeout`` passes.

        Returns (all_done, statuses) where statuses is a list of
        {kind, name, namespace, ready, message} in the order given.
        """
        pending = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in workloads]
        results = {}
        for _elapsed in clock(timeout, sleep):
            still = []
            for namespace, name in pending:
                obj = self.get(namespace, name)
                if obj is None:
                    done, reason = False, "not found"
                else:
                    done, reason = rollout_status(obj)
                results[(namespace, name)] = (done, reason, obj)
                if not done:
                    still.append((namespace, name))
            pending = still
            if not pending:
                break
        statuses = []
        for obj in workloads:
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            done, reason, current = results[key]
            statuses.append({
                "kind": self.kind,
                "name": key[1],
                "namespace": key[0],
                "ready": done,
                "message": "%s %s/%s: %s" % (self.kind, key[0], key[1], reason),
                "status": (current or {}).get("status") or {},
            })
        return not pending, statuses
