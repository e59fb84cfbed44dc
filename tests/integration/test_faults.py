"""Faults between the collection and the API server, and between the token refresher and HubSpot.

One fresh cluster (tests/cluster) and a real fault proxy on loopback, toxiproxy (tests/cluster/toxiproxy.py,
built from github.com/Shopify/toxiproxy/v2): every client of ``site.yml`` (kubernetes.core, helm, kubectl)
reaches kube-apiserver only through a kubeconfig whose server is the proxy's listener (TLS passes through
the TCP proxy unchanged; the API server's certificate is valid for 127.0.0.1). The platform is converged
once through it, then each fault is injected while ``site.yml`` runs again:

* latency on every request and answer: the run still succeeds and changes nothing;
* connection resets for a window, and a stall that closes connections (toxiproxy's ``timeout``): the run may
  fail, but only with a task message that names the API server or the connection, never a traceback;
* kube-apiserver killed with SIGKILL mid-run and started again by kwokctl.

After each fault a clean run must exit 0 and change nothing (the platform was converged before the fault, so
any change would be damage the fault did), every Secret of the namespace keeps its data and the SQL Server
data claim stays Bound to the same volume.

The HubSpot token refresher runs as its CronJob's container would (the program from the deployed ConfigMap,
the CronJob's environment with its Secret references resolved, a real token of its ServiceAccount) against
the HubSpot double (tests/peers/hubspot_server.py, a TEST DOUBLE of HubSpot's token endpoint) through
toxiproxy: resets and stalls make it exit non-zero within the bound of hubspot_oauth.py's retry budget,
leaving Secret hubspot-access-token as it was; without faults it refreshes. Two refreshers at once (the
CronJob's concurrencyPolicy Forbid aside: a manual Job, a retried Pod) both end with a valid token stored.
"""

import base64
import concurrent.futures
import json
import shutil
import subprocess
import sys
import time
import types
import urllib.parse

import pytest
import yaml

from cluster.toxiproxy import Toxiproxy
from test_site import NS, playbook
from peers.hubspot_server import HubSpotServer

pytestmark = pytest.mark.slow

SA = "hubspot-token-refresher"
CONNECTION_WORDS = ("connection", "Connection", "unreachable", "refused", "timed out", "timeout", "EOF", "reset")


@pytest.fixture(scope="module")
def toxi(tmp_path_factory):
    with Toxiproxy(tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log") as running:
        yield running


@pytest.fixture(scope="module")
def proxied(cluster, toxi, tmp_path_factory):
    """The cluster as the collection sees it through toxiproxy: ``env`` with a kubeconfig whose server is
    the proxy's listener, ``listen`` its address."""
    upstream = urllib.parse.urlsplit(cluster.server).netloc
    listen = toxi.proxy("apiserver", upstream)
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://{listen}"
    kubeconfig = tmp_path_factory.mktemp("proxied") / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(config))
    env = dict(cluster.env, KUBECONFIG=str(kubeconfig), K8S_AUTH_KUBECONFIG=str(kubeconfig))
    return types.SimpleNamespace(env=env, listen=listen, kubeconfig=kubeconfig)


def state(cluster):
    """What must never be lost: every Secret's data in the namespace, every claim's phase, volume and uid."""
    secrets = {s["metadata"]["name"]: s.get("data", {}) for s in cluster.get("secrets", "-n", NS)["items"]}
    claims = {c["metadata"]["name"]: (c["status"].get("phase"), c["spec"].get("volumeName"), c["metadata"]["uid"])
              for c in cluster.get("persistentvolumeclaims", "-n", NS)["items"]}
    return secrets, claims


def timed(target, azure_ad, *extra):
    started = time.monotonic()
    run = playbook(target, azure_ad, "site", *extra)
    run.finished = time.monotonic()
    run.seconds = round(run.finished - started)
    return run


FIGURES = {}  # what was measured, printed at the end (pytest -s) for docs/reliability.md


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield FIGURES
    print("\nfigures:", json.dumps(FIGURES, indent=1))


@pytest.fixture(scope="module")
def converged(cluster, azure_ad, proxied):
    run = timed(proxied, azure_ad)
    assert run.rc == 0 and run.stats.get("failures") == 0, run.output[-6000:]
    FIGURES["converge through the proxy, s"] = run.seconds
    secrets, claims = state(cluster)
    assert {"hubspot-access-token", "hubspot-oauth-credentials", "mcp-mssql-connection"} <= set(secrets)
    assert claims and all(phase == "Bound" for phase, _volume, _uid in claims.values()), claims
    return secrets, claims


def changed_tasks(run):
    return [name for name, result in run.results() if result.get("changed")]


def failure_messages(run):
    """(task, message) of each failed task result a user can read (a no_log task's is censored: its role's
    rescue then fails with the reason)."""
    return [(name, str(result.get("msg", ""))) for name, result in run.results()
            if (result.get("failed") or "exception" in result) and "censored" not in result]


def assert_understandable(run, proxied):
    """A failed run says what failed in words a user understands: the API server's address or the
    connection, in the failed task's message; no Python traceback anywhere."""
    assert "Traceback (most recent call last)" not in run.output, run.output[-6000:]
    if run.rc == 0:
        return
    failures = failure_messages(run)
    assert failures, run.output[-6000:]
    for task, message in failures:
        assert proxied.listen in message or any(w in message for w in CONNECTION_WORDS), (task, message)
        assert "MODULE FAILURE" not in message, (task, message)


def assert_recovered(cluster, azure_ad, proxied, converged, fault):
    """A clean run after the fault exits 0 and changes nothing; nothing is lost."""
    again = timed(proxied, azure_ad)
    assert again.rc == 0, (fault, again.output[-6000:])
    assert changed_tasks(again) == [], (fault, changed_tasks(again))
    assert state(cluster) == converged, fault
    FIGURES[f"{fault}: clean re-run, s"] = again.seconds


def during(proxied, azure_ad, after, fault, clear):
    """site.yml in the background; ``fault()`` ``after`` seconds into it, ``clear()`` once it ended or
    right after the fault's window (``clear`` returns when the window is over)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(timed, proxied, azure_ad)
        time.sleep(after)
        assert not future.done(), "site.yml ended before the fault was injected"
        fault()
        try:
            clear()
        finally:
            run = future.result(timeout=1200)
    return run


def test_converge_through_the_fault_proxy(converged, cluster):
    """The baseline: converged through toxiproxy; the cluster's own view agrees."""
    secrets, claims = converged
    assert all(secrets[name] for name in ("hubspot-oauth-credentials", "mcp-mssql-connection"))


def test_latency_on_every_request_and_answer(cluster, azure_ad, proxied, toxi, converged):
    with toxi.toxics("apiserver", ("latency", "downstream", {"latency": 300, "jitter": 100}),
                     ("latency", "upstream", {"latency": 300, "jitter": 100})):
        run = timed(proxied, azure_ad)
    FIGURES["latency 300±100 ms each way: site.yml, s"] = run.seconds
    assert run.rc == 0, run.output[-6000:]
    assert changed_tasks(run) == []
    assert state(cluster) == converged


@pytest.mark.parametrize("fault", ["reset_peer", "timeout"])
def test_connections_cut_mid_run(cluster, azure_ad, proxied, toxi, converged, fault):
    """Every connection reset (reset_peer) or stalled and then closed after 2 s (timeout), for 8 s."""
    attributes = {"timeout": 0} if fault == "reset_peer" else {"timeout": 2000}
    names = []

    def on():
        names.append(toxi.toxic("apiserver", fault, "downstream", **attributes))

    def off():
        time.sleep(8)
        toxi.remove("apiserver", names[0])

    run = during(proxied, azure_ad, 25, on, off)
    FIGURES[f"{fault} for 8 s at 25 s: run rc, first failure"] = (run.rc, failure_messages(run)[:1])
    assert_understandable(run, proxied)
    assert_recovered(cluster, azure_ad, proxied, converged, fault)


def test_apiserver_killed_mid_run_and_restarted(cluster, azure_ad, proxied, converged):
    """SIGKILL of kube-apiserver 25 s into the run, started again by kwokctl 5 s later."""
    killed, killed_at = [], []

    def kill_and_restart():
        killed.extend(cluster.restart_apiserver(down=5, on_kill=lambda: killed_at.append(time.monotonic())))
        FIGURES["kube-apiserver down (killed to ready again), s"] = round(time.monotonic() - killed_at[0])

    run = during(proxied, azure_ad, 25, kill_and_restart, lambda: None)
    assert killed, "no kube-apiserver process found"
    assert killed_at[0] < run.finished, "the run had ended before kube-apiserver was killed"
    FIGURES["SIGKILL kube-apiserver at 25 s: run rc, first failure"] = (run.rc, failure_messages(run)[:1])
    assert_understandable(run, proxied)
    assert_recovered(cluster, azure_ad, proxied, converged, "kube-apiserver killed")


# -- the token refresher against the HubSpot double, through the fault proxy ---------------------------------


@pytest.fixture(scope="module")
def hubspot(cluster, converged, toxi):
    """The HubSpot double with the credentials the site deployed (tests/demo-vars.yml), behind toxiproxy."""
    credentials = {k: base64.b64decode(v).decode() for k, v in converged[0]["hubspot-oauth-credentials"].items()}
    with HubSpotServer(client_id=credentials["client_id"], client_secret=credentials["client_secret"],
                       refresh_token=credentials["refresh_token"]) as server:
        server.listen = toxi.proxy("hubspot", f"127.0.0.1:{server.port}")
        yield server


@pytest.fixture(scope="module")
def refresher(cluster, proxied, hubspot, converged, tmp_path_factory):
    """Runs the CronJob's container as a host process: its command, the program files of the ConfigMap it
    mounts at /opt/refresher, its environment with each secretKeyRef/fieldRef resolved as the kubelet does,
    a real token of its ServiceAccount, the cluster's CA. Only two things differ: HUBSPOT_TOKEN_URL is the
    HubSpot double behind toxiproxy, KUBERNETES_SERVICE_HOST/PORT the API server (or its proxy)."""
    root = tmp_path_factory.mktemp("refresher")
    cronjob = cluster.get("cronjob", "hubspot-token-cronjob", "-n", NS)
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    program = root / "opt-refresher"
    program.mkdir()
    configmap = next(v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "program")
    for name, text in cluster.get("configmap", configmap, "-n", NS)["data"].items():
        (program / name).write_text(text)
    sa_dir = root / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(cluster.token(pod["serviceAccountName"], NS))
    shutil.copy(cluster.ca_file, sa_dir / "ca.crt")
    (sa_dir / "namespace").write_text(NS)
    env = {"PATH": "/usr/bin:/bin"}
    for item in container["env"]:
        ref = item.get("valueFrom", {})
        if "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            value = base64.b64decode(converged[0][key["name"]][key["key"]]).decode()
        elif "fieldRef" in ref:
            assert ref["fieldRef"]["fieldPath"] == "metadata.namespace", ref
            value = NS
        else:
            value = item["value"]
        env[item["name"]] = value
    script = container["command"][1].replace("/opt/refresher", str(program))
    direct = urllib.parse.urlsplit(cluster.server)

    def run(via_proxy=False):
        host, port = (proxied.listen.split(":") if via_proxy else (direct.hostname, str(direct.port)))
        run_env = dict(env, PYTHONPATH=str(program), SERVICEACCOUNT_DIR=str(sa_dir),
                       HUBSPOT_TOKEN_URL=f"http://{hubspot.listen}/oauth/v1/token",
                       KUBERNETES_SERVICE_HOST=host, KUBERNETES_SERVICE_PORT=port)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-S", script], env=run_env, capture_output=True, text=True,
                              timeout=600, cwd=str(root))
        proc.seconds = time.monotonic() - started
        for secret in [hubspot.client_secret, hubspot.refresh_token] + hubspot.issued:
            assert secret not in proc.stdout + proc.stderr, "a secret leaked into the refresher's output"
        return proc

    # 3 s instead of the CronJob's 10 (token_refresh_request_timeout) keeps the stalled runs short; the
    # bounds below scale with it.
    env["REQUEST_TIMEOUT_SECONDS"] = "3"
    run.timeout = 3.0
    return run


def token_secret(cluster):
    secret = cluster.get("secret", "hubspot-access-token", "-n", NS)
    return secret["metadata"]["resourceVersion"], secret.get("data", {}), secret["metadata"].get("annotations", {})


# hubspot_oauth.refresh_access_token's defaults, as the refresher calls it: 5 attempts (retries=4), waits
# 1+2+4+8 s between them, no wait past 120 s. A stalled attempt ends when one socket read waits
# REQUEST_TIMEOUT_SECONDS (the CronJob's token_refresh_request_timeout) for a byte.
ATTEMPTS, WAITS = 5, 1 + 2 + 4 + 8


@pytest.mark.parametrize("fault, stream, attributes", [
    ("reset_peer", "downstream", {"timeout": 0}),  # every connection reset at once
    ("timeout", "upstream", {"timeout": 0}),  # the request never arrives, the connection stays open
    ("slicer", "downstream", {"average_size": 1, "size_variation": 0, "delay": 1_000_000}),  # a byte a second
], ids=["reset", "stall", "drip"])
def test_refresher_hubspot_faults_leave_the_secret_and_end_in_time(cluster, toxi, hubspot, refresher,
                                                                    fault, stream, attributes):
    before = token_secret(cluster)
    hubspot.clear()
    with toxi.toxics("hubspot", (fault, stream, attributes)):
        proc = refresher()
    bound = ATTEMPTS * refresher.timeout + WAITS + 5
    FIGURES[f"refresher, HubSpot {fault}: exit, s (bound s)"] = (proc.returncode, round(proc.seconds, 1), bound)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failed after 5 attempts" in proc.stdout and "left unchanged" in proc.stdout, proc.stdout
    assert proc.seconds < bound, (proc.seconds, bound)
    assert token_secret(cluster) == before  # same resourceVersion: not written at all


def test_refresher_api_server_reset_never_blanks_the_secret(cluster, toxi, hubspot, refresher):
    """The Kubernetes side of the refresher through toxiproxy, every connection reset: exit 3, and the
    Secret holds what it held (or, had a PUT gone through, a whole new token), never an empty value."""
    before = token_secret(cluster)
    with toxi.toxics("apiserver", ("reset_peer", "downstream", {"timeout": 0})):
        proc = refresher(via_proxy=True)
    assert proc.returncode == 3 and "Kubernetes API error" in proc.stdout, proc.stdout + proc.stderr
    assert token_secret(cluster) == before


def test_refresher_refreshes_once_the_faults_are_gone(cluster, hubspot, refresher):
    before = token_secret(cluster)
    proc = refresher(via_proxy=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _version, data, annotations = token_secret(cluster)
    assert base64.b64decode(data["access_token"]).decode() == hubspot.issued[-1]
    assert annotations["mcp-gateway.io/refreshed-at"] != before[2].get("mcp-gateway.io/refreshed-at")


def test_two_refreshers_at_once_never_lose_a_token(cluster, toxi, hubspot, refresher):
    """Two refreshers started together, the API server 150 ms away each way so both GET the Secret before
    either PUTs it: the loser's PUT meets 409 Conflict, it re-reads and writes again. Both exit 0, the
    Secret ends with a token the double issued, and the stored refresh token is still the one it accepts."""
    offset = cluster.audit_offset()
    issued_before = len(hubspot.issued)
    with toxi.toxics("apiserver", ("latency", "downstream", {"latency": 150}),
                     ("latency", "upstream", {"latency": 150})):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            procs = list(pool.map(lambda _i: refresher(via_proxy=True), range(2)))
    assert [p.returncode for p in procs] == [0, 0], [p.stdout for p in procs]
    assert len(hubspot.issued) == issued_before + 2
    _version, data, _annotations = token_secret(cluster)
    assert base64.b64decode(data["access_token"]).decode() in hubspot.issued[issued_before:]
    stored = base64.b64decode(cluster.get("secret", "hubspot-oauth-credentials", "-n", NS)["data"]["refresh_token"])
    assert stored.decode() == hubspot.refresh_token
    user = f"system:serviceaccount:{NS}:{SA}"
    updates = [e["responseStatus"]["code"] for e in cluster.audit_events(offset)
               if e["user"]["username"] == user and e["verb"] == "update"]
    FIGURES["two refreshers at once: Secret updates (HTTP codes)"] = updates
    assert updates.count(200) == 2, updates
