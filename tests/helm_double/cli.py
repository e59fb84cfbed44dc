"""Entry point of the helm test double: the helm 3.19 command tree (only the commands
kubernetes.core's helm modules run, plus the ones a person debugging needs), flag parsing, helm-style
errors and the invocation log."""

import io
import os
import sys
import time

import yaml

from . import actions, record
from .actions import Context, HelmError
from .flags import Flag, UsageError, parse, split_command
from .kube import KubeError, Unreachable
from .settings import GLOBAL_FLAGS, Settings

CHART_PATH_FLAGS = [
    Flag("ca-file"), Flag("cert-file"), Flag("key-file"), Flag("insecure-skip-tls-verify", "bool"),
    Flag("plain-http", "bool"), Flag("keyring"), Flag("password"), Flag("pass-credentials", "bool"),
    Flag("repo"), Flag("username"), Flag("verify", "bool"), Flag("version"),
]
VALUES_FLAGS = [
    Flag("values", "list", short="f"), Flag("set", "array"), Flag("set-string", "array"),
    Flag("set-file", "array"), Flag("set-json", "array"), Flag("set-literal", "array"),
]
INSTALL_LIKE_FLAGS = [
    Flag("create-namespace", "bool"), Flag("dry-run", "optstring", no_opt_default="client"),
    Flag("force", "bool"), Flag("no-hooks", "bool"), Flag("timeout", "duration", default=300.0),
    Flag("wait", "bool"), Flag("wait-for-jobs", "bool"), Flag("description"), Flag("devel", "bool"),
    Flag("dependency-update", "bool"), Flag("disable-openapi-validation", "bool"), Flag("atomic", "bool"),
    Flag("skip-crds", "bool"), Flag("render-subchart-notes", "bool"), Flag("skip-schema-validation", "bool"),
    Flag("post-renderer"), Flag("post-renderer-args", "array"), Flag("enable-dns", "bool"),
    Flag("labels", "list", short="l"), Flag("hide-notes", "bool"), Flag("hide-secret", "bool"),
    Flag("take-ownership", "bool"), Flag("output", short="o", default="table"),
]
INSTALL_FLAGS = INSTALL_LIKE_FLAGS + [
    Flag("replace", "bool"), Flag("generate-name", "bool", short="g"), Flag("name-template"),
] + CHART_PATH_FLAGS + VALUES_FLAGS
UPGRADE_FLAGS = INSTALL_LIKE_FLAGS + [
    Flag("install", "bool", short="i"), Flag("reuse-values", "bool"), Flag("reset-values", "bool"),
    Flag("reset-then-reuse-values", "bool"), Flag("cleanup-on-fail", "bool"), Flag("history-max", "int"),
] + CHART_PATH_FLAGS + VALUES_FLAGS
TEMPLATE_FLAGS = [f for f in INSTALL_FLAGS if f.name != "output"] + [
    Flag("api-versions", "array", short="a"), Flag("include-crds", "bool"), Flag("is-upgrade", "bool"),
    Flag("kube-version"), Flag("output-dir"), Flag("release-name", "bool"), Flag("show-only", "array", short="s"),
    Flag("skip-tests", "bool"), Flag("validate", "bool"),
]
UNINSTALL_FLAGS = [
    Flag("dry-run", "bool"), Flag("no-hooks", "bool"), Flag("keep-history", "bool"),
    Flag("ignore-not-found", "bool"), Flag("wait", "bool"), Flag("timeout", "duration", default=300.0),
    Flag("description"), Flag("cascade", default="background"),
]
LIST_FLAGS = [
    Flag("all", "bool", short="a"), Flag("all-namespaces", "bool", short="A"), Flag("date", "bool", short="d"),
    Flag("deployed", "bool"), Flag("failed", "bool"), Flag("pending", "bool"), Flag("superseded", "bool"),
    Flag("uninstalled", "bool"), Flag("uninstalling", "bool"), Flag("filter", short="f"),
    Flag("max", "int", short="m", default=256), Flag("offset", "int", default=0),
    Flag("output", short="o", default="table"), Flag("short", "bool", short="q"), Flag("reverse", "bool", short="r"),
    Flag("selector", short="l"), Flag("no-headers", "bool"), Flag("time-format"),
]
GET_FLAGS = [Flag("revision", "int", default=0)]
REPO_ADD_FLAGS = [
    Flag("allow-deprecated-repos", "bool"), Flag("ca-file"), Flag("cert-file"), Flag("force-update", "bool"),
    Flag("insecure-skip-tls-verify", "bool"), Flag("key-file"), Flag("no-update", "bool"),
    Flag("pass-credentials", "bool"), Flag("password"), Flag("password-stdin", "bool"),
    Flag("timeout", "duration", default=120.0), Flag("username"),
]


class Command:
    def __init__(self, path, handler, flags=(), min_args=0, max_args=0, usage=""):
        self.path = path
        self.handler = handler
        self.flags = list(flags)
        self.min_args = min_args
        self.max_args = max_args
        self.usage = usage


def _args_error(cmd, count):
    name = "helm " + " ".join(cmd.path)
    if cmd.max_args == 0:
        return '"%s" accepts no arguments\n\nUsage:  %s' % (name, cmd.usage)
    if cmd.min_args == cmd.max_args:
        return '"%s" requires %d argument%s\n\nUsage:  %s' % (
            name, cmd.min_args, "" if cmd.min_args == 1 else "s", cmd.usage)
    if count < cmd.min_args:
        return '"%s" requires at least %d argument%s\n\nUsage:  %s' % (
            name, cmd.min_args, "" if cmd.min_args == 1 else "s", cmd.usage)
    return '"%s" accepts at most %d argument%s\n\nUsage:  %s' % (
        name, cmd.max_args, "" if cmd.max_args == 1 else "s", cmd.usage)


# ---------------------------------------------------------------------- handlers


def h_version(ctx, args, opts):
    ctx.out.write(actions.version_text(opts))


def h_env(ctx, args, opts):
    listing = ctx.settings.env_listing()
    if args:
        ctx.out.write("%s\n" % listing.get(args[0], ""))
        return
    for key, value in listing.items():
        ctx.out.write('%s="%s"\n' % (key, value))


def h_install(ctx, args, opts):
    if opts.get("generate-name"):
        if len(args) != 1:
            raise UsageError(_args_error(COMMANDS_BY_PATH[("install",)], len(args)))
        name, chart_ref = "%s-%d" % (args[0].rstrip("/").rsplit("/", 1)[-1], int(time.time())), args[0]
    else:
        if len(args) != 2:
            raise HelmError("must either provide a name or specify --generate-name")
        name, chart_ref = args
    try:
        release = actions.install(ctx, name, chart_ref, opts)
    except (HelmError, KubeError) as exc:
        raise HelmError("INSTALLATION FAILED: %s" % exc) from None
    actions.print_release(ctx, release, opts)


def h_upgrade(ctx, args, opts):
    name, chart_ref = args
    release, how = actions.upgrade(ctx, name, chart_ref, opts)
    if how == "upgrade" and (opts.get("output") or "table") == "table":
        ctx.out.write('Release "%s" has been upgraded. Happy Helming!\n' % name)
    actions.print_release(ctx, release, opts)


def h_uninstall(ctx, args, opts):
    for name in args:
        release = actions.uninstall(ctx, name, opts)
        if release is not None:
            ctx.out.write('release "%s" uninstalled\n' % name)


def h_list(ctx, args, opts):
    releases = actions.list_releases(ctx, opts)
    rows = [actions.list_element(r, opts.get("time-format")) for r in releases]
    fmt = (opts.get("output") or "table").lower()
    if opts.get("short"):
        if fmt == "table":
            ctx.out.write("".join("%s\n" % r["name"] for r in rows))
            return
        actions.output_data(ctx, [r["name"] for r in rows], fmt, lambda: "")
        return

    def as_table():
        headers = None if opts.get("no-headers") else ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS",
                                                        "CHART", "APP VERSION"]
        return actions.table([[r["name"], r["namespace"], r["revision"], r["updated"], r["status"], r["chart"],
                               r["app_version"]] for r in rows], headers)

    actions.output_data(ctx, rows, fmt, as_table)


def h_get_values(ctx, args, opts):
    actions.get_values(ctx, args[0], opts)


def h_get_manifest(ctx, args, opts):
    release = actions.release_for_get(ctx, args[0], opts.get("revision"))
    ctx.out.write(release["manifest"] + "\n")


def h_get_notes(ctx, args, opts):
    release = actions.release_for_get(ctx, args[0], opts.get("revision"))
    notes = release["info"].get("notes")
    if notes:
        ctx.out.write("NOTES:\n%s\n" % notes)


def h_get_hooks(ctx, args, opts):
    actions.release_for_get(ctx, args[0], opts.get("revision"))
    # none of the known charts has hooks


def h_get_metadata(ctx, args, opts):
    release = actions.release_for_get(ctx, args[0], opts.get("revision"))
    meta = release["chart"]["metadata"]
    data = {"name": release["name"], "chart": meta["name"], "version": meta["version"],
            "appVersion": meta.get("appVersion", ""), "namespace": release["namespace"],
            "revision": release["version"], "status": release["info"]["status"],
            "deployedAt": release["info"]["last_deployed"]}
    actions.output_data(ctx, data, opts.get("output"), lambda: "".join(
        "%s: %s\n" % (k.upper(), v) for k, v in (("name", data["name"]), ("chart", data["chart"]),
                                                  ("version", data["version"]), ("app_version", data["appVersion"]),
                                                  ("namespace", data["namespace"]), ("revision", data["revision"]),
                                                  ("status", data["status"]), ("deployed_at", data["deployedAt"]))))


def h_get_all(ctx, args, opts):
    release = actions.release_for_get(ctx, args[0], opts.get("revision"))
    actions.print_status(ctx, release)
    ctx.out.write("USER-SUPPLIED VALUES:\n%s\n" % yaml.safe_dump(release.get("config") or None,
                                                                  default_flow_style=False).strip())
    ctx.out.write("MANIFEST:\n%s\n" % release["manifest"])


def h_status(ctx, args, opts):
    release = actions.release_for_get(ctx, args[0], opts.get("revision"))
    actions.print_release(ctx, release, opts)


def h_history(ctx, args, opts):
    store = ctx.storage()
    history = store.history(args[0])
    if not history:
        raise HelmError("release: not found")
    history = history[-(opts.get("max") or 256):]
    rows = [{"revision": r["version"], "updated": actions.go_ansic(actions.parse_time(r["info"]["last_deployed"])),
             "status": r["info"]["status"], "chart": actions.chart_label(r),
             "app_version": r["chart"]["metadata"].get("appVersion", ""), "description": r["info"]["description"]}
            for r in history]
    actions.output_data(ctx, rows, opts.get("output"), lambda: actions.table(
        [[r["revision"], r["updated"], r["status"], r["chart"], r["app_version"], r["description"]] for r in rows],
        ["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"]))


def h_show_chart(ctx, args, opts):
    chart = actions.locate_chart(ctx, args[0], opts)
    ctx.out.write(yaml.safe_dump(chart.metadata(), default_flow_style=False))


def h_show_values(ctx, args, opts):
    chart = actions.locate_chart(ctx, args[0], opts)
    if chart.defaults:
        ctx.out.write(yaml.safe_dump(chart.defaults, default_flow_style=False))


def h_show_readme(ctx, args, opts):
    chart = actions.locate_chart(ctx, args[0], opts)
    ctx.out.write("# %s\n\n%s\n" % (chart.name, chart.description))


def h_show_crds(ctx, args, opts):
    actions.locate_chart(ctx, args[0], opts)
    # the known charts keep no CRDs in crds/ (agentgateway-crds renders them from templates/)


def h_show_all(ctx, args, opts):
    chart = actions.locate_chart(ctx, args[0], opts)
    ctx.out.write(yaml.safe_dump(chart.metadata(), default_flow_style=False))
    ctx.out.write("---\n")
    if chart.defaults:
        ctx.out.write(yaml.safe_dump(chart.defaults, default_flow_style=False))
    ctx.out.write("---\n# %s\n\n%s\n" % (chart.name, chart.description))


def h_template(ctx, args, opts):
    if len(args) == 1:
        name, chart_ref = "release-name", args[0]
    else:
        name, chart_ref = args
    chart = actions.locate_chart(ctx, chart_ref, opts)
    config = actions.user_values(opts)
    actions.validate_name(name)
    docs, manifest, notes, values = actions.render(ctx, chart, name, ctx.namespace, config)
    show_only = opts.get("show-only") or []
    if show_only:
        wanted = set(show_only)
        unknown = [s for s in show_only if s not in {src.split("/", 1)[1] for src, _ in docs}
                   and s not in {src for src, _ in docs}]
        if unknown:
            raise HelmError("could not find template %s in chart" % unknown[0])
        docs = [(src, obj) for src, obj in docs if src in wanted or src.split("/", 1)[1] in wanted]
    if opts.get("output-dir"):
        for src, obj in docs:
            path = os.path.join(opts["output-dir"], src)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            existed = os.path.exists(path)
            with open(path, "a" if existed else "w", encoding="utf-8") as handle:
                handle.write("---\n# Source: %s\n%s" % (src, yaml.safe_dump(obj, default_flow_style=False,
                                                                            sort_keys=False)))
            ctx.out.write("wrote %s\n" % path)
        return
    for src, obj in docs:
        ctx.out.write("---\n# Source: %s\n%s" % (src, yaml.safe_dump(obj, default_flow_style=False, sort_keys=False)))


def h_repo_add(ctx, args, opts):
    actions.repo_add(ctx, args[0], args[1], opts)


def h_repo_list(ctx, args, opts):
    actions.repo_list(ctx, opts)


def h_repo_remove(ctx, args, opts):
    actions.repo_remove(ctx, args)


def h_repo_update(ctx, args, opts):
    actions.repo_update(ctx, args, opts)


def h_plugin_list(ctx, args, opts):
    # no plugin (helm-diff included) is installed with the double
    ctx.out.write(actions.table([], ["NAME", "VERSION", "DESCRIPTION"]))


def _chart_dir(args):
    path = args[0] if args else "."
    if not os.path.exists(path):
        raise HelmError("stat %s: no such file or directory" % path)
    if not os.path.isfile(os.path.join(path, "Chart.yaml")):
        raise HelmError("Chart.yaml file is missing")
    with open(os.path.join(path, "Chart.yaml"), encoding="utf-8") as handle:
        meta = yaml.safe_load(handle) or {}
    return path, meta.get("dependencies") or []


def h_dependency_update(ctx, args, opts):
    path, deps = _chart_dir(args)
    if deps:
        raise HelmError("the helm test double cannot download chart dependencies (no repository is reachable)")


def h_dependency_list(ctx, args, opts):
    path, deps = _chart_dir(args)
    if not deps:
        ctx.out.write("WARNING: no dependencies at %s\n" % os.path.join(path, "charts"))
        return
    ctx.out.write(actions.table([[d.get("name"), d.get("version"), d.get("repository"), "missing"] for d in deps],
                                ["NAME", "VERSION", "REPOSITORY", "STATUS"]))


def h_pull(ctx, args, opts):
    actions.locate_chart(ctx, args[0], opts)
    raise HelmError("the helm test double cannot write chart archives (it has no chart templates); "
                    "use `helm show chart` or `helm template` instead")


_COMMANDS = [
    Command(("version",), h_version, [Flag("client", "bool", short="c"), Flag("short", "bool"), Flag("template")],
            0, 0, "helm version [flags]"),
    Command(("env",), h_env, [], 0, 1, "helm env [flags]"),
    Command(("install",), h_install, INSTALL_FLAGS, 1, 2, "helm install [NAME] [CHART] [flags]"),
    Command(("upgrade",), h_upgrade, UPGRADE_FLAGS, 2, 2, "helm upgrade [RELEASE] [CHART] [flags]"),
    Command(("uninstall",), h_uninstall, UNINSTALL_FLAGS, 1, 99, "helm uninstall RELEASE_NAME [...] [flags]"),
    Command(("list",), h_list, LIST_FLAGS, 0, 0, "helm list [flags]"),
    Command(("get", "values"), h_get_values,
            GET_FLAGS + [Flag("all", "bool", short="a"), Flag("output", short="o", default="table")], 1, 1,
            "helm get values RELEASE_NAME [flags]"),
    Command(("get", "manifest"), h_get_manifest, GET_FLAGS, 1, 1, "helm get manifest RELEASE_NAME [flags]"),
    Command(("get", "notes"), h_get_notes, GET_FLAGS, 1, 1, "helm get notes RELEASE_NAME [flags]"),
    Command(("get", "hooks"), h_get_hooks, GET_FLAGS, 1, 1, "helm get hooks RELEASE_NAME [flags]"),
    Command(("get", "metadata"), h_get_metadata, GET_FLAGS + [Flag("output", short="o", default="table")], 1, 1,
            "helm get metadata RELEASE_NAME [flags]"),
    Command(("get", "all"), h_get_all, GET_FLAGS + [Flag("template")], 1, 1, "helm get all RELEASE_NAME [flags]"),
    Command(("status",), h_status, GET_FLAGS + [Flag("output", short="o", default="table"),
                                                 Flag("show-desc", "bool"), Flag("show-resources", "bool")],
            1, 1, "helm status RELEASE_NAME [flags]"),
    Command(("history",), h_history, [Flag("max", "int", default=256), Flag("output", short="o", default="table")],
            1, 1, "helm history RELEASE_NAME [flags]"),
    Command(("show", "chart"), h_show_chart, CHART_PATH_FLAGS + [Flag("devel", "bool")], 1, 1,
            "helm show chart [CHART] [flags]"),
    Command(("show", "values"), h_show_values, CHART_PATH_FLAGS + [Flag("devel", "bool"), Flag("jsonpath")], 1, 1,
            "helm show values [CHART] [flags]"),
    Command(("show", "readme"), h_show_readme, CHART_PATH_FLAGS + [Flag("devel", "bool")], 1, 1,
            "helm show readme [CHART] [flags]"),
    Command(("show", "crds"), h_show_crds, CHART_PATH_FLAGS + [Flag("devel", "bool")], 1, 1,
            "helm show crds [CHART] [flags]"),
    Command(("show", "all"), h_show_all, CHART_PATH_FLAGS + [Flag("devel", "bool")], 1, 1,
            "helm show all [CHART] [flags]"),
    Command(("template",), h_template, TEMPLATE_FLAGS, 1, 2, "helm template [NAME] [CHART] [flags]"),
    Command(("repo", "add"), h_repo_add, REPO_ADD_FLAGS, 2, 2, "helm repo add [NAME] [URL] [flags]"),
    Command(("repo", "list"), h_repo_list, [Flag("output", short="o", default="table")], 0, 0,
            "helm repo list [flags]"),
    Command(("repo", "remove"), h_repo_remove, [], 1, 99, "helm repo remove [REPO1 [REPO2 ...]] [flags]"),
    Command(("repo", "update"), h_repo_update,
            [Flag("fail-on-repo-update-fail", "bool"), Flag("timeout", "duration", default=120.0)], 0, 99,
            "helm repo update [REPO1 [REPO2 ...]] [flags]"),
    Command(("plugin", "list"), h_plugin_list, [], 0, 0, "helm plugin list [flags]"),
    Command(("dependency", "update"), h_dependency_update,
            [Flag("keyring"), Flag("skip-refresh", "bool"), Flag("verify", "bool")], 0, 1,
            "helm dependency update CHART [flags]"),
    Command(("dependency", "build"), h_dependency_update,
            [Flag("keyring"), Flag("skip-refresh", "bool"), Flag("verify", "bool")], 0, 1,
            "helm dependency build CHART [flags]"),
    Command(("dependency", "list"), h_dependency_list, [Flag("max-col-width", "int", default=80)], 0, 1,
            "helm dependency list CHART [flags]"),
    Command(("pull",), h_pull, CHART_PATH_FLAGS + [
        Flag("destination", short="d", default="."), Flag("devel", "bool"), Flag("prov", "bool"),
        Flag("untar", "bool"), Flag("untardir", default=".")], 1, 99, "helm pull [chart URL | repo/chartname] [...]"),
]
COMMANDS_BY_PATH = {c.path: c for c in _COMMANDS}

ALIASES = {
    "uninstall": ("del", "delete", "un"), "list": ("ls",), "history": ("hist",), "show": ("inspect",),
    "pull": ("fetch",), "dependency": ("dep", "dependencies"), ("repo", "list"): ("ls",),
    ("repo", "remove"): ("rm",), ("repo", "update"): ("up",), ("plugin", "list"): ("ls",),
    ("dependency", "list"): ("ls",), ("dependency", "update"): ("up",),
}


def _tree():
    tree = {}
    for cmd in _COMMANDS:
        node = tree
        for word in cmd.path[:-1]:
            node = node.setdefault(word, {})
        node[cmd.path[-1]] = cmd
    for target, names in ALIASES.items():
        if isinstance(target, str):
            for alias in names:
                tree[alias] = tree[target]
        else:
            group = tree[target[0]]
            for alias in names:
                group[alias] = group[target[1]]
    for alias in ALIASES["dependency"]:
        tree[alias] = tree["dependency"]
    return tree


TREE = _tree()
ALL_FLAGS = GLOBAL_FLAGS + [f for c in _COMMANDS for f in c.flags]


def _group_help(path, node):
    name = "helm" + "".join(" " + p for p in path)
    subs = sorted({k for k, v in node.items() if not (isinstance(v, Command) and k not in v.path)})
    return "Usage:\n  %s [command]\n\nAvailable Commands:\n%s\n(helm test double)\n" % (
        name, "".join("  %s\n" % s for s in subs))


def run(argv, out, err, seen=None):
    path, node, rest = split_command(argv, TREE, ALL_FLAGS)
    if seen is not None:
        seen["command"] = " ".join(node.path if isinstance(node, Command) else path)
    if not isinstance(node, Command):
        # a group (or the root) without a runnable sub-command
        words = [a for a in rest if not a.startswith("-")]
        if words:
            where = "helm" + "".join(" " + p for p in path)
            raise UsageError('unknown command "%s" for "%s"%s' % (
                words[0], where, "\nRun '%s --help' for usage." % where if not path else ""))
        parsed = parse(rest, GLOBAL_FLAGS)
        out.write(_group_help(path, node))
        return 0, " ".join(path), parsed
    cmd = node
    parsed = parse(rest, GLOBAL_FLAGS + cmd.flags)
    if parsed.values.get("help"):
        out.write("Usage:  %s\n(helm test double)\n" % cmd.usage)
        return 0, " ".join(cmd.path), parsed
    if not (cmd.min_args <= len(parsed.args) <= cmd.max_args) and cmd.path != ("install",):
        raise UsageError(_args_error(cmd, len(parsed.args)))
    if cmd.path == ("install",) and not 1 <= len(parsed.args) <= 2:
        raise UsageError(_args_error(cmd, len(parsed.args)))
    ctx = Context(Settings(parsed), out, err)
    opts = dict(parsed.values)
    opts["_changed"] = parsed.changed
    cmd.handler(ctx, parsed.args, opts)
    return 0, " ".join(cmd.path), parsed


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    started = time.time()
    out, err = io.StringIO(), io.StringIO()
    seen = {"command": ""}
    try:
        code, _, _ = run(argv, out, err, seen)
    except (UsageError, HelmError, KubeError) as exc:
        message = str(exc)
        if isinstance(exc, Unreachable) and "cluster unreachable" not in message:
            message = "Kubernetes cluster unreachable: " + message
        err.write("Error: %s\n" % message)
        code = 1
    stdout_text, stderr_text = out.getvalue(), err.getvalue()
    sys.stdout.write(stdout_text)
    sys.stdout.flush()
    sys.stderr.write(stderr_text)
    sys.stderr.flush()
    record.write(argv, code, len(stdout_text.encode("utf-8")), len(stderr_text.encode("utf-8")), started,
                 seen["command"])
    return code

