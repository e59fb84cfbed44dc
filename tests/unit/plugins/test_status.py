"""How verify reads a controller's verdict (module_utils/k8s/status.py), on status shapes the real
agentgateway controller wrote in the test cluster."""

from ansible_collections.mcp_gateway.platform.plugins.filter.status import status_problems, status_state


def cond(type_, status="True", reason=None, message="", generation=1):
    return {"type": type_, "status": status, "reason": reason or type_, "message": message,
            "observedGeneration": generation}


def obj(kind, generation=1, **status):
    return {"kind": kind, "metadata": {"name": "x", "namespace": "ns", "generation": generation}, "status": status}


def test_programmed_gateway_with_a_clean_listener_has_no_problem():
    gateway = obj("Gateway", conditions=[cond("Accepted"), cond("Programmed")],
                  listeners=[{"name": "http", "conditions": [cond("Accepted"), cond("Conflicted", "False", "NoConflicts")]}])
    assert status_problems(gateway) == []
    assert status_state(gateway) == "Programmed"


def test_a_conflicted_listener_is_a_problem_with_the_controllers_words():
    gateway = obj("Gateway", conditions=[cond("Programmed")],
                  listeners=[{"name": "http", "conditions": [cond("Conflicted", "True", "HostnameConflict", "same port")]}])
    assert status_problems(gateway) == ["Gateway ns/x: listener http: Conflicted=True (HostnameConflict: same port)"]
    assert status_state(gateway) == "NOT READY"


def test_route_parent_with_unresolved_backend():
    route = obj("HTTPRoute", parents=[{"parentRef": {"kind": "Gateway", "name": "gw"}, "conditions": [
        cond("Accepted"), cond("ResolvedRefs", "False", "BackendNotFound", "backend ns/b not found")]}])
    assert status_problems(route) == [
        "HTTPRoute ns/x: parent Gateway gw: ResolvedRefs=False (BackendNotFound: backend ns/b not found)"]


def test_partially_valid_is_a_problem_although_accepted_is_true():
    policy = obj("AgentgatewayPolicy", ancestors=[{"ancestorRef": {"name": "gw"}, "conditions": [
        cond("Accepted", "True", "PartiallyValid", "jwks ConfigMap ns/jwks-store-1 isn't available")]}])
    assert status_problems(policy) == [
        "AgentgatewayPolicy ns/x: ancestor Gateway gw: Accepted=True (PartiallyValid: jwks ConfigMap ns/jwks-store-1 isn't available)"]


def test_no_status_and_stale_generation_are_problems():
    assert status_problems(obj("AgentgatewayBackend")) == ["AgentgatewayBackend ns/x: no status from its controller yet"]
    stale = obj("AgentgatewayBackend", generation=3, conditions=[cond("Accepted", generation=2)])
    assert "reported for generation 2, the object is at 3" in status_problems(stale)[0]


def test_names_keeps_only_those_objects():
    other = dict(obj("AgentgatewayBackend"), metadata={"name": "other", "generation": 1})
    assert status_problems([other], names=["x"]) == []
    assert status_problems([other]) == ["AgentgatewayBackend other: no status from its controller yet"]


def test_policy_state_lists_accepted_and_attached():
    policy = obj("AgentgatewayPolicy", ancestors=[{"ancestorRef": {"name": "gw"}, "conditions": [
        cond("Accepted", reason="Valid"), cond("Attached")]}])
    assert status_state(policy) == "Accepted/Attached"


def backend(host, port=8000):
    return {"kind": "AgentgatewayBackend", "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"mcp": {"targets": [{"name": "t", "static": {"host": host, "port": port}}]}}}


def service(name, *ports):
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"ports": [{"port": p} for p in ports]}}


def test_backend_targets_must_name_an_existing_service_port():
    from ansible_collections.mcp_gateway.platform.plugins.filter.status import backend_target_problems

    services = [service("s", 8000)]
    assert backend_target_problems([backend("s.ns.svc.cluster.local")], services) == []
    assert backend_target_problems([backend("s.ns.svc")], services) == []
    assert backend_target_problems([backend("typo.ns.svc.cluster.local")], services) == [
        "AgentgatewayBackend ns/b: target t: host typo.ns.svc.cluster.local names Service ns/typo, which does not exist"]
    assert backend_target_problems([backend("s.ns.svc.cluster.local", 9000)], services) == [
        "AgentgatewayBackend ns/b: target t: Service ns/s has no port 9000 (ports: 8000)"]
    # Not a Service of a listed namespace, or not a Service name: not checked.
    assert backend_target_problems([backend("s.other.svc.cluster.local"), backend("mcp.example.com")], services) == []
