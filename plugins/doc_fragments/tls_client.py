# -*- coding: utf-8 -*-
# Copyright: mcp_gateway platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

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
