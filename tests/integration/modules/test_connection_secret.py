"""connection_secret through ansible-playbook against the real control plane (kube-apiserver, etcd)."""

import base64
import secrets
import uuid

import pytest

from modules_playbook import run_playbook


@pytest.fixture
def source(core):
    """A namespace with the Secret a database chart would have generated."""
    import kubernetes

    ns = "cs-" + uuid.uuid4().hex[:8]
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    password = "Pw-" + secrets.token_urlsafe(18)
    core.create_namespaced_secret(ns, kubernetes.client.V1Secret(api_version="v1", kind="Secret",
        metadata=kubernetes.client.V1ObjectMeta(name="mssql-mssqlserver-2022"),
        string_data={"sa-password": password, "other": "x"}))
    return ns, password


def compose(ns, name="mcp-mssql-connection", **overrides):
    args = {"name": name, "namespace": ns,
            "string_data": {"MSSQL_HOST": "mssql.%s.svc.cluster.local" % ns, "MSSQL_USER": "mcp_app", "MSSQL_PORT": 1433},
            "from_secrets": [{"secret": "mssql-mssqlserver-2022", "key": "sa-password", "as": "MSSQL_PASSWORD"}],
            "labels": {"app.kubernetes.io/part-of": "mcp-gateway"}}
    args.update(overrides)
    return args


def values(secret):
    return dict((k, base64.b64decode(v).decode()) for k, v in (secret.data or {}).items())


def writes(cluster, ns, offset):
    """(verb, name) of every write to a Secret of ``ns`` since ``offset``, from the API server's audit log."""
    return [(e["verb"], e["objectRef"].get("name")) for e in cluster.audit_events(since=offset)
            if e["verb"] in ("create", "update", "patch", "delete")
            and (e.get("objectRef") or {}).get("resource") == "secrets" and e["objectRef"].get("namespace") == ns]


def test_compose_idempotent_check_and_diff(kubeconfig, core, source, cluster):
    ns, password = source
    offset = cluster.audit_offset()
    run = run_playbook([
        {"name": "create", "mcp_gateway.platform.connection_secret": compose(ns)},
        {"name": "again", "mcp_gateway.platform.connection_secret": compose(ns)},
    ], kubeconfig=kubeconfig, diff=True, verbosity=3)
    assert run.rc == 0, run.output[-2000:]
    create, again = run["create"], run["again"]
    assert create["changed"] and create["changed_keys"] == ["MSSQL_HOST", "MSSQL_PASSWORD", "MSSQL_PORT", "MSSQL_USER"]
    assert create["secret"] == {"name": "mcp-mssql-connection", "namespace": ns, "type": "Opaque",
                                "data_keys": ["MSSQL_HOST", "MSSQL_PASSWORD", "MSSQL_PORT", "MSSQL_USER"]}
    assert set(create["diff"]["after"]["data"]) == set(create["changed_keys"])
    assert again["changed"] is False and again["changed_keys"] == []
    secret = core.read_namespaced_secret("mcp-mssql-connection", ns)
    assert values(secret) == {"MSSQL_HOST": "mssql.%s.svc.cluster.local" % ns, "MSSQL_USER": "mcp_app",
                              "MSSQL_PORT": "1433", "MSSQL_PASSWORD": password}
    assert secret.metadata.labels == {"app.kubernetes.io/part-of": "mcp-gateway"}
    run.assert_no_secret(password)
    assert writes(cluster, ns, offset) == [("create", "mcp-mssql-connection")]  # "again" wrote nothing

    # a changed literal, a removed key, in check mode: reported, not written
    changed = compose(ns, string_data={"MSSQL_HOST": "elsewhere", "MSSQL_USER": "mcp_app"})
    rv = secret.metadata.resource_version
    offset = cluster.audit_offset()
    check = run_playbook([{"name": "check", "mcp_gateway.platform.connection_secret": changed}],
                         kubeconfig=kubeconfig, check=True, diff=True)["check"]
    assert check["changed"] and check["changed_keys"] == ["MSSQL_HOST", "MSSQL_PORT"]
    assert check["diff"]["before"]["data"]["MSSQL_HOST"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert check["diff"]["after"]["data"]["MSSQL_HOST"].endswith("(changed)")
    assert "MSSQL_PORT" not in check["diff"]["after"]["data"]
    assert core.read_namespaced_secret("mcp-mssql-connection", ns).metadata.resource_version == rv
    assert writes(cluster, ns, offset) == []

    # the same change for real
    real = run_playbook([{"name": "apply", "mcp_gateway.platform.connection_secret": changed}], kubeconfig=kubeconfig)
    assert real["apply"]["changed"]
    assert values(core.read_namespaced_secret("mcp-mssql-connection", ns)) == {
        "MSSQL_HOST": "elsewhere", "MSSQL_USER": "mcp_app", "MSSQL_PASSWORD": password}


def test_missing_sources_fail_before_writing(kubeconfig, core, source, cluster):
    ns, password = source
    offset = cluster.audit_offset()
    run = run_playbook([
        {"name": "no secret", "ignore_errors": True, "mcp_gateway.platform.connection_secret": compose(
            ns, from_secrets=[{"secret": "absent", "key": "password"}])},
        {"name": "no key", "ignore_errors": True, "mcp_gateway.platform.connection_secret": compose(
            ns, from_secrets=[{"secret": "mssql-mssqlserver-2022", "key": "password"}])},
        {"name": "clash", "ignore_errors": True, "mcp_gateway.platform.connection_secret": compose(
            ns, from_secrets=[{"secret": "mssql-mssqlserver-2022", "key": "sa-password", "as": "MSSQL_USER"}])},
    ], kubeconfig=kubeconfig, verbosity=3)
    assert run["no secret"]["failed"]
    assert run["no secret"]["msg"] == "Source Secret %s/absent not found (wanted key password); nothing written" % ns
    assert run["no key"]["failed"] and "has no text key password (it has: other, sa-password)" in run["no key"]["msg"]
    assert run["clash"]["failed"] and "MSSQL_USER is requested twice" in run["clash"]["msg"]
    assert [s.metadata.name for s in core.list_namespaced_secret(ns).items
            if s.metadata.name == "mcp-mssql-connection"] == []
    assert writes(cluster, ns, offset) == []
    run.assert_no_secret(password)
