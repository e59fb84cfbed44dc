#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_restart
short_description: Restart Deployments, StatefulSets or DaemonSets like kubectl rollout restart
version_added: 1.0.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - Sends the strategic merge patch of C(kubectl rollout restart) (sets the pod template annotation
    C(kubectl.kubernetes.io/restartedAt) to the current time, RFC 3339) to every selected workload.
  - With O(wait=true), then waits like C(kubectl rollout status) (observed generation, updated,
    ready and available replicas, StatefulSet revisions, DaemonSet scheduled and available pods) and
    fails on timeout with a message naming each workload that is not rolled out and why.
  - A restart always changes the workload, so the module always reports C(changed) when at least
    one workload matched.
options:
  kind:
    description: Kind of the workloads.
    type: str
    choices: [Deployment, StatefulSet, DaemonSet]
    default: Deployment
  name:
    description: Name of the workload. Mutually exclusive with O(label_selectors).
    type: str
  label_selectors:
    description:
      - Restart every workload of O(kind) in O(namespace) matching all these selectors
        (e.g. C(app=mcp-hubspot)). Matching nothing is not an error (RV(restarted) is empty).
    type: list
    elements: str
  namespace:
    description: Namespace of the workloads.
    type: str
    required: true
  wait:
    description: Wait for the restarted workloads to roll out.
    type: bool
    default: false
  wait_timeout:
    description: How many seconds to wait with O(wait=true).
    type: int
    default: 120
  wait_sleep:
    description: Seconds between status checks with O(wait=true).
    type: int
    default: 5
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubernetes.core.k8s_auth_options
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
attributes:
  check_mode:
    support: full
    details: Reports which workloads would be restarted, without patching them.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Restart the HubSpot MCP server and wait until it is back
  mcp_gateway.platform.rollout_restart:
    kind: StatefulSet
    name: hubspot-mcp
    namespace: mcp
    wait: true
    wait_timeout: 300

- name: Restart every MCP server Deployment
  mcp_gateway.platform.rollout_restart:
    kind: Deployment
    namespace: mcp
    label_selectors:
      - app.kubernetes.io/component=mcp-server
"""

RETURN = r"""
restarted:
  description: The workloads restarted (or that would be, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Workload kind.
      type: str
      returned: always
      sample: StatefulSet
    name:
      description: Workload name.
      type: str
      returned: always
      sample: hubspot-mcp
    namespace:
      description: Workload namespace.
      type: str
      returned: always
      sample: mcp
    restartedAt:
      description: The restartedAt annotation written (RFC 3339); null in check mode.
      type: str
      returned: always
      sample: "2026-11-25T12:00:00Z"
status:
  description: With O(wait=true), the final rollout status of each restarted workload.
  returned: when wait
  type: list
  elements: dict
  contains:
    kind:
      description: Workload kind.
      type: str
      returned: always
    name:
      description: Workload name.
      type: str
      returned: always
    namespace:
      description: Workload namespace.
      type: str
      returned: always
    ready:
      description: Whether it rolled out.
      type: bool
      returned: always
    message:
      description: "What was last seen, for example C(StatefulSet mcp/hubspot-mcp: 0/1 replicas updated)."
      type: str
      returned: always
    status:
      description: The workload's C(.status) when last read.
      type: dict
      returned: always
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.mcp_gateway.platform.plugins.module_utils.k8s.restart import (
    WORKLOAD_KINDS,
    RestartError,
    WorkloadRestarter,
    now_rfc3339,
)


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        kind=dict(type="str", choices=list(WORKLOAD_KINDS), default="Deployment"),
        name=dict(type="str"),
        label_selectors=dict(type="list", elements="str"),
        namespace=dict(type="str", required=True),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=120),
        wait_sleep=dict(type="int", default=5),
    )
    return spec


def run(module, restarter):
    p = module.params
    workloads = restarter.find(p["namespace"], name=p["name"], label_selectors=p["label_selectors"])
    restarted = []
    if module.check_mode:
        restarted = [dict(kind=p["kind"], name=o["metadata"]["name"], namespace=o["metadata"]["namespace"],
                          restartedAt=None) for o in workloads]
        module.exit_json(changed=bool(restarted), restarted=restarted,
                         msg="Would restart %d %s(s)" % (len(restarted), p["kind"]))
    stamp = now_rfc3339()
    for obj in workloads:
        restarter.restart(obj, stamp)
        restarted.append(dict(kind=p["kind"], name=obj["metadata"]["name"],
                              namespace=obj["metadata"]["namespace"], restartedAt=stamp))
    result = dict(changed=bool(restarted), restarted=restarted)
    if p["wait"] and workloads:
        done, statuses = restarter.wait(workloads, p["wait_timeout"], p["wait_sleep"])
        result["status"] = statuses
        if not done:
            unready = "; ".join(s["message"] for s in statuses if not s["ready"])
            module.fail_json(msg="Timed out after %ds waiting for the rollout: %s" % (p["wait_timeout"], unready),
                             **result)
    module.exit_json(msg="Restarted %d %s(s)" % (len(restarted), p["kind"]), **result)


def main():
    module = AnsibleK8SModule(
        module_class=AnsibleModule,
        argument_spec=argspec(),
        supports_check_mode=True,
        mutually_exclusive=[("name", "label_selectors")],
        required_one_of=[("name", "label_selectors")],
    )
    for option in ("wait_timeout", "wait_sleep"):
        if module.params[option] < (1 if option == "wait_sleep" else 0):
            module.fail_json(msg="%s must be a positive number of seconds, got %d" % (option, module.params[option]))
    try:
        restarter = WorkloadRestarter(get_api_client(module=module), module.params["kind"])
        run(module, restarter)
    except (CoreException, RestartError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # API errors from the kubernetes client: name them, keep the traceback
        module.fail_from_exception(exc)


if __name__ == "__main__":
    main()
