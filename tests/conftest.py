"""Shared pytest fixtures: a real Kubernetes control plane per test module (see tests/cluster).

* ``cluster`` (module scope): a fresh :class:`cluster.Cluster` -- etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler and the kwok controller on 127.0.0.1, RBAC and admission on,
  a Metadata-level audit log, one KWOK Node. Attributes ``kubeconfig``, ``ca_file``, ``audit_log``,
  ``server``, ``env``; methods ``kubectl()``, ``get()``, ``http()``, ``client()``, ``token()``,
  ``audit_events()``.
* ``kubeconfig``: the path of its admin kubeconfig, as a string.
"""

from __future__ import annotations

import uuid

import pytest

from cluster import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with Cluster("t-" + uuid.uuid4().hex[:8], tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def kubeconfig(cluster):
    return str(cluster.kubeconfig)
