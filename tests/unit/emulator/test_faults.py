"""Fault rules of the API emulator: matching, counting, probability, delays, validation."""

import re

import pytest

from k8s_emulator.faults import FaultInjector

STS_PATH = "/apis/apps/v1/namespaces/mcp/statefulsets/hubspot-mcp"


def test_no_rules_no_fault():
    assert FaultInjector().check("GET", "/api/v1/pods", "admin") is None


def test_method_path_and_times():
    fi = FaultInjector()
    fi.configure([{"method": "PATCH", "path_regex": "/apis/apps/v1/.*/statefulsets/.*", "status": 500, "times": 2}])
    assert fi.check("GET", STS_PATH, "admin") is None
    assert fi.check("PATCH", "/apis/apps/v1/namespaces/mcp/deployments/x", "admin") is None
    first = fi.check("patch", STS_PATH + "?fieldManager=kubectl", "admin")
    assert first == (500, 0.0, "Internal error occurred: injected fault", None)
    assert fi.check("PATCH", STS_PATH, "admin")[0] == 500
    assert fi.check("PATCH", STS_PATH, "admin") is None  # spent after two firings
    assert fi.rules()[0]["fired"] == 2 and fi.rules()[0]["remaining"] == 0
    assert [entry["status"] for entry in fi.log()] == [500, 500]


def test_user_criterion():
    fi = FaultInjector()
    fi.configure([{"user": "system:serviceaccount:mcp:refresher", "status": 409}])
    assert fi.check("PUT", "/api/v1/namespaces/mcp/secrets/s", "admin") is None
    status, delay, message, retry_after = fi.check("PUT", "/api/v1/namespaces/mcp/secrets/s", "system:serviceaccount:mcp:refresher")
    assert status == 409 and "the object has been modified" in message and retry_after is None


def test_probability_is_seeded_and_reproducible():
    def run():
        fi = FaultInjector()
        fi.configure([{"probability": 0.1, "status": 429, "retry_after": 1, "seed": 7}])
        return [fi.check("GET", "/api/v1/namespaces", "admin") for _ in range(500)]

    first, second = run(), run()
    assert first == second
    fired = [r for r in first if r is not None]
    assert 25 <= len(fired) <= 80  # about 10 % of 500
    assert fired[0] == (429, 0.0, "Too many requests, please try again later.", 1)


def test_delays_add_up_and_status_rule_wins():
    fi = FaultInjector()
    fi.configure([
        {"path_regex": ".*", "delay": 0.2},
        {"method": "DELETE", "status": 503, "retry_after": 2, "delay": 0.1},
        {"path_regex": "never-consulted-after-503", "status": 500},
    ])
    assert fi.check("GET", "/version", None) == (None, 0.2, None, None)
    status, delay, message, retry_after = fi.check("DELETE", "/api/v1/namespaces/x", "admin")
    assert (status, retry_after, message) == (503, 2, "the server is currently unable to handle the request")
    assert delay == pytest.approx(0.3)


def test_clear_and_configure_replace_rules():
    fi = FaultInjector()
    fi.configure([{"status": 500}])
    fi.configure([{"method": "POST", "status": 503}])
    assert fi.check("GET", "/api", "admin") is None
    assert fi.check("POST", "/api/v1/namespaces", "admin")[0] == 503
    fi.clear()
    assert fi.check("POST", "/api/v1/namespaces", "admin") is None


def test_custom_message():
    fi = FaultInjector()
    fi.add({"status": 500, "message": "etcdserver: request timed out"})
    assert fi.check("GET", "/api", "admin")[2] == "etcdserver: request timed out"


@pytest.mark.parametrize("rule, fragment", [
    ({"path_regex": ".*"}, "needs 'status' or a positive 'delay'"),
    ({"status": 200}, "HTTP error code"),
    ({"status": 500, "probability": 1.5}, "probability"),
    ({"status": 500, "times": 0}, "positive integer"),
    ({"status": 500, "colour": "red"}, "unknown keys ['colour']"),
    ({"status": 429, "retry_after": -1}, "retry_after"),
])
def test_invalid_rules_rejected_and_old_rules_kept(rule, fragment):
    fi = FaultInjector()
    fi.configure([{"status": 500}])
    with pytest.raises(ValueError, match=re.escape(fragment)):
        fi.configure([{"method": "GET", "status": 503}, rule])
    assert fi.check("PUT", "/api", "admin")[0] == 500
