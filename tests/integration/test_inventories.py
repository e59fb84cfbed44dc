"""The shipped inventories parse and resolve their key variables; site.yml passes --syntax-check
against the example inventory."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VENV_BIN = os.path.dirname(sys.executable)
SITE_ROLES = ("tooling", "namespace", "mssql", "gateway_api_crds", "agentgateway_crds", "control_plane",
              "gateway", "mcp_server", "token_refresh", "auth_policy", "ui", "ui_port_forward", "verify")


def _env():
    # ansible.cfg finds mcp_gateway.platform under .collections/; the ansible package's collections
    # (kubernetes.core) are found in site-packages.
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def _host_vars(inventory):
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-inventory"), "-i", inventory, "--host", "localhost"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _list(inventory):
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-inventory"), "-i", inventory, "--list"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _resolve(inventory, *names):
    """Values of the variables as a play sees them (templates such as '{{ vault_x }}' rendered)."""
    expr = "{{ {%s} }}" % ", ".join("'%s': %s" % (n, n) for n in names)
    env = _env()
    env.update({"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible"), "-i", inventory, "localhost", "-m", "ansible.builtin.debug",
         "-a", "msg=" + expr],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


@pytest.mark.parametrize("inventory", ["inventories/example", "inventories/local"])
def test_inventory_lists_localhost_with_local_connection(inventory):
    listed = _list(inventory)
    hosts = listed["all"].get("hosts", []) + listed.get("ungrouped", {}).get("hosts", [])
    assert hosts == ["localhost"]
    hostvars = listed["_meta"]["hostvars"]["localhost"]
    assert hostvars["ansible_connection"] == "local"
    assert hostvars["mcp_platform_namespace"]


def test_example_inventory_resolves_vault_references():
    values = _resolve("inventories/example", "token_refresh_client_id", "token_refresh_client_secret",
                      "token_refresh_refresh_token", "auth_policy_tenant_id", "auth_policy_client_id")
    assert values["token_refresh_client_id"] == "CHANGE-ME-hubspot-client-id"
    assert values["token_refresh_client_secret"] == "CHANGE-ME-hubspot-client-secret"
    assert values["token_refresh_refresh_token"] == "CHANGE-ME-hubspot-refresh-token"
    assert values["auth_policy_tenant_id"] == "00000000-0000-0000-0000-000000000000"
    assert values["auth_policy_client_id"] == "00000000-0000-0000-0000-000000000000"


def test_example_inventory_key_settings():
    hostvars = _host_vars("inventories/example")
    assert hostvars["mcp_platform_namespace"] == "mcp-platform"
    # No context pinned: AWX's bearer-token credential (K8S_AUTH_*) or the current context applies.
    assert "mcp_platform_context" not in hostvars
    assert hostvars["mssql_accept_eula"] is False  # accepting the EULA stays an explicit decision
    assert hostvars["ui_port_forward_enabled"] is False
    assert "verify_gateway_url" in hostvars
    # The MCP servers are the role's defaults (real, pinned: tests/integration/test_default_images.py); the UI
    # image is the user's to name (none is published).
    assert "mcp_server_servers" not in hostvars and "ui_image" not in hostvars
    # Every vault_* variable is referenced from main.yml, and holds only a placeholder.
    vault_vars = {k: v for k, v in hostvars.items() if k.startswith("vault_")}
    assert vault_vars
    with open(os.path.join(ROOT, "inventories/example/group_vars/all/main.yml")) as handle:
        main = handle.read()
    for name, value in vault_vars.items():
        assert "{{ %s }}" % name in main, name
        assert value.startswith("CHANGE-ME") or set(value) <= set("0-"), name


def test_example_inventory_sets_only_variables_roles_read():
    hostvars = _host_vars("inventories/example")
    known = set()
    for role in SITE_ROLES:
        path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
        if os.path.exists(path):
            with open(path) as handle:
                known.update(line.split(":", 1)[0] for line in handle if line[:1].isalpha() and ":" in line)
    shared = {"mcp_platform_namespace", "mcp_platform_gateway_name", "mcp_platform_context", "mcp_platform_kubeconfig"}
    unknown = sorted(k for k in hostvars if not k.startswith(("ansible_", "vault_")) and k not in known | shared)
    assert unknown == []


@pytest.mark.skipif(not all(os.path.isdir(os.path.join(ROOT, "roles", r, "tasks")) for r in SITE_ROLES),
                    reason="a role of playbooks/site.yml has no tasks/ yet (being written)")
def test_site_playbook_syntax_with_example_inventory():
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "inventories/example",
                           "playbooks/site.yml", "--syntax-check"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _validate_only(*extra):
    # A tag no task has: only site.yml's validation play (tagged always) runs; it reads no cluster.
    return subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "inventories/example",
                           "playbooks/site.yml", "--tags", "validation-only", *extra],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(not all(os.path.isdir(os.path.join(ROOT, "roles", r, "tasks")) for r in SITE_ROLES),
                    reason="a role of playbooks/site.yml has no tasks/ yet (being written)")
def test_example_inventory_passes_every_role_validation_once_the_eula_is_accepted_and_the_ui_image_named():
    refused = _validate_only()
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "mssql_accept_eula must be true" in refused.stdout
    no_ui = _validate_only("-e", "mssql_accept_eula=true")
    assert no_ui.returncode == 2, no_ui.stdout + no_ui.stderr
    assert "ui_image is not set: this collection ships no UI image" in no_ui.stdout
    accepted = _validate_only("-e", "mssql_accept_eula=true", "-e", "ui_image=registry.example.com/mcp-ui:1.0.0")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "failed=0" in accepted.stdout
    # The placeholder credentials are never shown.
    assert "CHANGE-ME-hubspot-client-secret" not in accepted.stdout + accepted.stderr
    assert "CHANGE-ME-hubspot-refresh-token" not in accepted.stdout + accepted.stderr


@pytest.mark.skipif(not all(os.path.isdir(os.path.join(ROOT, "roles", r, "tasks")) for r in SITE_ROLES),
                    reason="a role of playbooks/site.yml has no tasks/ yet (being written)")
def test_switches_given_as_text_as_awx_surveys_and_extra_vars_pass_them_are_read_as_booleans():
    base = ("-e", "mssql_accept_eula=true", "-e", "ui_image=registry.example.com/mcp-ui:1.0.0")
    as_text = _validate_only(*base, "-e", "gateway_metrics_enabled=false", "-e", "gateway_access_log_enabled=no",
                             "-e", "gateway_rate_limit_enabled=False")
    assert as_text.returncode == 0, as_text.stdout + as_text.stderr
    nonsense = _validate_only(*base, "-e", "gateway_metrics_enabled=maybe")
    assert nonsense.returncode == 2, nonsense.stdout + nonsense.stderr
    # The role's argument spec refuses it first, naming the variable and the value.
    assert "gateway_metrics_enabled" in nonsense.stdout and "'maybe' is not a valid boolean" in nonsense.stdout
