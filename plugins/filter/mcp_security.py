# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the MCP security settings: per-tool authorization (readable form -> agentgateway CEL rules,
checked with a real CEL implementation) and local rate limits (the CRD's ``traffic.rateLimit.local``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.mcp_gateway.platform.plugins.module_utils import mcp_authorization
from ansible_collections.mcp_gateway.platform.plugins.test.validation import int_between

RATE_LIMIT_KEYS = ("requests", "tokens", "unit", "burst")
UNITS = ("Seconds", "Minutes", "Hours")
INT32 = 2147483647


def mcp_authorization_problems(value, where="authorization"):
    return mcp_authorization.authorization_problems(value, where)


def mcp_authorization_rules(value):
    return mcp_authorization.authorization_rules(value)


def local_rate_limit_problems(value, where="rate_limit"):
    """One sentence per problem of a local rate limit ``{requests|tokens: N, unit: Seconds|Minutes|Hours,
    burst: M}`` (null or {} = none). The controller translates only one limit per policy, so one mapping."""
    if value in (None, {}):
        return []
    shown = json.dumps(value, default=str)
    if not isinstance(value, dict):
        return ["%s must be a mapping such as {requests: 100, unit: Minutes} or null for none (got %s)" % (where, shown)]
    problems = ["%s.%s is not a field of a local rate limit (expected %s)" % (where, key, ", ".join(RATE_LIMIT_KEYS))
                for key in value if key not in RATE_LIMIT_KEYS]
    counted = [key for key in ("requests", "tokens") if value.get(key) is not None]
    if len(counted) != 1:
        problems.append("%s must set exactly one of requests (HTTP requests) and tokens (LLM tokens) (got %s)"
                        % (where, shown))
    for key in counted:
        if not int_between(value[key], 1, INT32):
            problems.append("%s.%s must be a whole number >= 1 (got %s)" % (where, key, json.dumps(value[key])))
    if value.get("unit") not in UNITS:
        problems.append("%s.unit must be one of %s (got %s)" % (where, ", ".join(UNITS), json.dumps(value.get("unit"))))
    if value.get("burst") is not None and not int_between(value["burst"], 0, INT32):
        problems.append("%s.burst must be a whole number >= 0 (got %s)" % (where, json.dumps(value["burst"])))
    return problems


def local_rate_limit(value):
    """A valid rate limit as the CRD's ``traffic.rateLimit.local`` list (whole numbers as integers)."""
    limit = {"unit": value["unit"]}
    limit.update((key, int(value[key])) for key in ("requests", "tokens", "burst") if value.get(key) is not None)
    return [limit]


class FilterModule(object):
    def filters(self):
        return {"mcp_authorization_problems": mcp_authorization_problems,
                "mcp_authorization_rules": mcp_authorization_rules,
                "local_rate_limit_problems": local_rate_limit_problems, "local_rate_limit": local_rate_limit}
