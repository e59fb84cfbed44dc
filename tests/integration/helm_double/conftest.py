"""Fixtures of the helm double's tests: the double on PATH against the module's emulator."""

import os

import pytest

from helm_double.testing import HelmRunner, shared_crds_dir


@pytest.fixture(scope="module")
def helm(emulator, tmp_path_factory):
    """Run the helm double (a private helm home and call log per test module)."""
    return HelmRunner(emulator, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def gateway_api_crds(emulator):
    """The real Gateway API v1.4.0 CRDs (the agentgateway controller needs GatewayClass)."""
    path = os.path.join(shared_crds_dir(), "gateway-api-v1.4.0-standard-install.yaml")
    proc = emulator.kubectl("apply", "--server-side", "-f", path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return path
