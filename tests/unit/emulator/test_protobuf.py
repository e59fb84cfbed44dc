"""Decoding of kubectl's protobuf request bodies (k8s_emulator.protobuf).

``kubectl_create_job_from_cronjob.pb`` is the body the real kubectl 1.36 sent for
``kubectl -n pb create job --from=cronjob/refresher manual-1``; ``kubectl_create_job_from_cronjob.json`` is
what that kubectl printed for the same command with ``--dry-run=client -o json`` (the JSON it would have
sent). The CronJob carries env from a Secret, a ConfigMap and a field, configMap/emptyDir/secret volumes,
probes of all three kinds, resources and pod and container security contexts.
"""

import json
import os

import pytest

from k8s_emulator import protobuf

HERE = os.path.dirname(__file__)


def _fixture(name, mode="r"):
    with open(os.path.join(HERE, name), mode) as handle:
        return handle.read()


def _key(number, wire):
    return _varint(number << 3 | wire)


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes(number, payload):
    return _key(number, 2) + _varint(len(payload)) + payload


def _envelope(api_version, kind, raw):
    type_meta = _bytes(1, api_version.encode()) + _bytes(2, kind.encode())
    return protobuf.MAGIC + _bytes(1, type_meta) + _bytes(2, raw)


def test_job_from_cronjob_decodes_to_the_json_kubectl_would_send():
    decoded = protobuf.decode(_fixture("kubectl_create_job_from_cronjob.pb", "rb"))
    assert decoded == json.loads(_fixture("kubectl_create_job_from_cronjob.json"))


def test_job_from_cronjob_details():
    job = protobuf.decode(_fixture("kubectl_create_job_from_cronjob.pb", "rb"))
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["status"] == {}
    spec = job["spec"]["template"]["spec"]
    [container] = spec["containers"]
    # IntOrString: a named port stays a string, a number stays a number
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert container["startupProbe"]["tcpSocket"]["port"] == 9090
    # Quantities are their strings; embedded structs are inline; explicit false pointers are kept
    assert container["resources"]["limits"] == {"cpu": "100m", "memory": "64Mi"}
    assert spec["volumes"][1] == {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}
    assert container["env"][0]["valueFrom"] == {"secretKeyRef": {"name": "hubspot", "key": "client_id"}}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # omitempty: an empty env value is not written
    assert container["env"][5] == {"name": "EMPTY"}


def test_empty_pointer_messages_and_packed_repeated_ints():
    volume = _bytes(1, b"scratch") + _bytes(2, _bytes(2, b""))
    security = _bytes(4, _varint(3) + _varint(300))
    pod_spec = _bytes(1, volume) + _bytes(14, security)
    job = _bytes(2, _bytes(6, _bytes(2, pod_spec)))
    decoded = protobuf.decode(_envelope("batch/v1", "Job", job))
    assert decoded["spec"]["template"]["spec"] == {
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "securityContext": {"supplementalGroups": [3, 300]},
    }


def test_unknown_field_is_refused_not_dropped():
    # PodSpec field 18 (affinity) is not decoded: the whole body is refused (the server answers 415)
    job = _bytes(2, _bytes(6, _bytes(2, _bytes(18, b""))))
    with pytest.raises(protobuf.Unsupported, match="PodSpec: protobuf field 18"):
        protobuf.decode(_envelope("batch/v1", "Job", job))


def test_wrong_wire_type_is_a_decoding_error():
    # JobSpec.backoffLimit (7) is a varint; sent length-delimited it is malformed (the server answers 400)
    job = _bytes(2, _bytes(7, b"\x01"))
    with pytest.raises(protobuf.ProtobufError, match="wire type 2"):
        protobuf.decode(_envelope("batch/v1", "Job", job))


def test_other_batch_kinds_are_still_unsupported():
    with pytest.raises(protobuf.Unsupported, match=r"CronJob \(batch/v1\)"):
        protobuf.decode(_envelope("batch/v1", "CronJob", b""))
