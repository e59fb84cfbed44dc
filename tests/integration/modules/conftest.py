"""Fixtures of the module integration tests: kubernetes API clients on the emulator (as admin)."""

import pytest


@pytest.fixture(scope="module")
def k8s(emulator):
    """kubernetes client ApiClient for reading the emulated cluster back (as admin)."""
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=emulator.kubeconfig)


@pytest.fixture(scope="module")
def core(k8s):
    import kubernetes

    return kubernetes.client.CoreV1Api(k8s)


@pytest.fixture(scope="module")
def apps(k8s):
    import kubernetes

    return kubernetes.client.AppsV1Api(k8s)
