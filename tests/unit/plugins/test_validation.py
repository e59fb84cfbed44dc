"""The input checks every role runs before its first write (plugins/test/validation.py and
plugins/filter/validation.py): the grammars of the Kubernetes API and of the agentgateway CRDs."""

from decimal import Decimal

import pytest

from ansible_collections.mcp_gateway.platform.plugins.filter.validation import (
    metadata_problems,
    quantity_value,
    resources_problems,
)
from ansible_collections.mcp_gateway.platform.plugins.test.validation import (
    agentgateway_duration,
    bool_like,
    cidr,
    cron_schedule,
    dns_label,
    dns_subdomain,
    int_between,
    k8s_quantity,
    pinned_image,
    version_at_least,
)


@pytest.mark.parametrize("value", ["1", "2Gi", "500m", "0.5", ".5", "5.", "1e3", "1E-3", "+1", "-1", "100n", "1u",
                                   "64Mi", "8Ei", "1k", 2, 0.25, "0"])
def test_quantities_the_api_server_parses(value):
    assert k8s_quantity(value)


@pytest.mark.parametrize("value", ["1 GB", "1GB", "1gi", "Gi", "", "1.2.3", "1Gi ", " 1", "1e", "1e1.5", "1KiB", "one",
                                   True, None, {"a": 1}, [1], "1m5"])
def test_not_quantities(value):
    assert not k8s_quantity(value)


def test_negative_quantities_only_when_allowed():
    assert k8s_quantity("-1Gi")
    assert not k8s_quantity("-1Gi", non_negative=True)
    assert k8s_quantity("-0", non_negative=True)


@pytest.mark.parametrize("text, expected", [("2Gi", 2 * 2 ** 30), ("500m", Decimal("0.5")), ("1e3", 1000), ("1.5Ki", 1536),
                                            (2, 2), ("1M", 10 ** 6), ("-1k", -1000)])
def test_quantity_values(text, expected):
    assert quantity_value(text) == expected


def test_quantity_value_refuses_a_non_quantity():
    with pytest.raises(ValueError):
        quantity_value("1 GB")


@pytest.mark.parametrize("value, minimum, ok", [("5m", None, True), ("1h30m", None, True), ("300s", "5m", True),
                                                ("299s", "5m", False), ("5 minutes", None, False), ("5min", None, False),
                                                ("1d", None, False), ("", None, False), (300, None, False),
                                                ("1h1m1s1ms", None, True), ("1h1m1s1ms1h", None, False), ("500ms", None, True)])
def test_agentgateway_durations(value, minimum, ok):
    assert agentgateway_duration(value, minimum) is ok


@pytest.mark.parametrize("value", ["*/23 * * * *", "0 0 * * *", "0,30 9-17 * * mon-fri", "@hourly", "0 0 1 jan *",
                                   "? * * * *", "5 4 * * 0", "0 0 31 12 6"])
def test_cron_schedules(value):
    assert cron_schedule(value)


@pytest.mark.parametrize("value", ["61 * * * *", "* * * *", "* * * * * *", "*/0 * * * *", "0 24 * * *", "0 0 0 * *",
                                   "0 0 * 13 *", "0 0 * * 7", "TZ=UTC 0 0 * * *", "every hour", "", 5, "5-1 * * * *"])
def test_not_cron_schedules(value):
    assert not cron_schedule(value)


@pytest.mark.parametrize("value, low, high, ok", [(5, 1, None, True), ("5", 1, None, True), (0, 1, None, False),
                                                  (-1, 0, None, False), (True, None, None, False), (1.5, None, None, False),
                                                  ("abc", None, None, False), (65536, 1, 65535, False), ("", None, None, False),
                                                  (None, None, None, False)])
def test_whole_numbers(value, low, high, ok):
    assert int_between(value, low, high) is ok


def test_names():
    assert dns_label("agentgateway-system") and not dns_label("Agentgateway") and not dns_label("a" * 64)
    assert dns_label("a" * 53, 53) and not dns_label("a" * 54, 53) and not dns_label("-a") and not dns_label(5)
    assert dns_subdomain("mcp-mssql-connection") and dns_subdomain("a.b") and not dns_subdomain("a_b")
    assert not dns_subdomain("a..b") and not dns_subdomain("") and not dns_subdomain(None)


@pytest.mark.parametrize("value, ok", [("10.0.0.0/8", True), ("0.0.0.0/0", True), ("127.0.0.1/32", True),
                                       ("fd00::/8", True), ("10.0.0.1/8", False), ("10.0.0.0", False),
                                       ("10.0.0.0/33", False), ("ten/8", False), ("", False), (None, False)])
def test_cidrs(value, ok):
    assert cidr(value) is ok


@pytest.mark.parametrize("value, ok", [("ghcr.io/mcp-gateway/mcp-ui:1.0.0", True), ("localhost:5000/a/b:1", True),
                                       ("a@sha256:" + "a" * 64, True), ("a:latest@sha256:" + "b" * 64, True),
                                       ("a/b", False), ("a/b:latest", False), ("a b:1", False), ("", False),
                                       ("localhost:5000/a", False), ("a@sha256:abc", False), (None, False)])
def test_pinned_images(value, ok):
    assert pinned_image(value) is ok


def test_resources_name_only_what_is_wrong():
    good = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": 2, "memory": "256Mi"}}
    assert resources_problems(good, "ui_resources") == []
    assert resources_problems(None) == []
    bad = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "1 GB"}}
    assert resources_problems(bad, "ui_resources") == [
        'ui_resources.limits.memory must be a non-negative Kubernetes quantity such as 256Mi or 1Gi (got "1 GB")']


def test_resources_refuse_negative_a_request_above_its_limit_and_unknown_sections():
    problems = resources_problems({"requests": {"cpu": "2"}, "limits": {"cpu": "1", "memory": "-1Gi"}, "limit": {}}, "r")
    assert problems == ["r.limit is not a field of container resources (expected requests, limits)",
                        'r.limits.memory must be a non-negative Kubernetes quantity such as 256Mi or 1Gi (got "-1Gi")',
                        'r.requests.cpu must not exceed r.limits.cpu (got "2" > "1")']
    assert resources_problems("1Gi", "r") == ['r must be a mapping with requests and/or limits (got "1Gi")']
    assert resources_problems({"limits": ["1Gi"]}, "r") == [
        'r.limits must be a mapping of resource names to quantities (got ["1Gi"])']


def test_labels_and_annotations():
    assert metadata_problems({"app.kubernetes.io/name": "x", "team": "a_b.c"}, "l") == []
    assert metadata_problems({"bad key": "x"}, "l")[0].startswith('l key "bad key" must be [prefix/]name')
    assert metadata_problems({"a": "has space"}, "l") == [
        "l.a must be a label value: at most 63 letters, digits, '-', '_', '.' starting and ending with a letter or digit "
        '(got "has space")']
    assert metadata_problems({"a": "any text at all"}, "n", "annotations") == []
    assert metadata_problems({"a": 5}, "n", "annotations") == ['n.a must be a string (got 5)']
    assert metadata_problems("x", "l") == ['l must be a mapping of labels (got "x")']


@pytest.mark.parametrize("value, other, ok", [
    ("v2.2.0-beta.4", "v2.2.0-beta.4", True), ("v2.2.0-beta.4", "v2.2.0-beta.3", True),
    ("v2.2.0-beta.4", "v2.2.0", False), ("v2.2.0", "v2.2.0-beta.4", True), ("1.4.0", "v1.3.0", True),
    ("v1.3.0", "1.4.0", False), ("v1.10.0", "v1.9.1", True), ("1.2.3", "1.2.3", True),
])
def test_versions_compare_as_semantic_versions_with_an_optional_v(value, other, ok):
    assert version_at_least(value, other) is ok


def test_a_version_that_is_not_semantic_is_an_error():
    with pytest.raises(ValueError):
        version_at_least("latest", "v1.0.0")


@pytest.mark.parametrize("value, ok", [
    (True, True), (False, True), ("false", True), ("True", True), ("yes", True), ("OFF", True), ("0", True), (1, True), ("y", True), ("F", True),
    ("yes please", False), ("", False), (None, False), (2, False), ([], False), ({}, False),
])
def test_booleans_as_the_bool_filter_reads_them(value, ok):
    assert bool_like(value) is ok
