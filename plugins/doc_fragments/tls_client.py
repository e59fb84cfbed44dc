# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # TLS options of modules that call an HTTPS endpoint other than the Kubernetes API.
    DOCUMENTATION = r"""
options:
  validate_certs:
    description:
      - Verify the server's TLS certificate. Only set to C(false) for throw-away test endpoints.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) to trust instead of the system store, for private
        authorities and endpoints.
    type: path
"""
