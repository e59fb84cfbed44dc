"""Run ``ansible-test sanity`` on the collection exactly as users install it.

Builds the artifact with ``ansible-galaxy collection build`` (so ``build_ignore`` applies: test
infrastructure such as the API emulator is not part of what ships), installs it into a scratch
collections tree, and runs sanity there with ``--venv`` (ansible-test installs its own pinned
requirements into isolated virtualenvs, leaving the project's virtualenv untouched).

Usage: run_sanity.py --python 3.13 [extra ansible-test arguments]
"""

import argparse
import os
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="Python version ansible-test runs sanity with")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="extra ansible-test sanity arguments")
    args = parser.parse_args()

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
        # kubernetes.core must be importable by the collection's modules during sanity (import test).
        env = dict(os.environ)
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
            [str(collections), env.get("ANSIBLE_COLLECTIONS_PATH", "")]
        )
        cmd = [str(ansible_test), "sanity", "--venv", "--python", args.python, "--color", "no", *args.rest]
        print("+", " ".join(cmd), f"(in {installed})", flush=True)
        return subprocess.run(cmd, cwd=installed, env=env, check=False).returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
