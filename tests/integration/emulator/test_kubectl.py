"""The emulator through the real kubectl 1.36: discovery, CRDs, apply, validation, rollouts, RBAC.

Tests in this module share one emulator and run in file order (later tests use the CRDs and objects
earlier ones created).
"""

from __future__ import annotations

import json
import textwrap
import time

import pytest

GATEWAY_CRDS = "/work/shared/crds/gateway-api-v1.4.0-standard-install.yaml"
AGENTGATEWAY_CRDS = "/work/shared/crds/agentgateway-crds-v2.2.0-beta.4.yaml"

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: default
      labels: {app: web}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: nginx:1.27
            ports:
            - containerPort: 8000
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      namespace: default
    spec:
      selector: {app: web}
      ports:
      - port: 8000
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: web-config
      namespace: default
    data:
      greeting: hello
    """)

ROUTE = textwrap.dedent("""\
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata:
      name: mcp-example
      namespace: default
    spec:
      parentRefs:
      - name: agentgateway-proxy
      rules:
      - matches:
        - path: {type: PathPrefix, value: /mcp/mcp-example}
        backendRefs:
        - name: mcp-example
          port: 8000
    """)


def ok(result):
    assert result.returncode == 0, f"kubectl failed ({result.returncode}): {result.stderr}\n{result.stdout}"
    return result.stdout


def test_version_and_discovery(emulator):
    version = json.loads(ok(emulator.kubectl("version", "-o", "json")))
    assert version["serverVersion"]["gitVersion"] == "v1.36.4"
    resources = ok(emulator.kubectl("api-resources", "-o", "name"))
    for name in ("deployments.apps", "statefulsets.apps", "services", "secrets", "cronjobs.batch",
                 "customresourcedefinitions.apiextensions.k8s.io", "roles.rbac.authorization.k8s.io"):
        assert name in resources.split()
    assert "httproutes.gateway.networking.k8s.io" not in resources


def test_fresh_cluster_has_system_namespaces_and_their_defaults(emulator):
    names = ok(emulator.kubectl("get", "ns", "-o", "jsonpath={.items[*].metadata.name}")).split()
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    for ns in names:
        ok(emulator.kubectl("-n", ns, "get", "configmap/kube-root-ca.crt", "serviceaccount/default"))
    ca = ok(emulator.kubectl("-n", "kube-public", "get", "cm", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}"))
    with open(emulator.ca_file, encoding="ascii") as handle:
        assert ca.strip() == handle.read().strip()
    svc = json.loads(ok(emulator.kubectl("get", "svc", "kubernetes", "-o", "json")))
    assert svc["spec"]["clusterIP"] == "10.96.0.1"


def test_apply_gateway_api_crds_and_wait_established(emulator):
    out = ok(emulator.kubectl("apply", "-f", GATEWAY_CRDS))
    assert "customresourcedefinition.apiextensions.k8s.io/httproutes.gateway.networking.k8s.io created" in out
    out = ok(emulator.kubectl("wait", "--for", "condition=established", "--timeout=20s",
                              "crd/httproutes.gateway.networking.k8s.io", "crd/gateways.gateway.networking.k8s.io"))
    assert "condition met" in out
    crd = json.loads(ok(emulator.kubectl("get", "crd", "httproutes.gateway.networking.k8s.io", "-o", "json")))
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["kind"] == "HTTPRoute"
    assert crd["status"]["storedVersions"] == ["v1"]
    resources = ok(emulator.kubectl("api-resources", "--api-group=gateway.networking.k8s.io", "-o", "name")).split()
    assert "httproutes.gateway.networking.k8s.io" in resources


def test_apply_agentgateway_crds(emulator):
    ok(emulator.kubectl("apply", "--server-side=false", "-f", AGENTGATEWAY_CRDS))
    ok(emulator.kubectl("wait", "--for", "condition=established", "--timeout=20s",
                        "crd/agentgatewaybackends.agentgateway.dev", "crd/agentgatewaypolicies.agentgateway.dev"))
    assert "agentgatewaybackends" in ok(emulator.kubectl("api-resources", "--api-group=agentgateway.dev"))


def test_apply_httproute_and_reapply_is_unchanged(emulator):
    out = ok(emulator.kubectl("apply", "-f", "-", input=ROUTE))
    assert "httproute.gateway.networking.k8s.io/mcp-example created" in out
    route = json.loads(ok(emulator.kubectl("get", "httproute", "mcp-example", "-o", "json")))
    assert route["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/mcp/mcp-example"
    assert route["metadata"]["generation"] == 1
    listed = ok(emulator.kubectl("get", "httproutes"))
    assert listed.splitlines()[0].split() == ["NAME", "HOSTNAMES", "AGE"]
    assert "mcp-example" in listed


def test_apply_workloads_then_reapply_reports_unchanged(emulator):
    out = ok(emulator.kubectl("apply", "-f", "-", input=DEPLOYMENT))
    assert "deployment.apps/web created" in out and "service/web created" in out
    first = json.loads(ok(emulator.kubectl("get", "deploy", "web", "-o", "json")))
    out = ok(emulator.kubectl("apply", "-f", "-", input=DEPLOYMENT))
    assert out.split("\n")[:3] == ["deployment.apps/web unchanged", "service/web unchanged", "configmap/web-config unchanged"]
    again = json.loads(ok(emulator.kubectl("get", "deploy", "web", "-o", "json")))
    assert again["metadata"]["generation"] == first["metadata"]["generation"] == 1
    svc = json.loads(ok(emulator.kubectl("get", "svc", "web", "-o", "json")))
    assert svc["spec"]["clusterIP"].startswith("10.")
    assert svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]]
    assert svc["spec"]["ports"][0]["targetPort"] == 8000 and svc["spec"]["ports"][0]["protocol"] == "TCP"


def test_apply_changed_spec_bumps_generation_only_then(emulator):
    ok(emulator.kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("replicas: 2", "replicas: 3")))
    deploy = json.loads(ok(emulator.kubectl("get", "deploy", "web", "-o", "json")))
    assert deploy["spec"]["replicas"] == 3 and deploy["metadata"]["generation"] == 2
    ok(emulator.kubectl("label", "deploy", "web", "tier=front"))
    deploy = json.loads(ok(emulator.kubectl("get", "deploy", "web", "-o", "json")))
    assert deploy["metadata"]["labels"]["tier"] == "front" and deploy["metadata"]["generation"] == 2


def test_deployment_with_unknown_field_is_rejected_by_apply(emulator):
    bad = DEPLOYMENT.split("---")[0].replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 1\n").replace("name: web\n", "name: web-bad\n", 1)
    result = emulator.kubectl("apply", "-f", "-", input=bad)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.replicaz"' in result.stderr
    assert "Error from server (BadRequest)" in result.stderr
    assert emulator.kubectl("get", "deploy", "web-bad").returncode != 0


def test_custom_resource_breaking_schema_is_rejected_naming_the_field(emulator):
    bad = ROUTE.replace("type: PathPrefix", "type: Prefixish").replace("name: mcp-example\n", "name: bad-route\n", 1)
    result = emulator.kubectl("apply", "-f", "-", input=bad)
    assert result.returncode != 0
    assert 'The HTTPRoute "bad-route" is invalid' in result.stderr
    assert 'spec.rules[0].matches[0].path.type: Unsupported value: "Prefixish"' in result.stderr


def test_custom_resource_breaking_cel_rule_is_rejected(emulator):
    gateway = textwrap.dedent("""\
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: broken, namespace: default}
        spec:
          gatewayClassName: agentgateway
          listeners:
          - name: http
            port: 8080
            protocol: HTTP
            tls:
              mode: Terminate
        """)
    result = emulator.kubectl("apply", "-f", "-", input=gateway)
    assert result.returncode != 0
    assert 'The Gateway "broken" is invalid' in result.stderr
    assert "spec.listeners: Invalid value" in result.stderr
    assert "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']" in result.stderr


def test_printer_columns_of_custom_resources(emulator):
    gateway = textwrap.dedent("""\
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: agentgateway-proxy, namespace: default}
        spec:
          gatewayClassName: agentgateway
          listeners:
          - {name: http, port: 8080, protocol: HTTP}
        """)
    ok(emulator.kubectl("apply", "-f", "-", input=gateway))
    lines = ok(emulator.kubectl("get", "gateway")).splitlines()
    assert lines[0].split() == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
    assert lines[1].split()[:2] == ["agentgateway-proxy", "agentgateway"]


def test_rollout_restart_then_status_completes(emulator):
    before = json.loads(ok(emulator.kubectl("get", "deploy", "web", "-o", "json")))
    out = ok(emulator.kubectl("rollout", "restart", "deployment/web"))
    assert "deployment.apps/web restarted" in out
    status = emulator.kubectl("rollout", "status", "deployment/web", "--timeout=60s", timeout=90)
    assert status.returncode == 0, status.stderr
    assert 'deployment "web" successfully rolled out' in status.stdout
    after = json.loads(ok(emulator.kubectl("get", "deploy", "web", "-o", "json")))
    assert "kubectl.kubernetes.io/restartedAt" in after["spec"]["template"]["metadata"]["annotations"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["status"]["observedGeneration"] == after["metadata"]["generation"]


def test_get_tables_for_builtin_kinds(emulator):
    lines = ok(emulator.kubectl("get", "deploy", "web")).splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    lines = ok(emulator.kubectl("get", "svc", "web")).splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert lines[1].split()[1] == "ClusterIP" and lines[1].split()[4] == "8000/TCP"
    lines = ok(emulator.kubectl("get", "cm", "web-config")).splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"] and lines[1].split()[1] == "1"
    lines = ok(emulator.kubectl("get", "crd", "gateways.gateway.networking.k8s.io")).splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "AT"]


def test_label_selectors(emulator):
    for name, labels in (("sel-a", "tier=front,env=prod"), ("sel-b", "tier=back,env=prod"), ("sel-c", "tier=front")):
        ok(emulator.kubectl("create", "configmap", name))
        ok(emulator.kubectl("label", "configmap", name, *labels.split(",")))

    def names(selector):
        out = ok(emulator.kubectl("get", "cm", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"))
        return sorted(out.split())

    assert names("tier=front") == ["sel-a", "sel-c"]
    assert names("tier==front,env=prod") == ["sel-a"]
    assert names("tier!=front") == sorted(["sel-b", "kube-root-ca.crt", "web-config"])
    assert names("tier in (front,back),env") == ["sel-a", "sel-b"]
    assert names("tier notin (front),tier") == ["sel-b"]
    assert names("!env,tier") == ["sel-c"]
    bad = emulator.kubectl("get", "cm", "-l", "tier in front")
    assert bad.returncode != 0


def test_serviceaccount_token_without_rights_is_forbidden(emulator):
    ok(emulator.kubectl("create", "namespace", "robots"))
    ok(emulator.kubectl("-n", "robots", "create", "serviceaccount", "robot"))
    token = ok(emulator.kubectl("-n", "robots", "create", "token", "robot", "--duration=1h")).strip()
    assert token.count(".") == 2
    denied = emulator.kubectl("-n", "robots", "get", "secrets", token=token)
    assert denied.returncode != 0
    assert ('Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:robots:robot" '
            'cannot list resource "secrets" in API group "" in the namespace "robots"') in denied.stderr
    can = emulator.kubectl("auth", "can-i", "list", "secrets", "-n", "robots", token=token)
    assert can.stdout.strip() == "no" and can.returncode == 1
    ok(emulator.kubectl("-n", "robots", "create", "role", "reader", "--verb=get,list", "--resource=secrets"))
    ok(emulator.kubectl("-n", "robots", "create", "rolebinding", "robot-reader", "--role=reader",
                        "--serviceaccount=robots:robot"))
    allowed = emulator.kubectl("-n", "robots", "get", "secrets", token=token)
    assert allowed.returncode == 0, allowed.stderr
    bad = emulator.kubectl("get", "ns", token=token[:-4] + "AAAA")
    assert bad.returncode != 0 and "Unauthorized" in bad.stderr


def test_deleting_a_crd_removes_its_resources_and_objects(emulator):
    ok(emulator.kubectl("delete", "crd", "grpcroutes.gateway.networking.k8s.io", "--timeout=30s"))
    resources = ok(emulator.kubectl("api-resources", "--api-group=gateway.networking.k8s.io", "-o", "name")).split()
    assert "grpcroutes.gateway.networking.k8s.io" not in resources
    assert "httproutes.gateway.networking.k8s.io" in resources
    gone = emulator.kubectl("get", "grpcroutes")
    assert gone.returncode != 0 and 'the server doesn\'t have a resource type "grpcroutes"' in gone.stderr


@pytest.mark.parametrize("dry_run", ["server"])
def test_server_dry_run_stores_nothing(emulator, dry_run):
    manifest = DEPLOYMENT.split("---")[2].replace("web-config", "dry-config")
    out = ok(emulator.kubectl("apply", f"--dry-run={dry_run}", "-f", "-", input=manifest))
    assert "configmap/dry-config created (server dry run)" in out
    assert emulator.kubectl("get", "cm", "dry-config").returncode != 0


CRONJOB = textwrap.dedent("""\
    apiVersion: batch/v1
    kind: CronJob
    metadata:
      name: refresher
      namespace: default
      labels: {app: refresher}
    spec:
      schedule: "*/30 * * * *"
      jobTemplate:
        metadata:
          labels: {app: refresher}
        spec:
          backoffLimit: 1
          activeDeadlineSeconds: 120
          ttlSecondsAfterFinished: 600
          template:
            metadata:
              labels: {app: refresher}
            spec:
              serviceAccountName: default
              automountServiceAccountToken: false
              restartPolicy: Never
              securityContext:
                runAsNonRoot: true
                seccompProfile: {type: RuntimeDefault}
              containers:
              - name: refresh
                image: registry.example.com/refresher:1.2.3
                env:
                - name: CLIENT_ID
                  valueFrom:
                    secretKeyRef: {name: credentials, key: client_id}
                resources:
                  requests: {cpu: 10m, memory: 32Mi}
                  limits: {cpu: 100m, memory: 64Mi}
                volumeMounts:
                - {name: program, mountPath: /app, readOnly: true}
                securityContext:
                  runAsUser: 65532
                  readOnlyRootFilesystem: true
                  allowPrivilegeEscalation: false
                  capabilities: {drop: [ALL]}
              volumes:
              - name: program
                configMap:
                  name: program
                  items:
                  - {key: refresh.py, path: refresh.py}
    """)


def test_create_job_from_cronjob(emulator):
    # kubectl sends this Job as protobuf
    ok(emulator.kubectl("apply", "-f", "-", input=CRONJOB))
    assert ok(emulator.kubectl("create", "job", "--from=cronjob/refresher", "manual-1")).strip() == "job.batch/manual-1 created"
    cronjob = json.loads(ok(emulator.kubectl("get", "cronjob", "refresher", "-o", "json")))
    job = json.loads(ok(emulator.kubectl("get", "job", "manual-1", "-o", "json")))
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["labels"]["app"] == "refresher"
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "refresher",
                                                   "uid": cronjob["metadata"]["uid"], "controller": True}]
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"], job["spec"]["ttlSecondsAfterFinished"]) == (1, 120, 600)
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec == cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod_spec["containers"]
    assert container["image"] == "registry.example.com/refresher:1.2.3"
    assert container["env"] == [{"name": "CLIENT_ID", "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "client_id"}}}]
    assert container["resources"]["limits"] == {"cpu": "100m", "memory": "64Mi"}
    assert container["securityContext"] == {"runAsUser": 65532, "readOnlyRootFilesystem": True,
                                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert pod_spec["volumes"] == [{"name": "program", "configMap": {"name": "program", "defaultMode": 420,
                                                                     "items": [{"key": "refresh.py", "path": "refresh.py"}]}}]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    deadline, pods = time.monotonic() + 30, []
    while not pods and time.monotonic() < deadline:
        pods = json.loads(ok(emulator.kubectl("get", "pods", "-l", "job-name=manual-1", "-o", "json")))["items"]
    assert len(pods) == 1, "the Job controller made no Pod"
    assert pods[0]["spec"]["containers"][0]["image"] == container["image"]
    assert pods[0]["metadata"]["ownerReferences"][0]["name"] == "manual-1"
