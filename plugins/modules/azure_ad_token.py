#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: azure_ad_token
short_description: Get an Azure AD (Entra ID) access token with the client-credentials flow
version_added: 1.0.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - Uses msal's C(ConfidentialClientApplication) to obtain an application token (client-credentials
    grant) for O(scopes), for example to call MCP servers behind the gateway's JWT policy.
  - The token is returned as RV(access_token). A module cannot hide its own return values from
    Ansible's output, so the module B(refuses to run unless the task sets C(no_log=true)); use
    the registered result in later tasks (which must also use C(no_log) when they handle it).
  - Failures name the Azure AD error and its AADSTS code (for example C(AADSTS7000215) for a wrong
    client secret, C(AADSTS700016) for an unknown application, C(AADSTS90002) for an unknown tenant,
    C(AADSTS70011) for an invalid scope); the client secret is never part of a message.
  - Read-only; runs in check mode too.
options:
  tenant_id:
    description: Directory (tenant) id, a GUID.
    type: str
    required: true
  client_id:
    description: Application (client) id, a GUID.
    type: str
    required: true
  client_secret:
    description: Client secret of the application.
    type: str
    required: true
  scopes:
    description:
      - Scopes to request. Defaults to C(api://<client_id>/.default), the application's own API.
    type: list
    elements: str
  authority:
    description:
      - Authority URL. Defaults to C(https://login.microsoftonline.com/<tenant_id>). Set it for
        sovereign clouds or private authorities.
    type: str
  validate_authority:
    description:
      - Let msal validate the authority against Microsoft's instance discovery. Turn off for
        authorities Microsoft does not know (private or test authorities).
    type: bool
    default: true
  timeout:
    description: Timeout in seconds of each HTTP request to the authority.
    type: float
    default: 30
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - mcp_gateway.platform.tls_client
requirements:
  - msal
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Get a token for the MCP gateway's API
  mcp_gateway.platform.azure_ad_token:
    tenant_id: "{{ azure_tenant_id }}"
    client_id: "{{ azure_client_id }}"
    client_secret: "{{ azure_client_secret }}"
  register: aad
  no_log: true

- name: Probe an MCP server with it
  mcp_gateway.platform.mcp_probe:
    url: http://127.0.0.1:8080/mcp/mcp-example
    bearer_token: "{{ aad.access_token }}"
  no_log: true
"""

RETURN = r"""
access_token:
  description: The access token (a JWT). The task must use C(no_log).
  returned: success
  type: str
expires_in:
  description: Seconds the token is valid for.
  returned: success
  type: int
  sample: 3599
token_type:
  description: Token type.
  returned: success
  type: str
  sample: Bearer
scopes:
  description: The scopes requested.
  returned: always
  type: list
  elements: str
  sample: ["api://00000000-0000-0000-0000-000000000000/.default"]
error:
  description: The OAuth error, on failure.
  returned: failure
  type: str
  sample: invalid_client
error_codes:
  description: The AADSTS codes, on failure.
  returned: failure
  type: list
  elements: int
  sample: [7000215]
"""

import re
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

MSAL_IMPORT_ERROR = None
try:
    import msal
    import requests

    HAS_MSAL = True
except ImportError:
    HAS_MSAL = False
    MSAL_IMPORT_ERROR = traceback.format_exc()

if HAS_MSAL:

    class PinnedVerifySession(requests.Session):
        """A requests session whose verify setting and timeout always apply.

        Plain requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's ``verify``
        (psf/requests#3829), which would silently ignore ca_path and validate_certs.
        """

        def __init__(self, verify, timeout):
            super(PinnedVerifySession, self).__init__()
            self.verify = verify
            self.default_timeout = timeout

        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            settings = super(PinnedVerifySession, self).merge_environment_settings(url, proxies, stream, verify, cert)
            settings["verify"] = self.verify
            return settings

        def request(self, method, url, *args, **kwargs):
            kwargs.setdefault("timeout", self.default_timeout)
            return super(PinnedVerifySession, self).request(method, url, *args, **kwargs)


GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def describe(result, secret):
    """'<error> (AADSTS<code>): <first part of the description>', without trace ids or the secret."""
    description = (result.get("error_description") or "").split(" Trace ID:")[0].strip()
    if secret:
        description = description.replace(secret, "********")
    codes = result.get("error_codes") or []
    code = " (%s)" % ", ".join("AADSTS%s" % c for c in codes) if codes else ""
    return "%s%s: %s" % (result.get("error"), code, description)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tenant_id=dict(type="str", required=True),
            client_id=dict(type="str", required=True),
            client_secret=dict(type="str", required=True, no_log=True),
            scopes=dict(type="list", elements="str"),
            authority=dict(type="str"),
            validate_authority=dict(type="bool", default=True),
            timeout=dict(type="float", default=30),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not HAS_MSAL:
        module.fail_json(msg=missing_required_lib("msal"), exception=MSAL_IMPORT_ERROR)
    p = module.params
    for option in ("tenant_id", "client_id"):
        if not GUID.match(p[option]):
            module.fail_json(msg="%s must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), got %r" % (option, p[option]))
    if not module.no_log:
        module.fail_json(msg="azure_ad_token returns an access token: set no_log: true on the task")
    authority = (p["authority"] or "https://login.microsoftonline.com/%s" % p["tenant_id"]).rstrip("/")
    if not authority.startswith("https://"):
        module.fail_json(msg="authority must be an https:// URL, got %s" % authority)
    scopes = p["scopes"] or ["api://%s/.default" % p["client_id"]]
    verify = p["ca_path"] if (p["ca_path"] and p["validate_certs"]) else p["validate_certs"]
    result = dict(changed=False, scopes=scopes)
    try:
        app = msal.ConfidentialClientApplication(
            p["client_id"],
            client_credential=p["client_secret"],
            authority=authority,
            validate_authority=p["validate_authority"],
            instance_discovery=None if p["validate_authority"] else False,
            http_client=PinnedVerifySession(verify, p["timeout"]),
        )
        token = app.acquire_token_for_client(scopes=scopes)
    except ValueError as exc:
        # msal's tenant discovery failure: unknown tenant (AADSTS90002) or an unusable authority.
        # msal re-raises a generic message; the authority's answer is in the chained exception.
        text = "%s %s" % (exc.__context__ or "", exc)
        codes = re.findall(r"AADSTS(\d+)", text)
        detail = re.search(r"(AADSTS\d+: [^.]*\.)", text)
        module.fail_json(msg="Azure AD authority %s rejected the tenant discovery: %s"
                         % (authority, detail.group(1) if detail else str(exc).partition(" Also please")[0]),
                         error_codes=[int(c) for c in codes[:1]], **result)
    except requests.exceptions.SSLError as exc:
        module.fail_json(msg="TLS verification of %s failed (set ca_path for a private authority): %s"
                         % (authority, exc.__class__.__name__), **result)
    except requests.exceptions.Timeout:
        module.fail_json(msg="Azure AD authority %s timed out after %ss" % (authority, p["timeout"]), **result)
    except requests.exceptions.RequestException as exc:
        module.fail_json(msg="Cannot reach Azure AD authority %s: %s" % (authority, exc.__class__.__name__), **result)
    if "access_token" not in token:
        module.fail_json(msg="Azure AD refused the client-credentials grant for %s: %s"
                         % (", ".join(scopes), describe(token, p["client_secret"])),
                         error=token.get("error"), error_codes=token.get("error_codes") or [], **result)
    result.update(access_token=token["access_token"], expires_in=int(token.get("expires_in") or 0),
                  token_type=token.get("token_type") or "Bearer")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
