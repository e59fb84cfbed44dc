"""What site.yml costs on the real test cluster, next to the seed's way of applying the same objects.

One run, in alternating rounds on fresh clusters (tests/cluster: real etcd, kube-apiserver,
controller-manager, scheduler, KWOK, the real agentgateway controller; the Azure AD double for the JWKS):

* site: a fresh converge of ``playbooks/site.yml`` (tests/demo-vars.yml, as ``make demo``), a no-op
  re-run, ``--check`` on the converged cluster and ``playbooks/verify.yml``;
* baseline: the seed's way on another fresh cluster: a shell script generated from the converged
  cluster that applies the very objects the site created, in the order the API server's audit log
  recorded their creation, one ``kubectl apply -f`` per object, ``helm install --wait`` per release, and
  the seed's waits (``kubectl rollout status`` per workload, ``kubectl wait`` for CRDs Established and
  the Gateway Programmed). Both sides do the same work against the same API.

From the audit log of the no-op re-run: API requests per managed object and writes. From the
ansible.posix.json callback: tasks run, module invocations (loop items counted) and the ten slowest
tasks. Then the scaling rounds: fresh converge and no-op re-run at 3, 10 and 50 MCP servers (copies
of mcp-example added to the default three), and the marginal seconds per extra server.

Prints a table and writes docs/benchmarks.md with a plot (matplotlib) in docs/benchmarks.png.
Figures only, no assertions: the targets are in issue 13 and in docs/benchmarks.md.

    benchmarks/converge [--rounds 3] [--scale 3,10,50] [--scale-rounds 1] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cluster import Cluster  # noqa: E402  (tests/cluster: the real control plane)
from peers.oidc_authority import OidcAuthority  # noqa: E402  (the Azure AD double)

# The clients the collection drives: kubernetes.core's Python client, helm, kubectl.
COLLECTION_AGENTS = ("OpenAPI-Generator/", "Helm/", "kubectl/")
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
# Server-set fields a manifest applied to another cluster must not carry.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")
SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                      "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
                      "volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner")


# -- running ---------------------------------------------------------------------------------------
def playbook(cluster, oidc_vars, name, *extra):
    """(seconds, ansible.posix.json document) of one ansible-playbook run; raises when it fails."""
    env = dict(cluster.env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(ROOT / ".collections"), sysconfig.get_paths()["purelib"]]))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local", f"playbooks/{name}.yml",
           "-e", "@tests/demo-vars.yml", "-e", f"@{oidc_vars}", *extra]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - started
    doc = json.loads(proc.stdout[proc.stdout.find("{"):]) if "{" in proc.stdout else {}
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(extra)} failed (rc {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return seconds, doc


def task_figures(doc):
    """(tasks run, module invocations, [(seconds, task name)]) from an ansible.posix.json document."""
    tasks, invocations, durations = 0, 0, []
    for play in doc.get("plays", []):
        for task in play["tasks"]:
            result = task["hosts"].get("localhost", {})
            items = [i for i in result.get("results", [result]) if not i.get("skipped")]
            if not items or result.get("skipped"):
                continue
            tasks += 1
            invocations += len(items)
            span = task["task"]["duration"]
            durations.append((_seconds(span["end"]) - _seconds(span["start"]), task["task"]["name"]))
    return tasks, invocations, sorted(durations, reverse=True)


def _seconds(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def collection_requests(cluster, since):
    """Audit events since ``since`` made by the collection's clients (not the components, not hostpods)."""
    return [e for e in cluster.audit_events(since) if e.get("userAgent", "").startswith(COLLECTION_AGENTS)
            and not e["user"]["username"].startswith("system:")]


# -- the baseline: the seed's way, generated from what the site created ------------------------------
def created_objects(cluster, since):
    """The objects the site created, in the order of their creation in the audit log: ('helm', release,
    namespace) at each release's first record, else ('object', resource[.group], namespace, name)."""
    steps, seen = [], set()
    for event in collection_requests(cluster, since):
        ref = event.get("objectRef", {})
        if event["verb"] != "create" or ref.get("subresource") or event["responseStatus"]["code"] >= 300:
            continue
        name = ref.get("name") or event["requestURI"].rsplit("/", 1)[-1].split("?")[0]
        if event["userAgent"].startswith("Helm/"):
            if ref["resource"] == "secrets" and name.startswith("sh.helm.release.v1."):
                step = ("helm", name.split(".")[4], ref["namespace"])
            else:
                continue
        else:
            resource = ref["resource"] + ("." + ref["apiGroup"] if ref.get("apiGroup") else "")
            step = ("object", resource, ref.get("namespace", ""), name)
        if step not in seen:
            seen.add(step)
            steps.append(step)
    return steps


def manifest(obj):
    """The object as a user would write it: no server-set metadata, status or assigned addresses."""
    obj.pop("status", None)
    meta = obj["metadata"]
    for key in SERVER_METADATA:
        meta.pop(key, None)
    annotations = {k: v for k, v in meta.get("annotations", {}).items() if k not in SERVER_ANNOTATIONS}
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    spec = obj.get("spec", {})
    if obj["kind"] == "Service":
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    if obj["kind"] == "PersistentVolumeClaim":
        spec.pop("volumeName", None)
    return obj


WAITS = {
    "Deployment": "kubectl rollout status deployment/{name} -n {ns} --timeout=300s",
    "StatefulSet": "kubectl rollout status statefulset/{name} -n {ns} --timeout=300s",
    "CustomResourceDefinition": "kubectl wait --for=condition=Established crd/{name} --timeout=120s",
    # kubectl wait fails at once while the controller has written no conditions yet: retry until it can wait.
    "Gateway": "for i in $(seq 30); do kubectl wait --for=condition=Programmed gateway/{name} -n {ns} --timeout=300s 2>/dev/null "
               "&& break; sleep 1; done; kubectl wait --for=condition=Programmed gateway/{name} -n {ns} --timeout=300s",
}


def helm_release(cluster, release, namespace):
    """(chart archive, values, manifest) of a release, from helm's release Secret (the manifest as
    installed, after the collection's post-renderer); the chart from ../shared/charts by name and version."""
    secret = cluster.get("secret", "-n", namespace, "-l", f"owner=helm,name={release}")["items"][-1]
    payload = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    chart = payload["chart"]["metadata"]
    archive = next((ROOT.parent / "shared" / "charts").glob(f"{chart['name']}-*{chart['version'].lstrip('v')}.tgz"))
    return archive, payload.get("config") or {}, payload["manifest"]


def rendered_objects(manifest_text):
    return sum(1 for doc in yaml.safe_load_all(manifest_text) if doc)


def write_baseline(cluster, since, folder):
    """Write folder/baseline.sh and its manifests; returns (script, number of objects, number of releases)."""
    lines = ["#!/usr/bin/env bash", "# The seed's way: one kubectl apply per manifest, helm install per release, its waits.",
             "set -euo pipefail", f"cd {shlex.quote(str(folder))}"]
    objects = releases = 0
    for index, step in enumerate(created_objects(cluster, since)):
        if step[0] == "helm":
            archive, values, installed = helm_release(cluster, step[1], step[2])
            # JSON is YAML with every string quoted (helm reads YAML 1.1, where a bare Y is a boolean).
            values_file = folder / f"{index:03d}-{step[1]}-values.json"
            values_file.write_text(json.dumps(values))
            # The same objects as the site's release: a post-renderer that yields the manifest as installed
            # (the collection post-renders the mssql chart).
            (folder / f"{index:03d}-{step[1]}-manifest.yaml").write_text(installed)
            renderer = folder / f"{index:03d}-{step[1]}-post-renderer.sh"
            renderer.write_text(f"#!/bin/sh\ncat >/dev/null\ncat {shlex.quote(str(folder))}/{index:03d}-{step[1]}-manifest.yaml\n")
            renderer.chmod(0o755)
            lines.append(f"helm install {step[1]} {shlex.quote(str(archive))} -n {step[2]} -f {values_file.name} "
                         f"--post-renderer ./{renderer.name} --wait --timeout 300s >/dev/null")
            releases += 1
            continue
        _, resource, namespace, name = step
        args = [resource, name] + (["-n", namespace] if namespace else [])
        found = cluster.kubectl("get", *args, "-o", "json", check=False)
        if found.returncode != 0:  # created, then removed by the site itself: not part of the end state
            continue
        obj = manifest(json.loads(found.stdout))
        path = folder / f"{index:03d}-{obj['kind'].lower()}-{name}.json"
        path.write_text(json.dumps(obj))
        lines.append(f"kubectl apply -f {path.name} >/dev/null")
        wait = WAITS.get(obj["kind"])
        if wait:
            lines.append(wait.format(name=name, ns=namespace) + " >/dev/null")
        objects += 1
    script = folder / "baseline.sh"
    script.write_text("\n".join(lines) + "\n")
    return script, objects, releases


def run_baseline(script, workdir):
    """Seconds the baseline script takes on a fresh cluster."""
    with Cluster("b-" + uuid.uuid4().hex[:8], workdir / "baseline-cluster") as cluster:
        started = time.monotonic()
        proc = subprocess.run(["bash", "-x", str(script)], env=cluster.env, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"the baseline failed (rc {proc.returncode}): {proc.stderr[-3000:]}")
        return time.monotonic() - started


# -- rounds ------------------------------------------------------------------------------------------
def site_round(workdir, oidc_vars, with_baseline):
    """One round: fresh converge, no-op, --check, verify (and the baseline generated from it)."""
    figures = {}
    with Cluster("s-" + uuid.uuid4().hex[:8], workdir / "site-cluster") as cluster:
        start = cluster.audit_offset()
        figures["fresh"], fresh_doc = playbook(cluster, oidc_vars, "site")
        managed = created_objects(cluster, start)
        noop_start = cluster.audit_offset()
        figures["noop"], noop_doc = playbook(cluster, oidc_vars, "site")
        requests = collection_requests(cluster, noop_start)
        figures["check"], _ = playbook(cluster, oidc_vars, "site", "--check")
        figures["verify"], _ = playbook(cluster, oidc_vars, "verify")
        # Managed objects: those the site created itself, and every object its Helm releases rendered.
        objects = sum(rendered_objects(helm_release(cluster, s[1], s[2])[2]) if s[0] == "helm" else 1 for s in managed)
        figures.update(objects=objects, requests=len(requests),
                       writes=sum(1 for e in requests if e["verb"] in WRITES),
                       fresh_tasks=task_figures(fresh_doc), noop_tasks=task_figures(noop_doc))
        if with_baseline:
            folder = workdir / "baseline"
            folder.mkdir(exist_ok=True)
            script, figures["baseline_objects"], figures["baseline_releases"] = write_baseline(cluster, start, folder)
    if with_baseline:
        figures["baseline"] = run_baseline(script, workdir)
    return figures


def scale_round(workdir, oidc_vars, servers):
    """Fresh converge and no-op re-run with ``servers`` MCP servers (copies of mcp-example)."""
    defaults = yaml.safe_load((ROOT / "roles" / "mcp_server" / "defaults" / "main.yml").read_text())
    entries = defaults["mcp_server_servers"]
    example = next(e for e in entries if e["name"] == "mcp-example")
    entries = entries + [dict(example, name=f"mcp-bench-{n:02d}") for n in range(1, servers - len(entries) + 1)]
    extra = workdir / f"servers-{servers}.json"
    # The entries name the role's image and npx switch, which must be extra vars too (templated where the role's
    # defaults are not loaded: site.yml's validation play).
    extra.write_text(json.dumps({"mcp_server_servers": entries, "mcp_server_node_image": defaults["mcp_server_node_image"],
                                 "mcp_server_npx": defaults["mcp_server_npx"]}))
    with Cluster("n-" + uuid.uuid4().hex[:8], workdir / "scale-cluster") as cluster:
        fresh, _ = playbook(cluster, oidc_vars, "site", "-e", f"@{extra}")
        noop, _ = playbook(cluster, oidc_vars, "site", "-e", f"@{extra}")
    return fresh, noop


@contextlib.contextmanager
def _kept(folder):
    Path(folder).mkdir(parents=True, exist_ok=True)
    yield folder


def median(values):
    return statistics.median(values) if values else float("nan")


# -- report ------------------------------------------------------------------------------------------
def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}"


def report(rounds, scale, started_load, ended_load):
    med = {key: median([r[key] for r in rounds if key in r]) for key in ("fresh", "noop", "check", "verify", "baseline")}
    last = rounds[-1]
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [f"Commit {commit}. Machine: {machine()}; load average {started_load:.2f} at start, {ended_load:.2f} at the end.",
             f"Rounds: {len(rounds)} (medians; every figure is seconds of wall time unless named otherwise).", "",
             "| measure | median | rounds | ratio |", "| --- | --- | --- | --- |"]
    ratios = {"fresh": ("fresh / baseline", med["fresh"] / med["baseline"]),
              "noop": ("no-op / fresh", med["noop"] / med["fresh"]),
              "check": ("check / no-op", med["check"] / med["noop"])}
    labels = {"fresh": "fresh converge (site.yml)", "noop": "no-op re-run", "check": "--check on a converged cluster",
              "verify": "verify.yml", "baseline": "baseline: the seed's kubectl/helm way"}
    for key, label in labels.items():
        ratio = ratios.get(key)
        values = " / ".join(f"{r[key]:.1f}" for r in rounds if key in r)
        lines.append(f"| {label} | {med[key]:.1f} | {values} | {f'{ratio[0]} = {ratio[1]:.2f}' if ratio else ''} |")
    tasks, invocations, slowest = last["fresh_tasks"]
    noop_tasks, noop_invocations, noop_slowest = last["noop_tasks"]
    lines += ["", "| per run | fresh converge | no-op re-run |", "| --- | --- | --- |",
              f"| tasks run (not skipped) | {tasks} | {noop_tasks} |",
              f"| module invocations (loop items counted) | {invocations} | {noop_invocations} |",
              "", f"Managed objects: {last['objects']} (the baseline applies {last.get('baseline_objects', '?')} objects "
              f"and {last.get('baseline_releases', '?')} Helm releases).",
              f"No-op re-run: {last['requests']} API requests by the collection's clients = "
              f"{last['requests'] / last['objects']:.1f} per managed object; {last['writes']} writes.", "",
              "Ten slowest tasks of the last fresh converge / no-op re-run:", "",
              "| fresh converge | s | no-op re-run | s |", "| --- | --- | --- | --- |"]
    for (fs, fname), (ns, nname) in zip(slowest[:10], noop_slowest[:10]):
        lines.append(f"| {fname} | {fs:.1f} | {nname} | {ns:.1f} |")
    if scale:
        sizes = sorted(scale)
        lines += ["", "Scaling (MCP servers; median of the scale rounds):", "",
                  "| servers | fresh converge | no-op re-run |", "| --- | --- | --- |"]
        for size in sizes:
            lines.append(f"| {size} | {median([f for f, _ in scale[size]]):.1f} | {median([n for _, n in scale[size]]):.1f} |")
        if len(sizes) > 1:
            low, high = sizes[0], sizes[-1]
            per = [(median([r[i] for r in scale[high]]) - median([r[i] for r in scale[low]])) / (high - low) for i in (0, 1)]
            lines.append(f"\nMarginal cost per extra MCP server ({low} to {high}): converge {per[0]:.2f} s, re-run {per[1]:.2f} s.")
    return "\n".join(lines), med


def plot(rounds, scale, med, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 2 if scale else 1, figsize=(11 if scale else 6, 4), squeeze=False)
    keys = ["baseline", "fresh", "noop", "check", "verify"]
    left = axes[0][0]
    left.bar(keys, [med[k] for k in keys], color=["grey", "tab:blue", "tab:green", "tab:olive", "tab:purple"])
    for index, key in enumerate(keys):
        left.scatter([index] * len(rounds), [r[key] for r in rounds if key in r], color="black", s=8, zorder=3)
    left.set_ylabel("seconds (median, dots: rounds)")
    left.set_title("site.yml vs the seed's kubectl way")
    if scale:
        right, sizes = axes[0][1], sorted(scale)
        right.plot(sizes, [median([f for f, _ in scale[s]]) for s in sizes], marker="o", label="fresh converge")
        right.plot(sizes, [median([n for _, n in scale[s]]) for s in sizes], marker="o", label="no-op re-run")
        right.set_xlabel("MCP servers")
        right.set_ylabel("seconds")
        right.set_title("scaling")
        right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="site/baseline rounds (medians)")
    parser.add_argument("--scale", default="3,10,50", help="MCP server counts for the scaling rounds ('' for none)")
    parser.add_argument("--scale-rounds", type=int, default=1, help="rounds per server count")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--workdir", help="keep the generated baseline and state here (default: a temporary folder)")
    args = parser.parse_args()
    demo = yaml.safe_load((ROOT / "tests" / "demo-vars.yml").read_text())
    started_load = os.getloadavg()[0]
    rounds, scale = [], {}
    with (tempfile.TemporaryDirectory(prefix="bench-") if not args.workdir else _kept(args.workdir)) as tmp, \
            OidcAuthority(tenant_id=demo["auth_policy_tenant_id"], client_id=demo["auth_policy_client_id"]) as authority:
        workdir = Path(tmp)
        oidc_vars = workdir / "oidc-vars.json"
        oidc_vars.write_text(json.dumps(authority.collection_vars()))
        for number in range(args.rounds):
            rounds.append(site_round(workdir, oidc_vars, with_baseline=True))
            print(f"round {number + 1}: " + ", ".join(f"{k} {rounds[-1][k]:.1f} s" for k in
                                                        ("fresh", "noop", "check", "verify", "baseline")), flush=True)
        for size in [int(s) for s in args.scale.split(",") if s]:
            for _ in range(args.scale_rounds):
                scale.setdefault(size, []).append(scale_round(workdir, oidc_vars, size))
                print(f"{size} servers: fresh {scale[size][-1][0]:.1f} s, no-op {scale[size][-1][1]:.1f} s", flush=True)
    table, med = report(rounds, scale, started_load, os.getloadavg()[0])
    print(table)
    if not args.no_write:
        plot(rounds, scale, med, ROOT / "docs" / "benchmarks.png")
        (ROOT / "docs" / "benchmarks.md").write_text(
            "# Benchmarks: converge\n\nWritten by `benchmarks/converge` (see its docstring for what each figure is). "
            "Targets (issue 13): fresh converge <= 1.5x the baseline; no-op re-run <= 15 s and <= 0.25x a fresh "
            "converge; `--check` <= the no-op re-run; verify <= 5 s; <= 0.5 s per extra MCP server; re-run <= 2 API "
            "requests per managed object and zero writes.\n\n" + table + "\n\n![figures](benchmarks.png)\n")


if __name__ == "__main__":
    main()
