"""The mssql role with the real simcube mssqlserver-2022 1.2.3 chart, real helm, on a real control plane.

The chart's workload is a Deployment with no update-strategy value, so Kubernetes would default it to
RollingUpdate: an upgrade that changes the pod would start a second SQL Server on the one ReadWriteOnce
data claim while the old one still runs. The role's post-renderer makes it Recreate. Here an upgrade that
changes the pod (a new image tag) is watched Pod by Pod through the API server's watch: at no moment do
two SQL Server Pods exist. The sa password survives the upgrade (the chart would generate a new one).
"""

import json
import subprocess
import threading

import pytest

from cluster import kubectl_binary
from integration.roles.test_verify import playbook, role_task

NS = "agentgateway-system"
APP = ["-l", "app=mssql-mssqlserver-2022,release=mssql"]


class PodWatch:
    """`kubectl get pods --watch` on the SQL Server Pods: the greatest number alive at any one time."""

    def __init__(self, cluster):
        self.proc = subprocess.Popen(
            [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), "get", "pods", "-n", NS, *APP, "--watch",
             "--output-watch-events", "-o", "json"], stdout=subprocess.PIPE, text=True)
        self.alive, self.most, self.seen = set(), 0, set()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buffer += line
            try:
                event, _end = decoder.raw_decode(buffer.strip())
            except ValueError:
                continue
            buffer = ""
            name = event["object"]["metadata"]["name"]
            self.seen.add(name)
            (self.alive.discard if event["type"] == "DELETED" else self.alive.add)(name)
            self.most = max(self.most, len(self.alive))

    def stop(self):
        self.proc.terminate()
        self.thread.join(10)


def mssql(cluster, **variables):
    run = playbook(cluster, [role_task("namespace"), role_task("mssql", **variables)], timeout=600)
    assert run.rc == 0, run.output[-3000:]
    return run


@pytest.fixture(scope="module")
def installed(cluster):
    mssql(cluster)
    return cluster


def password(cluster):
    secret = cluster.get("secret", "mssql-mssqlserver-2022-secret", "-n", NS)
    return secret["data"]["sapassword"]


def test_the_chart_deployment_is_recreate_and_restricted(installed):
    deployment = installed.get("deployment", "mssql-mssqlserver-2022", "-n", NS)
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert installed.get("namespace", NS)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert installed.get("pvc", "mssql-mssqlserver-2022-data", "-n", NS)["status"]["phase"] == "Bound"


def test_an_upgrade_that_changes_the_pod_never_runs_two_sql_servers(installed):
    before = password(installed)
    first = {p["metadata"]["name"] for p in installed.get("pods", "-n", NS, *APP)["items"]}
    assert len(first) == 1
    watch = PodWatch(installed)
    try:
        mssql(installed, mssql_image_tag="2022-CU15-ubuntu-22.04")
        installed.kubectl("rollout", "status", "deployment/mssql-mssqlserver-2022", "-n", NS, "--timeout=120s")
    finally:
        watch.stop()
    pods = installed.get("pods", "-n", NS, *APP)["items"]
    assert len(pods) == 1 and pods[0]["metadata"]["name"] not in first
    assert pods[0]["spec"]["containers"][0]["image"].endswith(":2022-CU15-ubuntu-22.04")
    assert watch.seen - first, "the watch saw no new Pod"
    assert watch.most == 1, f"{watch.most} SQL Server Pods at once"
    assert password(installed) == before
