"""``helm repo`` state for the helm test double: repositories.yaml in helm's own format
(at --repository-config / $HELM_REPOSITORY_CONFIG / helm's default path) and the index
cache file helm writes for each repository."""

import os

import yaml

from . import charts


class RepoError(Exception):
    pass


def load(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        return {"apiVersion": "", "generated": "0001-01-01T00:00:00Z", "repositories": []}
    data.setdefault("repositories", [])
    data["repositories"] = data["repositories"] or []
    return data


def save(path, data):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def find(data, name):
    for entry in data.get("repositories") or []:
        if entry.get("name") == name:
            return entry
    return None


def entry_for(name, url, username="", password="", pass_credentials=False, insecure=False,
              ca_file="", cert_file="", key_file=""):
    return {
        "caFile": ca_file, "certFile": cert_file, "insecure_skip_tls_verify": bool(insecure),
        "keyFile": key_file, "name": name, "pass_credentials_all": bool(pass_credentials),
        "password": password, "url": url, "username": username,
    }


def write_index(cache_dir, name, url):
    """What `helm repo add/update` stores: <cache>/<name>-index.yaml and <name>-charts.txt."""
    os.makedirs(cache_dir, exist_ok=True)
    entries = {}
    for chart_name, versions in charts.REPOSITORIES.get(url.rstrip("/"), {}).items():
        entries[chart_name] = []
        for version, chart in versions.items():
            meta = chart.metadata()
            meta["urls"] = ["%s/%s-%s.tgz" % (url.rstrip("/"), chart_name, version)]
            entries[chart_name].append(meta)
    index = {"apiVersion": "v1", "entries": entries}
    with open(os.path.join(cache_dir, "%s-index.yaml" % name), "w", encoding="utf-8") as handle:
        yaml.safe_dump(index, handle, default_flow_style=False)
    with open(os.path.join(cache_dir, "%s-charts.txt" % name), "w", encoding="utf-8") as handle:
        handle.write("\n".join(sorted(entries)) + ("\n" if entries else ""))


def unreachable_message(url):
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return (
        'looks like "%s" is not a valid chart repository or cannot be reached: Get "%s/index.yaml": '
        "dial tcp: lookup %s: no such host" % (url, url.rstrip("/"), host.split(":")[0])
    )
