#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mcp_probe
short_description: Check that an MCP server answers over Streamable HTTP and lists its tools
version_added: 1.0.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - Opens a Model Context Protocol session with the Streamable HTTP endpoint O(url) (for example
    an MCP server behind the gateway, C(http://gateway:8080/mcp/mcp-example)). It sends
    C(initialize) with protocol version negotiation, C(notifications/initialized), C(tools/list) following pagination,
    then closes the session with HTTP DELETE.
  - Fails with a message naming the URL and the HTTP status on 401, 403, 404, on timeouts,
    connection and TLS errors and on protocol errors, and when a tool in O(expected_tools) is missing.
  - Read-only; runs in check mode too.
options:
  url:
    description: The MCP endpoint URL.
    type: str
    required: true
  bearer_token:
    description: Sent as an C(Authorization) header with the bearer token, for example an Azure AD access token.
    type: str
  timeout:
    description: Timeout in seconds of each HTTP request.
    type: float
    default: 10
  expected_tools:
    description: Tool names that must be listed; the module fails naming the missing ones.
    type: list
    elements: str
    default: []
  protocol_version:
    description:
      - Protocol version to ask for in C(initialize); the server may answer with another one it
        supports, which is accepted when this client speaks it too.
    type: str
    choices: ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    default: "2025-11-25"
  unexpected_tools:
    description:
      - Tool names that must not be listed (per-tool authorization filters C(tools/list) for a token that lacks
        their role); the module fails naming the ones listed.
    type: list
    elements: str
    default: []
  expect_unauthorized:
    description:
      - The server must refuse the session with HTTP 401 (send no O(bearer_token)); the module then succeeds,
        returning RV(status) and RV(www_authenticate), and fails when the server answers.
    type: bool
    default: false
  expect_resource_metadata:
    description:
      - With O(expect_unauthorized), the 401 must carry a C(WWW-Authenticate) Bearer challenge naming
        C(resource_metadata) (RFC 9728 section 5.1, the MCP authorization spec); the module fetches that protected-resource
        metadata document and fails unless its C(resource) is O(expected_resource) and it names
        C(authorization_servers) (including O(expected_issuer) when given).
    type: bool
    default: false
  expected_resource:
    description: The C(resource) the metadata must name (RFC 9728 section 3.3); default O(url).
    type: str
  expected_issuer:
    description: An authorization server the metadata must name, for example the tenant's Entra ID v2.0 issuer.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - mcp_gateway.platform.tls_client
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Probe the example MCP server through the gateway with an Azure AD token
  mcp_gateway.platform.mcp_probe:
    url: http://127.0.0.1:8080/mcp/mcp-example
    bearer_token: "{{ aad.access_token }}"
    expected_tools: [echo]
  no_log: true
  register: probe

- name: The gateway must refuse a request without a token
  mcp_gateway.platform.mcp_probe:
    url: http://127.0.0.1:8080/mcp/mcp-example
  register: anonymous
  failed_when: anonymous.status != 401

- name: Without a token, a 401 that points to the protected-resource metadata naming the tenant
  mcp_gateway.platform.mcp_probe:
    url: https://mcp.example.com/mcp/mcp-example
    expect_unauthorized: true
    expect_resource_metadata: true
    expected_issuer: https://login.microsoftonline.com/{{ tenant_id }}/v2.0
"""

RETURN = r"""
server_info:
  description: The server's C(serverInfo) from C(initialize).
  returned: success
  type: dict
  contains:
    name:
      description: Server name.
      type: str
      returned: always
      sample: mcp-example
    version:
      description: Server version.
      type: str
      returned: always
      sample: 1.0.0
protocol_version:
  description: The negotiated MCP protocol version.
  returned: success
  type: str
  sample: "2025-11-25"
tools:
  description: Names of the tools the server lists.
  returned: success
  type: list
  elements: str
  sample: [echo, add]
session_id_present:
  description: Whether the server assigned an C(Mcp-Session-Id).
  returned: success
  type: bool
status:
  description: HTTP status of the failed request, when the failure was an HTTP error (401 with O(expect_unauthorized)).
  returned: failure, or success with expect_unauthorized
  type: int
  sample: 401
www_authenticate:
  description: The C(WWW-Authenticate) header of the 401.
  returned: success with expect_unauthorized
  type: str
  sample: Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp/mcp-example"
resource_metadata_url:
  description: The C(resource_metadata) URL the 401 names.
  returned: success with expect_resource_metadata
  type: str
resource_metadata:
  description: The protected-resource metadata document (RFC 9728).
  returned: success with expect_resource_metadata
  type: dict
error_kind:
  description: What failed (http, timeout, connection, tls, protocol, rpc, missing_tools).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mcp_gateway.platform.plugins.module_utils.mcp_client import (
    SUPPORTED_PROTOCOL_VERSIONS,
    McpClient,
    McpError,
    bearer_challenge,
    fetch_json,
    make_ssl_context,
    resource_metadata_problems,
)


def check_refused(module, client, context):
    """expect_unauthorized: the session must be refused with 401 (and, if asked, point to valid metadata)."""
    p = module.params
    try:
        with client:
            client.initialize()
    except McpError as exc:
        if exc.status != 401:
            module.fail_json(msg="%s (expected HTTP 401 without a token)" % exc, status=exc.status,
                             error_kind=exc.kind, url=p["url"])
        result = dict(changed=False, url=p["url"], status=401, www_authenticate=exc.www_authenticate)
        if p["expect_resource_metadata"]:
            result.update(check_resource_metadata(module, exc.www_authenticate, context, result))
        module.exit_json(**result)
    module.fail_json(msg="MCP server at %s answered a session without a token instead of refusing it with 401"
                     % p["url"], error_kind="not_refused", url=p["url"])


def check_resource_metadata(module, header, context, result):
    p = module.params
    challenge = bearer_challenge(header) or {}
    url = challenge.get("resource_metadata")
    if not url:
        module.fail_json(msg="MCP server at %s answered 401 without RFC 9728 discovery: WWW-Authenticate is %s, "
                         "expected Bearer resource_metadata=\"<URL>\"" % (p["url"], header and '"%s"' % header),
                         error_kind="no_resource_metadata", **result)
    try:
        document = fetch_json(url, p["timeout"], context if url.startswith("https://") else None)
    except McpError as exc:
        module.fail_json(msg="The protected-resource metadata of %s: %s" % (p["url"], exc), error_kind=exc.kind,
                         resource_metadata_url=url, **result)
    problems = resource_metadata_problems(document, p["expected_resource"] or p["url"], p["expected_issuer"])
    if problems:
        module.fail_json(msg="The protected-resource metadata at %s (for %s): %s" % (url, p["url"], "; ".join(problems)),
                         error_kind="bad_resource_metadata", resource_metadata_url=url, resource_metadata=document,
                         **result)
    return dict(resource_metadata_url=url, resource_metadata=document)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            bearer_token=dict(type="str", no_log=True),
            timeout=dict(type="float", default=10),
            expected_tools=dict(type="list", elements="str", default=[]),
            unexpected_tools=dict(type="list", elements="str", default=[]),
            expect_unauthorized=dict(type="bool", default=False),
            expect_resource_metadata=dict(type="bool", default=False),
            expected_resource=dict(type="str"),
            expected_issuer=dict(type="str"),
            protocol_version=dict(type="str", choices=list(SUPPORTED_PROTOCOL_VERSIONS),
                                  default=SUPPORTED_PROTOCOL_VERSIONS[0]),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["url"].startswith(("http://", "https://")):
        module.fail_json(msg="url must be an http:// or https:// URL, got %s" % p["url"])
    if p["expect_resource_metadata"] and not p["expect_unauthorized"]:
        module.fail_json(msg="expect_resource_metadata needs expect_unauthorized: true (the metadata is found from the 401)")
    if p["expect_unauthorized"] and p["bearer_token"]:
        module.fail_json(msg="expect_unauthorized probes without a token: do not set bearer_token")
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be > 0 seconds, got %s" % p["timeout"])
    try:
        context = make_ssl_context(p["validate_certs"], p["ca_path"]) if p["url"].startswith("https://") else None
    except (OSError, ValueError) as exc:
        module.fail_json(msg="Cannot load ca_path %s: %s" % (p["ca_path"], exc))
    client = McpClient(p["url"], bearer_token=p["bearer_token"], timeout=p["timeout"], ssl_context=context,
                       protocol_version=p["protocol_version"])
    if p["expect_unauthorized"]:
        check_refused(module, client, context)
    try:
        with client:
            client.initialize()
            session_id_present = bool(client.session_id)
            tools = [t.get("name") for t in client.list_tools()]
    except McpError as exc:
        module.fail_json(msg=str(exc), status=exc.status, error_kind=exc.kind, url=p["url"])
    result = dict(
        changed=False,
        url=p["url"],
        server_info=dict(name=client.server_info.get("name"), version=client.server_info.get("version")),
        protocol_version=client.protocol_version,
        tools=tools,
        session_id_present=session_id_present,
    )
    missing = [name for name in p["expected_tools"] if name not in tools]
    if missing:
        module.fail_json(msg="MCP server at %s does not list the expected tool(s) %s (it lists: %s)"
                         % (p["url"], ", ".join(missing), ", ".join(tools) or "none"),
                         error_kind="missing_tools", missing_tools=missing, **result)
    listed = [name for name in p["unexpected_tools"] if name in tools]
    if listed:
        module.fail_json(msg="MCP server at %s lists the tool(s) %s, which this token must not see (it lists: %s)"
                         % (p["url"], ", ".join(listed), ", ".join(tools)), error_kind="unexpected_tools",
                         unexpected_tools=listed, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
