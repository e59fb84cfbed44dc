#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_read
short_description: Read several Kubernetes kinds or objects in one module run
version_added: 1.1.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - Runs each query of O(queries) as M(kubernetes.core.k8s_info) runs one (the same lookup, waiter and result per
    query), in one module process with one API client, so that reading N kinds costs one module start instead of
    N (a loop of M(kubernetes.core.k8s_info) starts a module, loads the client and the discovery cache per item).
  - Never changes anything; runs in check mode.
  - With O(wait=true), each query waits as M(kubernetes.core.k8s_info) does with its O(kubernetes.core.k8s_info#module:wait)
    (the readiness per kind, or O(wait_condition)), one query after the other; O(wait_timeout) bounds each query.
options:
  queries:
    description: What to read, in order; each entry is one M(kubernetes.core.k8s_info) call.
    type: list
    elements: dict
    required: true
    suboptions:
      api_version:
        description: API group and version of the kind, for example C(apps/v1).
        type: str
        default: v1
      kind:
        description: Kind to read, for example C(Deployment).
        type: str
        required: true
      name:
        description: Name of one object; omit to list the kind.
        type: str
      namespace:
        description: Namespace to read in; omit for a cluster-scoped kind or to list every namespace.
        type: str
      label_selectors:
        description: Label selectors the objects must match, as in M(kubernetes.core.k8s_info).
        type: list
        elements: str
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
    support: none
  platform:
    platforms: posix
notes:
  - A kind the API server does not serve is not an error, as in M(kubernetes.core.k8s_info) - its result has
    RV(results[].api_found=false) and no resources.
"""

EXAMPLES = r"""
- name: List the Deployments, Services and HTTPRoutes of the namespace in one run
  mcp_gateway.platform.k8s_read:
    queries:
      - {api_version: apps/v1, kind: Deployment, namespace: agentgateway-system}
      - {kind: Service, namespace: agentgateway-system}
      - {api_version: gateway.networking.k8s.io/v1, kind: HTTPRoute, namespace: agentgateway-system}
  register: listed

- name: Wait until each CRD is Established
  mcp_gateway.platform.k8s_read:
    queries:
      - {api_version: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, name: gateways.gateway.networking.k8s.io}
      - {api_version: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, name: httproutes.gateway.networking.k8s.io}
    wait: true
    wait_condition: {type: Established, status: "True"}
    wait_timeout: 120
"""

RETURN = r"""
results:
  description: One entry per query, in order.
  returned: always
  type: list
  elements: dict
  contains:
    item:
      description:
        - The query as given, with its defaults.
        - Named as a loop's item, so that the result reads like a registered loop of M(kubernetes.core.k8s_info),
          with C(results[].item) and C(results[].resources).
      type: dict
      returned: always
    resources:
      description: The objects found (as M(kubernetes.core.k8s_info) returns them).
      type: list
      elements: dict
      returned: always
    api_found:
      description: Whether the API server serves the kind.
      type: bool
      returned: always
    msg:
      description: Why no objects were read, when the kind is not served.
      type: str
      returned: when api_found is false
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC, WAIT_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(copy.deepcopy(WAIT_ARG_SPEC))
    spec["queries"] = dict(type="list", elements="dict", required=True, options=dict(
        api_version=dict(type="str", default="v1"),
        kind=dict(type="str", required=True),
        name=dict(type="str"),
        namespace=dict(type="str"),
        label_selectors=dict(type="list", elements="str", default=[]),
    ))
    return spec


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argspec(), supports_check_mode=True)
    params = module.params
    try:
        svc = K8sService(get_api_client(module=module), module)
        results = []
        for query in params["queries"]:
            found = svc.find(query["kind"], query["api_version"], name=query["name"], namespace=query["namespace"],
                             label_selectors=query["label_selectors"], wait=params["wait"],
                             wait_sleep=params["wait_sleep"], wait_timeout=params["wait_timeout"],
                             condition=params["wait_condition"])
            results.append(dict(found, item=query))
    except CoreException as exc:
        module.fail_from_exception(exc)
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
