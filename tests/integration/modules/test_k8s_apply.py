"""k8s_apply through ansible-playbook against the real control plane.

What a re-run sends is read from the real API server's audit log: an object already as defined costs
one GET and no write (kubernetes.core.k8s would PATCH every object that holds a list). Changes, removed
fields and drift made by someone else are applied; check mode writes nothing; waits are the real
controllers' (the Deployment controller, the scheduler and KWOK make the Pods Ready; a nodeSelector no
Node matches leaves them Pending, so the wait times out).
"""

import uuid

import pytest

from modules_playbook import custom_resource_definition, run_playbook

WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def objects(ns, replicas=1, labels=None, node_selector=None):
    labels = labels if labels is not None else {"app": "web", "tier": "mcp"}
    pod = {"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.0",
                                    "ports": [{"name": "http", "containerPort": 8000}]}]}}
    if node_selector:
        pod["spec"]["nodeSelector"] = node_selector
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": ns},
         "data": {"MODE": "test"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns, "labels": labels},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": pod}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
         "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8000, "targetPort": "http"}]}},
    ]


def apply_task(definitions, name="apply", **options):
    return {"name": name, "mcp_gateway.platform.k8s_apply": dict(
        {"definitions": definitions, "wait": True, "wait_sleep": 1, "wait_timeout": 60}, **options)}


def requests_in(cluster, since, ns):
    """(verb, resource) of every request the module made for objects of the namespace."""
    return [(e["verb"], e["objectRef"]["resource"]) for e in cluster.audit_events(since)
            if e.get("userAgent", "").startswith("OpenAPI-Generator/") and e.get("objectRef", {}).get("namespace") == ns]


@pytest.fixture(scope="module")
def ns(core):
    name = "apply-" + uuid.uuid4().hex[:8]
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def test_create_then_rerun_sends_no_write_and_one_get_per_object(kubeconfig, cluster, ns):
    run = run_playbook([apply_task(objects(ns))], kubeconfig=kubeconfig)
    assert run.rc == 0, run.output[-3000:]
    assert run["apply"]["changed"]
    assert [(o["kind"], o["method"]) for o in run["apply"]["objects"]] == [
        ("ConfigMap", "create"), ("Deployment", "create"), ("Service", "create")]
    deployment = cluster.get("deployment", "web", "-n", ns)
    assert deployment["status"].get("readyReplicas") == 1  # waited for the real rollout

    since = cluster.audit_offset()
    again = run_playbook([apply_task(objects(ns))], kubeconfig=kubeconfig)
    assert again.rc == 0 and not again["apply"]["changed"], again.output[-3000:]
    assert {o["method"] for o in again["apply"]["objects"]} == {"unchanged"}
    sent = requests_in(cluster, since, ns)
    assert not [r for r in sent if r[0] in WRITES], sent
    # one GET to compare and one to see it ready, per object
    assert len(sent) <= 2 * 3, sent
    assert deployment["metadata"]["resourceVersion"] == cluster.get("deployment", "web", "-n", ns)["metadata"]["resourceVersion"]


def test_changes_removed_fields_and_drift_are_applied(kubeconfig, cluster, ns):
    # A changed field (replicas), with --diff: the diff names it.
    run = run_playbook([apply_task(objects(ns, replicas=2))], kubeconfig=kubeconfig, diff=True)
    assert run.rc == 0 and run["apply"]["changed"], run.output[-3000:]
    methods = {o["kind"]: o["method"] for o in run["apply"]["objects"]}
    assert methods == {"ConfigMap": "unchanged", "Deployment": "apply", "Service": "unchanged"}
    [diff] = run["apply"]["diff"]
    assert diff["before"]["spec"]["replicas"] == 1 and diff["after"]["spec"]["replicas"] == 2
    assert cluster.get("deployment", "web", "-n", ns)["spec"]["replicas"] == 2

    # A field removed from the definition is removed from the object (the last-applied record differs).
    run = run_playbook([apply_task(objects(ns, replicas=2, labels={"app": "web"}))], kubeconfig=kubeconfig)
    assert run.rc == 0 and run["apply"]["changed"], run.output[-3000:]
    assert "tier" not in cluster.get("deployment", "web", "-n", ns)["metadata"]["labels"]

    # Drift: someone scales the Deployment and edits the ConfigMap by hand; the re-run puts both back.
    cluster.kubectl("scale", "deployment/web", "-n", ns, "--replicas=3")
    cluster.kubectl("patch", "configmap/web-config", "-n", ns, "-p", '{"data": {"MODE": "hand-edited"}}')
    run = run_playbook([apply_task(objects(ns, replicas=2, labels={"app": "web"}))], kubeconfig=kubeconfig)
    assert run.rc == 0 and run["apply"]["changed"], run.output[-3000:]
    assert cluster.get("deployment", "web", "-n", ns)["spec"]["replicas"] == 2
    assert cluster.get("configmap", "web-config", "-n", ns)["data"] == {"MODE": "test"}


def test_check_mode_reports_the_change_and_writes_nothing(kubeconfig, cluster, ns):
    since = cluster.audit_offset()
    run = run_playbook([apply_task(objects(ns, replicas=4, labels={"app": "web"}))], kubeconfig=kubeconfig, check=True)
    assert run.rc == 0 and run["apply"]["changed"], run.output[-3000:]
    assert not [e for e in cluster.audit_events(since) if e["verb"] in WRITES and "dryRun=All" not in e["requestURI"]
                and e.get("objectRef", {}).get("namespace") == ns]
    assert cluster.get("deployment", "web", "-n", ns)["spec"]["replicas"] == 2


def test_wait_names_every_object_not_ready_in_time(kubeconfig, cluster, ns):
    stuck = [o for o in objects(ns, replicas=2, labels={"app": "web"}, node_selector={"no-such": "node"})
             if o["kind"] == "Deployment"]
    run = run_playbook([apply_task(stuck, wait_timeout=5)], kubeconfig=kubeconfig)
    assert run.rc != 0
    assert run["apply"]["msg"] == "Not ready after 5 s: Deployment %s/web" % ns


def test_a_definition_without_kind_is_refused_before_any_write(kubeconfig, cluster, ns):
    since = cluster.audit_offset()
    bad = objects(ns)[:1] + [{"apiVersion": "v1", "metadata": {"name": "x", "namespace": ns}}]
    run = run_playbook([apply_task(bad)], kubeconfig=kubeconfig)
    assert run.rc != 0
    assert run["apply"]["msg"] == "definitions[1] has no kind"
    assert not [r for r in requests_in(cluster, since, ns) if r[0] in WRITES]


def test_a_crd_manifest_with_an_empty_status_is_established_then_left_alone(kubeconfig, cluster):
    # Generated CRD manifests (the Gateway API's among them) carry an empty status, which the API server
    # ignores on apply: the re-run must not count it as a difference.
    crd = custom_resource_definition("apply.example.com", "Widget",
                                     status={"acceptedNames": {"kind": "", "plural": ""}, "conditions": None, "storedVersions": None})
    task = apply_task([crd], wait_condition={"type": "Established", "status": "True"})
    run = run_playbook([task], kubeconfig=kubeconfig)
    assert run.rc == 0 and run["apply"]["changed"], run.output[-3000:]
    since = cluster.audit_offset()
    again = run_playbook([task], kubeconfig=kubeconfig)
    assert again.rc == 0 and not again["apply"]["changed"], again.output[-3000:]
    assert again["apply"]["objects"][0]["method"] == "unchanged"
    assert not [e for e in cluster.audit_events(since) if e["verb"] in WRITES
                and e.get("objectRef", {}).get("resource") == "customresourcedefinitions"]


def test_absent_deletes_what_exists_and_costs_one_read_for_what_does_not(kubeconfig, cluster, ns):
    config = objects(ns)[0]
    gone = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "never-made", "namespace": ns}}
    task = apply_task([], absent=[{"apiVersion": "v1", "kind": "ConfigMap", "metadata": config["metadata"]}, gone])

    # check mode with --diff: the deletion is reported and shown, nothing is deleted
    run = run_playbook([task], kubeconfig=kubeconfig, check=True, diff=True)
    assert run.rc == 0 and run["apply"]["changed"], run.output[-3000:]
    assert [(o["name"], o["method"]) for o in run["apply"]["objects"]] == [("web-config", "delete"), ("never-made", "absent")]
    assert run["apply"]["diff"][0]["before"]["data"] == {"MODE": "test"} and run["apply"]["diff"][0]["after"] == {}
    cluster.get("configmap", "web-config", "-n", ns)

    run = run_playbook([task], kubeconfig=kubeconfig)
    assert run.rc == 0 and run["apply"]["changed"], run.output[-3000:]
    assert cluster.kubectl("get", "configmap", "web-config", "-n", ns, "--ignore-not-found").stdout.strip() == ""

    since = cluster.audit_offset()
    again = run_playbook([task], kubeconfig=kubeconfig)
    assert again.rc == 0 and not again["apply"]["changed"], again.output[-3000:]
    assert {o["method"] for o in again["apply"]["objects"]} == {"absent"}
    assert requests_in(cluster, since, ns) == [("get", "configmaps")] * 2
