"""Release storage of the helm test double, byte-compatible with helm 3's "secret" driver:
Secret ``sh.helm.release.v1.<name>.v<revision>``, type ``helm.sh/release.v1``, labels
``name``/``owner=helm``/``status``/``version`` (+ ``createdAt``/``modifiedAt``), and
``data.release`` = base64(gzip(JSON release)) (stored by Kubernetes base64-encoded once more)."""

import base64
import datetime
import gzip
import json
import time

from .kube import KubeError

SECRET_TYPE = "helm.sh/release.v1"
_GZIP_MAGIC = b"\x1f\x8b\x08"


class ReleaseNotFound(Exception):
    pass


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def go_rfc3339nano(moment):
    """time.Time JSON form, e.g. 2026-11-25T11:53:47.123456789Z (microseconds are what Python has)."""
    text = moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def parse_time(text):
    if not text:
        return None
    core = text.rstrip("Z")
    if "." in core:
        head, frac = core.split(".", 1)
        core = head + "." + frac[:6]
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(core, fmt).replace(tzinfo=datetime.timezone.utc)


def go_time_string(moment):
    """time.Time.String() in UTC: 2026-11-25 11:53:47.123456 +0000 UTC (as `helm list` prints it)."""
    text = moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + " +0000 UTC"


def go_ansic(moment):
    """time.ANSIC as `helm install` prints LAST DEPLOYED (local time)."""
    return moment.astimezone().strftime("%a %b %e %H:%M:%S %Y")


def encode_release(release):
    raw = json.dumps(release, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


def decode_release(data):
    raw = base64.b64decode(data)
    if raw[:3] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    return json.loads(raw)


def secret_name(name, version):
    return "sh.helm.release.v1.%s.v%d" % (name, version)


class SecretStorage:
    def __init__(self, kube, namespace):
        self.kube = kube
        self.namespace = namespace

    def _secret(self, release, extra_label):
        labels = dict(release.get("labels") or {})
        labels.update({
            "name": release["name"],
            "owner": "helm",
            "status": release["info"]["status"],
            "version": str(release["version"]),
        })
        labels.update(extra_label)
        encoded = encode_release(release)
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name(release["name"], release["version"]), "namespace": self.namespace,
                         "labels": labels},
            "type": SECRET_TYPE,
            "data": {"release": base64.b64encode(encoded.encode("ascii")).decode("ascii")},
        }

    def create(self, release):
        obj = self._secret(release, {"createdAt": str(int(time.time()))})
        try:
            self.kube.create(obj, self.namespace)
        except KubeError as exc:
            if exc.status == 409:
                raise KubeError("create: failed to create: secrets \"%s\" already exists"
                                % obj["metadata"]["name"], status=409) from None
            raise KubeError("create: failed to create: %s" % exc, status=exc.status) from None

    def update(self, release):
        obj = self._secret(release, {"modifiedAt": str(int(time.time()))})
        try:
            self.kube.replace(obj, self.namespace)
        except KubeError as exc:
            raise KubeError("update: failed to update: %s" % exc, status=exc.status) from None

    def delete(self, name, version):
        self.kube.delete({"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": secret_name(name, version), "namespace": self.namespace}},
                         self.namespace)

    def query(self, name=None, all_namespaces=False):
        selector = "owner=helm" + (",name=%s" % name if name else "")
        try:
            items = self.kube.list("v1", "Secret", None if all_namespaces else self.namespace, selector)
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        releases = []
        for item in items:
            if item.get("type") != SECRET_TYPE:
                continue
            data = (item.get("data") or {}).get("release")
            if not data:
                continue
            release = decode_release(base64.b64decode(data).decode("ascii"))
            releases.append(release)
        return releases

    def history(self, name):
        return sorted(self.query(name), key=lambda r: r["version"])

    def last(self, name):
        history = self.history(name)
        if not history:
            raise ReleaseNotFound(name)
        return history[-1]

    def get(self, name, version):
        for release in self.history(name):
            if release["version"] == version:
                return release
        raise ReleaseNotFound(name)

    def deployed(self, name):
        deployed = [r for r in self.history(name) if r["info"]["status"] == "deployed"]
        return deployed[-1] if deployed else None
