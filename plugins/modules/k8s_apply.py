#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_apply
short_description: Apply a list of Kubernetes objects in one pass, writing only what would change
version_added: 1.1.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - Applies every object of O(definitions) as M(kubernetes.core.k8s) with O(kubernetes.core.k8s#module:apply=true)
    does (client-side apply with the C(kubectl.kubernetes.io/last-applied-configuration) annotation, check mode,
    diff), except that an object the apply cannot change is not sent at all.
  - An object is left alone only when its last-applied configuration is exactly the definition and every field of
    the definition has that value in the live object. A changed or removed field, a change made to the live object
    by someone else, or a value the API server normalised is applied as M(kubernetes.core.k8s) applies it.
    (M(kubernetes.core.k8s) sends a PATCH for every object holding a list, even when nothing differs.)
  - With O(wait=true), waits for all the objects at once after applying them (the readiness M(kubernetes.core.k8s)
    waits for per kind, or O(wait_condition)), and fails naming every object that is not ready in time.
options:
  definitions:
    description: The objects, each a complete manifest with C(apiVersion), C(kind) and C(metadata.name).
    type: list
    elements: dict
    required: true
  absent:
    description:
      - Objects to delete when they exist, each with C(apiVersion), C(kind), C(metadata.name) and, for a namespaced
        kind, C(metadata.namespace) (other fields are ignored). One that does not exist costs one read and is not
        a change. With O(wait=true), the wait also waits until each deleted object is gone.
      - For objects a list of servers stops needing (a policy an entry no longer asks for), so that one task keeps
        the whole set right.
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubernetes.core.k8s_auth_options
  - kubernetes.core.k8s_wait_options
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - A Secret given with C(stringData) is always applied (the live object holds C(data)); give C(data) to keep
    re-runs free of writes.
"""

EXAMPLES = r"""
- name: Apply the UI's Deployment, Service and HTTPRoute and wait until the Deployment is ready
  mcp_gateway.platform.k8s_apply:
    definitions: "{{ lookup('ansible.builtin.template', 'ui.yml.j2') | ansible.builtin.from_yaml_all | list }}"
    wait: true
    wait_sleep: 1
    wait_timeout: 300

- name: Apply CRDs and wait until each is Established
  mcp_gateway.platform.k8s_apply:
    definitions: "{{ lookup('ansible.builtin.file', 'crds.yaml') | ansible.builtin.from_yaml_all | select | list }}"
    wait: true
    wait_condition:
      type: Established
      status: "True"

- name: Apply a policy for the servers that set a rate limit, delete it for the others
  mcp_gateway.platform.k8s_apply:
    definitions: "{{ servers | selectattr('rate_limit') | map('policy_of') | list }}"
    absent: "{{ servers | rejectattr('rate_limit') | map('policy_reference_of') | list }}"
"""

RETURN = r"""
objects:
  description: One entry per definition, in order, then one per object of O(absent).
  returned: always
  type: list
  elements: dict
  contains:
    kind: {description: Kind of the object., type: str, sample: Deployment}
    name: {description: Name of the object., type: str, sample: mcp-ui}
    namespace: {description: Namespace of the object (null for cluster-scoped kinds)., type: str, sample: agentgateway-system}
    method:
      description: C(unchanged) (not sent), C(create) or C(apply); for O(absent), C(delete) or C(absent) (there was none).
      type: str
      sample: unchanged
    changed: {description: Whether the object was (or in check mode would be) changed., type: bool}
diff:
  description: With C(--diff), before and after of each object that changed.
  returned: when changed and diff mode is on
  type: list
  elements: dict
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC, WAIT_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService
from ansible_collections.mcp_gateway.platform.plugins.module_utils.k8s.apply import apply_all


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(copy.deepcopy(WAIT_ARG_SPEC))
    spec["definitions"] = dict(type="list", elements="dict", required=True)
    spec["absent"] = dict(type="list", elements="dict", default=[])
    return spec


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argspec(), supports_check_mode=True)
    for option in ("definitions", "absent"):
        for index, definition in enumerate(module.params[option]):
            missing = [key for key in ("apiVersion", "kind") if not definition.get(key)]
            if not (definition.get("metadata") or {}).get("name"):
                missing.append("metadata.name")
            if missing:
                module.fail_json(msg="%s[%d] has no %s" % (option, index, ", ".join(missing)))
    try:
        objects, not_ready = apply_all(K8sService(get_api_client(module=module), module),
                                       module.params["definitions"], module.params, module.check_mode,
                                       module.params["absent"])
    except CoreException as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": any(o["changed"] for o in objects),
              "objects": [{k: v for k, v in o.items() if k != "diff"} for o in objects]}
    diffs = [o["diff"] for o in objects if o.get("diff")]
    if diffs:
        result["diff"] = diffs
    if not_ready:
        module.fail_json(msg="Not ready after %d s: %s" % (module.params["wait_timeout"], ", ".join(not_ready)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
