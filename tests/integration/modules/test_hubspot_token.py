"""hubspot_token through ansible-playbook, against the real control plane and the HubSpot token-endpoint double.

The Secret is read and written on a real kube-apiserver (etcd behind it): resourceVersions, the
update precondition and its 409 Conflict are the server's own. Only HubSpot is a double (tests/peers).
"""

import base64
import datetime
import json
import threading
import uuid

import pytest

from modules_playbook import run_playbook
from peers.hubspot_server import HubSpotServer

EXPIRES_AT = "mcp-gateway.io/expires-at"
REFRESHED_AT = "mcp-gateway.io/refreshed-at"


class GatedHubSpot(HubSpotServer):
    """The HubSpot double, able to hold a token request until the test releases it (``gate()``)."""

    def __init__(self):
        super().__init__()
        self.arrived, self.release, self.gated = threading.Event(), threading.Event(), False

    def gate(self):
        self.arrived.clear()
        self.release.clear()
        self.gated = True

    def handle(self, handler, form):
        if self.gated:
            self.gated = False
            self.arrived.set()
            self.release.wait(60)
        return super().handle(handler, form)


@pytest.fixture(scope="module")
def hubspot():
    with GatedHubSpot() as server:
        yield server


@pytest.fixture
def namespace(core):
    import kubernetes

    name = "hs-" + uuid.uuid4().hex[:8]
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def token_task(name, hubspot, namespace, **extra):
    args = {"client_id": hubspot.client_id, "client_secret": hubspot.client_secret,
            "refresh_token": hubspot.refresh_token, "token_url": hubspot.url, "namespace": namespace}
    args.update(extra)
    return {"name": name, "mcp_gateway.platform.hubspot_token": args, "ignore_errors": True}


def decoded(secret, key="access_token"):
    return base64.b64decode(secret.data[key]).decode()


def parse(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def test_refresh_then_idempotent_then_forced_then_check_mode(kubeconfig, core, hubspot, namespace):
    hubspot.clear()
    tasks = [
        token_task("first", hubspot, namespace),
        token_task("second", hubspot, namespace),
        token_task("forced", hubspot, namespace, force=True),
        dict(token_task("check mode", hubspot, namespace, force=True), check_mode=True),
        token_task("stricter margin", hubspot, namespace, min_validity=1800),
    ]
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    run = run_playbook(tasks, kubeconfig=kubeconfig, verbosity=3)
    assert run.rc == 0, run.output[-3000:]
    first, second, forced, check, stricter = (run[n] for n in ("first", "second", "forced", "check mode",
                                                               "stricter margin"))
    assert first["changed"] and first["refreshed"] and first["attempts"] == 1
    assert first["secret"] == {"name": "hubspot-access-token", "namespace": namespace}
    assert first["expires_in"] == 1800
    assert not second["changed"] and not second["refreshed"] and second["attempts"] == 0
    assert 1700 < second["expires_in"] <= 1800 and second["expires_at"] == first["expires_at"]
    assert forced["changed"] and forced["refreshed"]
    assert check["changed"] and not check["refreshed"] and "check mode" in check["msg"]
    # 1800s validity is never "longer than" a 1800s margin: refresh
    assert stricter["changed"] and stricter["refreshed"]
    # HubSpot was called by first, forced and stricter only (not by the idempotent or check-mode runs)
    assert [r["status"] for r in hubspot.requests] == [200, 200, 200]
    secret = core.read_namespaced_secret("hubspot-access-token", namespace)
    assert decoded(secret) == hubspot.issued[-1]
    assert secret.type == "Opaque"
    expires_at = parse(secret.metadata.annotations[EXPIRES_AT])
    refreshed_at = parse(secret.metadata.annotations[REFRESHED_AT])
    assert expires_at - refreshed_at == datetime.timedelta(seconds=1800)
    assert started <= refreshed_at <= datetime.datetime.now(datetime.timezone.utc)
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token, *hubspot.issued)


def test_existing_secret_keeps_other_keys_and_metadata(kubeconfig, core, hubspot, namespace):
    import kubernetes

    core.create_namespaced_secret(namespace, kubernetes.client.V1Secret(api_version="v1", kind="Secret",
        metadata=kubernetes.client.V1ObjectMeta(name="hubspot-access-token", labels={"app": "mcp-hubspot"},
                                                annotations={EXPIRES_AT: "2020-01-01T00:00:00Z", "keep": "me"}),
        string_data={"access_token": "expired-token", "portal_id": "12345"}))
    run = run_playbook([token_task("refresh", hubspot, namespace)], kubeconfig=kubeconfig)
    assert run["refresh"]["changed"]
    secret = core.read_namespaced_secret("hubspot-access-token", namespace)
    assert decoded(secret) == hubspot.issued[-1]
    assert decoded(secret, "portal_id") == "12345"
    assert secret.metadata.labels == {"app": "mcp-hubspot"}
    assert secret.metadata.annotations["keep"] == "me"
    assert parse(secret.metadata.annotations[EXPIRES_AT]) > datetime.datetime.now(datetime.timezone.utc)


def test_failures_leave_the_secret_untouched(kubeconfig, core, hubspot, namespace):
    import kubernetes

    core.create_namespaced_secret(namespace, kubernetes.client.V1Secret(api_version="v1", kind="Secret",
        metadata=kubernetes.client.V1ObjectMeta(name="hubspot-access-token",
                                                annotations={EXPIRES_AT: "2020-01-01T00:00:00Z"}),
        string_data={"access_token": "old-token-value"}))
    before = core.read_namespaced_secret("hubspot-access-token", namespace)
    hubspot.clear()
    hubspot.script(("invalid_grant",), ("500",), ("500",), ("slow", 2.0))
    tasks = [
        token_task("invalid grant", hubspot, namespace),
        token_task("server errors", hubspot, namespace, retries=1),
        token_task("timeout", hubspot, namespace, timeout=0.5, retries=0),
        token_task("wrong client secret", hubspot, namespace, client_secret="wrong-secret-value"),
        token_task("bad input", hubspot, namespace, min_validity=-1),
        token_task("return_token without no_log", hubspot, namespace, return_token=True),
    ]
    run = run_playbook(tasks, kubeconfig=kubeconfig, verbosity=3)
    invalid = run["invalid grant"]
    assert invalid["failed"] and invalid["permanent"] and invalid["status"] == 400
    assert "BAD_REFRESH_TOKEN" in invalid["msg"] and "left unchanged" in invalid["msg"]
    assert invalid["attempts"] == 1
    errors = run["server errors"]
    assert errors["failed"] and not errors["permanent"] and errors["attempts"] == 2
    assert "failed after 2 attempts" in errors["msg"] and "HTTP 500" in errors["msg"]
    timeout = run["timeout"]
    assert timeout["failed"] and "timed out after 0.5s" in timeout["msg"]
    wrong = run["wrong client secret"]
    assert wrong["failed"] and "BAD_CLIENT_SECRET" in wrong["msg"]
    assert run["bad input"]["failed"] and "min_validity must be >= 0" in run["bad input"]["msg"]
    assert "set no_log: true" in run["return_token without no_log"]["msg"]
    # 1 + 2 + 1 + 1 requests (the slow one is answered 200 after the client gave up); the bad-input
    # and return_token tasks never called HubSpot
    assert sorted(r["status"] for r in hubspot.requests) == [200, 400, 400, 500, 500]
    after = core.read_namespaced_secret("hubspot-access-token", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert decoded(after) == "old-token-value"
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token, "wrong-secret-value", *hubspot.issued)


def test_rate_limit_is_retried_and_return_token_with_no_log(kubeconfig, core, hubspot, namespace, tmp_path):
    hubspot.clear()
    hubspot.script(("429", 1))
    out = str(tmp_path / "token")
    tasks = [
        dict(token_task("rate limited", hubspot, namespace, return_token=True), no_log=True, register="tok"),
        {"name": "save", "no_log": True, "ansible.builtin.copy": {"content": "{{ tok.access_token }}", "dest": out}},
        {"name": "show", "ansible.builtin.debug": {"msg": "{{ tok.attempts }}"}},
    ]
    run = run_playbook(tasks, kubeconfig=kubeconfig)
    assert run.rc == 0
    assert run["show"]["msg"] == 2
    assert [r["status"] for r in hubspot.requests] == [429, 200]
    gap = hubspot.requests[1]["time"] - hubspot.requests[0]["time"]
    assert gap >= 1.0  # Retry-After: 1 honoured
    with open(out) as handle:
        assert handle.read() == hubspot.issued[-1] == decoded(core.read_namespaced_secret("hubspot-access-token", namespace))
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token, *hubspot.issued)


def test_conflict_on_update_is_retried(kubeconfig, core, hubspot, namespace, cluster):
    """A real 409: the Secret changes on the server between the module's read and its write.

    The module reads the Secret, then exchanges the refresh token; the HubSpot double holds that
    exchange while the test writes the Secret (as another client would), so the module's PUT carries
    a stale resourceVersion and the real API server refuses it with 409 Conflict. The module re-reads
    and writes again, keeping the other writer's change.
    """
    import kubernetes

    core.create_namespaced_secret(namespace, kubernetes.client.V1Secret(api_version="v1", kind="Secret",
        metadata=kubernetes.client.V1ObjectMeta(name="hubspot-access-token"), string_data={"access_token": "x"}))
    offset = cluster.audit_offset()
    hubspot.gate()
    runs = []
    player = threading.Thread(target=lambda: runs.append(
        run_playbook([token_task("refresh", hubspot, namespace)], kubeconfig=kubeconfig)))
    player.start()
    try:
        assert hubspot.arrived.wait(120), "the module never called HubSpot"
        cluster.kubectl("patch", "secret", "hubspot-access-token", "-n", namespace, "--type=merge",
                        "-p", json.dumps({"metadata": {"labels": {"concurrent": "writer"}}}))
    finally:
        hubspot.release.set()
        player.join(300)
    [run] = runs
    events = [e for e in cluster.audit_events(since=offset)
              if (e.get("objectRef") or {}).get("resource") == "secrets"
              and e["objectRef"].get("namespace") == namespace
              and e["objectRef"].get("name") == "hubspot-access-token"]
    # The API server's own record: the module read, the other writer wrote (kubectl: get + patch), the
    # module's write was refused with 409, it re-read and its second write was accepted.
    assert [(e["verb"], e["responseStatus"]["code"], e["userAgent"].startswith("kubectl/")) for e in events] == [
        ("get", 200, False), ("get", 200, True), ("patch", 200, True),
        ("update", 409, False), ("get", 200, False), ("update", 200, False)]
    assert run["refresh"]["changed"], run["refresh"].get("msg")
    secret = core.read_namespaced_secret("hubspot-access-token", namespace)
    assert decoded(secret) == hubspot.issued[-1]
    assert secret.metadata.labels == {"concurrent": "writer"}  # the other writer's change survived
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token, *hubspot.issued)
