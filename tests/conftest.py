"""Shared pytest fixtures: a real Kubernetes control plane per test module (see tests/cluster).

* ``cluster`` (module scope): a fresh :class:`cluster.Cluster` -- etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler and the kwok controller on 127.0.0.1, RBAC and admission on,
  a Metadata-level audit log, one KWOK Node. Attributes ``kubeconfig``, ``ca_file``, ``audit_log``,
  ``server``, ``env``; methods ``kubectl()``, ``get()``, ``http()``, ``client()``, ``token()``,
  ``audit_events()``.
* ``kubeconfig``: the path of its admin kubeconfig, as a string.
* ``azure_ad`` (module scope): the Azure AD double with the demo's ids, and the variables file for it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from cluster import Cluster
from peers.oidc_authority import OidcAuthority


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with Cluster("t-" + uuid.uuid4().hex[:8], tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def kubeconfig(cluster):
    return str(cluster.kubeconfig)


@pytest.fixture(scope="module")
def azure_ad(tmp_path_factory):
    """The Azure AD double (tests/peers/oidc_authority.py) with the demo's tenant and client ids, on
    loopback HTTPS: the real agentgateway controller fetches the tenant's JWKS from it. ``vars_file`` is
    the JSON file of the auth_policy variables that point the platform at it (``-e @vars_file``)."""
    with open(Path(__file__).parent / "demo-vars.yml", encoding="utf-8") as handle:
        demo = yaml.safe_load(handle)
    with OidcAuthority(tenant_id=demo["auth_policy_tenant_id"], client_id=demo["auth_policy_client_id"]) as authority:
        authority.vars_file = tmp_path_factory.mktemp("azure-ad") / "oidc-vars.json"
        authority.vars_file.write_text(json.dumps(authority.collection_vars()), encoding="utf-8")
        yield authority
