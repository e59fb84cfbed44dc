# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HubSpot access-token refresher: the program of the token_refresh CronJob.

Runs on a stock python:3.13-slim image with nothing installed (standard library only), as
``python3 /opt/refresher/hubspot_refresher.py`` with ``PYTHONPATH=/opt/refresher``; the
ConfigMap mounted there holds this file and ``hubspot_oauth.py`` (the collection's
plugins/module_utils/hubspot_oauth.py) side by side.

What it does, in order:
  1. exchanges HUBSPOT_REFRESH_TOKEN at HUBSPOT_TOKEN_URL (retries 429/5xx/timeouts with backoff);
  2. GETs Secret TOKEN_SECRET_NAME, sets data[TOKEN_SECRET_KEY] and the expiry annotations
     (mcp-gateway.io/expires-at, mcp-gateway.io/refreshed-at) and PUTs it back with
     metadata.resourceVersion (re-reading and retrying on 409 Conflict);
  3. rollout-restarts RESTART_KIND/RESTART_NAME (strategic merge patch of the pod template
     annotation kubectl.kubernetes.io/restartedAt, like ``kubectl rollout restart``).
Any HubSpot failure exits non-zero before the Secret is touched. Logs go to stdout and never
contain a secret.

Environment:
  HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, HUBSPOT_REFRESH_TOKEN   (required; secretKeyRef env the kubelet
      fills from Secret hubspot-oauth-credentials keys client_id, client_secret, refresh_token, or from the
      operator's Secret/key of each token_refresh_*_from_secret: this program never reads them from the API,
      so its ServiceAccount has no access to those Secrets)
  HUBSPOT_REFRESH_TOKEN_SOURCE  where the refresh token is kept, for the log line when HubSpot rotates it
                                (default "Secret hubspot-oauth-credentials key refresh_token")
  HUBSPOT_TOKEN_URL        default https://api.hubapi.com/oauth/v1/token
  TOKEN_SECRET_NAME        default hubspot-access-token
  TOKEN_SECRET_KEY         default access_token
  RESTART_KIND             default StatefulSet (or Deployment, DaemonSet)
  RESTART_NAME             default hubspot-mcp
  POD_NAMESPACE            default: the namespace file of the service account
  KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT   (set by the kubelet)
  SERVICEACCOUNT_DIR       default /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace)
  REQUEST_TIMEOUT_SECONDS  default 10 (each HTTP request; a HubSpot attempt ends within it, its whole answer
                           included, so the exchange ends within 5 attempts plus 15 s of waits)

Exit codes: 0 done; 1 HubSpot exchange failed (Secret untouched); 2 configuration error;
3 Kubernetes API error (Secret update or restart failed).

RBAC the CronJob's ServiceAccount needs (Role in the CronJob's namespace), nothing more:
  - apiGroups: [""]      resources: [secrets]       resourceNames: [hubspot-access-token]  verbs: [get, update]
  - apiGroups: [apps]    resources: [statefulsets]  resourceNames: [hubspot-mcp]           verbs: [get, patch]
The Secret must already exist (``create`` cannot be limited by resourceNames).
"""

import base64
import datetime
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import hubspot_oauth
except ImportError:  # running from a checkout of the collection (tests)
    from ansible_collections.mcp_gateway.platform.plugins.module_utils import hubspot_oauth

DEFAULT_SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
WORKLOAD_RESOURCES = {"StatefulSet": "statefulsets", "Deployment": "deployments", "DaemonSet": "daemonsets"}
CONFLICT_RETRIES = 5

EXIT_OK, EXIT_HUBSPOT, EXIT_CONFIG, EXIT_KUBERNETES = 0, 1, 2, 3


def log(message):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stdout.write("%s hubspot-refresher: %s\n" % (stamp, message))
    sys.stdout.flush()


class ConfigError(Exception):
    pass


class KubernetesError(Exception):
    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Config:
    def __init__(self, env):
        missing = [n for n in ("HUBSPOT_CLIENT_ID", "HUBSPOT_CLIENT_SECRET", "HUBSPOT_REFRESH_TOKEN") if not env.get(n)]
        if missing:
            raise ConfigError("missing environment variable(s): %s" % ", ".join(missing))
        self.client_id = env["HUBSPOT_CLIENT_ID"]
        self.client_secret = env["HUBSPOT_CLIENT_SECRET"]
        self.refresh_token = env["HUBSPOT_REFRESH_TOKEN"]
        self.refresh_token_source = (env.get("HUBSPOT_REFRESH_TOKEN_SOURCE")
                                     or "Secret hubspot-oauth-credentials key refresh_token")
        self.token_url = env.get("HUBSPOT_TOKEN_URL") or hubspot_oauth.DEFAULT_TOKEN_URL
        self.secret_name = env.get("TOKEN_SECRET_NAME") or "hubspot-access-token"
        self.secret_key = env.get("TOKEN_SECRET_KEY") or "access_token"
        self.restart_kind = env.get("RESTART_KIND") or "StatefulSet"
        if self.restart_kind not in WORKLOAD_RESOURCES:
            raise ConfigError("RESTART_KIND must be one of %s, got %r" % (", ".join(WORKLOAD_RESOURCES), self.restart_kind))
        self.restart_name = env.get("RESTART_NAME") or "hubspot-mcp"
        self.sa_dir = env.get("SERVICEACCOUNT_DIR") or DEFAULT_SA_DIR
        try:
            self.timeout = float(env.get("REQUEST_TIMEOUT_SECONDS") or 10)
        except ValueError:
            raise ConfigError("REQUEST_TIMEOUT_SECONDS must be a number of seconds")
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT") or "443"
        if not host:
            raise ConfigError("KUBERNETES_SERVICE_HOST is not set (not running in a cluster?)")
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host  # IPv6
        self.api_server = "https://%s:%s" % (host, port)
        self.namespace = env.get("POD_NAMESPACE") or self._read_sa_file("namespace")

    def _read_sa_file(self, name):
        path = os.path.join(self.sa_dir, name)
        try:
            with open(path) as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError("cannot read %s: %s" % (path, exc.strerror))


class InClusterClient:
    """A small Kubernetes API client: TLS with the service-account CA, bearer token re-read per request."""

    def __init__(self, api_server, sa_dir, timeout):
        self.api_server = api_server
        self.sa_dir = sa_dir
        self.timeout = timeout
        ca_file = os.path.join(sa_dir, "ca.crt")
        try:
            self.context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("cannot load the service-account CA %s: %s" % (ca_file, exc))

    def _token(self):
        # Bound service-account tokens are rotated by the kubelet: read the file every time.
        path = os.path.join(self.sa_dir, "token")
        try:
            with open(path) as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError("cannot read the service-account token %s: %s" % (path, exc.strerror))

    def request(self, method, path, body=None, content_type="application/json"):
        headers = {"Authorization": "Bearer " + self._token(), "Accept": "application/json",
                   "User-Agent": "hubspot-refresher/1.0"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.api_server + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                return json.loads(resp.read().decode("utf-8") or "{}")
        except urllib.error.HTTPError as err:
            try:
                status = json.loads(err.read().decode("utf-8"))
                message = status.get("message") or err.reason
            except (ValueError, OSError, AttributeError):
                message = err.reason
            raise KubernetesError("%s %s: HTTP %d: %s" % (method, path, err.code, message), status=err.code)
        except (urllib.error.URLError, OSError) as err:
            raise KubernetesError("%s %s: %s" % (method, path, getattr(err, "reason", err)))


def update_secret(client, cfg, access_token, expires_in):
    """Read-modify-write of the token Secret with a resourceVersion precondition."""
    path = "/api/v1/namespaces/%s/secrets/%s" % (urllib.parse.quote(cfg.namespace), urllib.parse.quote(cfg.secret_name))
    encoded = base64.b64encode(access_token.encode("utf-8")).decode("ascii")
    for attempt in range(1, CONFLICT_RETRIES + 1):
        secret = client.request("GET", path)
        metadata = secret.setdefault("metadata", {})
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations") or {}
        annotations.update(hubspot_oauth.expiry_annotations(expires_in))
        metadata["annotations"] = annotations
        secret["data"] = dict(secret.get("data") or {}, **{cfg.secret_key: encoded})
        try:
            # metadata.resourceVersion from the GET is the precondition: 409 if someone wrote since.
            client.request("PUT", path, secret)
        except KubernetesError as exc:
            if exc.status == 409 and attempt < CONFLICT_RETRIES:
                log("Secret %s/%s changed while updating it (409); re-reading (attempt %d)"
                    % (cfg.namespace, cfg.secret_name, attempt))
                continue
            raise
        log("updated Secret %s/%s key %s (expires-at %s)"
            % (cfg.namespace, cfg.secret_name, cfg.secret_key, annotations[hubspot_oauth.ANNOTATION_EXPIRES_AT]))
        return


def restart_workload(client, cfg):
    restarted_at = hubspot_oauth.format_rfc3339(hubspot_oauth.utcnow())
    path = "/apis/apps/v1/namespaces/%s/%s/%s" % (
        urllib.parse.quote(cfg.namespace), WORKLOAD_RESOURCES[cfg.restart_kind], urllib.parse.quote(cfg.restart_name))
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: restarted_at}}}}}
    client.request("PATCH", path, patch, content_type="application/strategic-merge-patch+json")
    log("restarted %s %s/%s (restartedAt %s)" % (cfg.restart_kind, cfg.namespace, cfg.restart_name, restarted_at))


def main(env=None):
    env = os.environ if env is None else env
    try:
        cfg = Config(env)
        client = InClusterClient(cfg.api_server, cfg.sa_dir, cfg.timeout)
    except ConfigError as exc:
        log("configuration error: %s" % exc)
        return EXIT_CONFIG
    log("refreshing the HubSpot access token (token URL %s, Secret %s/%s)"
        % (cfg.token_url, cfg.namespace, cfg.secret_name))
    started = time.monotonic()
    try:
        token = hubspot_oauth.refresh_access_token(
            cfg.client_id, cfg.client_secret, cfg.refresh_token, token_url=cfg.token_url,
            timeout=cfg.timeout, log=log)
    except hubspot_oauth.HubSpotOAuthError as exc:
        kind = "permanent" if exc.permanent else "transient"
        log("HubSpot exchange failed (%s): %s; Secret %s/%s left unchanged" % (kind, exc, cfg.namespace, cfg.secret_name))
        return EXIT_HUBSPOT
    log("HubSpot exchange took %.2fs; new token valid for %ds" % (time.monotonic() - started, token.expires_in))
    if token.refresh_token_rotated:
        log("warning: HubSpot returned a different refresh token; %s still holds the old one "
            "(this job may not write it)" % cfg.refresh_token_source)
    try:
        update_secret(client, cfg, token.access_token, token.expires_in)
        restart_workload(client, cfg)
    except (KubernetesError, ConfigError) as exc:
        log("Kubernetes API error: %s" % exc)
        return EXIT_KUBERNETES
    log("done")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
