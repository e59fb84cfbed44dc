"""Two ``site.yml`` runs at once on a fresh cluster (tests/cluster): a user who starts a second run while the
first is still going (two terminals, a CI retry next to a manual run).

Both runs must end with exit code 0 (no traceback, no helm "another operation is in progress", no 409 of a
create the other run made first). A third run then changes nothing, every helm
release is ``deployed`` (none left pending), the controller programmed the Gateway and every claim is Bound. Two refreshers at once are in test_faults.py (they share its converged platform).
"""

import concurrent.futures
import json
import subprocess
import time

import pytest

from test_site import NS, conditions, playbook

pytestmark = pytest.mark.slow


def timed(cluster, azure_ad):
    started = time.monotonic()
    run = playbook(cluster, azure_ad, "site")
    run.seconds = round(time.monotonic() - started)
    return run


@pytest.fixture(scope="module")
def both(cluster, azure_ad):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _i: timed(cluster, azure_ad), range(2)))
    print("\nfigures: two site.yml at once: rc %s, %s s" % ([r.rc for r in runs], [r.seconds for r in runs]))
    return runs


def test_two_site_runs_at_once_both_succeed(both):
    """Both runs end with exit code 0: the helm tasks wait for the other run's release, and k8s_apply applies
    over an object the other run created between its read and its create (409 AlreadyExists, once the race
    of auth_policy's CA ConfigMap)."""
    for run in both:
        assert "Traceback (most recent call last)" not in run.output
        failed = [(name, str(result.get("msg"))) for name, result in run.results() if result.get("failed")]
        assert run.rc == 0 and not failed, failed or run.output[-6000:]


def test_a_third_run_changes_nothing_and_the_state_is_right(cluster, azure_ad, both):
    third = timed(cluster, azure_ad)
    print("\nfigures: third run %s s" % third.seconds)
    assert third.rc == 0, third.output[-6000:]
    assert [name for name, result in third.results() if result.get("changed")] == []
    releases = json.loads(subprocess.run(["helm", "list", "--all", "-A", "-o", "json"], env=cluster.env,
                                         check=True, capture_output=True, text=True).stdout)
    assert releases and {r["status"] for r in releases} == {"deployed"}, releases
    gateway = cluster.get("gateway", "agentgateway-proxy", "-n", NS)
    assert conditions(gateway)["Programmed"] == ("True", "Programmed")
    claims = cluster.get("persistentvolumeclaims", "-n", NS)["items"]
    assert claims and {c["status"]["phase"] for c in claims} == {"Bound"}
