"""No credential in any output: a sweep with sentinel values, on one fresh real control plane.

Every credential the collection handles gets a distinct value, random per run: the HubSpot client secret
and refresh token (``SENTINEL-...`` values given as inventory variables), the HubSpot access tokens (issued
by the HubSpot double, tests/peers/hubspot_server.py, to the deploy-time refresh and to the CronJob's
refresher), the Azure AD client secret (``SENTINEL-...``, registered with the Azure AD double,
tests/peers/oidc_authority.py, from which verify's probe obtains a token; the tokens it issues are swept
too), verify_bearer_token (``SENTINEL-...``, a second verify run) and the SQL Server sa password (the
chart generates it: no variable takes one; the sweep reads the generated value from the chart's Secret).
Then site.yml -vvv, site.yml --check --diff -vvv, site.yml --diff (a re-run, with the ansible.posix.json
callback: every task's result as JSON), verify.yml -vvv twice (its probe against the MCP double,
tests/peers/mcp_server.py, with the Azure AD token, then with verify_bearer_token), the refresher program
as the CronJob's container runs it, and teardown.yml -vvv; every byte of their stdout and stderr is kept.

Each sentinel is searched raw, base64-encoded and JSON-escaped in: all that output; the real API server's
audit log (Metadata level: no bodies, checked anyway); every Event; every object of every listable kind
in every namespace (annotations, last-applied-configuration and managedFields included), before the
teardown; `helm get values --all` of every release; the decoded payload of every helm release Secret
(values and manifest). The only places allowed to hold a value are the data of the Secrets that must
(ALLOWED) and, for the SQL Server password, the chart's own Secret inside the mssql release's manifest
(helm stores what it rendered). The test fails listing every hit: where, which sentinel, which form.
"""

import base64
import gzip
import json
import os
import secrets
import subprocess
import sys
import sysconfig
import urllib.parse

import pytest
import yaml

from integration.test_site import NS, ROOT
from peers.hubspot_server import HubSpotServer
from peers.mcp_server import McpTestServer
from peers.oidc_authority import OidcAuthority

# One converge and six runs in the module fixture: longer than pytest.ini's 600 s per test.
pytestmark = pytest.mark.timeout(1800)

MSSQL_SECRET, MSSQL_KEY = "mssql-mssqlserver-2022-secret", "sapassword"
CREDENTIALS, TOKEN = "hubspot-oauth-credentials", "hubspot-access-token"
# (Secret, key) -> the credentials its data must hold; nowhere else may they be.
ALLOWED = {(CREDENTIALS, "client_secret"): "hubspot-client-secret", (CREDENTIALS, "refresh_token"): "hubspot-refresh-token",
           (TOKEN, "access_token"): "hubspot-access-token", (MSSQL_SECRET, MSSQL_KEY): "mssql-sa-password",
           ("mcp-mssql-connection", "password"): "mssql-sa-password"}


def sentinel(name):
    return "SENTINEL-%s-%s" % (name, secrets.token_hex(12))


def forms(value):
    """The forms a value can take in text: raw, standard base64, JSON-escaped."""
    return {"raw": value, "base64": base64.b64encode(value.encode()).decode(), "json": json.dumps(value)[1:-1]}


class Sweep:
    """The credentials ({label: [values]}) and the text collected from each place ({place: text})."""

    def __init__(self):
        self.values, self.places = {}, {}

    def add(self, label, value):
        self.values.setdefault(label, [])
        if value and value not in self.values[label]:
            self.values[label].append(value)

    def collect(self, place, text):
        self.places[place] = self.places.get(place, "") + text

    def hits(self):
        return [(place, label, form) for place, text in self.places.items() for label, values in self.values.items()
                for value in values for form, shown in forms(value).items() if shown in text]


def run(cluster, name, *extra, env=None):
    """ansible-playbook with the default callback: (exit code, every byte of stdout and stderr)."""
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inventories/local",
                           f"playbooks/{name}.yml", *extra], cwd=ROOT, capture_output=True, text=True, timeout=1500,
                          env=dict(cluster.env, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                                   ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                                   ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([os.path.join(ROOT, ".collections"),
                                                                            sysconfig.get_paths()["purelib"]]),
                                   **(env or {})))
    return proc.returncode, proc.stdout + proc.stderr


def secret_data(cluster, name):
    found = cluster.get("secret", name, "-n", NS)
    return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}


def without_allowed_data(obj):
    """The object, with the data of the allowed keys of the allowed Secrets removed."""
    if obj.get("kind") == "Secret" and obj["metadata"].get("namespace") == NS:
        obj = dict(obj, data={k: v for k, v in (obj.get("data") or {}).items()
                              if (obj["metadata"]["name"], k) not in ALLOWED})
    return obj


def release_payloads(cluster):
    """{release secret name: (values JSON, manifest)} of every helm release record (gzip + base64 twice)."""
    out = {}
    for secret in cluster.get("secrets", "-A", "-l", "owner=helm")["items"]:
        record = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
        out[secret["metadata"]["namespace"] + "/" + secret["metadata"]["name"]] = (
            json.dumps(record.get("config") or {}) + json.dumps(record.get("chart", {}).get("values") or {}),
            record.get("manifest", ""))
    return out


def manifest_without_chart_secret(manifest):
    """The release manifest without the chart's own sa-password Secret (the one allowed holder)."""
    documents = [d for d in yaml.safe_load_all(manifest) if d]
    return json.dumps([d for d in documents if not (d.get("kind") == "Secret" and d["metadata"]["name"] == MSSQL_SECRET)])


def everything(cluster):
    """Every object of every listable kind, in every namespace, as JSON text (Secrets' allowed data removed)."""
    kinds = cluster.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    items = []
    for kind in kinds:
        if kind in ("events", "events.events.k8s.io"):
            continue  # collected on their own
        got = cluster.kubectl("get", kind, "-A", "-o", "json", "--show-managed-fields", check=False)
        if got.returncode == 0:
            items += [without_allowed_data(o) for o in json.loads(got.stdout)["items"]]
    return items


def run_refresher(cluster, workdir):
    """The CronJob's container as its Pod would run it, as a host process (no container runs under KWOK): the
    ConfigMap's files at the mount path, the pod template's env (Secret keys resolved), a TokenRequest token of
    its ServiceAccount, the cluster CA, KUBERNETES_SERVICE_HOST/PORT at the real API server."""
    spec = cluster.get("cronjob", "hubspot-token-cronjob", "-n", NS)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "program")["mountPath"]
    configmap = next(v for v in spec["volumes"] if v["name"] == "program")["configMap"]["name"]
    program, sa_dir = workdir / "program", workdir / "serviceaccount"
    program.mkdir()
    sa_dir.mkdir()
    for name, content in cluster.get("configmap", configmap, "-n", NS)["data"].items():
        (program / name).write_text(content)
    (sa_dir / "token").write_text(cluster.token(spec["serviceAccountName"], NS, duration="10m"))
    (sa_dir / "ca.crt").write_bytes(cluster.ca_file.read_bytes())
    (sa_dir / "namespace").write_text(NS)
    env = {"PATH": "/usr/bin:/bin", "KUBERNETES_SERVICE_HOST": "127.0.0.1", "SERVICEACCOUNT_DIR": str(sa_dir),
           "KUBERNETES_SERVICE_PORT": str(urllib.parse.urlsplit(cluster.server).port)}
    for item in container["env"]:
        source = item.get("valueFrom", {})
        if "secretKeyRef" in source:
            env[item["name"]] = secret_data(cluster, source["secretKeyRef"]["name"])[source["secretKeyRef"]["key"]]
        else:
            env[item["name"]] = NS if "fieldRef" in source else item["value"].replace(mount, str(program))
    command = [arg.replace(mount, str(program)) for arg in container["command"][1:]]
    proc = subprocess.run([sys.executable, "-S", *command], env=env, capture_output=True, text=True, timeout=180,
                          cwd=str(workdir))
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def swept(cluster, tmp_path_factory):
    with open(os.path.join(ROOT, "tests", "demo-vars.yml"), encoding="utf-8") as handle:
        demo = yaml.safe_load(handle)
    sweep = Sweep()
    client_secret, refresh_token = sentinel("hubspot-client-secret"), sentinel("hubspot-refresh-token")
    azure_secret = sentinel("azure-ad-client-secret")
    bearer = sentinel("verify-bearer-token")
    hubspot = HubSpotServer(client_id="sentinel-client-id", client_secret=client_secret, refresh_token=refresh_token)
    authority = OidcAuthority(tenant_id=demo["auth_policy_tenant_id"], client_id=demo["auth_policy_client_id"],
                              client_secret=azure_secret)
    outcomes = {}
    with hubspot, authority, McpTestServer(authority=authority, name="mcp-example", version="1.0.0") as mcp:
        vars_file = tmp_path_factory.mktemp("sweep") / "vars.json"
        vars_file.write_text(json.dumps(dict(
            authority.collection_vars(), token_refresh_client_id=hubspot.client_id,
            token_refresh_client_secret=client_secret, token_refresh_refresh_token=refresh_token,
            token_refresh_token_url=hubspot.url, token_refresh_allow_insecure_token_url=True,
            token_refresh_initial_refresh=True)))
        common = ("-e", "@tests/demo-vars.yml", "-e", f"@{vars_file}")
        verify_vars = json.dumps({
            "verify_gateway_url": mcp.url[: -len("/mcp")], "verify_azure_client_id": authority.client_id,
            "verify_azure_client_secret": azure_secret, "verify_azure_authority": authority.authority,
            "verify_azure_validate_authority": False, "verify_azure_ca_path": authority.ca_file,
            "verify_azure_scopes": ["api://%s/.default" % authority.client_id],
            # The MCP double serves /mcp: verify probes mcp-example there.
            "mcp_server_servers": [{"name": "mcp-example", "image": "ghcr.io/mcp-gateway/mcp-example:1.0.0",
                                    "path": "/mcp"}]})
        # The re-run with --diff uses the ansible.posix.json callback: every task's result, as JSON.
        for label, args, env in (("site -vvv", ("site", *common, "-vvv"), None),
                                 ("site --check --diff -vvv", ("site", *common, "--check", "--diff", "-vvv"), None),
                                 ("site --diff (ansible.posix.json)", ("site", *common, "--diff"),
                                  {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})):
            outcomes[label] = run(cluster, *args, env=env)
            sweep.collect("output of " + label, outcomes[label][1])
        outcomes["verify -vvv"] = run(cluster, "verify", *common, "-e", verify_vars, "-vvv")
        sweep.collect("output of verify -vvv", outcomes["verify -vvv"][1])
        # verify_bearer_token, the other way to give the probe a credential (a double that takes any token).
        with McpTestServer(name="mcp-example", version="1.0.0") as open_mcp:
            bearer_vars = json.dumps(dict(json.loads(verify_vars), verify_gateway_url=open_mcp.url[: -len("/mcp")],
                                          verify_bearer_token=bearer, verify_azure_client_id="",
                                          verify_azure_client_secret=""))
            outcomes["verify -vvv (verify_bearer_token)"] = run(cluster, "verify", *common, "-e", bearer_vars, "-vvv")
        sweep.collect("output of verify -vvv (verify_bearer_token)", outcomes["verify -vvv (verify_bearer_token)"][1])
        outcomes["refresher"] = run_refresher(cluster, tmp_path_factory.mktemp("refresher"))
        sweep.collect("output of the refresher", outcomes["refresher"][1])

        password = secret_data(cluster, MSSQL_SECRET)[MSSQL_KEY]
        sweep.add("mssql-sa-password", password)
        sweep.collect("objects (all kinds, all namespaces)", json.dumps(everything(cluster)))
        for release in subprocess.run(["helm", "list", "-A", "-q"], env=cluster.env, capture_output=True, text=True,
                                      check=True).stdout.split():
            values = subprocess.run(["helm", "get", "values", "--all", "-n", NS, release, "-o", "json"],
                                    env=cluster.env, capture_output=True, text=True, check=True).stdout
            sweep.collect(f"helm get values --all {release}", values)
        for name, (values, manifest) in release_payloads(cluster).items():
            sweep.collect(f"helm release record {name} (values)", values)
            sweep.collect(f"helm release record {name} (manifest, except the chart's {MSSQL_SECRET})",
                          manifest_without_chart_secret(manifest))
        token = secret_data(cluster, TOKEN).get("access_token", "")
        # Positive controls: the allowed holders, as stored (the search must find each value there).
        sweep.holders = json.dumps(cluster.get("secrets", "-n", NS)) + "".join(
            manifest for _values, manifest in release_payloads(cluster).values())
        sweep.collect("events (all namespaces, before the teardown)", json.dumps(cluster.get("events", "-A")))

        outcomes["teardown -vvv"] = run(cluster, "teardown", *common, "-e", "teardown_delete_data=true",
                                        "-e", "teardown_delete_crds=true", "-vvv")
        sweep.collect("output of teardown -vvv", outcomes["teardown -vvv"][1])
        sweep.collect("events (all namespaces, after the teardown)", json.dumps(cluster.get("events", "-A")))
        sweep.collect("audit log", cluster.audit_log.read_text(errors="replace"))
        for label, value in (("hubspot-client-secret", client_secret), ("hubspot-refresh-token", refresh_token),
                             ("azure-ad-client-secret", azure_secret), ("verify-bearer-token", bearer)):
            sweep.add(label, value)
        for issued in hubspot.issued:
            sweep.add("hubspot-access-token", issued)
        for issued in authority.issued:
            sweep.add("azure-ad-access-token", issued)
        sweep.token, sweep.outcomes = token, outcomes
    return sweep


def test_every_run_succeeded_and_every_credential_was_used(swept):
    assert {label: rc for label, (rc, _output) in swept.outcomes.items() if rc != 0} == {}, {
        label: output[-3000:] for label, (rc, output) in swept.outcomes.items() if rc != 0}
    # The sweep is only worth something if each credential really went through the product.
    assert len(swept.values["hubspot-access-token"]) >= 2  # deploy-time refresh and the refresher's
    assert swept.token == swept.values["hubspot-access-token"][-1]  # the refresher's token is in its Secret
    assert swept.values["azure-ad-access-token"], "verify's probe obtained no Azure AD token"
    # The search finds what is there: each value the cluster must hold is found, base64-encoded, in its
    # Secrets (and the sa password in the mssql release's manifest, decoded from helm's record).
    for label in ("hubspot-client-secret", "hubspot-refresh-token", "hubspot-access-token", "mssql-sa-password"):
        assert forms(swept.values[label][-1])["base64"] in swept.holders, label


def test_no_credential_outside_the_secrets_that_must_hold_it(swept):
    hits = swept.hits()
    sentinels = sum(len(v) for v in swept.values.values())
    print("\nsecret sweep: %d values of %d credentials x %d places x 3 forms, %.1f MB searched: %d hits"
          % (sentinels, len(swept.values), len(swept.places), sum(map(len, swept.places.values())) / 1e6, len(hits)))
    for place, text in swept.places.items():
        print("  %-70s %10d bytes" % (place, len(text)))
    assert hits == [], "credential values found outside their Secrets:\n" + "\n".join(
        "  %s: %s (%s)" % hit for hit in hits)
