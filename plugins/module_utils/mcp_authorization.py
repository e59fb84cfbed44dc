# Copyright: (c) 2026, mcp_gateway platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-tool MCP authorization: the readable form of an ``mcp_server_servers`` entry's ``authorization`` key,
rendered to the CEL allow rules of an AgentgatewayPolicy ``spec.backend.mcp.authorization``, checked with a
real CEL implementation (the ``common-expression-language`` package wraps the Rust ``cel`` crate that
agentgateway's data plane evaluates these rules with), and evaluated as agentgateway does.

The readable form::

    authorization:
      tools:                       # tool name -> Entra app roles (or scp:<scope>), any one of them suffices
        delete_contact: [HubSpot.Admin]
      default: [HubSpot.Read]      # every other tool, prompt and resource (omitted: any valid token)
      expressions: []              # further CEL allow rules, as agentgateway evaluates them

agentgateway's semantics (crates/agentgateway/src/http/authorization.rs, mcp/rbac.rs): with any rule, an
item is allowed only when at least one allow rule evaluates to true; a rule that fails to evaluate (a claim
the token does not carry) counts as false. ``tools/list`` drops the items no rule allows, ``tools/call``
refuses them. The CEL variables: ``jwt`` (the token's claims), ``mcp.tool.name`` / ``mcp.prompt.name`` /
``mcp.resource.name`` (the item), ``request``, ``source`` and the others of agentgateway's context.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re


def _cel():
    """The ``cel`` package, imported on first use: a template that only names these filters (every input check of
    mcp_server and auth_policy) does not pay for loading it. None when it is not installed (check_expression says so)."""
    try:
        import cel
    except ImportError:
        return None
    return cel


# An Entra ID app role value or delegated scope name as this collection accepts it: letters, digits, '.',
# '_' and '-', starting with a letter, digit or '_' (Entra allows no spaces; quotes would break the CEL).
REQUIREMENT = re.compile(r"^(scp:)?([A-Za-z0-9_][A-Za-z0-9._-]{0,119})$")
# MCP tool names (the MCP specification: 1-128 of letters, digits, '_', '-', '.').
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
KEYS = ("tools", "default", "expressions")
# The variables of agentgateway's CEL context (crates/agentgateway/src/cel/mod.rs, the *_ATTRIBUTE names).
CONTEXT_VARIABLES = ("request", "response", "jwt", "apiKey", "basicAuth", "llm", "source", "mcp", "backend",
                     "extauthz")
MACRO = r"\.(?:all|exists|exists_one|map|filter)\(\s*%s\s*,"
SYNTAX = ("an Entra app role value such as HubSpot.Admin, or scp:<scope> such as scp:Contacts.Write "
          "(letters, digits, '.', '_', '-')")


def _shown(value):
    return json.dumps(value, default=str)


def _literal(text):
    """A CEL string literal (JSON's escapes are CEL's for these characters)."""
    return json.dumps(text)


def requirement_cel(requirement):
    """The CEL condition for one app role (the token's ``roles`` claim lists it) or ``scp:<scope>`` (the
    space-separated ``scp`` claim of a delegated token contains it)."""
    found = REQUIREMENT.match(requirement)
    if found.group(1):
        return "jwt.scp.matches(%s)" % _literal("(^| )%s( |$)" % re.escape(found.group(2)))
    return "jwt.roles.exists(r, r == %s)" % _literal(found.group(2))


def any_of_cel(requirements):
    conditions = [requirement_cel(item) for item in requirements]
    return conditions[0] if len(conditions) == 1 else "(%s)" % " || ".join(conditions)


def _requirement_problems(value, where):
    if isinstance(value, str) or not isinstance(value, list) or not value:
        return ["%s must be a non-empty list of %s (got %s)" % (where, SYNTAX, _shown(value))]
    bad = [item for item in value if not (isinstance(item, str) and REQUIREMENT.match(item))]
    if bad:
        return ["%s must list only %s (got %s)" % (where, SYNTAX, _shown(bad))]
    return []


def check_expression(expression):
    """None when ``expression`` compiles with the real CEL implementation and uses only agentgateway's context
    variables (and its own comprehension variables), else the reason."""
    cel = _cel()
    if cel is None:
        return ("the Python package common-expression-language (the Rust cel crate agentgateway uses) is not "
                "installed on the controller: pip install -r requirements.txt")
    if not isinstance(expression, str) or not expression.strip():
        return "a CEL expression must be a non-empty string"
    try:
        program = cel.compile(expression)
    except (ValueError, RuntimeError) as err:
        return "does not compile as CEL: %s" % str(err).splitlines()[0]
    unknown = [name for name in program.variables() if name not in CONTEXT_VARIABLES
               and not re.search(MACRO % re.escape(name), expression)]
    if unknown:
        return ("uses %s, not a variable of agentgateway's CEL context (%s)"
                % (", ".join(sorted(unknown)), ", ".join(CONTEXT_VARIABLES)))
    return None


def authorization_problems(value, where="authorization"):
    """One sentence per problem of the readable form, each naming ``where`` and the field."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["%s must be a mapping with tools, default and/or expressions (got %s)" % (where, _shown(value))]
    problems = ["%s.%s is not a field of authorization (expected %s)" % (where, key, ", ".join(KEYS))
                for key in value if key not in KEYS]
    if not any(value.get(key) not in (None, {}, []) for key in KEYS):
        problems.append("%s must say which tools need which roles (tools), a default, or expressions (got %s)"
                        % (where, _shown(value)))
    tools = value.get("tools") or {}
    if not isinstance(tools, dict):
        problems.append("%s.tools must map tool names to lists of roles (got %s)" % (where, _shown(tools)))
        tools = {}
    for name, requirements in tools.items():
        if not (isinstance(name, str) and TOOL_NAME.match(name)):
            problems.append("%s.tools has a key that is not an MCP tool name (1-128 letters, digits, '_', '-', '.'; "
                            "got %s)" % (where, _shown(name)))
        problems.extend(_requirement_problems(requirements, "%s.tools.%s" % (where, name)))
    if value.get("default") is not None:
        problems.extend(_requirement_problems(value["default"], "%s.default" % where))
    expressions = value.get("expressions") or []
    if isinstance(expressions, str) or not isinstance(expressions, list):
        problems.append("%s.expressions must be a list of CEL expressions (got %s)" % (where, _shown(expressions)))
        expressions = []
    for index, expression in enumerate(expressions):
        reason = check_expression(expression)
        if reason:
            problems.append("%s.expressions[%d] %s (got %s)" % (where, index, reason, _shown(expression)))
    if not problems:
        for rule in authorization_rules(value):
            reason = check_expression(rule)
            if reason:
                problems.append("%s renders the CEL rule %s, which %s" % (where, _shown(rule), reason))
    return problems


def authorization_rules(value):
    """The CEL allow rules (``matchExpressions``) of a valid readable form; [] for none (no authorization)."""
    if not value:
        return []
    tools = value.get("tools") or {}
    rules = ["mcp.tool.name == %s && %s" % (_literal(name), any_of_cel(requirements))
             for name, requirements in sorted(tools.items())]
    named = "has(mcp.tool) && mcp.tool.name in [%s]" % ", ".join(_literal(name) for name in sorted(tools))
    default = value.get("default")
    if tools and default:
        rules.append("!(%s) && %s" % (named, any_of_cel(default)))
    elif tools:
        rules.append("!(%s)" % named)
    elif default:
        rules.append(any_of_cel(default))
    return rules + list(value.get("expressions") or [])


def allowed(rules, claims, kind="tool", name="", target=""):
    """Whether agentgateway allows an MCP item (kind tool, prompt or resource) to a token's claims under the
    allow ``rules``: no rule allows everything; else any rule that evaluates to true; an error counts false."""
    if not rules:
        return True
    context = {"jwt": claims or {}, "mcp": {kind: {"target": target, "name": name}}}
    cel = _cel()
    for rule in rules:
        try:
            if cel.evaluate(rule, context) is True:
                return True
        except (KeyError, ValueError, RuntimeError, TypeError):
            continue
    return False
