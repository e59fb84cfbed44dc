# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a gateway controller reports about Gateway API and agentgateway objects, read as problems.

Gateway API and agentgateway objects carry their controller's verdict in ``status``: conditions of the
object (GatewayClass, Gateway, AgentgatewayBackend), of each Gateway listener, of each parent of a route
(``status.parents``) and of each ancestor of a policy (``status.ancestors``). A condition is a problem when
it is not in its good state (``True``; ``False`` for the negative-polarity ``Conflicted``), when its reason
says the object was only partly translated (agentgateway's ``PartiallyValid`` comes with ``Accepted: True``),
or when it was written for an older generation of the object. An object with no verdict at all is a problem
too: the controller has not (yet) looked at it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

NEGATIVE_POLARITY = ("Conflicted",)
BAD_REASONS = ("PartiallyValid",)
# The conditions that make an object "ready", by kind, for a one-word state.
STATE_CONDITIONS = {
    "GatewayClass": ("Accepted",),
    "Gateway": ("Programmed",),
    "HTTPRoute": ("Accepted", "ResolvedRefs"),
    "AgentgatewayBackend": ("Accepted",),
    "AgentgatewayPolicy": ("Accepted", "Attached"),
}


def _ref(ref):
    return "%s %s" % (ref.get("kind", "Gateway"), ref.get("name", "?"))


def condition_sets(obj):
    """(where, conditions) of every place the controller reports on in ``obj``."""
    status = obj.get("status") or {}
    sets = []
    if status.get("conditions"):
        sets.append(("", status["conditions"]))
    for listener in status.get("listeners") or []:
        sets.append(("listener %s: " % listener.get("name"), listener.get("conditions") or []))
    for parent in status.get("parents") or []:
        sets.append(("parent %s: " % _ref(parent.get("parentRef") or {}), parent.get("conditions") or []))
    for ancestor in status.get("ancestors") or []:
        sets.append(("ancestor %s: " % _ref(ancestor.get("ancestorRef") or {}), ancestor.get("conditions") or []))
    return sets


def condition_problem(condition, generation):
    """A sentence when the condition is not in its good state, else None."""
    good = "False" if condition.get("type") in NEGATIVE_POLARITY else "True"
    observed = condition.get("observedGeneration")
    detail = "%s=%s" % (condition.get("type"), condition.get("status"))
    why = ": ".join(part for part in (condition.get("reason"), condition.get("message")) if part)
    if condition.get("status") != good or condition.get("reason") in BAD_REASONS:
        return "%s (%s)" % (detail, why) if why else detail
    if observed is not None and generation is not None and int(observed) < int(generation):
        return "%s reported for generation %s, the object is at %s (not yet seen by the controller)" % (
            detail, observed, generation)
    return None


def problems(obj):
    """Every problem the controller reports about ``obj`` (an empty list when it is all good)."""
    meta = obj.get("metadata") or {}
    generation = meta.get("generation")
    name = "%s %s%s" % (obj.get("kind"), (meta["namespace"] + "/") if meta.get("namespace") else "", meta.get("name"))
    sets = condition_sets(obj)
    if not any(conditions for _where, conditions in sets):
        return ["%s: no status from its controller yet" % name]
    found = []
    for where, conditions in sets:
        for condition in conditions:
            problem = condition_problem(condition, generation)
            if problem:
                found.append("%s: %s%s" % (name, where, problem))
    return found


def state(obj):
    """A word or two for a table: the kind's ready conditions that hold, or the first problem's."""
    wanted = STATE_CONDITIONS.get(obj.get("kind"), ())
    if problems(obj):
        return "NOT READY"
    seen = set()
    for _where, conditions in condition_sets(obj):
        seen.update(c.get("type") for c in conditions if c.get("status") == "True")
    return "/".join(kind for kind in wanted if kind in seen) or "Reported"


def backend_target_problems(backends, services, cluster_domain="cluster.local"):
    """Static MCP targets that name a Service of the cluster (``<svc>.<ns>.svc[.<domain>]``) which does
    not exist in ``services`` or does not expose the port. The controller accepts any host (its data
    plane resolves it at request time), so a mistyped name would only show as failed MCP calls."""
    exposed = {}
    namespaces = set()
    for service in services:
        meta = service.get("metadata") or {}
        namespaces.add(meta.get("namespace"))
        exposed[(meta.get("namespace"), meta.get("name"))] = [
            port.get("port") for port in (service.get("spec") or {}).get("ports") or []]
    found = []
    for backend in backends:
        meta = backend.get("metadata") or {}
        for target in ((backend.get("spec") or {}).get("mcp") or {}).get("targets") or []:
            static = target.get("static") or {}
            host, port = static.get("host", ""), static.get("port")
            labels = host.split(".")
            suffix = ".".join(labels[3:])
            if len(labels) < 3 or labels[2] != "svc" or suffix not in ("", cluster_domain) or labels[1] not in namespaces:
                continue  # not a Service name of a namespace that was listed: nothing to check here
            name = "AgentgatewayBackend %s/%s: target %s" % (meta.get("namespace"), meta.get("name"), target.get("name"))
            ports = exposed.get((labels[1], labels[0]))
            if ports is None:
                found.append("%s: host %s names Service %s/%s, which does not exist" % (name, host, labels[1], labels[0]))
            elif port not in ports:
                found.append("%s: Service %s/%s has no port %s (ports: %s)" % (
                    name, labels[1], labels[0], port, ", ".join(str(p) for p in ports) or "none"))
    return found
