"""Credentials from Secrets the operator keeps (External Secrets, Vault operators): every role, on one real cluster.

The operator's Secrets are created with the real kubectl first (non-default key names, values that are random
``SENTINEL-`` strings). Then the roles run through ansible-playbook with their ``*_from_secret`` variables:

* token_refresh (HubSpot double, tests/peers/hubspot_server.py): the collection writes neither the operator's
  Secret nor a credentials Secret of its own (the API server's audit log), the CronJob's container takes each
  credential from the operator's Secret by secretKeyRef, the refresher's Role grants nothing on it, the
  deploy-time refresh and the CronJob's program (run as a host process with the Job's ServiceAccount token, as
  its container would run) authenticate with those values, and a second run changes nothing;
* mssql (the real simcube chart through the real helm): SQL Server's SA_PASSWORD references the operator's
  Secret, the release has no Secret of the chart's, the connection Secret holds the operator's password;
* verify's probe (Azure AD double, MCP double): the client secret from the operator's Secret gets the token;
* teardown.yml leaves the operator's Secrets (and teardown_keep_secrets) and deletes the collection's;
* refusals before any write (zero writes in the audit log), check mode too: a missing Secret, a missing key,
  a credential given both ways, naming the variable, the Secret, the key and the namespace.

No sentinel appears in any output (raw or base64).
"""

import base64
import json
import os
import secrets
import subprocess
import sys
import sysconfig

import pytest

from integration.modules.modules_playbook import ROOT
from integration.roles.test_token_refresh import (CRONJOB, TOKEN, Api, can_i, decoded, new_namespace,
                                                  restarted_at, run_job_pod, run_role, service_account_requests,
                                                  stats, task)
from integration.roles.test_verify import SERVERS, playbook, role_task, verify
from peers.hubspot_server import HubSpotServer
from peers.mcp_server import McpTestServer
from peers.oidc_authority import OidcAuthority

VAULT = "hubspot-from-vault"  # the operator's Secret
KEYS = {"client_id": "id", "client_secret": "secret", "refresh_token": "rt"}  # credential -> its key there
MSSQL_NS, MSSQL_SECRET, CHART_SECRET = "agentgateway-system", "sql-sa-from-vault", "mssql-mssqlserver-2022-secret"


def sentinel(what):
    return "SENTINEL-%s-%s" % (what, secrets.token_hex(12))


@pytest.fixture(scope="module")
def hubspot():
    with HubSpotServer(client_id=sentinel("client-id"), client_secret=sentinel("client-secret"),
                       refresh_token=sentinel("refresh-token")) as server:
        yield server


@pytest.fixture(scope="module")
def api(cluster):
    return Api(cluster)


def operator_secret(cluster, namespace, name, data):
    """The operator's Secret, as External Secrets would write it (here: the real kubectl)."""
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque", "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    return cluster.get("secret", name, "-n", namespace)


def secret_writes(cluster, since, namespace, names):
    """Writes by a client (not a Kubernetes component) to the named Secrets since ``since``."""
    prefix = "/api/v1/namespaces/%s/secrets/" % namespace
    return [w for w in cluster.writes(since) if any(w[1].split("?")[0] == prefix + name for name in names)]


def refs(**keys):
    """token_refresh_<credential>_from_secret for each credential given, pointing into the operator's Secret."""
    return {"token_refresh_%s_from_secret" % credential: {"name": VAULT, "key": key} for credential, key in keys.items()}


def base_vars(hubspot, namespace, **extra):
    values = {"token_refresh_namespace": namespace, "token_refresh_token_url": hubspot.url,
              "token_refresh_allow_insecure_token_url": True, "token_refresh_restart_wait_timeout": 30}
    values.update(extra)
    return values


@pytest.fixture(scope="module")
def deployed(cluster, api, hubspot):
    """The role with all three credentials from the operator's Secret: a run at -vvv --diff, then a second."""
    namespace = new_namespace(api)
    vault = operator_secret(cluster, namespace, VAULT, {KEYS["client_id"]: hubspot.client_id,
                                                        KEYS["client_secret"]: hubspot.client_secret,
                                                        KEYS["refresh_token"]: hubspot.refresh_token})
    hubspot.clear()
    since = cluster.audit_offset()
    variables = base_vars(hubspot, namespace, **refs(**KEYS))
    first = run_role(str(cluster.kubeconfig), variables, diff=True, verbosity=3)
    assert first.rc == 0, first.output[-4000:]
    issued_first = list(hubspot.issued)
    second = run_role(str(cluster.kubeconfig), variables, diff=True)
    assert second.rc == 0, second.output[-4000:]
    return {"namespace": namespace, "vault": vault, "since": since, "first": first, "second": second,
            "issued_first": issued_first, "requests": list(hubspot.requests)}


def test_the_collection_writes_neither_the_operators_secret_nor_a_copy(deployed, cluster):
    namespace = deployed["namespace"]
    assert secret_writes(cluster, deployed["since"], namespace, [VAULT, "hubspot-oauth-credentials"]) == []
    # Every Secret write of both runs: the access-token Secret's creation and the deploy-time refresh's update.
    written = [(verb, uri.split("?")[0]) for verb, uri, _agent in cluster.writes(deployed["since"]) if "/secrets" in uri]
    assert written == [("create", "/api/v1/namespaces/%s/secrets" % namespace),
                       ("update", "/api/v1/namespaces/%s/secrets/%s" % (namespace, TOKEN))], written
    names = [s["metadata"]["name"] for s in cluster.get("secrets", "-n", namespace)["items"]]
    assert sorted(names) == sorted([VAULT, TOKEN])
    after = cluster.get("secret", VAULT, "-n", namespace)
    assert after["metadata"]["resourceVersion"] == deployed["vault"]["metadata"]["resourceVersion"]


def test_the_cronjob_reads_each_credential_from_the_operators_secret(deployed, api):
    pod = api.get(deployed["namespace"], "cronjobs", CRONJOB)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    for name, credential in (("HUBSPOT_CLIENT_ID", "client_id"), ("HUBSPOT_CLIENT_SECRET", "client_secret"),
                             ("HUBSPOT_REFRESH_TOKEN", "refresh_token")):
        assert env[name]["valueFrom"] == {"secretKeyRef": {"name": VAULT, "key": KEYS[credential]}}
    assert env["HUBSPOT_REFRESH_TOKEN_SOURCE"]["value"] == "Secret %s key rt" % VAULT


def test_the_refreshers_role_grants_nothing_on_the_operators_secret(deployed, api, cluster):
    namespace = deployed["namespace"]
    assert api.get(namespace, "roles", "hubspot-token-refresher")["rules"][0] == {
        "apiGroups": [""], "resources": ["secrets"], "resourceNames": [TOKEN], "verbs": ["get", "update"]}
    assert not can_i(cluster, namespace, "get", "secrets/" + VAULT)
    assert can_i(cluster, namespace, "get", "secrets/" + TOKEN)


def test_the_deploy_time_refresh_used_the_operators_values_and_a_rerun_changes_nothing(deployed, api):
    # The double answers 200 only to its own client id, client secret and refresh token: those of the Secret.
    assert [r["status"] for r in deployed["requests"]] == [200]
    assert decoded(api.get(deployed["namespace"], "secrets", TOKEN)) == {"access_token": deployed["issued_first"][0]}
    assert task(deployed["first"], "Refresh the HubSpot access token if needed")["censored"]
    assert task(deployed["first"], "Write the credentials Secret hubspot-oauth-credentials").get("skipped")
    second = deployed["second"]
    assert stats(second)["changed"] == 0, [name for name, r in second.results.items() if r.get("changed")]


def test_the_cronjobs_program_reads_them_and_refreshes(deployed, api, cluster, hubspot, tmp_path):
    namespace, name = deployed["namespace"], "manual-refresh"
    cluster.kubectl("-n", namespace, "create", "job", "--from=cronjob/" + CRONJOB, name)
    before = restarted_at(api, namespace)
    since = cluster.audit_offset()
    proc = run_job_pod(cluster, api, namespace, api.get(namespace, "jobs", name), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert decoded(api.get(namespace, "secrets", TOKEN)) == {"access_token": hubspot.issued[-1]}
    assert hubspot.issued[-1] not in deployed["issued_first"]
    assert restarted_at(api, namespace) != before
    # Only the token Secret and the workload, through the API; the credentials came in by secretKeyRef.
    assert service_account_requests(cluster, since, namespace) == [
        ("get", "secrets", TOKEN, 200), ("update", "secrets", TOKEN, 200), ("patch", "statefulsets", "hubspot-mcp", 200)]
    for value in (hubspot.client_id, hubspot.client_secret, hubspot.refresh_token, hubspot.issued[-1]):
        assert value not in proc.stdout + proc.stderr
    assert secret_writes(cluster, since, namespace, [VAULT]) == []


def test_no_sentinel_in_the_output(deployed, hubspot):
    for run in (deployed["first"], deployed["second"]):
        run.assert_no_secret(hubspot.client_id, hubspot.client_secret, hubspot.refresh_token, *hubspot.issued)


def test_a_mix_writes_only_the_credentials_given_by_variables(cluster, api, hubspot):
    namespace = new_namespace(api)
    operator_secret(cluster, namespace, VAULT, {"rt": hubspot.refresh_token})
    hubspot.clear()
    run = run_role(str(cluster.kubeconfig), base_vars(
        hubspot, namespace, token_refresh_client_id=hubspot.client_id, token_refresh_client_secret=hubspot.client_secret,
        token_refresh_restart_wait=False, **refs(refresh_token="rt")))
    assert run.rc == 0, run.output[-3000:]
    assert sorted(decoded(api.get(namespace, "secrets", "hubspot-oauth-credentials"))) == ["client_id", "client_secret"]
    pod = api.get(namespace, "cronjobs", CRONJOB)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in pod["containers"][0]["env"]}
    assert env["HUBSPOT_CLIENT_ID"] == {"name": "hubspot-oauth-credentials", "key": "client_id"}
    assert env["HUBSPOT_REFRESH_TOKEN"] == {"name": VAULT, "key": "rt"}
    assert [r["status"] for r in hubspot.requests] == [200]
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token, *hubspot.issued)


def test_teardown_deletes_the_collections_secrets_and_keeps_the_operators(cluster, api, hubspot):
    """playbooks/teardown.yml given the site's *_from_secret variables: the operator's Secret and one named in
    teardown_keep_secrets stay, with their data; the Secrets the collection wrote and another one go."""
    namespace = new_namespace(api)
    vault = operator_secret(cluster, namespace, VAULT, {"rt": hubspot.refresh_token})
    by_hand = operator_secret(cluster, namespace, "kept-by-hand", {"k": "v"})
    operator_secret(cluster, namespace, "not-kept", {"k": "v"})
    hubspot.clear()
    variables = base_vars(hubspot, namespace, token_refresh_client_id=hubspot.client_id,
                          token_refresh_client_secret=hubspot.client_secret, token_refresh_restart_wait=False,
                          **refs(refresh_token="rt"))
    assert run_role(str(cluster.kubeconfig), variables).rc == 0
    down = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "playbooks/teardown.yml", "-e", json.dumps(dict(
                               refs(refresh_token="rt"), mcp_platform_namespace=namespace,
                               mcp_platform_kubeconfig=str(cluster.kubeconfig), teardown_keep_secrets=["kept-by-hand"]))],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(
                              cluster.env, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                              ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([os.path.join(ROOT, ".collections"),
                                                                        sysconfig.get_paths()["purelib"]])))
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]
    assert hubspot.refresh_token not in down.stdout + down.stderr
    left = {s["metadata"]["name"]: s for s in cluster.get("secrets", "-n", namespace)["items"]}
    assert sorted(left) == [VAULT, "kept-by-hand"]
    assert left[VAULT]["data"] == vault["data"] and left["kept-by-hand"]["data"] == by_hand["data"]
    assert cluster.get("cronjobs", "-n", namespace)["items"] == []


def failed_message(run):
    failed = [r for r in run.results.values() if r.get("failed")]
    assert run.rc != 0 and failed, run.output[-3000:]
    return failed[0]["msg"]


@pytest.mark.parametrize("check", [True, False], ids=["check-mode", "run"])
def test_a_missing_secret_or_key_is_refused_before_any_write(cluster, api, hubspot, check):
    namespace = new_namespace(api)
    operator_secret(cluster, namespace, VAULT, {"id": hubspot.client_id, "secret": hubspot.client_secret})
    hubspot.clear()
    since = cluster.audit_offset()
    run = run_role(str(cluster.kubeconfig), base_vars(hubspot, namespace, **refs(client_id="id", client_secret="nope"),
                                                      token_refresh_refresh_token_from_secret={"name": "absent", "key": "rt"}),
                   check=check)
    message = failed_message(run)
    assert ("token_refresh_client_secret_from_secret: Secret %s/%s has no key nope (it has: id, secret)"
            % (namespace, VAULT)) in message
    assert ("token_refresh_refresh_token_from_secret: Secret %s/absent not found (wanted key rt)" % namespace) in message
    assert "client_id_from_secret" not in message and message.endswith("Nothing was changed.")
    assert cluster.writes(since) == []
    assert hubspot.requests == []
    run.assert_no_secret(hubspot.client_id, hubspot.client_secret)


def test_a_credential_given_both_ways_is_refused(cluster, api, hubspot):
    namespace = new_namespace(api)
    operator_secret(cluster, namespace, VAULT, {"secret": hubspot.client_secret})
    since = cluster.audit_offset()
    run = run_role(str(cluster.kubeconfig), base_vars(
        hubspot, namespace, token_refresh_client_id=hubspot.client_id, token_refresh_client_secret=hubspot.client_secret,
        token_refresh_refresh_token=hubspot.refresh_token, **refs(client_secret="secret"),
        token_refresh_refresh_token_from_secret={"name": "Bad_Name", "key": "rt"}))
    message = failed_message(run)
    assert "token_refresh_client_secret and token_refresh_client_secret_from_secret are both set" in message
    assert 'token_refresh_refresh_token_from_secret.name must be a Secret name, a lowercase DNS name (got "Bad_Name")' in message
    assert cluster.writes(since) == []
    run.assert_no_secret(hubspot.client_secret, hubspot.refresh_token)


@pytest.fixture(scope="module")
def mssql_installed(cluster):
    cluster.kubectl("create", "namespace", MSSQL_NS)
    password = sentinel("sa") + "aA1!"
    vault = operator_secret(cluster, MSSQL_NS, MSSQL_SECRET, {"password": password})
    since = cluster.audit_offset()
    variables = {"mssql_sa_password_from_secret": {"name": MSSQL_SECRET, "key": "password"}}
    first = playbook(cluster, [role_task("namespace"), role_task("mssql", **variables)], timeout=600, diff=True)
    assert first.rc == 0, first.output[-3000:]
    second = playbook(cluster, [role_task("mssql", **variables)], timeout=600)
    assert second.rc == 0, second.output[-3000:]
    return {"password": password, "vault": vault, "since": since, "runs": (first, second)}


def test_sql_server_reads_the_sa_password_from_the_operators_secret(mssql_installed, cluster):
    deployment = cluster.get("deployment", "mssql-mssqlserver-2022", "-n", MSSQL_NS)
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SA_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": MSSQL_SECRET, "key": "password"}}
    names = [s["metadata"]["name"] for s in cluster.get("secrets", "-n", MSSQL_NS)["items"]]
    assert CHART_SECRET not in names  # the chart's Secret is left out of the release
    manifest = subprocess.run(["helm", "get", "manifest", "mssql", "-n", MSSQL_NS, "--kubeconfig", str(cluster.kubeconfig)],
                              capture_output=True, text=True, env=cluster.env, check=True).stdout
    assert "kind: Secret" not in manifest and MSSQL_SECRET in manifest
    connection = decoded(cluster.get("secret", "mcp-mssql-connection", "-n", MSSQL_NS))
    assert connection["password"] == mssql_installed["password"]
    assert secret_writes(cluster, mssql_installed["since"], MSSQL_NS, [MSSQL_SECRET]) == []
    after = cluster.get("secret", MSSQL_SECRET, "-n", MSSQL_NS)
    assert after["metadata"]["resourceVersion"] == mssql_installed["vault"]["metadata"]["resourceVersion"]
    second = mssql_installed["runs"][1]
    assert stats(second)["changed"] == 0, [name for name, r in second.results.items() if r.get("changed")]
    for run in mssql_installed["runs"]:
        run.assert_no_secret(mssql_installed["password"])


def test_mssql_refuses_a_missing_secret_and_the_password_given_both_ways(cluster):
    since = cluster.audit_offset()
    missing = playbook(cluster, [role_task("mssql", mssql_namespace="mssql-nowhere",
                                           mssql_sa_password_from_secret={"name": MSSQL_SECRET, "key": "password"})])
    assert ("mssql_sa_password_from_secret: Secret mssql-nowhere/%s not found (wanted key password)" % MSSQL_SECRET
            in failed_message(missing))
    both = playbook(cluster, [role_task("mssql", mssql_values={"sapassword": "Given-Twice-1"},
                                        mssql_sa_password_from_secret={"name": MSSQL_SECRET, "key": "password"})],
                    check=True)
    assert "mssql_values.sapassword and mssql_sa_password_from_secret are both set" in failed_message(both)
    assert cluster.writes(since) == []


def test_verify_takes_the_azure_client_secret_from_the_operators_secret(cluster, api):
    namespace = new_namespace(api, with_statefulset=False)
    with OidcAuthority(client_secret=sentinel("azure")) as authority, McpTestServer(authority=authority) as server:
        operator_secret(cluster, namespace, "azure-probe-from-vault", {"client-secret": authority.client_secret})
        common = dict(probe_only=True, mcp_server_servers=SERVERS[:1], verify_gateway_url=server.url[: -len("/mcp")],
                      verify_namespace=namespace, verify_azure_tenant_id=authority.tenant_id,
                      verify_azure_client_id=authority.client_id, verify_azure_authority=authority.authority,
                      verify_azure_validate_authority=False, verify_azure_ca_path=authority.ca_file,
                      verify_azure_scopes=["api://%s/.default" % authority.client_id])
        since = cluster.audit_offset()
        run = verify(cluster, verbosity=3, verify_azure_client_secret_from_secret={
            "name": "azure-probe-from-vault", "key": "client-secret"}, **common)
        assert run.rc == 0, run.output[-3000:]
        assert [r["status"] for r in authority.requests if r["path"].endswith("/token")] == [200]
        missing = verify(cluster, verify_azure_client_secret_from_secret={
            "name": "azure-probe-from-vault", "key": "secret"}, **common)
        both = verify(cluster, verify_azure_client_secret="given-twice", verify_azure_client_secret_from_secret={
            "name": "azure-probe-from-vault", "key": "client-secret"}, **common)
        assert cluster.writes(since) == []
        for output in (run, missing, both):
            output.assert_no_secret(authority.client_secret, *authority.issued)
    assert ("verify_azure_client_secret_from_secret: Secret %s/azure-probe-from-vault has no key secret "
            "(it has: client-secret)" % namespace) in failed_message(missing)
    assert "verify_azure_client_secret and verify_azure_client_secret_from_secret are both set" in failed_message(both)
