"""Run ``ansible-test sanity`` on the collection exactly as users install it.

Builds the artifact with ``ansible-galaxy collection build`` (so ``build_ignore`` applies: test
infrastructure such as tests/cluster is not part of what ships), installs it into a scratch
collections tree, and runs sanity there with ``--venv`` (ansible-test installs its own pinned
requirements into isolated virtualenvs, leaving the project's virtualenv untouched).

Usage: run_sanity.py --python 3.13 [extra ansible-test arguments]
"""

import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def install_pip_bootstrap() -> None:
    """Put the offline get-pip stand-in where ansible-test caches its pip bootstrap script."""
    import ansible_test  # the ansible-test of this Python's ansible-core

    source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    versions = set(re.findall(r"pip='([0-9.]+)'", source.read_text()))
    cache = pathlib.Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in versions:
        target = cache / f"get_pip_{version.replace('.', '_')}.py"
        if not target.exists():
            shutil.copyfile(ROOT / "tests" / "get_pip_offline.py", target)


def add_dependency(collections: pathlib.Path, namespace: str, name: str) -> None:
    """Copy a collection the modules import (from this Python's ``ansible`` package) next to ours.

    ansible-test only resolves ``ansible_collections.*`` imports and doc fragments within the
    ``ansible_collections/`` root of the collection under test (ANSIBLE_COLLECTIONS_PATH is not
    consulted). A copy keeps the scratch tree self-contained (ansible-test 2.21 follows a symlink
    too). It is the version the running ansible ships, so each leg (2.21 / kubernetes.core 6.6,
    2.19 / kubernetes.core 6.2) is checked against its own.
    """
    import ansible_collections  # the namespace package of this Python's ``ansible`` distribution

    for root in ansible_collections.__path__:
        source = pathlib.Path(root) / namespace / name
        if (source / "MANIFEST.json").is_file():
            break
    else:
        raise SystemExit(f"{namespace}.{name} not found in {list(ansible_collections.__path__)}: install ansible")
    target = collections / "ansible_collections" / namespace / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    print(f"+ {namespace}.{name} {json.loads((source / 'MANIFEST.json').read_text())['collection_info']['version']}"
          f" from {source}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="Python version ansible-test runs sanity with")
    # Everything else (``--test pylint``, ``--skip-test shebang``, ...) goes to ansible-test as is.
    args, rest = parser.parse_known_args()

    bindir = pathlib.Path(sys.executable).parent
    galaxy = bindir / "ansible-galaxy"
    ansible_test = bindir / "ansible-test"
    install_pip_bootstrap()
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-sanity-"))
    try:
        subprocess.run([str(galaxy), "collection", "build", "--force", "--output-path", str(work)], cwd=ROOT, check=True)
        artifact = next(work.glob("mcp_gateway-platform-*.tar.gz"))
        collections = work / "collections"
        subprocess.run(
            [str(galaxy), "collection", "install", "--no-deps", "--force", "-p", str(collections), str(artifact)],
            check=True,
        )
        installed = collections / "ansible_collections" / "mcp_gateway" / "platform"
        add_dependency(collections, "kubernetes", "core")
        cmd = [str(ansible_test), "sanity", "--venv", "--python", args.python, "--color", "no", *rest]
        print("+", " ".join(cmd), f"(in {installed})", flush=True)
        return subprocess.run(cmd, cwd=installed, check=False).returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
