"""What each helm command does, for the helm test double (install, upgrade, uninstall, rollback on
--atomic, list, get, show, template, status, history, repo, plugin, version, env, dependency)."""

import copy
import json
import os
import re

import yaml

from . import HELM_VERSION, charts, repos
from .kube import Kube, KubeError, Unreachable, install_sort_key, three_way_patch, wait_deleted, wait_ready
from .storage import (ReleaseNotFound, SecretStorage, go_ansic, go_rfc3339nano, go_time_string, now,
                      parse_time)
from .values import ValuesError, coalesce, merge_user_values


class HelmError(Exception):
    """Printed as `Error: <message>`, exit code 1."""


RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MANAGED_BY = "app.kubernetes.io/managed-by"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
KEEP_POLICY = "helm.sh/resource-policy"
DEFAULT_TIMEOUT = 300.0


class Context:
    """One helm invocation: settings, output streams, cluster access."""

    def __init__(self, settings, out, err):
        self.settings = settings
        self.out = out
        self.err = err
        self.kube = Kube(settings)
        self._storage = None

    @property
    def namespace(self):
        return self.settings.namespace()

    def storage(self, namespace=None):
        if namespace and namespace != self.namespace:
            return SecretStorage(self.kube, namespace)
        if self._storage is None:
            self._storage = SecretStorage(self.kube, self.namespace)
        return self._storage


# ---------------------------------------------------------------------- chart location


def locate_chart(ctx, ref, opts):
    """The Chart for a reference the way helm's LocateChart resolves it; errors in helm's words."""
    version = opts.get("version") or ""
    devel = bool(opts.get("devel"))
    repo_url = opts.get("repo") or ""
    try:
        if ref.startswith("oci://"):
            if repo_url:
                raise HelmError("--repo cannot be used with OCI references")
            chart, resolved = charts.resolve_oci(ref, version, devel)
            ctx.err.write("Pulled: %s\n" % resolved)
            return chart
        if repo_url:
            if not charts.known_repository(repo_url):
                raise HelmError(repos.unreachable_message(repo_url.rstrip("/")))
            return charts.resolve_repo_chart(repo_url, ref, repo_url, version, devel)
        if ref.startswith((".", "/", "~")) or os.path.exists(ref):
            if not os.path.exists(os.path.expanduser(ref)):
                raise HelmError('path "%s" not found' % ref)
            raise HelmError(
                "the helm test double can only install the charts described in tests/helm_double/CHARTS.md "
                "(no chart templates can be rendered here); %s is a local chart" % ref
            )
        if ref.startswith(("http://", "https://")):
            host = ref.split("://", 1)[1].split("/", 1)[0]
            raise HelmError('failed to fetch %s : Get "%s": dial tcp: lookup %s: no such host' % (ref, ref, host))
        if "/" not in ref:
            raise HelmError("non-absolute URLs should be in form of repo_name/path_to_chart, got: %s" % ref)
        repo_name, chart_name = ref.split("/", 1)
        data = repos.load(ctx.settings.repository_config)
        entry = repos.find(data, repo_name)
        if entry is None:
            raise HelmError("repo %s not found" % repo_name)
        return charts.resolve_repo_chart(entry["url"], chart_name, repo_name, version, devel)
    except charts.ChartNotFound as exc:
        raise HelmError(str(exc)) from None


# ---------------------------------------------------------------------- rendering


def render(ctx, chart, name, namespace, user_values):
    values = coalesce(chart.defaults, user_values)
    try:
        rendered = chart.render(name, namespace, values, ctx)
    except charts.ChartNotFound as exc:
        raise HelmError(str(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise HelmError("execution error at (%s/templates): %s" % (chart.name, exc)) from None
    ordered = sorted(enumerate(rendered), key=lambda item: (install_sort_key(item[1][1]["kind"]), item[0]))
    docs = [(source, obj) for _, (source, obj) in ordered]
    manifest = "".join(
        "---\n# Source: %s\n%s" % (source, yaml.safe_dump(obj, default_flow_style=False, sort_keys=False))
        for source, obj in docs
    )
    notes = chart.notes(name, namespace, values)
    return docs, manifest.rstrip("\n"), notes, values


def manifest_objects(manifest):
    return [doc for doc in yaml.safe_load_all(manifest or "") if doc]


def with_ownership(obj, name, namespace):
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})[MANAGED_BY] = "Helm"
    annotations = meta.setdefault("annotations", {})
    annotations[RELEASE_NAME_ANNOTATION] = name
    annotations[RELEASE_NAMESPACE_ANNOTATION] = namespace
    return obj


def object_key(kube, obj, namespace):
    namespaced = kube.is_namespaced(obj)
    ns = ((obj.get("metadata") or {}).get("namespace") or namespace) if namespaced else ""
    return (obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "", obj["kind"], ns,
            obj["metadata"]["name"])


def describe(obj, namespace=None, namespaced=True):
    ns = ((obj.get("metadata") or {}).get("namespace") or namespace) if namespaced else None
    if ns:
        return '%s "%s" in namespace "%s"' % (obj["kind"], obj["metadata"]["name"], ns)
    return '%s "%s"' % (obj["kind"], obj["metadata"]["name"])


def ownership_problem(live, name, namespace):
    meta = live.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    problems = []
    if labels.get(MANAGED_BY) != "Helm":
        if MANAGED_BY not in labels:
            problems.append('label validation error: missing key "%s": must be set to "Helm"' % MANAGED_BY)
        else:
            problems.append('label validation error: key "%s" must equal "Helm": current value is "%s"'
                            % (MANAGED_BY, labels[MANAGED_BY]))
    for key, want in ((RELEASE_NAME_ANNOTATION, name), (RELEASE_NAMESPACE_ANNOTATION, namespace)):
        if key not in annotations:
            problems.append('annotation validation error: missing key "%s": must be set to "%s"' % (key, want))
        elif annotations[key] != want:
            problems.append('annotation validation error: key "%s" must equal "%s": current value is "%s"'
                            % (key, want, annotations[key]))
    return "; ".join(problems)


# ---------------------------------------------------------------------- release records


def new_release(name, namespace, chart, config, manifest, notes, version, status, description, first_deployed=None):
    moment = now()
    return {
        "name": name,
        "info": {
            "first_deployed": first_deployed or go_rfc3339nano(moment),
            "last_deployed": go_rfc3339nano(moment),
            "deleted": "",
            "description": description,
            "status": status,
            "notes": notes,
        },
        "chart": {
            "metadata": chart.metadata(),
            "lock": None,
            # the double has no template sources (see CHARTS.md); the rendered manifest is below
            "templates": [],
            "values": copy.deepcopy(chart.defaults),
            "schema": None,
            "files": [],
        },
        "config": copy.deepcopy(config) if config else {},
        "manifest": manifest,
        "version": version,
        "namespace": namespace,
    }


def chart_label(release):
    meta = release["chart"]["metadata"]
    return "%s-%s" % (meta["name"], meta["version"])


def print_status(ctx, release, show_desc=False, hide_notes=False):
    out = ctx.out
    out.write("NAME: %s\n" % release["name"])
    deployed = parse_time(release["info"].get("last_deployed"))
    if deployed:
        out.write("LAST DEPLOYED: %s\n" % go_ansic(deployed))
    out.write("NAMESPACE: %s\n" % release["namespace"])
    out.write("STATUS: %s\n" % release["info"]["status"])
    out.write("REVISION: %d\n" % release["version"])
    if show_desc:
        out.write("DESCRIPTION: %s\n" % release["info"]["description"])
    out.write("TEST SUITE: None\n")
    if release["info"].get("description") == "Dry run complete":
        out.write("HOOKS:\nMANIFEST:\n%s\n\n" % release["manifest"])
    notes = (release["info"].get("notes") or "").strip()
    if notes and not hide_notes:
        out.write("NOTES:\n%s\n" % notes)


def print_release(ctx, release, opts):
    fmt = (opts.get("output") or "table").lower()
    if fmt == "json":
        ctx.out.write(json.dumps(release, separators=(",", ":")) + "\n")
    elif fmt == "yaml":
        ctx.out.write(yaml.safe_dump(release, default_flow_style=False))
    elif fmt == "table":
        print_status(ctx, release, show_desc=opts.get("show-desc"), hide_notes=opts.get("hide-notes"))
    else:
        raise HelmError('invalid format type "%s"' % fmt)


# ---------------------------------------------------------------------- applying to the cluster


def ensure_namespace(ctx, namespace):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"name": namespace}}}
    if ctx.kube.get(ns) is None:
        try:
            ctx.kube.create(ns)
        except KubeError as exc:
            if exc.status != 409:
                raise


def create_objects(ctx, docs, name, namespace, adopt=()):
    created = []
    for obj in docs:
        owned = with_ownership(obj, name, namespace)
        key = object_key(ctx.kube, obj, namespace)
        try:
            if key in adopt:
                live = ctx.kube.get(owned, namespace)
                ctx.kube.merge_patch(owned, three_way_patch({}, owned, live), namespace)
            else:
                ctx.kube.create(owned, namespace)
                created.append(obj)
        except KubeError as exc:
            raise HelmError("failed to create resource: %s" % exc) from None
    return created


def conflicts(ctx, docs, name, namespace, take_ownership=False, known=()):
    """Objects that already exist: adoptable ones (right ownership metadata) or an error."""
    adopt = set()
    for obj in docs:
        key = object_key(ctx.kube, obj, namespace)
        if key in known:
            continue
        live = ctx.kube.get(obj, namespace)
        if live is None:
            continue
        problem = "" if take_ownership else ownership_problem(live, name, namespace)
        if problem:
            raise HelmError(
                "Unable to continue with %s: %s exists and cannot be imported into the current release: "
                "invalid ownership metadata; %s" % ("install" if not known else "update",
                                                    describe(obj, namespace, ctx.kube.is_namespaced(obj)), problem)
            )
        adopt.add(key)
    return adopt


def update_objects(ctx, original_docs, target_docs, name, namespace, take_ownership=False):
    """helm's kube.Client.Update: create new objects, three-way patch existing ones, delete dropped ones."""
    original = {object_key(ctx.kube, o, namespace): o for o in original_docs}
    target_keys = set()
    created = []
    for obj in target_docs:
        key = object_key(ctx.kube, obj, namespace)
        target_keys.add(key)
        owned = with_ownership(obj, name, namespace)
        live = ctx.kube.get(owned, namespace)
        if live is None:
            try:
                ctx.kube.create(owned, namespace)
            except KubeError as exc:
                raise HelmError("failed to create resource: %s" % exc) from None
            created.append(obj)
            continue
        if key not in original and not take_ownership:
            problem = ownership_problem(live, name, namespace)
            if problem:
                raise HelmError(
                    "Unable to continue with update: %s exists and cannot be imported into the current release: "
                    "invalid ownership metadata; %s" % (describe(obj, namespace, ctx.kube.is_namespaced(obj)), problem)
                )
        before = with_ownership(original[key], name, namespace) if key in original else {}
        patch = three_way_patch(before, owned, live)
        if patch:
            try:
                ctx.kube.merge_patch(owned, patch, namespace)
            except KubeError as exc:
                raise HelmError('cannot patch "%s" with kind %s: %s' % (obj["metadata"]["name"], obj["kind"], exc)
                                ) from None
    for key, obj in original.items():
        if key in target_keys:
            continue
        if ((obj.get("metadata") or {}).get("annotations") or {}).get(KEEP_POLICY) == "keep":
            continue
        ctx.kube.delete(obj, namespace)
    return created


def delete_objects(ctx, docs, namespace):
    kept, deleted = [], []
    for obj in sorted(docs, key=lambda o: install_sort_key(o["kind"]), reverse=True):
        if ((obj.get("metadata") or {}).get("annotations") or {}).get(KEEP_POLICY) == "keep":
            kept.append(obj)
            continue
        try:
            if ctx.kube.delete(obj, namespace):
                deleted.append(obj)
        except KubeError as exc:
            ctx.err.write("uninstall: Failed to delete %s: %s\n" % (
                describe(obj, namespace, ctx.kube.is_namespaced(obj)), exc))
    return kept, deleted


def run_controllers(ctx, chart, values, namespace):
    """What the installed software itself does once running (the double stands in for it)."""
    if chart.after_apply != "agentgateway-controller":
        return
    gwc = charts.agentgateway_gateway_class(values)
    try:
        live = ctx.kube.get(gwc)
        manager = charts.AGENTGATEWAY_CONTROLLER_NAME
        if live is None:
            ctx.kube.create(gwc, field_manager=manager)
        else:
            patch = three_way_patch({}, gwc, live)
            if patch:
                ctx.kube.merge_patch(gwc, patch, field_manager=manager)
    except KubeError as exc:
        ctx.err.write(
            "helm test double: the agentgateway controller could not apply GatewayClass %s (%s); "
            "install the Gateway API CRDs first\n" % (charts.AGENTGATEWAY_CLASS, exc)
        )


def in_namespace(ctx, docs, namespace):
    """Copies of the manifest objects with the release namespace filled in where it applies."""
    placed = []
    for obj in docs:
        obj = copy.deepcopy(obj)
        if ctx.kube.is_namespaced(obj):
            obj.setdefault("metadata", {}).setdefault("namespace", namespace)
        placed.append(obj)
    return placed


def timeout_of(opts):
    timeout = opts.get("timeout")
    return DEFAULT_TIMEOUT if timeout is None else timeout


def wait_for(ctx, docs, namespace, opts):
    return wait_ready(ctx.kube, in_namespace(ctx, docs, namespace), timeout_of(opts),
                      wait_for_jobs=bool(opts.get("wait-for-jobs")))


def apply_and_wait(ctx, chart, values, docs, namespace, opts, apply):
    """Apply the objects, let the installed software act, and honour --wait/--atomic."""
    created = apply()
    run_controllers(ctx, chart, values, namespace)
    if opts.get("wait") or opts.get("atomic"):
        problem = wait_for(ctx, docs, namespace, opts)
        if problem:
            raise HelmError(problem)
    return created


def mark_failed(store, release, description):
    release["info"]["status"] = "failed"
    release["info"]["description"] = description
    store.update(release)


# ---------------------------------------------------------------------- install / upgrade / uninstall


def validate_name(name):
    if not name or len(name) > 53 or not RELEASE_NAME.match(name):
        raise HelmError(
            'release name "%s": invalid release name, must match regex '
            "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be "
            "longer than 53" % name
        )


def user_values(opts):
    try:
        return merge_user_values(opts)
    except ValuesError as exc:
        raise HelmError(str(exc)) from None


def install(ctx, name, chart_ref, opts, chart=None, config=None):
    namespace = ctx.namespace
    if chart is None:
        chart = locate_chart(ctx, chart_ref, opts)
    if config is None:
        config = user_values(opts)
    validate_name(name)
    dry_run = opts.get("dry-run") not in (None, "", "none", "false")
    if not dry_run:
        try:
            ctx.kube.check_reachable()
        except Unreachable as exc:
            raise HelmError(str(exc)) from None
    store = ctx.storage()
    history = [] if dry_run else store.history(name)
    if history:
        last = history[-1]
        if not (opts.get("replace") and last["info"]["status"] in ("uninstalled", "failed")):
            raise HelmError("cannot re-use a name that is still in use")
    docs_src, manifest, notes, values = render(ctx, chart, name, namespace, config)
    docs = [obj for _, obj in docs_src]
    version = (history[-1]["version"] + 1) if history else 1
    if dry_run:
        release = new_release(name, namespace, chart, config, manifest, notes, version, "pending-install",
                              "Dry run complete")
        return release
    adopt = conflicts(ctx, docs, name, namespace, take_ownership=bool(opts.get("take-ownership")))
    if opts.get("create-namespace"):
        ensure_namespace(ctx, namespace)
    release = new_release(name, namespace, chart, config, manifest, notes, version, "pending-install",
                          "Initial install underway")
    try:
        store.create(release)
    except KubeError as exc:
        raise HelmError(str(exc)) from None
    atomic = bool(opts.get("atomic"))
    try:
        apply_and_wait(ctx, chart, values, docs, namespace, opts,
                       lambda: create_objects(ctx, docs, name, namespace, adopt=adopt))
    except (HelmError, KubeError) as exc:
        mark_failed(store, release, 'Release "%s" failed: %s' % (name, exc))
        if atomic:
            delete_objects(ctx, docs, namespace)
            for old in store.history(name):
                store.delete(name, old["version"])
            raise HelmError("release %s failed, and has been uninstalled due to atomic being set: %s"
                            % (name, exc)) from None
        raise
    release["info"]["status"] = "deployed"
    release["info"]["description"] = "Install complete"
    store.update(release)
    return release


def upgrade(ctx, name, chart_ref, opts):
    namespace = ctx.namespace
    store = ctx.storage()
    if opts.get("install"):
        try:
            ctx.kube.check_reachable()
        except Unreachable as exc:
            raise HelmError(str(exc)) from None
        if not store.history(name):
            ctx.out.write('Release "%s" does not exist. Installing it now.\n' % name)
            return install(ctx, name, chart_ref, opts), "install"
    chart = locate_chart(ctx, chart_ref, opts)
    new_values = user_values(opts)
    validate_name(name)
    try:
        history = store.history(name)
    except Unreachable as exc:
        raise HelmError("UPGRADE FAILED: Kubernetes cluster unreachable: %s" % exc) from None
    if not history:
        raise HelmError('UPGRADE FAILED: "%s" has no deployed releases' % name)
    last = history[-1]
    if last["info"]["status"].startswith("pending"):
        raise HelmError("UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress")
    current = store.deployed(name)
    if current is None:
        if last["info"]["status"] in ("failed", "superseded"):
            current = last
        else:
            raise HelmError('UPGRADE FAILED: "%s" has no deployed releases' % name)
    config = reuse_values(current, chart, new_values, opts)
    docs_src, manifest, notes, values = render(ctx, chart, name, namespace, config)
    docs = [obj for _, obj in docs_src]
    dry_run = opts.get("dry-run") not in (None, "", "none", "false")
    release = new_release(name, namespace, chart, config, manifest, notes, last["version"] + 1, "pending-upgrade",
                          "Preparing upgrade", first_deployed=current["info"].get("first_deployed"))
    if dry_run:
        release["info"]["description"] = "Dry run complete"
        return release, "upgrade"
    try:
        store.create(release)
    except KubeError as exc:
        raise HelmError("UPGRADE FAILED: %s" % exc) from None
    original_docs = manifest_objects(current["manifest"])
    atomic = bool(opts.get("atomic"))
    created = []
    try:
        created = apply_and_wait(ctx, chart, values, docs, namespace, opts, lambda: update_objects(
            ctx, original_docs, docs, name, namespace, take_ownership=bool(opts.get("take-ownership"))))
    except (HelmError, KubeError) as exc:
        mark_failed(store, release, 'Upgrade "%s" failed: %s' % (name, exc))
        if opts.get("cleanup-on-fail") and created:
            for obj in created:
                ctx.kube.delete(obj, namespace)
        if atomic:
            try:
                rollback(ctx, name, release, current, opts)
            except (HelmError, KubeError) as rb_exc:
                raise HelmError("UPGRADE FAILED: an error occurred while rolling back the release. original "
                                "upgrade error: %s: %s" % (exc, rb_exc)) from None
            raise HelmError("UPGRADE FAILED: release %s failed, and has been rolled back due to atomic being set: %s"
                            % (name, exc)) from None
        raise HelmError("UPGRADE FAILED: %s" % exc) from None
    if current["info"]["status"] == "deployed":
        current["info"]["status"] = "superseded"
        store.update(current)
    release["info"]["status"] = "deployed"
    release["info"]["description"] = "Upgrade complete"
    store.update(release)
    prune_history(ctx, store, name, opts)
    return release, "upgrade"


def reuse_values(current, chart, new_values, opts):
    """helm's Upgrade.reuseValues."""
    if opts.get("reset-values"):
        return new_values
    if opts.get("reuse-values"):
        from .values import merge_maps

        return merge_maps(current.get("config") or {}, new_values)
    if opts.get("reset-then-reuse-values"):
        from .values import merge_maps

        return merge_maps(current.get("config") or {}, new_values)
    if not new_values:
        return copy.deepcopy(current.get("config") or {})
    return new_values


def rollback(ctx, name, failed, target, opts):
    namespace = ctx.namespace
    store = ctx.storage()
    docs = manifest_objects(target["manifest"])
    update_objects(ctx, manifest_objects(failed["manifest"]), docs, name, namespace, take_ownership=True)
    chart = _chart_for_release(target)
    if chart is not None:
        run_controllers(ctx, chart, coalesce(chart.defaults, target.get("config") or {}), namespace)
    problem = wait_for(ctx, docs, namespace, opts) if (opts.get("wait") or opts.get("atomic")) else None
    if problem:
        raise HelmError(problem)
    if target["info"]["status"] == "deployed":
        target["info"]["status"] = "superseded"
        store.update(target)
    restored = copy.deepcopy(target)
    restored["version"] = failed["version"] + 1
    restored["info"]["status"] = "deployed"
    restored["info"]["description"] = "Rollback to %d" % target["version"]
    restored["info"]["last_deployed"] = go_rfc3339nano(now())
    store.create(restored)
    return restored


def _chart_for_release(release):
    meta = release["chart"]["metadata"]
    for chart in [charts.AGENTGATEWAY, charts.AGENTGATEWAY_CRDS, charts.MSSQLSERVER_2022]:
        if chart.name == meta["name"] and chart.version == meta["version"]:
            return chart
    return None


def prune_history(ctx, store, name, opts):
    limit = opts.get("history-max")
    if limit is None:
        limit = ctx.settings.max_history
    if not limit or limit <= 0:
        return
    history = store.history(name)
    removable = [r for r in history if r["info"]["status"] in ("superseded", "failed")]
    excess = len(history) - limit
    for release in removable[:max(0, excess)]:
        store.delete(name, release["version"])


def uninstall(ctx, name, opts):
    namespace = ctx.namespace
    store = ctx.storage()
    history = store.history(name)
    if not history:
        if opts.get("ignore-not-found"):
            return None
        raise HelmError("uninstall: Release not loaded: %s: release: not found" % name)
    last = history[-1]
    if last["info"]["status"] == "uninstalled":
        if not opts.get("keep-history"):
            for release in history:
                store.delete(name, release["version"])
            return last
        raise HelmError('the release named "%s" is already deleted' % name)
    docs = manifest_objects(last["manifest"])
    if opts.get("dry-run"):
        return last
    last["info"]["status"] = "uninstalling"
    last["info"]["deleted"] = go_rfc3339nano(now())
    store.update(last)
    kept, deleted = delete_objects(ctx, docs, namespace)
    if kept:
        ctx.out.write("These resources were kept due to the resource policy:\n")
        for obj in kept:
            ctx.out.write("[%s] %s\n" % (obj["kind"], obj["metadata"]["name"]))
    if opts.get("wait"):
        problem = wait_deleted(ctx.kube, in_namespace(ctx, deleted, namespace), timeout_of(opts))
        if problem:
            raise HelmError("uninstallation completed with 1 error(s): %s" % problem)
    if opts.get("keep-history"):
        last["info"]["status"] = "uninstalled"
        last["info"]["description"] = opts.get("description") or "Uninstallation complete"
        store.update(last)
    else:
        for release in history:
            store.delete(name, release["version"])
    return last


# ---------------------------------------------------------------------- list / get / status / history

STATE_FLAGS = ("deployed", "failed", "pending", "superseded", "uninstalled", "uninstalling")


def list_releases(ctx, opts):
    store = ctx.storage()
    releases = store.query(all_namespaces=bool(opts.get("all-namespaces")))
    pattern = opts.get("filter")
    if pattern:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise HelmError("error parsing regexp: %s: `%s`" % (exc, pattern)) from None
        releases = [r for r in releases if regex.search(r["name"])]
    selector = opts.get("selector")
    if selector:
        releases = [r for r in releases if _labels_match(r, selector)]
    states = [s for s in STATE_FLAGS if opts.get(s)]
    only_superseded = states == ["superseded"]
    if not only_superseded:
        latest = {}
        for release in releases:
            key = (release["namespace"], release["name"])
            if key not in latest or latest[key]["version"] < release["version"]:
                latest[key] = release
        releases = list(latest.values())
    if opts.get("all"):
        allowed = None
    elif states:
        allowed = set()
        for state in states:
            allowed |= {"pending-install", "pending-upgrade", "pending-rollback"} if state == "pending" else {state}
    else:
        allowed = {"deployed", "failed"}
    if allowed is not None:
        releases = [r for r in releases if r["info"]["status"] in allowed]
    if opts.get("date"):
        releases.sort(key=lambda r: r["info"].get("last_deployed") or "")
    else:
        releases.sort(key=lambda r: r["name"])
    if opts.get("reverse"):
        releases.reverse()
    offset = opts.get("offset") or 0
    limit = opts.get("max") or 0
    releases = releases[offset:]
    if limit:
        releases = releases[:limit]
    return releases


def _labels_match(release, selector):
    labels = {"name": release["name"], "owner": "helm", "status": release["info"]["status"],
              "version": str(release["version"])}
    labels.update(release.get("labels") or {})
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.strip().rstrip("=")) != value.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term and term not in labels:
            return False
    return True


def list_element(release, time_format=None):
    deployed = parse_time(release["info"].get("last_deployed"))
    if deployed is None:
        updated = "-"
    elif time_format:
        updated = _go_format(deployed, time_format)
    else:
        updated = go_time_string(deployed)
    return {
        "name": release["name"],
        "namespace": release["namespace"],
        "revision": str(release["version"]),
        "updated": updated,
        "status": release["info"]["status"],
        "chart": chart_label(release),
        "app_version": release["chart"]["metadata"].get("appVersion", ""),
    }


def _go_format(moment, layout):
    mapping = [("2006", "%Y"), ("01", "%m"), ("02", "%d"), ("15", "%H"), ("04", "%M"), ("05", "%S"),
               ("Jan", "%b"), ("Mon", "%a"), ("MST", "UTC"), ("-0700", "+0000")]
    out = layout
    for go, py in mapping:
        out = out.replace(go, py)
    return moment.strftime(out)


def table(rows, headers=None):
    """uitable-style output: tab-separated, columns padded to their width."""
    all_rows = ([headers] if headers else []) + rows
    if not all_rows:
        return ""
    widths = [max(len(str(r[i])) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = []
    for row in all_rows:
        cells = [str(c).ljust(widths[i]) if i < len(row) - 1 else str(c) for i, c in enumerate(row)]
        lines.append("\t".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def release_for_get(ctx, name, revision):
    store = ctx.storage()
    try:
        if revision:
            return store.get(name, revision)
        return store.last(name)
    except ReleaseNotFound:
        raise HelmError("release: not found") from None


def output_data(ctx, data, fmt, table_text):
    fmt = (fmt or "table").lower()
    if fmt == "json":
        ctx.out.write(json.dumps(data, separators=(",", ":")) + "\n")
    elif fmt == "yaml":
        ctx.out.write(yaml.safe_dump(data, default_flow_style=False) if data is not None else "null\n")
    elif fmt == "table":
        ctx.out.write(table_text())
    else:
        raise HelmError('invalid format type "%s"' % fmt)


def get_values(ctx, name, opts):
    release = release_for_get(ctx, name, opts.get("revision"))
    config = release.get("config") or {}
    if opts.get("all"):
        data = coalesce(release["chart"].get("values") or {}, config)
        heading = "COMPUTED VALUES:\n"
    else:
        data = config or None
        heading = "USER-SUPPLIED VALUES:\n"
    output_data(ctx, data, opts.get("output"),
                lambda: heading + (yaml.safe_dump(data, default_flow_style=False) if data is not None else "null\n"))


# ---------------------------------------------------------------------- repositories


def repo_add(ctx, name, url, opts):
    path = ctx.settings.repository_config
    url_clean = url.rstrip("/") if url.endswith("/") else url
    if opts.get("password-stdin"):
        raise HelmError("--password-stdin is not supported by the helm test double")
    data = repos.load(path)
    existing = repos.find(data, name)
    entry = repos.entry_for(
        name, url, username=opts.get("username") or "", password=opts.get("password") or "",
        pass_credentials=opts.get("pass-credentials"), insecure=opts.get("insecure-skip-tls-verify"),
        ca_file=opts.get("ca-file") or "", cert_file=opts.get("cert-file") or "", key_file=opts.get("key-file") or "",
    )
    if existing is not None and not opts.get("force-update"):
        if existing == entry:
            ctx.out.write('"%s" already exists with the same configuration, skipping\n' % name)
            return
        raise HelmError("repository name (%s) already exists, please specify a different name" % name)
    if not re.match(r"^[a-zA-Z0-9._-]+$", name) or "/" in name:
        raise HelmError("repository name (%s) contains '/', please specify a different name without '/'" % name)
    if not charts.known_repository(url_clean):
        raise HelmError(repos.unreachable_message(url_clean))
    repos.write_index(ctx.settings.repository_cache, name, url_clean)
    data["repositories"] = [r for r in data["repositories"] if r.get("name") != name] + [entry]
    repos.save(path, data)
    ctx.out.write('"%s" has been added to your repositories\n' % name)


def repo_list(ctx, opts):
    data = repos.load(ctx.settings.repository_config)
    entries = data.get("repositories") or []
    if not entries:
        raise HelmError("no repositories to show")
    rows = [{"name": r["name"], "url": r["url"]} for r in entries]
    output_data(ctx, rows, opts.get("output"),
                lambda: table([[r["name"], r["url"]] for r in rows], ["NAME", "URL"]))


def repo_remove(ctx, names):
    path = ctx.settings.repository_config
    data = repos.load(path)
    for name in names:
        if repos.find(data, name) is None:
            raise HelmError('no repo named "%s" found' % name)
        data["repositories"] = [r for r in data["repositories"] if r.get("name") != name]
        repos.save(path, data)
        for suffix in ("-index.yaml", "-charts.txt"):
            try:
                os.remove(os.path.join(ctx.settings.repository_cache, name + suffix))
            except FileNotFoundError:
                pass
        ctx.out.write('"%s" has been removed from your repositories\n' % name)


def repo_update(ctx, names, opts):
    data = repos.load(ctx.settings.repository_config)
    entries = data.get("repositories") or []
    if not entries:
        raise HelmError("no repositories found. You must add one before updating")
    if names:
        missing = [n for n in names if repos.find(data, n) is None]
        if missing:
            raise HelmError("no repositories found matching '%s'.  Nothing will be updated" % missing[0])
        entries = [e for e in entries if e["name"] in names]
    ctx.out.write("Hang tight while we grab the latest from your chart repositories...\n")
    failed = []
    for entry in entries:
        if charts.known_repository(entry["url"]):
            repos.write_index(ctx.settings.repository_cache, entry["name"], entry["url"])
            ctx.out.write('...Successfully got an update from the "%s" chart repository\n' % entry["name"])
        else:
            failed.append(entry["name"])
            ctx.out.write("...Unable to get an update from the \"%s\" chart repository (%s):\n\t%s\n"
                          % (entry["name"], entry["url"], repos.unreachable_message(entry["url"])))
    if failed and opts.get("fail-on-repo-update-fail"):
        raise HelmError("Failed to update the following repositories: %s" % failed)
    ctx.out.write("Update Complete. \u2388Happy Helming!\u2388\n")


# ---------------------------------------------------------------------- misc


def version_text(opts):
    info = {"Version": HELM_VERSION, "GitCommit": "", "GitTreeState": "", "GoVersion": "helm-test-double"}
    template = opts.get("template")
    if template:
        def sub(match):
            return str(info.get(match.group(1), "<no value>"))

        return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", sub, template)
    if opts.get("short"):
        return HELM_VERSION + "\n"
    return 'version.BuildInfo{Version:"%s", GitCommit:"%s", GitTreeState:"%s", GoVersion:"%s"}\n' % (
        info["Version"], info["GitCommit"], info["GitTreeState"], info["GoVersion"])
