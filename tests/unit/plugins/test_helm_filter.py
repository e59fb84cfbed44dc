"""helm_release_current: when the install task may be skipped (kubernetes.core.helm would change nothing)."""

import pytest

from ansible_collections.mcp_gateway.platform.plugins.filter.helm import helm_release_current

VALUES = {"controller": {"replicaCount": 1}, "securityContext": {"runAsNonRoot": True}}


def release(status="deployed", chart="agentgateway-v2.2.0-beta.4", values=None):
    """A kubernetes.core.helm_info result as it registers one."""
    return {"changed": False, "status": {"status": status, "chart": chart, "revision": "3",
                                         "release_values": VALUES if values is None else values}}


def test_the_same_chart_version_and_values_is_current():
    assert helm_release_current(release(), "v2.2.0-beta.4", VALUES) is True
    assert helm_release_current(release(chart="agentgateway-crds-v2.2.0-beta.4", values={}), "v2.2.0-beta.4", {}) is True


@pytest.mark.parametrize("read, version, values, files", [
    ({"changed": False}, "v2.2.0-beta.4", VALUES, []),                         # no release
    (release(status="failed"), "v2.2.0-beta.4", VALUES, []),                  # a failed upgrade
    (release(status="pending-upgrade"), "v2.2.0-beta.4", VALUES, []),
    (release(), "v2.2.0-beta.5", VALUES, []),                                 # an upgrade
    (release(), "2.2.0-beta.4", VALUES, []),                                  # the same version written otherwise
    (release(), "v2.2.0-beta.4", {"controller": {"replicaCount": 2}}, []),    # changed values
    (release(values={}), "v2.2.0-beta.4", VALUES, []),
    (release(), "v2.2.0-beta.4", VALUES, ["/etc/values.yaml"]),               # values files: helm decides
])
def test_anything_different_or_unknown_is_not_current(read, version, values, files):
    assert helm_release_current(read, version, values, files) is False
