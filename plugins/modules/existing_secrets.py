#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: existing_secrets
short_description: Check the existing Secrets credentials are to be read from, before anything is written
version_added: 1.0.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - "Each role variable C(<credential>_from_secret) names a key of a Secret the operator keeps (for example one
    written by External Secrets or a Vault operator), C({name: <Secret>, key: <key>}), instead of the credential
    variable. This module checks every such reference in one go and fails, naming each problem, when a reference
    is not of that shape, is set together with its credential variable, names a Secret the role writes itself,
    or names a Secret or key that does not exist in O(namespace) (or whose value is empty)."
  - Read-only (it only reads the referenced Secrets), so it runs in check mode too. No value is ever returned
    or part of a message.
options:
  namespace:
    description: Namespace the referenced Secrets must be in (the workloads reading them run there).
    type: str
    required: true
  refs:
    description: The references to check. An entry whose O(refs[].ref) is empty (V({}) or null) is not used and skipped.
    type: list
    elements: dict
    required: true
    suboptions:
      variable:
        description: Name of the role variable holding the reference (for messages).
        type: str
        required: true
      ref:
        description: "The variable's value, C({name: <Secret name>, key: <key>}), or empty."
        type: raw
      instead_of:
        description: Name of the credential variable the reference replaces (for messages).
        type: str
      instead_of_set:
        description: Whether that credential variable is set too, which is refused.
        type: bool
        default: false
  written:
    description: Secrets the role writes itself; a reference may not name one of them.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Secret name.
        type: str
        required: true
      variable:
        description: The variable that sets that name (for messages).
        type: str
        required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubernetes.core.k8s_auth_options
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check the existing Secrets the HubSpot credentials come from
  mcp_gateway.platform.existing_secrets:
    namespace: agentgateway-system
    refs:
      - variable: token_refresh_client_secret_from_secret
        ref: {name: hubspot-from-vault, key: client_secret}
        instead_of: token_refresh_client_secret
        instead_of_set: "{{ token_refresh_client_secret | length > 0 }}"
    written:
      - {name: hubspot-oauth-credentials, variable: token_refresh_credentials_secret_name}
"""

RETURN = r"""
secrets:
  description: The references in use, as checked (names only, never values).
  returned: always
  type: list
  elements: dict
  contains:
    variable:
      description: The variable holding the reference.
      type: str
      returned: always
    namespace:
      description: Namespace of the Secret.
      type: str
      returned: always
    name:
      description: Secret name.
      type: str
      returned: always
    key:
      description: Key in the Secret.
      type: str
      returned: always
  sample: [{variable: token_refresh_client_secret_from_secret, namespace: mcp, name: hubspot-from-vault, key: client_secret}]
"""

import copy
import json
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.mcp_gateway.platform.plugins.module_utils.k8s.secrets import SecretError, SecretStore

SECRET_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
SHAPE = "{name: <Secret name>, key: <key>}"


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        namespace=dict(type="str", required=True),
        refs=dict(type="list", elements="dict", required=True, options=dict(
            variable=dict(type="str", required=True),
            ref=dict(type="raw"),
            instead_of=dict(type="str"),
            instead_of_set=dict(type="bool", default=False),
        )),
        written=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            variable=dict(type="str", required=True),
        )),
    )
    return spec


def shape_problem(variable, ref):
    """Why ``ref`` is not a usable {name, key} reference, or None."""
    if not isinstance(ref, dict) or sorted(ref) != ["key", "name"]:
        return "%s must be %s or {} (got %s)" % (variable, SHAPE, json.dumps(ref, default=str))
    name, key = ref["name"], ref["key"]
    if not isinstance(name, str) or not SECRET_NAME.match(name):
        return "%s.name must be a Secret name, a lowercase DNS name (got %s)" % (variable, json.dumps(name, default=str))
    if not isinstance(key, str) or not SECRET_KEY.match(key):
        return "%s.key must be a Secret key (letters, digits, -, _, .; got %s)" % (variable, json.dumps(key, default=str))
    return None


def problems_and_refs(params):
    """(problems found without the cluster, the well-formed references in use)."""
    problems, used = [], []
    written = dict((item["name"], item["variable"]) for item in params["written"])
    for entry in params["refs"]:
        variable, ref = entry["variable"], entry["ref"]
        if ref is None or ref == {} or ref == "":
            continue
        problem = shape_problem(variable, ref)
        if problem:
            problems.append(problem)
            continue
        if entry["instead_of_set"]:
            problems.append("%s and %s are both set: give the credential either as %s or from an existing Secret (%s), "
                            "not both" % (entry["instead_of"] or "its credential variable", variable,
                                          entry["instead_of"] or "the variable", variable))
            continue
        if ref["name"] in written:
            problems.append("%s names Secret %s, which the role writes itself (%s): name the Secret the operator keeps"
                            % (variable, ref["name"], written[ref["name"]]))
            continue
        used.append(dict(variable=variable, namespace=params["namespace"], name=ref["name"], key=ref["key"]))
    return problems, used


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argspec(), supports_check_mode=True)
    problems, used = problems_and_refs(module.params)
    if used:
        try:
            store = SecretStore(get_api_client(module=module))
            for ref in used:
                try:
                    store.read_key(ref["name"], ref["namespace"], ref["key"])
                except SecretError as exc:
                    problems.append("%s: %s" % (ref["variable"], exc))
        except CoreException as exc:
            module.fail_json(msg="Cannot check the existing Secrets: %s" % exc, secrets=used)
    if problems:
        module.fail_json(msg="%s. Nothing was changed." % "; ".join(problems), secrets=used)
    module.exit_json(changed=False, secrets=used,
                     msg="Existing Secrets checked: %s" % (", ".join(
                         "%s/%s key %s (%s)" % (r["namespace"], r["name"], r["key"], r["variable"]) for r in used)
                         or "none in use"))


if __name__ == "__main__":
    main()
