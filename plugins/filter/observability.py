# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the gateway's observability settings: CEL expressions of the access log (filter, added fields),
checked before apply with the CEL implementation agentgateway evaluates them with."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.mcp_gateway.platform.plugins.module_utils import mcp_authorization


def cel_problems(value, where):
    """[] when ``value`` is a CEL expression agentgateway can evaluate (it compiles and uses only agentgateway's
    context variables), else one sentence naming ``where``, the value and the reason. A mapping is checked
    value by value (``where.<key>``)."""
    if isinstance(value, dict):
        return [problem for key, expression in value.items()
                for problem in cel_problems(expression, "%s.%s" % (where, key))]
    reason = mcp_authorization.check_expression(value)
    if reason is None:
        return []
    return ["%s must be a CEL expression over agentgateway's request context, such as %s (got %s: %s)"
            % (where, json.dumps('response.code >= 400'), json.dumps(value, default=str), reason)]


class FilterModule(object):
    def filters(self):
        return {"cel_problems": cel_problems}
