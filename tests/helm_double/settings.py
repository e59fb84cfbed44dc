"""helm's global flags and HELM_* environment (cli.EnvSettings), for the helm test double."""

import os

from .flags import Flag

GLOBAL_FLAGS = [
    Flag("burst-limit", "int"),
    Flag("debug", "bool"),
    Flag("kube-apiserver"),
    Flag("kube-as-group", "array"),
    Flag("kube-as-user"),
    Flag("kube-ca-file"),
    Flag("kube-context"),
    Flag("kube-insecure-skip-tls-verify", "bool"),
    Flag("kube-tls-server-name"),
    Flag("kube-token"),
    Flag("kubeconfig"),
    Flag("namespace", short="n"),
    Flag("qps", "float"),
    Flag("registry-config"),
    Flag("repository-cache"),
    Flag("repository-config"),
    Flag("help", "bool", short="h"),
]


def _home():
    return os.path.expanduser("~")


def config_home():
    if os.environ.get("HELM_CONFIG_HOME"):
        return os.environ["HELM_CONFIG_HOME"]
    return os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(_home(), ".config"), "helm")


def cache_home():
    if os.environ.get("HELM_CACHE_HOME"):
        return os.environ["HELM_CACHE_HOME"]
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(_home(), ".cache"), "helm")


def data_home():
    if os.environ.get("HELM_DATA_HOME"):
        return os.environ["HELM_DATA_HOME"]
    return os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.join(_home(), ".local", "share"), "helm")


def _env_bool(name):
    return os.environ.get(name, "").lower() in ("1", "t", "true")


class Settings:
    """Global settings: flag value if given, else the HELM_* variable, else helm's default."""

    def __init__(self, parsed):
        def pick(flag, env, default=""):
            if flag in parsed.changed:
                return parsed.values[flag]
            return os.environ.get(env) or default

        self.kubeconfig = pick("kubeconfig", "KUBECONFIG")  # may be a ':'-separated list
        self.kube_context = pick("kube-context", "HELM_KUBECONTEXT")
        self.kube_token = pick("kube-token", "HELM_KUBETOKEN")
        self.kube_as_user = pick("kube-as-user", "HELM_KUBEASUSER")
        groups = parsed.values.get("kube-as-group") if "kube-as-group" in parsed.changed else [
            g for g in os.environ.get("HELM_KUBEASGROUPS", "").split(",") if g]
        self.kube_as_groups = groups
        self.kube_apiserver = pick("kube-apiserver", "HELM_KUBEAPISERVER")
        self.kube_ca_file = pick("kube-ca-file", "HELM_KUBECAFILE")
        self.kube_tls_server_name = pick("kube-tls-server-name", "HELM_KUBETLS_SERVER_NAME")
        if "kube-insecure-skip-tls-verify" in parsed.changed:
            self.kube_insecure = parsed.values["kube-insecure-skip-tls-verify"]
        else:
            self.kube_insecure = _env_bool("HELM_KUBEINSECURE_SKIP_TLS_VERIFY")
        self.debug = parsed.values.get("debug") if "debug" in parsed.changed else _env_bool("HELM_DEBUG")
        self.namespace_flag = pick("namespace", "HELM_NAMESPACE")
        self.registry_config = pick("registry-config", "HELM_REGISTRY_CONFIG",
                                    os.path.join(config_home(), "registry", "config.json"))
        self.repository_config = pick("repository-config", "HELM_REPOSITORY_CONFIG",
                                      os.path.join(config_home(), "repositories.yaml"))
        self.repository_cache = pick("repository-cache", "HELM_REPOSITORY_CACHE",
                                     os.path.join(cache_home(), "repository"))
        self.plugins = os.environ.get("HELM_PLUGINS") or os.path.join(data_home(), "plugins")
        try:
            self.max_history = int(os.environ.get("HELM_MAX_HISTORY") or 10)
        except ValueError:
            self.max_history = 10
        self.burst_limit = parsed.values.get("burst-limit") if "burst-limit" in parsed.changed else int(
            os.environ.get("HELM_BURST_LIMIT") or 100)
        self.qps = parsed.values.get("qps") if "qps" in parsed.changed else float(os.environ.get("HELM_QPS") or 0)
        self._context_namespace = None

    def env_listing(self):
        """What `helm env` prints."""
        return {
            "HELM_BIN": "helm",
            "HELM_BURST_LIMIT": str(self.burst_limit),
            "HELM_CACHE_HOME": cache_home(),
            "HELM_CONFIG_HOME": config_home(),
            "HELM_DATA_HOME": data_home(),
            "HELM_DEBUG": "true" if self.debug else "false",
            "HELM_KUBEAPISERVER": self.kube_apiserver,
            "HELM_KUBEASGROUPS": ",".join(self.kube_as_groups),
            "HELM_KUBEASUSER": self.kube_as_user,
            "HELM_KUBECAFILE": self.kube_ca_file,
            "HELM_KUBECONTEXT": self.kube_context,
            "HELM_KUBEINSECURE_SKIP_TLS_VERIFY": "true" if self.kube_insecure else "false",
            "HELM_KUBETLS_SERVER_NAME": self.kube_tls_server_name,
            # helm prints the token here; the double never prints credentials
            "HELM_KUBETOKEN": "<set>" if self.kube_token else "",
            "HELM_MAX_HISTORY": str(self.max_history),
            "HELM_NAMESPACE": self.namespace(),
            "HELM_PLUGINS": self.plugins,
            "HELM_QPS": "%.2f" % self.qps,
            "HELM_REGISTRY_CONFIG": self.registry_config,
            "HELM_REPOSITORY_CACHE": self.repository_cache,
            "HELM_REPOSITORY_CONFIG": self.repository_config,
        }

    def kubeconfig_paths(self):
        if self.kubeconfig:
            return [p for p in self.kubeconfig.split(os.pathsep) if p]
        default = os.path.join(_home(), ".kube", "config")
        return [default]

    def namespace(self):
        """-n / HELM_NAMESPACE, else the namespace of the kubeconfig context, else "default"."""
        if self.namespace_flag:
            return self.namespace_flag
        if self._context_namespace is None:
            self._context_namespace = self._namespace_from_kubeconfig() or "default"
        return self._context_namespace

    def _namespace_from_kubeconfig(self):
        import yaml

        current = self.kube_context
        contexts = {}
        for path in self.kubeconfig_paths():
            try:
                with open(os.path.expanduser(path), encoding="utf-8") as handle:
                    data = yaml.safe_load(handle) or {}
            except (OSError, ValueError):
                continue
            if not current and data.get("current-context"):
                current = data["current-context"]
            for ctx in data.get("contexts") or []:
                contexts.setdefault(ctx.get("name"), ctx.get("context") or {})
        return (contexts.get(current) or {}).get("namespace")
