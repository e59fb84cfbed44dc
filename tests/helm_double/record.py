"""The invocation log of the helm test double: one JSON line per call, appended to
``$HELM_DOUBLE_LOG``, else ``helm-calls.jsonl`` next to the kubeconfig in use, else
``~/.cache/helm-double/helm-calls.jsonl``. Credentials are never written: values of
``--kube-token``/``--password``/``HELM_KUBETOKEN`` and of ``--set*`` keys that look like secrets
are replaced by ``<redacted>``."""

import json
import os
import re
import time

REDACTED = "<redacted>"
_SECRET_FLAGS = ("--kube-token", "--password", "--token")
_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|credential|api[_-]?key|private)", re.IGNORECASE)
_SET_FLAGS = ("--set", "--set-string", "--set-literal", "--set-json", "--set-file")
_ENV_KEYS = ("KUBECONFIG", "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")


def log_path(env=None):
    env = os.environ if env is None else env
    if env.get("HELM_DOUBLE_LOG"):
        return env["HELM_DOUBLE_LOG"]
    kubeconfig = (env.get("KUBECONFIG") or "").split(os.pathsep)[0]
    if kubeconfig:
        return os.path.join(os.path.dirname(os.path.abspath(kubeconfig)), "helm-calls.jsonl")
    return os.path.join(os.path.expanduser("~"), ".cache", "helm-double", "helm-calls.jsonl")


def _redact_set(value):
    parts = []
    for item in value.split(","):
        key, sep, _ = item.partition("=")
        parts.append("%s=%s" % (key, REDACTED) if sep and _SECRET_KEY.search(key) else item)
    return ",".join(parts)


def redact_argv(argv):
    out = []
    pending = None
    for arg in argv:
        if pending == "secret":
            out.append(REDACTED)
            pending = None
            continue
        if pending == "set":
            out.append(_redact_set(arg))
            pending = None
            continue
        name, eq, value = arg.partition("=")
        if name in _SECRET_FLAGS:
            if eq:
                out.append(name + "=" + REDACTED)
            else:
                out.append(arg)
                pending = "secret"
            continue
        if name in _SET_FLAGS:
            if eq:
                out.append(name + "=" + _redact_set(value))
            else:
                out.append(arg)
                pending = "set"
            continue
        out.append(arg)
    return out


def relevant_env(env=None):
    env = os.environ if env is None else env
    picked = {}
    for key, value in env.items():
        if key.startswith("HELM_") or key in _ENV_KEYS or key == "MCP_SHARED_CRDS_DIR":
            picked[key] = REDACTED if key == "HELM_KUBETOKEN" and value else value
    return dict(sorted(picked.items()))


def write(argv, exit_code, stdout_bytes, stderr_bytes, started, command, extra=None):
    entry = {
        "time": started,
        "duration_s": round(time.time() - started, 3),
        "argv": redact_argv(list(argv)),
        "command": command,
        "cwd": os.getcwd(),
        "env": relevant_env(),
        "exit_code": exit_code,
        "stdout_bytes": stdout_bytes,
        "stderr_bytes": stderr_bytes,
        "pid": os.getpid(),
    }
    if extra:
        entry.update(extra)
    path = log_path()
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:
        import sys

        sys.stderr.write("helm test double: cannot write the call log %s: %s\n" % (path, exc))


def read(path):
    """All recorded calls (for tests)."""
    calls = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    calls.append(json.loads(line))
    except FileNotFoundError:
        pass
    return calls
