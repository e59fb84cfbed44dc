"""The emulator's patch engines against the real built-in schemas.

Strategic merge patch cases are the upstream apimachinery ``patch_test.go`` raw cases (the three-way
patch kubectl sends, applied to the current object, must give the documented result), transposed from
the test struct's ``mergingList``/``mergingIntList`` onto real fields with the same patch metadata
(``containers`` merged by ``name``, ``finalizers`` a merging list of scalars), plus kubectl-style
patches for containers, env, ports, volumes and retainKeys.
"""

import copy
import json

import pytest

from k8s_emulator.patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from k8s_emulator.registry import BUILTIN

RT = {(rt.group, rt.kind): rt for rt in BUILTIN}
POD = RT[("", "Pod")]
DEPLOYMENT = RT[("apps", "Deployment")]
SERVICE = RT[("", "Service")]


def pod(containers, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers, **spec}}


def containers_of(obj):
    return obj["spec"]["containers"]


def smp_pod(current, patch):
    return strategic_merge_patch(current, {"spec": patch}, POD)


# ----------------------------------------------------------------------------------------------
# strategic merge patch: upstream raw cases on containers (merge key "name")


def test_upstream_merge_lists_of_maps_orders_by_set_element_order():
    current = pod([{"name": "c1", "workingDir": "a"}, {"name": "c2", "image": "2", "workingDir": "b"}])
    patch = {
        "$setElementOrder/containers": [{"name": "c4"}, {"name": "c1"}, {"name": "c2"}, {"name": "c3"}],
        "containers": [{"name": "c4", "image": "4"}, {"name": "c3", "image": "3"}],
    }
    assert containers_of(smp_pod(current, patch)) == [
        {"name": "c4", "image": "4"},
        {"name": "c1", "workingDir": "a"},
        {"name": "c2", "image": "2", "workingDir": "b"},
        {"name": "c3", "image": "3"},
    ]


def test_upstream_add_map_and_delete_map_keeps_server_only_items_in_place():
    current = pod([{"name": "c1"}, {"name": "c2", "workingDir": "b"}, {"name": "c4", "workingDir": "c"}])
    patch = {
        "$setElementOrder/containers": [{"name": "c2"}, {"name": "c3"}],
        "containers": [{"name": "c3"}, {"name": "c1", "$patch": "delete"}],
    }
    assert containers_of(smp_pod(current, patch)) == [
        {"name": "c2", "workingDir": "b"},
        {"name": "c4", "workingDir": "c"},
        {"name": "c3"},
    ]


def test_upstream_nested_patch_merge_with_empty_list():
    current = pod([{"name": "hello2"}])
    patch = {"$setElementOrder/containers": [{"name": "hello"}, {"name": "doesntexist"}], "containers": [{"name": "hello"}]}
    assert containers_of(smp_pod(current, patch)) == [{"name": "hello"}, {"name": "hello2"}]


def test_upstream_delete_missing_map_with_conflict():
    current = pod([{"name": "c3", "workingDir": "a"}])
    patch = {
        "$setElementOrder/containers": [{"name": "c2"}],
        "containers": [{"name": "c2"}, {"name": "c1", "$patch": "delete"}],
    }
    assert containers_of(smp_pod(current, patch)) == [{"name": "c2"}, {"name": "c3", "workingDir": "a"}]


def test_upstream_replace_field_value_in_merging_list():
    current = pod([{"name": "c1", "image": "1", "workingDir": "a"}, {"name": "c2", "image": "2", "workingDir": "b"}])
    patch = {"$setElementOrder/containers": [{"name": "c1"}, {"name": "c2"}], "containers": [{"name": "c1", "image": "a"}]}
    assert containers_of(smp_pod(current, patch)) == [
        {"name": "c1", "image": "a", "workingDir": "a"},
        {"name": "c2", "image": "2", "workingDir": "b"},
    ]


def test_new_list_item_without_order_directive_goes_first():
    # kubectl patch -p '{"spec":{"containers":[{"name":"new",...}]}}' puts the new container first.
    current = pod([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])
    result = smp_pod(current, {"containers": [{"name": "new", "image": "z"}]})
    assert [c["name"] for c in containers_of(result)] == ["new", "a", "b"]


# ----------------------------------------------------------------------------------------------
# merging lists of scalars (finalizers) and $deleteFromPrimitiveList


def meta_patch(current_finalizers, patch):
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "finalizers": current_finalizers}}
    return strategic_merge_patch(obj, {"metadata": patch}, DEPLOYMENT)["metadata"]["finalizers"]


def test_upstream_delete_items_in_lists_of_scalars():
    patch = {"$setElementOrder/finalizers": ["f1", "f2"], "$deleteFromPrimitiveList/finalizers": ["f3"]}
    assert meta_patch(["f1", "f2", "f3", "f4"], patch) == ["f1", "f2", "f4"]


def test_upstream_delete_all_duplicates_in_lists_of_scalars():
    patch = {"$setElementOrder/finalizers": ["f1", "f2"], "$deleteFromPrimitiveList/finalizers": ["f3"]}
    assert meta_patch(["f1", "f2", "f3", "f3", "f4"], patch) == ["f1", "f2", "f4"]


def test_upstream_add_item_in_merging_int_list_keeps_server_only_item_last():
    patch = {"$setElementOrder/finalizers": ["1", "2", "4"], "finalizers": ["4"]}
    assert meta_patch(["1", "2", "3"], patch) == ["1", "2", "4", "3"]


def test_upstream_add_and_delete_items_in_merging_int_list():
    patch = {"finalizers": ["5"], "$deleteFromPrimitiveList/finalizers": ["2"], "$setElementOrder/finalizers": ["1", "3", "5"]}
    assert meta_patch(["1", "2", "3", "4"], patch) == ["1", "3", "5", "4"]


def test_merging_scalar_list_deduplicates_and_adds():
    # Items already live keep their place; items only in the patch come before the server-only ones.
    assert meta_patch(["a", "b"], {"finalizers": ["b", "c"]}) == ["a", "b", "c"]
    assert meta_patch(["a", "b"], {"finalizers": ["c"]}) == ["c", "a", "b"]


def test_delete_from_primitive_list_on_missing_field_adds_nothing():
    obj = {"metadata": {"name": "d"}}
    result = strategic_merge_patch(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, DEPLOYMENT)
    assert "finalizers" not in result["metadata"]


# ----------------------------------------------------------------------------------------------
# kubectl apply style patches on a Deployment: containers, env, ports, volumes


def deployment(containers, volumes=None):
    spec = {"containers": containers}
    if volumes is not None:
        spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "x"}},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}},
    }


def template_spec(obj):
    return obj["spec"]["template"]["spec"]


def test_kubectl_patch_reorders_env_removes_entry_and_adds_port():
    current = deployment([
        {
            "name": "app",
            "image": "app:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
            "ports": [{"containerPort": 8000, "protocol": "TCP"}],
            "terminationMessagePath": "/dev/termination-log",
        }
    ])
    patch = {
        "metadata": {"labels": {"tier": None}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{
                "name": "app",
                "image": "app:2",
                "$setElementOrder/env": [{"name": "C"}, {"name": "A"}],
                "env": [{"$patch": "delete", "name": "B"}],
                "$setElementOrder/ports": [{"containerPort": 8000}, {"containerPort": 9000}],
                "ports": [{"containerPort": 9000, "name": "metrics"}],
            }],
        }}},
    }
    result = strategic_merge_patch(current, patch, DEPLOYMENT)
    (container,) = template_spec(result)["containers"]
    assert container["image"] == "app:2"
    assert container["env"] == [{"name": "C", "value": "3"}, {"name": "A", "value": "1"}]
    assert container["ports"] == [{"containerPort": 8000, "protocol": "TCP"}, {"containerPort": 9000, "name": "metrics"}]
    assert container["terminationMessagePath"] == "/dev/termination-log"  # server-set field survives
    assert result["metadata"]["labels"] == {"app": "web"}


# Recorded from kubectl 1.36.4 ``apply -v=9`` (three-way patch computed from the emulator's OpenAPI v3)
# when d1 (containers a[env A,B,C; port 8000], b; label tier) was re-applied as d2 (containers c, a[env
# C,A; ports 8000, 9000 "metrics"]; no tier label). The last-applied annotation is left out.
KUBECTL_APPLY_PATCH = json.loads(
    '{"metadata":{"labels":{"tier":null}},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"},'
    '{"name":"a"}],"containers":[{"image":"c:1","name":"c"},{"$setElementOrder/env":[{"name":"C"},{"name":"A"}],'
    '"$setElementOrder/ports":[{"containerPort":8000},{"containerPort":9000}],"env":[{"$patch":"delete","name":"B"}],'
    '"image":"a:2","name":"a","ports":[{"containerPort":9000,"name":"metrics"}]},{"$patch":"delete","name":"b"}]}}}}'
)


def test_recorded_kubectl_apply_patch_gives_what_the_server_gives():
    defaults = {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"}
    current = deployment([
        {"name": "a", "image": "a:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
         "ports": [{"containerPort": 8000, "protocol": "TCP"}], **defaults},
        {"name": "b", "image": "b:1", **defaults},
    ])
    result = strategic_merge_patch(current, KUBECTL_APPLY_PATCH, DEPLOYMENT)
    assert result["metadata"]["labels"] == {"app": "web"}
    assert template_spec(result)["containers"] == [
        {"image": "c:1", "name": "c"},
        {"name": "a", "image": "a:2", "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "1"}],
         "ports": [{"containerPort": 8000, "protocol": "TCP"}, {"containerPort": 9000, "name": "metrics"}], **defaults},
    ]


def test_kubectl_patch_adds_and_removes_containers():
    current = deployment([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
        "containers": [{"name": "c", "image": "c"}, {"$patch": "delete", "name": "b"}],
    }}}}
    result = strategic_merge_patch(current, patch, DEPLOYMENT)
    assert template_spec(result)["containers"] == [{"name": "c", "image": "c"}, {"name": "a", "image": "a"}]


def test_volume_mounts_merge_by_mount_path():
    current = deployment([{"name": "a", "volumeMounts": [{"name": "v1", "mountPath": "/data"}]}])
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "volumeMounts": [{"name": "v2", "mountPath": "/data", "readOnly": True}]}
    ]}}}}
    result = strategic_merge_patch(current, patch, DEPLOYMENT)
    assert template_spec(result)["containers"][0]["volumeMounts"] == [{"name": "v2", "mountPath": "/data", "readOnly": True}]


def test_retain_keys_on_volume_switches_source():
    current = deployment([{"name": "a"}], volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}])
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "v"}, {"name": "w"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "cm"}}],
    }}}}
    result = strategic_merge_patch(current, patch, DEPLOYMENT)
    assert template_spec(result)["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "emptyDir": {}}]


def test_retain_keys_on_deployment_strategy():
    current = deployment([{"name": "a"}])
    current["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
    result = strategic_merge_patch(current, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_patched_field():
    current = deployment([{"name": "a"}])
    current["spec"]["strategy"] = {"type": "RollingUpdate"}
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(current, {"spec": {"strategy": {"$retainKeys": ["rollingUpdate"], "type": "Recreate"}}}, DEPLOYMENT)
    assert err.value.code == 400
    assert str(err.value) == "invalid patch format of retainKeys"


def test_service_ports_merge_by_port():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80, "targetPort": 8000, "name": "http"}], "selector": {"app": "x"}}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9000}, {"port": 443, "name": "https"}]}}
    result = strategic_merge_patch(svc, patch, SERVICE)
    assert result["spec"]["ports"] == [
        {"port": 80, "targetPort": 9000, "name": "http"},
        {"port": 443, "name": "https"},
    ]


def test_replace_strategy_map_is_replaced_whole():
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "1"}}}}
    result = strategic_merge_patch(pdb, {"spec": {"selector": {"matchLabels": {"b": "2"}}}}, RT[("policy", "PodDisruptionBudget")])
    assert result["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"b": "2"}}}


def test_list_without_patch_strategy_is_replaced():
    current = pod([{"name": "a", "args": ["x", "y"], "command": ["sh"]}])
    result = smp_pod(current, {"containers": [{"name": "a", "args": ["z"]}]})
    assert containers_of(result)[0] == {"name": "a", "args": ["z"], "command": ["sh"]}


def test_maps_without_schema_merge_like_merge_patch_and_null_deletes():
    current = deployment([{"name": "a"}])
    current["metadata"]["annotations"] = {"keep": "1", "drop": "2"}
    result = strategic_merge_patch(current, {"metadata": {"annotations": {"drop": None, "new": "3"}}}, DEPLOYMENT)
    assert result["metadata"]["annotations"] == {"keep": "1", "new": "3"}


def test_patch_replace_directive_on_map_and_list():
    current = deployment([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])
    patch = {"metadata": {"labels": {"$patch": "replace", "only": "this"}},
             "spec": {"template": {"spec": {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}}}}
    result = strategic_merge_patch(current, patch, DEPLOYMENT)
    assert result["metadata"]["labels"] == {"only": "this"}
    assert template_spec(result)["containers"] == [{"name": "z", "image": "z"}]


def test_patch_delete_directive_empties_map():
    current = deployment([{"name": "a"}])
    result = strategic_merge_patch(current, {"spec": {"template": {"metadata": {"$patch": "delete"}}}}, DEPLOYMENT)
    assert result["spec"]["template"]["metadata"] == {}


def test_patch_merge_directive_in_list_is_refused():
    current = pod([{"name": "a"}])
    with pytest.raises(PatchError) as err:
        smp_pod(current, {"containers": [{"$patch": "merge"}]})
    assert "merging lists cannot yet be specified in the patch" in str(err.value)


def test_added_subtree_drops_nulls_and_directives():
    current = pod([{"name": "a"}])
    result = smp_pod(current, {"nodeSelector": {"a": "1", "b": None}, "tolerations": [{"key": "k"}, {"$patch": "delete", "key": "z"}]})
    assert result["spec"]["nodeSelector"] == {"a": "1"}
    assert result["spec"]["tolerations"] == [{"key": "k"}]


def test_missing_merge_key_is_reported_like_kube_apiserver():
    current = pod([{"name": "a"}])
    with pytest.raises(PatchError) as err:
        smp_pod(current, {"containers": [{"image": "nginx:1.25"}]})
    assert str(err.value) == "map: map[image:nginx:1.25] does not contain declared merge key: name"
    assert err.value.code == 500


def test_bad_set_element_order_key_and_lists_of_lists():
    current = pod([{"name": "a"}])
    with pytest.raises(PatchError) as err:
        smp_pod(current, {"$setElementOrder": [{"name": "a"}]})
    assert err.value.code == 400
    with pytest.raises(PatchError) as err:
        meta_patch([], {"finalizers": [["nested"]]})
    assert err.value.code == 422


def test_smp_on_custom_resource_is_unsupported_media_type():
    class Custom:
        group, version, kind, crd_name = "example.com", "v1", "Widget", "widgets.example.com"

    with pytest.raises(PatchError) as err:
        strategic_merge_patch({}, {}, Custom())
    assert err.value.code == 415


def test_smp_never_mutates_inputs():
    current = deployment([{"name": "a", "env": [{"name": "A", "value": "1"}]}])
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                            "containers": [{"name": "a", "env": [{"name": "A", "$patch": "delete"}]}]}}}}
    before_obj, before_patch = copy.deepcopy(current), copy.deepcopy(patch)
    strategic_merge_patch(current, patch, DEPLOYMENT)
    assert current == before_obj and patch == before_patch


# ----------------------------------------------------------------------------------------------
# JSON patch


DOC = {"metadata": {"name": "x", "labels": {"a/b": "1", "m~n": "2"}}, "spec": {"items": [1, 2, 3]}}


def test_json_patch_operations_and_pointer_escaping():
    ops = [
        {"op": "add", "path": "/metadata/labels/c~1d", "value": "3"},
        {"op": "remove", "path": "/metadata/labels/m~0n"},
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "9"},
        {"op": "add", "path": "/spec/items/-", "value": 4},
        {"op": "add", "path": "/spec/items/0", "value": 0},
        {"op": "move", "path": "/spec/first", "from": "/spec/items/0"},
        {"op": "copy", "path": "/spec/copy", "from": "/spec/items"},
        {"op": "test", "path": "/spec/copy/3", "value": 4},
        {"op": "remove", "path": "/spec/items/-1"},
    ]
    result = json_patch(DOC, ops)
    assert result["metadata"]["labels"] == {"a/b": "9", "c/d": "3"}
    assert result["spec"] == {"items": [1, 2, 3], "first": 0, "copy": [1, 2, 3, 4]}
    assert DOC["spec"]["items"] == [1, 2, 3]


def test_json_patch_failed_test_is_422():
    with pytest.raises(PatchError) as err:
        json_patch(DOC, [{"op": "test", "path": "/metadata/name", "value": "y"}])
    assert err.value.code == 422
    assert str(err.value) == "testing value /metadata/name failed: test failed"


def test_json_patch_test_on_whole_document():
    assert json_patch({"a": 1}, [{"op": "test", "path": "", "value": {"a": 1}}]) == {"a": 1}


def test_json_patch_test_distinguishes_bool_from_number():
    with pytest.raises(PatchError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])
    assert json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}


@pytest.mark.parametrize("op", [
    {"op": "remove", "path": "/metadata/missing"},
    {"op": "replace", "path": "/metadata/missing", "value": 1},
    {"op": "add", "path": "/missing/child", "value": 1},
    {"op": "add", "path": "/spec/items/9", "value": 1},
    {"op": "move", "from": "/nope", "path": "/x"},
    {"op": "move", "from": "/metadata", "path": "/metadata/inner"},
    {"op": "frobnicate", "path": "/x"},
    {"op": "add", "path": "", "value": {}},
    {"op": "copy", "from": "", "path": "/x"},
    {"op": "add", "path": "no-slash", "value": 1},
    {"op": "replace", "path": "/spec/items/1_0", "value": 1},
    {"op": "remove", "path": "/spec/items/-4"},
])
def test_json_patch_paths_that_do_not_apply_are_422(op):
    with pytest.raises(PatchError) as err:
        json_patch(DOC, [op])
    assert err.value.code == 422


def test_json_patch_malformed_is_400():
    with pytest.raises(PatchError) as err:
        json_patch(DOC, {"op": "add"})
    assert err.value.code == 400


# ----------------------------------------------------------------------------------------------
# JSON merge patch


def test_merge_patch_rfc7386():
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "list": [3], "new": {"x": None, "y": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "list": [3], "new": {"y": 1}}
    assert target["c"] == {"d": "e", "f": "g"}


def test_merge_patch_must_be_an_object():
    with pytest.raises(PatchError) as err:
        merge_patch({"a": 1}, None)
    assert err.value.code == 400
