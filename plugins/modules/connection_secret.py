#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: connection_secret
short_description: Compose a Secret from literal values and keys copied from other Secrets
version_added: 1.0.0
author: mcp_gateway platform team (@mcp-gateway)
description:
  - Writes a Secret whose data is exactly O(string_data) plus the keys copied from other Secrets
    (for example the password a database chart generated), without any value ever appearing in
    the task result, the diff or the logs.
  - The Secret is created, or updated with a C(resourceVersion) precondition. Nothing changes
    (C(changed=false)) when its data, type, labels and annotations already are as requested.
  - Labels and annotations given are merged into existing ones; data keys not requested are
    removed.
  - A missing source Secret or key fails before anything is written, naming the Secret and the
    key (never a value).
options:
  name:
    description: Name of the Secret to write.
    type: str
    required: true
  namespace:
    description: Namespace of the Secret to write (and default namespace of the sources).
    type: str
    required: true
  string_data:
    description: Literal keys and values (values are converted to strings).
    type: dict
    default: {}
  from_secrets:
    description: Keys copied from other Secrets.
    type: list
    elements: dict
    default: []
    suboptions:
      secret:
        description: Name of the source Secret.
        type: str
        required: true
      key:
        description: Key in the source Secret.
        type: str
        required: true
      as:
        description: Key in the written Secret; defaults to O(from_secrets[].key).
        type: str
      namespace:
        description: Namespace of the source Secret; defaults to O(namespace).
        type: str
  labels:
    description: Labels to set on the Secret.
    type: dict
    default: {}
  annotations:
    description: Annotations to set on the Secret.
    type: dict
    default: {}
  type:
    description: Secret type. Kubernetes does not allow changing the type of an existing Secret.
    type: str
    default: Opaque
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
    support: full
    details: The diff shows key names, labels, annotations and type; every value is masked.
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Hand the MSSQL chart's generated password to the MCP server
  mcp_gateway.platform.connection_secret:
    name: mcp-mssql-connection
    namespace: mcp
    string_data:
      MSSQL_HOST: mssql.mcp.svc.cluster.local
      MSSQL_USER: sa
    from_secrets:
      - secret: mssql-mssqlserver-2022
        key: sa-password
        as: MSSQL_PASSWORD
    labels:
      app.kubernetes.io/part-of: mcp-gateway
  no_log: true
"""

RETURN = r"""
secret:
  description: The Secret written (names only, never values).
  returned: always
  type: dict
  contains:
    name:
      description: Secret name.
      type: str
      returned: always
    namespace:
      description: Secret namespace.
      type: str
      returned: always
    type:
      description: Secret type.
      type: str
      returned: always
    data_keys:
      description: Data keys of the Secret (names only).
      type: list
      elements: str
      returned: always
changed_keys:
  description: Data keys added, changed or removed (names only).
  returned: always
  type: list
  elements: str
  sample: [MSSQL_PASSWORD]
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.mcp_gateway.platform.plugins.module_utils.k8s.secrets import (
    SecretError,
    SecretStore,
    masked_view,
)


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        string_data=dict(type="dict", default={}, no_log=True),
        from_secrets=dict(
            type="list", elements="dict", default=[], no_log=False,  # Secret and key names only
            options={
                "secret": dict(type="str", required=True, no_log=False),
                "key": dict(type="str", required=True, no_log=False),
                "as": dict(type="str"),
                "namespace": dict(type="str"),
            },
        ),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        type=dict(type="str", default="Opaque"),
    )
    return spec


def desired_data(module, store):
    """The requested data (plain values), failing clearly on a missing source or a clash."""
    p = module.params
    data = {}
    for key, value in (p["string_data"] or {}).items():
        data[key] = "" if value is None else str(value)
    for item in p["from_secrets"]:
        namespace = item["namespace"] or p["namespace"]
        target = item["as"] or item["key"]
        if target in data:
            module.fail_json(msg="Key %s is requested twice (string_data or from_secrets); nothing written" % target)
        source = store.read(item["secret"], namespace)
        if source is None:
            module.fail_json(msg="Source Secret %s/%s not found (wanted key %s); nothing written"
                             % (namespace, item["secret"], item["key"]))
        if not source.has(item["key"]) or source.value(item["key"]) is None:
            module.fail_json(msg="Source Secret %s/%s has no text key %s (it has: %s); nothing written"
                             % (namespace, item["secret"], item["key"], ", ".join(source.keys) or "no keys"))
        value = source.value(item["key"])
        module._module.no_log_values.add(value)
        data[target] = value
    return data


def run(module, store):
    p = module.params
    name, namespace = p["name"], p["namespace"]
    labels = dict((k, str(v)) for k, v in p["labels"].items())
    annotations = dict((k, str(v)) for k, v in p["annotations"].items())
    data = desired_data(module, store)
    current = store.read(name, namespace)

    if current is None:
        changed_keys = sorted(data)
        before = {}
        meta_changed = True
    else:
        if current.type != p["type"]:
            module.fail_json(msg="Secret %s/%s has type %s; the type of a Secret cannot be changed to %s"
                             % (namespace, name, current.type, p["type"]))
        changed_keys = sorted(set(k for k in data if not current.has(k) or current.value(k) != data[k])
                              | set(k for k in current.keys if k not in data))
        meta_changed = any(current.labels.get(k) != v for k, v in labels.items()) or any(
            current.annotations.get(k) != v for k, v in annotations.items())
        before = masked_view(current.keys, current.labels, current.annotations, current.type)

    changed = bool(changed_keys) or meta_changed
    result = dict(changed=changed, changed_keys=changed_keys,
                  secret=dict(name=name, namespace=namespace, type=p["type"], data_keys=sorted(data)))
    if module._diff:
        merged_labels = dict(current.labels if current else {}, **labels)
        merged_annotations = dict(current.annotations if current else {}, **annotations)
        after = masked_view(data, merged_labels, merged_annotations, p["type"])
        for key in changed_keys:
            if key in after["data"]:
                after["data"][key] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER (changed)"
        result["diff"] = dict(before=before, after=after)
    if changed and not module.check_mode:
        store.write(name, namespace, data, current=current, annotations=annotations, labels=labels,
                    secret_type=p["type"], replace_data=True)
    module.exit_json(**result)


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argspec(), supports_check_mode=True)
    try:
        run(module, SecretStore(get_api_client(module=module)))
    except (CoreException, SecretError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
