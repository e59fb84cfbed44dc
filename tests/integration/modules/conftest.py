"""Fixtures of the module integration tests: kubernetes API clients (as admin) on the real control plane.

``cluster`` and ``kubeconfig`` come from tests/conftest.py: a fresh kwokctl cluster per test module --
real etcd, kube-apiserver, controller-manager, scheduler and KWOK, with RBAC, admission and an audit log.
"""

import pytest


@pytest.fixture(scope="module")
def k8s(cluster):
    """kubernetes client ApiClient for reading the cluster back (as admin, client certificate)."""
    return cluster.client()


@pytest.fixture(scope="module")
def core(k8s):
    import kubernetes

    return kubernetes.client.CoreV1Api(k8s)


@pytest.fixture(scope="module")
def apps(k8s):
    import kubernetes

    return kubernetes.client.AppsV1Api(k8s)
