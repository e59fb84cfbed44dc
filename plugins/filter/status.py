# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that read a gateway controller's verdict on Gateway API and agentgateway objects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.mcp_gateway.platform.plugins.module_utils.k8s import status


def _objects(value):
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not all(isinstance(obj, dict) for obj in value):
        raise AnsibleFilterError("expected a Kubernetes object or a list of them, got %r" % (value,))
    return value


def status_problems(value, names=None):
    """Every problem the controller reports, one sentence each naming the object; ``names`` keeps only those."""
    return [problem for obj in _objects(value)
            if names is None or (obj.get("metadata") or {}).get("name") in names
            for problem in status.problems(obj)]


def status_state(value):
    """A short state for a table (``Programmed``, ``Accepted/ResolvedRefs``, ``NOT READY``)."""
    return status.state(_objects(value)[0])


def backend_target_problems(value, services, cluster_domain="cluster.local"):
    """MCP targets of AgentgatewayBackends that name a missing Service of the cluster or a port it lacks."""
    return status.backend_target_problems(_objects(value), _objects(services), cluster_domain)


class FilterModule(object):
    def filters(self):
        return {"status_problems": status_problems, "status_state": status_state,
                "backend_target_problems": backend_target_problems}
