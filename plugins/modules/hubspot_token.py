#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: hubspot_token
short_description: Keep a HubSpot OAuth access token fresh in a Kubernetes Secret
version_added: 1.0.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - Reads the access-token Secret. When the token recorded there is still valid for longer than
    O(min_validity) seconds (per the C(mcp-gateway.io/expires-at) annotation) and O(force) is not
    set, nothing is done and HubSpot is not called.
  - Otherwise exchanges the refresh token at HubSpot's OAuth token endpoint (refresh-token grant)
    and writes the new access token into the Secret (created, or updated with a
    C(resourceVersion) precondition) with the annotations C(mcp-gateway.io/expires-at) and
    C(mcp-gateway.io/refreshed-at) (RFC 3339, UTC).
  - Rate limits (HTTP 429, honouring C(Retry-After)), server errors (5xx), timeouts and connection
    errors are retried with exponential backoff up to O(retries) times. A rejected grant
    (HubSpot C(BAD_REFRESH_TOKEN), C(invalid_grant), bad client) fails at once.
  - On any failure the Secret is left exactly as it was.
  - In check mode HubSpot is B(not) called (an exchange would issue a new token and may rotate
    HubSpot-side state); the module reports whether a refresh would happen.
  - No secret (client secret, refresh token, access token) is ever logged or returned, unless
    O(return_token=true).
  - Each credential is given as a value (O(client_id), O(client_secret), O(refresh_token)) or read by the module
    from a key of an existing Secret in O(namespace) (O(client_id_from_secret), O(client_secret_from_secret),
    O(refresh_token_from_secret)), for example one kept by External Secrets or a Vault operator; such a value never
    leaves the module. Exactly one of the two is required per credential.
options:
  client_id:
    description: HubSpot app client id.
    type: str
  client_secret:
    description: HubSpot app client secret.
    type: str
  refresh_token:
    description: HubSpot OAuth refresh token.
    type: str
  client_id_from_secret:
    description: Read the client id from this key of an existing Secret in O(namespace) instead of O(client_id).
    type: dict
    suboptions: &secret_ref
      name:
        description: Secret name.
        type: str
        required: true
      key:
        description: Key in the Secret.
        type: str
        required: true
  client_secret_from_secret:
    description: Read the client secret from this key of an existing Secret in O(namespace) instead of O(client_secret).
    type: dict
    suboptions: *secret_ref
  refresh_token_from_secret:
    description: Read the refresh token from this key of an existing Secret in O(namespace) instead of O(refresh_token).
    type: dict
    suboptions: *secret_ref
  token_url:
    description: HubSpot OAuth token endpoint.
    type: str
    default: https://api.hubapi.com/oauth/v1/token
  namespace:
    description: Namespace of the access-token Secret.
    type: str
    required: true
  secret_name:
    description: Name of the access-token Secret.
    type: str
    default: hubspot-access-token
  secret_key:
    description: Key of the access token inside the Secret.
    type: str
    default: access_token
  min_validity:
    description:
      - Refresh when the recorded token is valid for this many seconds or less (or when the
        Secret, the key or the expiry annotation is missing).
    type: int
    default: 300
  force:
    description: Refresh even if the recorded token is still valid.
    type: bool
    default: false
  timeout:
    description: Timeout in seconds of each HTTP request to HubSpot.
    type: float
    default: 10
  retries:
    description: How many times a transient failure is retried (so at most O(retries)+1 requests).
    type: int
    default: 4
  return_token:
    description:
      - Also return the new access token as RV(access_token).
      - "The module refuses to do so unless the task sets C(no_log: true), because a module cannot
        hide its own return values from Ansible's output."
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubernetes.core.k8s_auth_options
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
attributes:
  check_mode:
    support: full
    details: HubSpot is not called in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The Secret's other keys, labels and annotations are preserved.
"""

EXAMPLES = r"""
- name: Make sure the HubSpot access token is valid for at least 10 more minutes
  mcp_gateway.platform.hubspot_token:
    client_id: "{{ hubspot_client_id }}"
    client_secret: "{{ hubspot_client_secret }}"
    refresh_token: "{{ hubspot_refresh_token }}"
    namespace: mcp
    min_validity: 600
  no_log: true
  register: hubspot

- name: Refresh now, whatever the recorded expiry says
  mcp_gateway.platform.hubspot_token:
    client_id: "{{ hubspot_client_id }}"
    client_secret: "{{ hubspot_client_secret }}"
    refresh_token: "{{ hubspot_refresh_token }}"
    namespace: mcp
    force: true
  no_log: true

- name: Refresh with credentials an external secrets operator keeps in Secret hubspot-from-vault
  mcp_gateway.platform.hubspot_token:
    client_id_from_secret: {name: hubspot-from-vault, key: client_id}
    client_secret_from_secret: {name: hubspot-from-vault, key: client_secret}
    refresh_token_from_secret: {name: hubspot-from-vault, key: refresh_token}
    namespace: mcp
  no_log: true
"""

RETURN = r"""
refreshed:
  description: Whether a new token was obtained from HubSpot and written.
  returned: always
  type: bool
  sample: true
expires_at:
  description: When the token in the Secret expires (RFC 3339, UTC); null when unknown (check mode).
  returned: always
  type: str
  sample: "2026-11-25T12:30:00Z"
expires_in:
  description: Seconds until the token in the Secret expires; null when unknown.
  returned: always
  type: int
  sample: 1800
secret:
  description: The Secret written or checked.
  returned: always
  type: dict
  contains:
    name:
      description: Secret name.
      type: str
      returned: always
      sample: hubspot-access-token
    namespace:
      description: Secret namespace.
      type: str
      returned: always
      sample: mcp
attempts:
  description: HTTP requests made to HubSpot (0 when none was needed).
  returned: always
  type: int
  sample: 1
refresh_token_rotated:
  description: HubSpot answered with a refresh token different from the one sent; store the new one.
  returned: always
  type: bool
  sample: false
access_token:
  description: The new access token. Only with O(return_token=true) on a task with C(no_log).
  returned: when return_token and refreshed
  type: str
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import Request
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.mcp_gateway.platform.plugins.module_utils import hubspot_oauth
from ansible_collections.mcp_gateway.platform.plugins.module_utils.k8s.secrets import (
    SecretConflict,
    SecretError,
    SecretStore,
)

WRITE_ATTEMPTS = 3
CREDENTIALS = ("client_id", "client_secret", "refresh_token")


def ansible_opener(request, timeout):
    """Send the token request with Ansible's HTTP client (its proxy and CA handling)."""
    return Request().open(request.get_method(), request.full_url, data=request.data,
                          headers=dict(request.header_items()), timeout=timeout)


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        client_id=dict(type="str"),
        client_secret=dict(type="str", no_log=True),
        refresh_token=dict(type="str", no_log=True),
        token_url=dict(type="str", default=hubspot_oauth.DEFAULT_TOKEN_URL, no_log=False),
        namespace=dict(type="str", required=True),
        secret_name=dict(type="str", default="hubspot-access-token"),
        secret_key=dict(type="str", default="access_token", no_log=False),
        min_validity=dict(type="int", default=300),
        force=dict(type="bool", default=False),
        timeout=dict(type="float", default=10),
        retries=dict(type="int", default=4),
        return_token=dict(type="bool", default=False, no_log=False),
    )
    for credential in CREDENTIALS:
        spec[credential + "_from_secret"] = dict(type="dict", no_log=False, options=dict(
            name=dict(type="str", required=True), key=dict(type="str", required=True, no_log=False)))
    return spec


def credentials(module, store):
    """client_id, client_secret, refresh_token: each given, or read from its Secret (and then masked)."""
    p = module.params
    values = []
    for credential in CREDENTIALS:
        ref = p[credential + "_from_secret"]
        if ref is None:
            values.append(p[credential])
            continue
        value = store.read_key(ref["name"], p["namespace"], ref["key"])
        module._module.no_log_values.add(value)
        values.append(value)
    return values


def run(module, store):
    p = module.params
    name, namespace, key = p["secret_name"], p["namespace"], p["secret_key"]
    result = dict(changed=False, refreshed=False, attempts=0, refresh_token_rotated=False,
                  secret=dict(name=name, namespace=namespace), expires_at=None, expires_in=None)

    current = store.read(name, namespace)
    if current is not None and current.has(key) and not p["force"]:
        now = hubspot_oauth.utcnow()
        if hubspot_oauth.still_valid(current.annotations, p["min_validity"], now):
            # Same instant for the decision and the reported validity.
            remaining = hubspot_oauth.remaining_validity(current.annotations, now)
            result["expires_at"] = current.annotations.get(hubspot_oauth.ANNOTATION_EXPIRES_AT)
            result["expires_in"] = remaining
            module.exit_json(msg="Token in Secret %s/%s is valid for %ds more; nothing to do"
                             % (namespace, name, remaining), **result)

    if module.check_mode:
        result["changed"] = True
        module.exit_json(msg="Would refresh the HubSpot access token in Secret %s/%s (HubSpot not called "
                         "in check mode)" % (namespace, name), **result)

    client_id, client_secret, refresh_token = credentials(module, store)
    try:
        token = hubspot_oauth.refresh_access_token(
            client_id, client_secret, refresh_token, token_url=p["token_url"],
            timeout=p["timeout"], retries=p["retries"], log=module.debug, opener=ansible_opener)
    except hubspot_oauth.HubSpotOAuthError as exc:
        module.fail_json(msg="%s. Secret %s/%s left unchanged." % (exc, namespace, name),
                         permanent=exc.permanent, status=exc.status, error_code=exc.code,
                         attempts=exc.attempts, **dict((k, v) for k, v in result.items() if k != "attempts"))
    # Whatever happens next, the token value is masked if it ever reaches output.
    if not p["return_token"]:
        module._module.no_log_values.add(token.access_token)
    if token.refresh_token:
        module._module.no_log_values.add(token.refresh_token)

    annotations = hubspot_oauth.expiry_annotations(token.expires_in)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            store.write(name, namespace, {key: token.access_token}, current=current, annotations=annotations)
            break
        except SecretConflict:
            if attempt == WRITE_ATTEMPTS:
                raise
            current = store.read(name, namespace)

    result.update(changed=True, refreshed=True, attempts=token.attempts,
                  refresh_token_rotated=token.refresh_token_rotated,
                  expires_at=annotations[hubspot_oauth.ANNOTATION_EXPIRES_AT], expires_in=token.expires_in)
    if p["return_token"]:
        result["access_token"] = token.access_token
    module.exit_json(msg="Refreshed the HubSpot access token in Secret %s/%s" % (namespace, name), **result)


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argspec(), supports_check_mode=True,
                              mutually_exclusive=[(c, c + "_from_secret") for c in CREDENTIALS],
                              required_one_of=[(c, c + "_from_secret") for c in CREDENTIALS])
    p = module.params
    for option, minimum in (("min_validity", 0), ("retries", 0)):
        if p[option] < minimum:
            module.fail_json(msg="%s must be >= %d, got %d" % (option, minimum, p[option]))
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be > 0 seconds, got %s" % p["timeout"])
    if p["return_token"] and not module._module.no_log:
        module.fail_json(msg="return_token=true returns the access token: set no_log: true on the task")
    try:
        store = SecretStore(get_api_client(module=module))
        run(module, store)
    except (CoreException, SecretError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
