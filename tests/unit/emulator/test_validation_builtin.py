"""Built-in kinds against the real v1.36 OpenAPI schemas (kubernetes-validate, strict): decoding errors,
unknown fields in the three fieldValidation modes, kube-apiserver's defaults and semantic validation."""

import copy

import pytest

from k8s_emulator.registry import BUILTIN
from k8s_emulator.validation import Validator

RT = {rt.kind: rt for rt in BUILTIN}


@pytest.fixture(scope="module")
def v():
    return Validator()


def messages(result):
    return [f"{c.field}: {c.message}" for c in result.errors]


def deployment(image="ghcr.io/example/mcp-ui:1.2.0"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "mcp-ui", "namespace": "mcp", "labels": {"app": "mcp-ui"}},
            "spec": {"selector": {"matchLabels": {"app": "mcp-ui"}},
                     "template": {"metadata": {"labels": {"app": "mcp-ui"}},
                                  "spec": {"containers": [{"name": "ui", "image": image,
                                                           "ports": [{"name": "http", "containerPort": 3000}],
                                                           "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}}]}}}}


def statefulset():
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "hubspot-mcp", "namespace": "mcp"},
            "spec": {"serviceName": "hubspot-mcp", "selector": {"matchLabels": {"app": "hubspot-mcp"}},
                     "template": {"metadata": {"labels": {"app": "hubspot-mcp"}},
                                  "spec": {"containers": [{"name": "mcp", "image": "example/hubspot-mcp:latest"}]}}}}


def service(**spec):
    body = {"selector": {"app": "mcp-example"}, "ports": [{"name": "http", "port": 8000}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mcp-example", "namespace": "mcp"}, "spec": body}


def cronjob(schedule="*/23 * * * *"):
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hubspot-token-refresh", "namespace": "mcp"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "serviceAccountName": "hubspot-refresher",
                "containers": [{"name": "refresh", "image": "python:3.13-slim", "command": ["python", "/app/refresh.py"]}]}}}}}}


# -- defaults ----------------------------------------------------------------------------------------
def test_deployment_defaults_match_kube_apiserver(v):
    obj = deployment()
    before = copy.deepcopy(obj)
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert r.errors == [] and r.bad_request == [] and r.warnings == []
    assert obj == before
    spec = r.obj["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["schedulerName"], pod["terminationGracePeriodSeconds"],
            pod["securityContext"]) == ("Always", "ClusterFirst", "default-scheduler", 30, {})
    c = pod["containers"][0]
    assert (c["terminationMessagePath"], c["terminationMessagePolicy"], c["imagePullPolicy"]) == \
        ("/dev/termination-log", "File", "IfNotPresent")
    assert c["ports"][0]["protocol"] == "TCP" and c["resources"] == {}
    probe = c["readinessProbe"]
    assert (probe["timeoutSeconds"], probe["periodSeconds"], probe["successThreshold"], probe["failureThreshold"],
            probe["httpGet"]["scheme"]) == (1, 10, 1, 3, "HTTP")


@pytest.mark.parametrize("image,policy", [("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
                                          ("registry:5000/team/app", "Always"),
                                          ("repo/app@sha256:" + "a" * 64, "IfNotPresent")])
def test_image_pull_policy_default(v, image, policy):
    r = v.validate_builtin(deployment(image), RT["Deployment"], "Strict")
    assert r.obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_statefulset_defaults(v):
    r = v.validate_builtin(statefulset(), RT["StatefulSet"], "Strict")
    assert r.errors == [], messages(r)
    spec = r.obj["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady" and spec["replicas"] == 1
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["revisionHistoryLimit"] == 10


def test_service_defaults(v):
    r = v.validate_builtin(service(), RT["Service"], "Strict")
    assert r.errors == []
    spec = r.obj["spec"]
    assert (spec["type"], spec["sessionAffinity"], spec["internalTrafficPolicy"]) == ("ClusterIP", "None", "Cluster")
    assert spec["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": 8000}]
    assert "clusterIP" not in spec, "clusterIP allocation belongs to the server core"


def test_cronjob_and_job_defaults(v):
    r = v.validate_builtin(cronjob(), RT["CronJob"], "Strict")
    assert r.errors == [], messages(r)
    spec = r.obj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst" and pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "mcp"},
           "spec": copy.deepcopy(cronjob()["spec"]["jobTemplate"]["spec"])}
    r = v.validate_builtin(job, RT["Job"], "Strict")
    assert r.errors == [], messages(r)
    assert (r.obj["spec"]["backoffLimit"], r.obj["spec"]["completions"], r.obj["spec"]["parallelism"],
            r.obj["spec"]["suspend"], r.obj["spec"]["completionMode"]) == (6, 1, 1, False, "NonIndexed")


def test_secret_type_defaults_to_opaque(v):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hubspot-access-token", "namespace": "mcp"},
              "data": {"token": "c2VjcmV0"}}
    r = v.validate_builtin(secret, RT["Secret"], "Strict")
    assert r.errors == [] and r.obj["type"] == "Opaque"


def test_namespace_gets_its_name_label(v):
    r = v.validate_builtin({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mcp"}}, RT["Namespace"], "Strict")
    assert r.obj["metadata"]["labels"] == {"kubernetes.io/metadata.name": "mcp"}


@pytest.mark.parametrize("kind,factory", [("Deployment", deployment), ("StatefulSet", statefulset),
                                          ("Service", service), ("CronJob", cronjob)])
def test_defaults_are_idempotent(v, kind, factory):
    first = v.validate_builtin(factory(), RT[kind], "Strict")
    second = v.validate_builtin(first.obj, RT[kind], "Strict")
    assert first.errors == [] and second.errors == [] and second.obj == first.obj


# -- decoding: unknown fields and types ------------------------------------------------------------------
def _with_unknown_field():
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["foo"] = "bar"
    obj["spec"]["bogus"] = 1
    return obj


def test_unknown_field_strict(v):
    r = v.validate_builtin(_with_unknown_field(), RT["Deployment"], "Strict")
    # document order, as the strict JSON decoder meets them
    assert r.bad_request == ['unknown field "spec.template.spec.containers[0].foo"', 'unknown field "spec.bogus"']
    assert r.bad_request_message == ('strict decoding error: unknown field "spec.template.spec.containers[0].foo", '
                                     'unknown field "spec.bogus"')


def test_unknown_field_warn(v):
    r = v.validate_builtin(_with_unknown_field(), RT["Deployment"], "Warn")
    assert r.bad_request == [] and r.errors == []
    assert r.warnings == ['unknown field "spec.template.spec.containers[0].foo"', 'unknown field "spec.bogus"']
    assert "foo" not in r.obj["spec"]["template"]["spec"]["containers"][0] and "bogus" not in r.obj["spec"]


def test_unknown_field_ignore(v):
    r = v.validate_builtin(_with_unknown_field(), RT["Deployment"], "Ignore")
    assert r.bad_request == [] and r.warnings == [] and r.errors == []
    assert "bogus" not in r.obj["spec"]


def test_type_mismatch_is_a_decoding_error_in_every_mode(v):
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "3000"
    for mode in ("Strict", "Warn", "Ignore"):
        r = v.validate_builtin(obj, RT["Deployment"], mode)
        assert r.bad_request == ["json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec."
                                 "containers.ports.containerPort of type int32"]


def test_replicas_out_of_int32_range(v):
    obj = deployment()
    obj["spec"]["replicas"] = 2 ** 31
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert r.bad_request == ["json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32"]


def test_secret_data_must_be_base64(v):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "mcp"}, "data": {"k": "no!"}}
    r = v.validate_builtin(secret, RT["Secret"], "Strict")
    assert r.bad_request == ["illegal base64 data at input byte 2"]


def test_null_fields_decode_to_absent(v):
    obj = deployment()
    obj["metadata"]["annotations"] = None
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert r.errors == [] and "annotations" not in r.obj["metadata"]


# -- semantic validation ---------------------------------------------------------------------------------
def test_object_name_must_be_dns_subdomain(v):
    obj = deployment()
    obj["metadata"]["name"] = "MCP_UI"
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert messages(r) == ['metadata.name: Invalid value: "MCP_UI": a lowercase RFC 1123 subdomain must consist of lower '
                           "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                           "character (e.g. 'example.com', regex used for validation is "
                           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]


def test_name_required(v):
    obj = deployment()
    del obj["metadata"]["name"]
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert messages(r) == ["metadata.name: Required value: name or generateName is required"]


def test_service_name_must_be_dns1035_label(v):
    obj = service()
    obj["metadata"]["name"] = "1mcp"
    r = v.validate_builtin(obj, RT["Service"], "Strict")
    assert messages(r)[0].startswith('metadata.name: Invalid value: "1mcp": a DNS-1035 label must consist of')


def test_selector_must_match_template_labels(v):
    obj = deployment()
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert messages(r) == ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
                           '`selector` does not match template `labels`']


def test_selector_is_required(v):
    obj = statefulset()
    del obj["spec"]["selector"]
    r = v.validate_builtin(obj, RT["StatefulSet"], "Strict")
    assert "spec.selector: Required value" in messages(r)


def test_container_checks(v):
    obj = deployment()
    pod = obj["spec"]["template"]["spec"]
    pod["containers"].append({"name": "ui", "image": "x:1", "ports": [{"containerPort": 70000, "name": "Bad_Name"}],
                              "volumeMounts": [{"name": "missing", "mountPath": "/data"}],
                              "imagePullPolicy": "Sometimes"})
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    text = messages(r)
    assert 'spec.template.spec.containers[1].name: Duplicate value: "ui"' in text
    assert "spec.template.spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive" in text
    assert 'spec.template.spec.containers[1].ports[0].name: Invalid value: "Bad_Name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)' in text
    assert 'spec.template.spec.containers[1].volumeMounts[0].name: Not found: "missing"' in text
    assert ('spec.template.spec.containers[1].imagePullPolicy: Unsupported value: "Sometimes": supported values: '
            '"Always", "IfNotPresent", "Never"') in text


def test_containers_required_and_name_required(v):
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"] = [{"image": "x:1"}]
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert messages(r) == ["spec.template.spec.containers[0].name: Required value"]
    obj["spec"]["template"]["spec"]["containers"] = []
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert "spec.template.spec.containers: Required value" in messages(r)


def test_pod_requires_image_but_templates_do_not(v):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "mcp"},
           "spec": {"containers": [{"name": "c"}]}}
    assert messages(v.validate_builtin(pod, RT["Pod"], "Strict")) == ["spec.containers[0].image: Required value"]
    assert v.validate_builtin(deployment(image=None), RT["Deployment"], "Strict").errors == []


def test_deployment_template_restart_policy_must_be_always(v):
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    r = v.validate_builtin(obj, RT["Deployment"], "Strict")
    assert messages(r) == ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']


def test_job_without_restart_policy_is_rejected_after_defaulting(v):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "mcp"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    r = v.validate_builtin(job, RT["Job"], "Strict")
    assert messages(r) == ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']


@pytest.mark.parametrize("schedule,message", [
    ("", "spec.schedule: Required value"),
    ("*/23 * * *", 'spec.schedule: Invalid value: "*/23 * * *": expected exactly 5 fields, found 4: [*/23 * * *]'),
    ("61 * * * *", 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'),
])
def test_cronjob_schedule(v, schedule, message):
    r = v.validate_builtin(cronjob(schedule), RT["CronJob"], "Strict")
    assert messages(r) == [message]


def test_cronjob_name_limit(v):
    obj = cronjob()
    obj["metadata"]["name"] = "a" * 53
    assert messages(v.validate_builtin(obj, RT["CronJob"], "Strict")) == [
        'metadata.name: Invalid value: "' + "a" * 53 + '": must be no more than 52 characters']


def test_service_port_checks(v):
    obj = service(ports=[{"port": 8000}, {"port": 0, "name": "http", "protocol": "HTTP"}])
    r = v.validate_builtin(obj, RT["Service"], "Strict")
    text = messages(r)
    assert "spec.ports[0].name: Required value" in text
    assert "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive" in text
    assert 'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"' in text
    assert "spec.ports: Required value" in messages(v.validate_builtin(service(ports=[]), RT["Service"], "Strict"))


def test_label_and_annotation_syntax(v):
    obj = service()
    obj["metadata"]["labels"] = {"app": "bad value!"}
    obj["metadata"]["annotations"] = {"a/b/c": "x"}
    text = messages(v.validate_builtin(obj, RT["Service"], "Strict"))
    assert any(m.startswith('metadata.labels: Invalid value: "bad value!": a valid label must be an empty string') for m in text)
    assert any(m.startswith('metadata.annotations: Invalid value: "a/b/c": a qualified name must consist of') for m in text)


def test_secret_and_configmap_keys(v):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "mcp"}, "data": {"bad key": "eA=="}}
    assert messages(v.validate_builtin(secret, RT["Secret"], "Strict")) == [
        "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' "
        "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
    tls = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t", "namespace": "mcp"}, "type": "kubernetes.io/tls",
           "data": {"tls.crt": "eA=="}}
    assert messages(v.validate_builtin(tls, RT["Secret"], "Strict")) == ["data[tls.key]: Required value"]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "mcp"}, "data": {"..x": "1"}}
    assert messages(v.validate_builtin(cm, RT["ConfigMap"], "Strict")) == ["data[..x]: Invalid value: \"..x\": must not start with '..'"]


def test_rbac_rules_and_bindings(v):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "mcp"},
            "rules": [{"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": []}, {"verbs": ["get"]}]}
    assert messages(v.validate_builtin(role, RT["Role"], "Strict")) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[1].resources: Required value: resource rules must supply at least one resource"]
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "mcp"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Deployment", "name": "r"},
               "subjects": [{"kind": "ServiceAccount", "name": "hubspot-refresher", "namespace": "mcp"}]}
    assert messages(v.validate_builtin(binding, RT["RoleBinding"], "Strict")) == [
        'roleRef.kind: Unsupported value: "Deployment": supported values: "Role", "ClusterRole"']
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
           "subjects": [{"kind": "ServiceAccount", "name": "sa"}, {"kind": "User", "name": "alice"}]}
    r = v.validate_builtin(crb, RT["ClusterRoleBinding"], "Strict")
    assert messages(r) == ["subjects[0].namespace: Required value"]
    assert r.obj["subjects"][1]["apiGroup"] == "rbac.authorization.k8s.io"


def test_kind_without_schema_passes_through(v):
    from k8s_emulator.registry import ResourceType

    unknown = ResourceType("example.com", "v1", "Nothing", "nothings", True)
    obj = {"apiVersion": "example.com/v1", "kind": "Nothing", "metadata": {"name": "x"}}
    r = v.validate_builtin(obj, unknown, "Strict")
    assert r.obj == obj and r.obj is not obj and r.errors == []
