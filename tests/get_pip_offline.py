"""Offline stand-in for pip's ``get-pip.py`` bootstrap script, used by ``ansible-test --venv``.

ansible-test bootstraps pip into each sanity virtualenv by downloading ``get-pip.py`` from a host this
build machine cannot reach. get-pip's contract is: run with pip-install arguments, install those packages.
This does the same with the pip wheel that CPython ships (``ensurepip``), then pip installs the requested
versions from the configured package index (PyPI). tests/run_sanity.py places it where ansible-test looks
for its cached bootstrap script.
"""

import subprocess
import sys

IGNORED = {"--no-setuptools", "--no-wheel"}


def main():
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    args = [arg for arg in sys.argv[1:] if arg not in IGNORED]
    subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)


if __name__ == "__main__":
    main()
