"""The token_refresh role through ansible-playbook, against the real control plane and the HubSpot double.

One ansible-playbook run per scenario (each in a namespace of its own, labelled Pod Security
``restricted`` enforce): check mode on a fresh namespace, the deploy (with --diff, -vvv), a second run,
missing credentials, an existing credentials Secret next to a live token, and token_refresh_enabled false.
Then the real ``kubectl create job --from=cronjob/...`` makes a Job; the real Job controller creates its Pod
(admitted by Pod Security) and KWOK completes it, but no container runs, so the Pod's command is run as a
host process exactly as its container would run it: the ConfigMap's files at the mount path, the env of
the Job's pod template, a TokenRequest token of the Job's ServiceAccount, the cluster CA, and
KUBERNETES_SERVICE_HOST/PORT pointing at the real API server. Real RBAC decides; ``kubectl auth can-i``
proves the Role grants that and nothing more.
"""

import base64
import datetime
import json
import os
import subprocess
import sys
import urllib.parse
import uuid

import pytest

from integration.modules.modules_playbook import ROOT, run_playbook
from peers.hubspot_server import HubSpotServer

ROLE = "mcp_gateway.platform.token_refresh"
REFRESHER = os.path.join(ROOT, "roles", "token_refresh", "files", "hubspot_refresher.py")
OAUTH = os.path.join(ROOT, "plugins", "module_utils", "hubspot_oauth.py")
CRONJOB, SA, RBAC, CONFIGMAP = "hubspot-token-cronjob", "hubspot-token-refresher", "hubspot-token-refresher", \
    "hubspot-token-refresher"
CREDENTIALS, TOKEN, STS = "hubspot-oauth-credentials", "hubspot-access-token", "hubspot-mcp"
EXPIRES_AT = "mcp-gateway.io/expires-at"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
CREDENTIAL_VARS = ("token_refresh_client_id", "token_refresh_client_secret", "token_refresh_refresh_token")


@pytest.fixture(scope="module")
def hubspot():
    with HubSpotServer() as server:
        yield server


class Api:
    """The real API server read and written as admin, over its REST API (plain JSON dicts)."""

    GROUPS = {"secrets": "api/v1", "configmaps": "api/v1", "serviceaccounts": "api/v1", "pods": "api/v1",
              "events": "api/v1", "statefulsets": "apis/apps/v1", "cronjobs": "apis/batch/v1",
              "jobs": "apis/batch/v1", "roles": "apis/rbac.authorization.k8s.io/v1",
              "rolebindings": "apis/rbac.authorization.k8s.io/v1"}

    def __init__(self, cluster):
        self.cluster = cluster

    def call(self, method, path, body=None, expect=200):
        status, _headers, answer = self.cluster.http(method, path, body)
        assert status == expect, (method, path, status, answer)
        return answer

    def get(self, namespace, resource, name=None):
        path = "/%s/namespaces/%s/%s" % (self.GROUPS[resource], namespace, resource) + ("/" + name if name else "")
        return self.call("GET", path)

    def create(self, namespace, resource, body):
        return self.call("POST", "/%s/namespaces/%s/%s" % (self.GROUPS[resource], namespace, resource), body,
                         expect=201)


@pytest.fixture(scope="module")
def api(cluster):
    return Api(cluster)


# What Pod Security "restricted" asks of every container (the mcp_server role's StatefulSet complies too).
RESTRICTED_CONTAINER = {"securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}}}


def new_namespace(api, with_statefulset=True):
    name = "tr-" + uuid.uuid4().hex[:8]
    labels = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}
    api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": name, "labels": labels}}, expect=201)
    if with_statefulset:  # what the mcp_server role deploys before this role
        labels = {"app": STS}
        container = dict(RESTRICTED_CONTAINER, name="mcp-server", image="ghcr.io/mcp-gateway/mcp-hubspot:1.0.0")
        api.create(name, "statefulsets", {
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": STS},
            "spec": {"replicas": 1, "serviceName": "mcp-hubspot-service", "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"securityContext": {"runAsUser": 65532}, "containers": [container]}}}})
    return name


def role_vars(hubspot, namespace, **extra):
    values = {"token_refresh_namespace": namespace, "token_refresh_client_id": hubspot.client_id,
              "token_refresh_client_secret": hubspot.client_secret,
              "token_refresh_refresh_token": hubspot.refresh_token, "token_refresh_token_url": hubspot.url,
              "token_refresh_allow_insecure_token_url": True, "token_refresh_restart_wait_timeout": 30}
    values.update(extra)
    return values


def run_role(kubeconfig, *role_var_sets, **kwargs):
    """One ansible-playbook run applying the role once per set of variables, in order."""
    tasks = [{"name": "token_refresh %d" % index, "ansible.builtin.include_role": {"name": ROLE}, "vars": values}
             for index, values in enumerate(role_var_sets)]
    return run_playbook(tasks, kubeconfig=kubeconfig, **kwargs)


def task(run, name):
    """The result of one of the role's tasks (the last one of that name)."""
    return run[ROLE + " : " + name]


def stats(run):
    start = run.stdout.find("\n{\n") + 1 if not run.stdout.startswith("{\n") else 0
    document, _end = json.JSONDecoder().raw_decode(run.stdout[start:])
    return document["stats"]["localhost"]


def ours(api, namespace):
    """Names of everything the role could have created in the namespace."""
    skip = {"configmaps": {"kube-root-ca.crt"}, "serviceaccounts": {"default"}}
    found = {}
    for resource in ("secrets", "configmaps", "serviceaccounts", "roles", "rolebindings", "cronjobs", "jobs"):
        names = [o["metadata"]["name"] for o in api.get(namespace, resource)["items"]
                 if o["metadata"]["name"] not in skip.get(resource, ())]
        if names:
            found[resource] = names
    return found


def decoded(secret):
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def restarted_at(api, namespace):
    sts = api.get(namespace, "statefulsets", STS)
    return (sts["spec"]["template"]["metadata"].get("annotations") or {}).get(RESTARTED_AT)


def test_check_mode_on_a_fresh_namespace_changes_nothing(kubeconfig, api, hubspot):
    namespace = new_namespace(api)
    hubspot.clear()
    run = run_role(kubeconfig, role_vars(hubspot, namespace), check=True, diff=True)
    assert run.rc == 0, run.output[-3000:]
    assert stats(run)["changed"] > 0  # it reports what it would do ...
    assert ours(api, namespace) == {}  # ... and does none of it
    assert hubspot.requests == []  # HubSpot is never called in check mode
    assert restarted_at(api, namespace) is None
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token)


@pytest.fixture(scope="module")
def deployed(kubeconfig, api, hubspot):
    """The deploy (with --diff, at -vvv), then a second run of the same; the namespace and both runs."""
    namespace = new_namespace(api)
    hubspot.clear()
    first = run_role(kubeconfig, role_vars(hubspot, namespace), diff=True, verbosity=3)
    assert first.rc == 0, first.output[-4000:]
    token_after_first = api.get(namespace, "secrets", TOKEN)
    restart_after_first = restarted_at(api, namespace)
    second = run_role(kubeconfig, role_vars(hubspot, namespace), diff=True)
    assert second.rc == 0, second.output[-4000:]
    return {"namespace": namespace, "first": first, "second": second, "token_after_first": token_after_first,
            "restart_after_first": restart_after_first, "issued": list(hubspot.issued),
            "hubspot_requests": list(hubspot.requests)}


def test_cronjob(deployed, api):
    spec = api.get(deployed["namespace"], "cronjobs", CRONJOB)["spec"]
    assert spec["schedule"] == "*/23 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 300
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    assert spec["suspend"] is False
    job = spec["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["backoffLimit"]) == (300, 2)
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == SA and pod["automountServiceAccountToken"] is True
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["image"] == "docker.io/library/python:3.13.9-slim"
    assert container["command"] == ["python3", "/opt/refresher/hubspot_refresher.py"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]} and security["runAsNonRoot"] is True
    assert container["resources"]["limits"] and container["resources"]["requests"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PYTHONPATH"]["value"] == "/opt/refresher"
    for name, key in (("HUBSPOT_CLIENT_ID", "client_id"), ("HUBSPOT_CLIENT_SECRET", "client_secret"),
                      ("HUBSPOT_REFRESH_TOKEN", "refresh_token")):
        assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS, "key": key}}}
    assert env["TOKEN_SECRET_NAME"]["value"] == TOKEN
    assert (env["RESTART_KIND"]["value"], env["RESTART_NAME"]["value"]) == ("StatefulSet", STS)
    assert env["HUBSPOT_TOKEN_URL"]["value"].startswith("http://127.0.0.1:")
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["program"]["mountPath"] == "/opt/refresher" and mounts["program"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["program"]["configMap"]["name"] == CONFIGMAP


def test_configmap_holds_the_collection_files_byte_for_byte(deployed, api):
    data = api.get(deployed["namespace"], "configmaps", CONFIGMAP)["data"]
    assert sorted(data) == ["hubspot_oauth.py", "hubspot_refresher.py"]
    for name, path in (("hubspot_refresher.py", REFRESHER), ("hubspot_oauth.py", OAUTH)):
        with open(path, "rb") as handle:
            assert data[name].encode("utf-8") == handle.read(), name


def test_rbac_grants_exactly_the_two_rules(deployed, api):
    namespace = deployed["namespace"]
    assert api.get(namespace, "roles", RBAC)["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [TOKEN], "verbs": ["get", "update"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": [STS], "verbs": ["get", "patch"]},
    ]
    binding = api.get(namespace, "rolebindings", RBAC)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RBAC}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA, "namespace": namespace}]
    # only the CronJob's Pods opt in to a token
    assert api.get(namespace, "serviceaccounts", SA)["automountServiceAccountToken"] is False


def test_credentials_secret_and_initial_refresh(deployed, api, hubspot):
    namespace = deployed["namespace"]
    credentials = api.get(namespace, "secrets", CREDENTIALS)
    assert decoded(credentials) == {"client_id": hubspot.client_id, "client_secret": hubspot.client_secret,
                                    "refresh_token": hubspot.refresh_token}
    assert credentials["type"] == "Opaque"
    # the deploy-time refresh called HubSpot once and wrote the token, then restarted hubspot-mcp
    assert [r["status"] for r in deployed["hubspot_requests"]] == [200]
    token = deployed["token_after_first"]
    assert decoded(token) == {"access_token": deployed["issued"][0]}
    assert EXPIRES_AT in token["metadata"]["annotations"]
    assert deployed["restart_after_first"] is not None
    first = deployed["first"]
    assert task(first, "Refresh the HubSpot access token if needed")["censored"]
    restart = task(first, "Restart the workload that reads the token, StatefulSet/hubspot-mcp")
    assert restart["changed"] and restart["restarted"][0]["name"] == STS


def test_second_run_changes_nothing_and_keeps_the_token(deployed, api):
    second = deployed["second"]
    assert stats(second)["changed"] == 0, [name for name, r in second.results.items() if r.get("changed")]
    # the token Secret was neither recreated nor rewritten, HubSpot not called again, no restart
    token = api.get(deployed["namespace"], "secrets", TOKEN)
    for field in ("resourceVersion", "uid"):
        assert token["metadata"][field] == deployed["token_after_first"]["metadata"][field]
    assert len(deployed["hubspot_requests"]) == 1
    assert restarted_at(api, deployed["namespace"]) == deployed["restart_after_first"]
    assert task(second, "Create the access-token Secret only if absent, hubspot-access-token").get("skipped")


def test_no_secret_in_the_output(deployed, hubspot):
    for run in (deployed["first"], deployed["second"]):
        run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token, *deployed["issued"])


@pytest.fixture(scope="module")
def manual_job(deployed, cluster, api):
    """The real ``kubectl create job --from=cronjob/...``, then until the Job controller and KWOK finish it."""
    namespace, name = deployed["namespace"], "manual-refresh"
    made = cluster.kubectl("-n", namespace, "create", "job", f"--from=cronjob/{CRONJOB}", name, check=False)
    assert made.returncode == 0, made.stderr
    waited = cluster.kubectl("-n", namespace, "wait", "--for=condition=Complete", f"job/{name}", "--timeout=60s",
                             check=False)
    events = api.call("GET", "/api/v1/namespaces/%s/events?fieldSelector=%s" % (
        namespace, urllib.parse.quote("involvedObject.kind=Job,involvedObject.name=" + name)))["items"]
    return {"name": name, "job": api.get(namespace, "jobs", name), "waited": waited, "events": events,
            "pods": [p for p in api.get(namespace, "pods")["items"]
                     if p["metadata"].get("labels", {}).get("job-name") == name]}


def test_cronjob_pods_are_admitted_under_restricted_pod_security(deployed, manual_job, cluster):
    namespace = deployed["namespace"]
    refused = [e["message"] for e in manual_job["events"] if e["reason"] == "FailedCreate"]
    assert refused == []  # a Pod Security violation shows here: "... is forbidden: violates PodSecurity ..."
    assert manual_job["waited"].returncode == 0, manual_job["waited"].stderr
    [pod] = manual_job["pods"]
    assert pod["status"]["phase"] == "Succeeded"  # KWOK's doing: no container ran
    # The namespace does enforce "restricted": the same Pod without its security settings is refused.
    template = manual_job["job"]["spec"]["template"]
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-security-context"},
            "spec": dict(template["spec"], securityContext={},
                         containers=[dict(c, securityContext={}) for c in template["spec"]["containers"]])}
    dry = cluster.kubectl("-n", namespace, "create", "--dry-run=server", "-f", "-", input=json.dumps(bare),
                          check=False)
    assert dry.returncode != 0 and 'violates PodSecurity "restricted:latest"' in dry.stderr, dry.stderr


def can_i(cluster, namespace, verb, resource, as_namespace=None):
    """`kubectl auth can-i` as admin impersonating the refresher's ServiceAccount: True, False."""
    answer = cluster.kubectl("auth", "can-i", verb, resource, "-n", as_namespace or namespace,
                             "--as=system:serviceaccount:%s:%s" % (namespace, SA), check=False)
    assert answer.stdout.strip() in ("yes", "no"), answer.stdout + answer.stderr
    return answer.stdout.strip() == "yes"


def test_service_account_may_do_exactly_its_grant(deployed, cluster):
    namespace = deployed["namespace"]
    allowed = [("get", f"secrets/{TOKEN}"), ("update", f"secrets/{TOKEN}"),
               ("get", f"statefulsets.apps/{STS}"), ("patch", f"statefulsets.apps/{STS}")]
    refused = [("get", f"secrets/{CREDENTIALS}"), ("list", "secrets"), ("watch", "secrets"), ("create", "secrets"),
               ("delete", f"secrets/{TOKEN}"), ("patch", f"secrets/{TOKEN}"),
               ("update", f"statefulsets.apps/{STS}"), ("delete", f"statefulsets.apps/{STS}"),
               ("get", "statefulsets.apps/other"), ("list", "statefulsets.apps"),
               ("get", f"deployments.apps/{STS}"), ("patch", f"deployments.apps/{STS}"),
               ("get", f"configmaps/{CONFIGMAP}"), ("update", f"cronjobs.batch/{CRONJOB}"), ("create", "jobs.batch"),
               ("create", "pods"), ("create", "pods/exec"), ("get", "serviceaccounts")]
    assert [(verb, what) for verb, what in allowed if not can_i(cluster, namespace, verb, what)] == []
    assert [(verb, what) for verb, what in refused if can_i(cluster, namespace, verb, what)] == []
    # the grant is namespaced: the same Secret name elsewhere is off limits
    assert not can_i(cluster, namespace, "get", f"secrets/{TOKEN}", as_namespace="default")


def run_job_pod(cluster, api, namespace, job, tmp_path):
    """Run the Job's container command as a host process exactly as the kubelet would start it: the ConfigMap
    volume at its mount path, a TokenRequest token of the Pod's ServiceAccount with the cluster CA, and the env
    (secretKeyRef values read as the kubelet reads them, with admin rights, from the Secret and key named).
    Returns the finished process."""
    spec = job["spec"]["template"]["spec"]
    [container] = spec["containers"]
    program_mount = next(m for m in container["volumeMounts"] if m["name"] == "program")["mountPath"]
    volume = next(v for v in spec["volumes"] if v["name"] == "program")
    program = tmp_path / "program"
    program.mkdir()
    for name, content in api.get(namespace, "configmaps", volume["configMap"]["name"])["data"].items():
        (program / name).write_text(content)
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(cluster.token(spec["serviceAccountName"], namespace, duration="10m"))
    (sa_dir / "ca.crt").write_bytes(cluster.ca_file.read_bytes())
    (sa_dir / "namespace").write_text(namespace)
    env = {"PATH": "/usr/bin:/bin", "KUBERNETES_SERVICE_HOST": "127.0.0.1",
           "KUBERNETES_SERVICE_PORT": str(urllib.parse.urlsplit(cluster.server).port),
           "SERVICEACCOUNT_DIR": str(sa_dir)}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"].replace(program_mount, str(program))
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = decoded(api.get(namespace, "secrets", ref["name"]))[ref["key"]]
        else:
            assert item["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
            env[item["name"]] = namespace
    command = [arg.replace(program_mount, str(program)) for arg in container["command"] + container.get("args", [])]
    assert command[0] == "python3"
    # -S: nothing beyond the standard library, as on the stock image
    return subprocess.run([sys.executable, "-S"] + command[1:], env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(tmp_path))


def service_account_requests(cluster, since, namespace):
    """(verb, resource, name, code) of each request the refresher's ServiceAccount made since ``since``."""
    user = "system:serviceaccount:%s:%s" % (namespace, SA)
    return [(e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"], e["responseStatus"]["code"])
            for e in cluster.audit_events(since) if e["user"]["username"] == user and e["stage"] == "ResponseComplete"]


def test_job_from_the_cronjob_runs_the_refresher_with_its_rbac(deployed, manual_job, api, cluster, hubspot, tmp_path):
    namespace = deployed["namespace"]
    assert manual_job["pods"], "the Job controller created no Pod"
    before = restarted_at(api, namespace)
    since = cluster.audit_offset()
    proc = run_job_pod(cluster, api, namespace, manual_job["job"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert decoded(api.get(namespace, "secrets", TOKEN)) == {"access_token": hubspot.issued[-1]}
    assert hubspot.issued[-1] not in deployed["issued"]
    assert restarted_at(api, namespace) != before
    for secret in (hubspot.client_secret, hubspot.refresh_token, hubspot.issued[-1]):
        assert secret not in proc.stdout + proc.stderr
    # It was the ServiceAccount, not admin, that the API server let do it.
    assert service_account_requests(cluster, since, namespace) == [
        ("get", "secrets", TOKEN, 200), ("update", "secrets", TOKEN, 200), ("patch", "statefulsets", STS, 200)]


def test_missing_credentials_fail_naming_the_variables_and_create_nothing(kubeconfig, api, hubspot):
    namespace = new_namespace(api)
    hubspot.clear()
    run = run_role(kubeconfig, role_vars(hubspot, namespace, token_refresh_client_secret="",
                                         token_refresh_refresh_token="   "))
    assert run.rc != 0
    failed = task(run, "Require the HubSpot OAuth credentials")
    assert failed["failed"]
    assert "set token_refresh_client_secret, token_refresh_refresh_token (non-empty strings" in failed["msg"]
    assert "Nothing was changed" in failed["msg"]
    assert ours(api, namespace) == {}
    assert hubspot.requests == []
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token)


def secret_body(name, string_data, annotations=None):
    metadata = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "stringData": string_data}


def test_existing_credentials_secret_a_live_token_kept_and_disabled(kubeconfig, api, hubspot):
    existing, live, disabled = new_namespace(api), new_namespace(api), new_namespace(api, with_statefulset=False)
    credentials = api.create(existing, "secrets", secret_body("hubspot-oauth-from-vault", {
        "client_id": hubspot.client_id, "client_secret": hubspot.client_secret,
        "refresh_token": hubspot.refresh_token}))
    valid_until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    live_token = api.create(live, "secrets", secret_body(TOKEN, {"access_token": "live-token-value"},
                                                         {EXPIRES_AT: valid_until.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    hubspot.clear()
    run = run_role(
        kubeconfig,
        # disabled: even without any credential nothing is checked, written or removed
        {"token_refresh_enabled": False, "token_refresh_namespace": disabled},
        # an existing credentials Secret: read (also for the deploy-time refresh), never written
        {"token_refresh_namespace": existing, "token_refresh_token_url": hubspot.url,
         "token_refresh_allow_insecure_token_url": True, "token_refresh_restart_wait": False,
         **{name + "_from_secret": {"name": "hubspot-oauth-from-vault", "key": name[len("token_refresh_"):]}
            for name in CREDENTIAL_VARS}},
        # a live token and no deploy-time refresh: the token Secret is left alone
        role_vars(hubspot, live, token_refresh_initial_refresh=False))
    assert run.rc == 0, run.output[-3000:]
    assert ours(api, disabled) == {}

    after = api.get(existing, "secrets", "hubspot-oauth-from-vault")
    assert after["metadata"]["resourceVersion"] == credentials["metadata"]["resourceVersion"]
    assert sorted(ours(api, existing)["secrets"]) == sorted(["hubspot-oauth-from-vault", TOKEN])
    pod = api.get(existing, "cronjobs", CRONJOB)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in pod["containers"][0]["env"]
            if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {"hubspot-oauth-from-vault"}
    # the deploy-time refresh authenticated with the values of that Secret
    assert [r["status"] for r in hubspot.requests] == [200]
    assert decoded(api.get(existing, "secrets", TOKEN)) == {"access_token": hubspot.issued[-1]}
    assert restarted_at(api, existing) is not None

    token = api.get(live, "secrets", TOKEN)
    assert token["metadata"]["resourceVersion"] == live_token["metadata"]["resourceVersion"]
    assert decoded(token) == {"access_token": "live-token-value"}
    assert api.get(live, "cronjobs", CRONJOB)["metadata"]["name"] == CRONJOB
    assert restarted_at(api, live) is None
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token, "live-token-value", *hubspot.issued)


def test_bad_settings_fail_before_anything_is_applied(kubeconfig, api, hubspot):
    namespace = new_namespace(api)
    run = run_role(kubeconfig, role_vars(hubspot, namespace, token_refresh_schedule="*/23 * * *",
                                         token_refresh_image="python:latest",
                                         token_refresh_allow_insecure_token_url=False))
    assert run.rc != 0
    message = task(run, "Check the token refresh settings")["msg"]
    assert "token_refresh_schedule must be a cron schedule of 5 fields" in message and '(got "*/23 * * *")' in message
    assert 'token_refresh_image must be pinned to a tag other than latest or a sha256 digest (got "python:latest")' in message
    assert 'http:// only with token_refresh_allow_insecure_token_url: true (got "http://127.0.0.1:' in message
    # Only the three failing settings are named.
    assert message.count("; ") == 2, message
    assert ours(api, namespace) == {}
