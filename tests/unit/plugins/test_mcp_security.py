"""The per-tool authorization rules and rate limit checks (plugins/filter/mcp_security.py,
plugins/module_utils/mcp_authorization.py), with the real CEL implementation (common-expression-language,
bindings of the Rust cel crate agentgateway evaluates these rules with)."""

import pytest

from ansible_collections.mcp_gateway.platform.plugins.filter.mcp_security import local_rate_limit_problems
from ansible_collections.mcp_gateway.platform.plugins.module_utils.mcp_authorization import (
    allowed, authorization_problems, authorization_rules)

HUBSPOT = {"tools": {"delete_contact": ["HubSpot.Admin"], "create_contact": ["HubSpot.Write", "scp:Contacts.Write"]},
           "default": ["HubSpot.Read"]}


def test_the_readable_form_renders_the_rules_agentgateway_evaluates():
    assert authorization_rules({"tools": {"delete_contact": ["HubSpot.Admin"]}}) == [
        'mcp.tool.name == "delete_contact" && jwt.roles.exists(r, r == "HubSpot.Admin")',
        '!(has(mcp.tool) && mcp.tool.name in ["delete_contact"])']
    assert authorization_rules(None) == []


@pytest.mark.parametrize("claims, kind, name, expected", [
    ({"roles": ["HubSpot.Admin"]}, "tool", "delete_contact", True),
    ({"roles": ["HubSpot.Read"]}, "tool", "delete_contact", False),
    ({}, "tool", "delete_contact", False),                                # no roles claim: the rule errors, false
    ({"scp": "User.Read Contacts.Write"}, "tool", "create_contact", True),  # a delegated scope
    ({"scp": "Contacts.WriteAll"}, "tool", "create_contact", False),        # a whole scope, not a prefix
    ({"roles": ["HubSpot.Read"]}, "tool", "search", True),                # the default
    ({"roles": ["Other"]}, "tool", "search", False),
    ({"roles": ["HubSpot.Read"]}, "prompt", "delete_contact", True),      # a prompt of that name: the default
])
def test_the_rules_allow_exactly_what_the_entry_says(claims, kind, name, expected):
    assert allowed(authorization_rules(HUBSPOT), claims, kind, name) is expected


def test_without_a_default_other_tools_need_only_a_valid_token():
    rules = authorization_rules({"tools": {"delete_contact": ["HubSpot.Admin"]}})
    assert allowed(rules, {}, "tool", "search") and not allowed(rules, {}, "tool", "delete_contact")


@pytest.mark.parametrize("value, words", [
    ({"tools": {"delete_contact": []}}, ["authorization.tools.delete_contact", "non-empty list", "[]"]),
    ({"tools": {"delete_contact": ["Hub Spot"]}}, ["authorization.tools.delete_contact", '"Hub Spot"']),
    ({"tools": {"delete_contact": ["role:HubSpot.Admin"]}}, ['"role:HubSpot.Admin"']),
    ({"tools": {"delete contact": ["A"]}}, ["not an MCP tool name", '"delete contact"']),
    ({"default": "HubSpot.Read"}, ["authorization.default", '"HubSpot.Read"']),
    ({"expressions": ["jwt.roles.exists(r, r == "]}, ["authorization.expressions[0]", "does not compile"]),
    ({"expressions": ['claims.tid == "x"']}, ["authorization.expressions[0]", "claims"]),
    ({"tool": {"a": ["B"]}}, ["authorization.tool is not a field"]),
    ({}, ["authorization must say"]),
    (["HubSpot.Admin"], ["must be a mapping"]),
])
def test_bad_rules_are_named(value, words):
    message = "; ".join(authorization_problems(value))
    assert message and all(word in message for word in words), message


def test_good_rules_and_expressions_pass():
    assert authorization_problems(dict(HUBSPOT, expressions=['jwt.tid == "t" && source.address != ""'])) == []


@pytest.mark.parametrize("value, words", [
    ({"requests": 0, "unit": "Minutes"}, ["rate_limit.requests", "(got 0)"]),
    ({"requests": 5, "tokens": 5, "unit": "Minutes"}, ["exactly one of requests"]),
    ({"requests": 5, "unit": "Days"}, ["rate_limit.unit", '"Days"']),
    ({"requests": 5, "unit": "Minutes", "burst": -1}, ["rate_limit.burst", "-1"]),
    ({"requests": 5, "unit": "Minutes", "every": 2}, ["rate_limit.every"]),
    ([{"requests": 5, "unit": "Minutes"}], ["must be a mapping"]),
])
def test_bad_rate_limits_are_named(value, words):
    message = "; ".join(local_rate_limit_problems(value))
    assert message and all(word in message for word in words), message


def test_good_and_absent_rate_limits_pass():
    assert local_rate_limit_problems({"tokens": 1000, "unit": "Hours", "burst": 0}) == []
    assert local_rate_limit_problems(None) == local_rate_limit_problems({}) == []
