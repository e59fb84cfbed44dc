"""Shared pytest fixtures: a fresh Kubernetes API emulator per test module.

* ``emulator`` (module scope): a :class:`k8s_emulator.testing.EmulatorProcess` -- its own process, free
  port and temporary state directory; attributes ``kubeconfig``, ``url``, ``admin_token``, ``ca_file``,
  ``state_dir``, ``log_path``; methods ``kubectl()``, ``client()``, ``http()``, ``requests()``,
  ``inject_fault()``, ``clear_faults()``, ``set_controller_delay()``.
* ``kubeconfig``: the path of its admin kubeconfig (context ``emulator``, user ``admin``).

The controllers reconcile after ``EMULATOR_CONTROLLER_DELAY`` seconds (default 0.2 here, to keep the
suite fast; ``python -m k8s_emulator`` defaults to 0.5).
"""

from __future__ import annotations

import os

import pytest

from k8s_emulator.testing import EmulatorProcess


@pytest.fixture(scope="module")
def emulator():
    delay = float(os.environ.get("EMULATOR_CONTROLLER_DELAY", "0.2"))
    with EmulatorProcess(controller_delay=delay) as emu:
        yield emu


@pytest.fixture(scope="module")
def kubeconfig(emulator):
    return emulator.kubeconfig
