"""The AWX execution environment definition: `ansible-builder create` writes a build context whose
Containerfile pins the base image, kubectl and helm exactly as the tooling role does, and bundles
requirements.txt and requirements.yml unchanged."""

import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDER = os.path.join(os.path.dirname(sys.executable), "ansible-builder")


def _load(relative):
    with open(os.path.join(ROOT, relative)) as handle:
        return handle.read()


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    out = tmp_path_factory.mktemp("ee-context")
    proc = subprocess.run(
        [BUILDER, "create", "--file", "execution-environment.yml", "--context", str(out),
         "--output-filename", "Containerfile"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def containerfile(context):
    return (context / "Containerfile").read_text()


def test_base_image_is_pinned(containerfile):
    definition = yaml.safe_load(_load("execution-environment.yml"))
    assert definition["version"] == 3
    image = definition["images"]["base_image"]["name"]
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    assert tag and tag != "latest" or "@sha256:" in image, image
    assert 'ARG EE_BASE_IMAGE="%s"' % image in containerfile


def test_kubectl_and_helm_match_the_tooling_role(containerfile):
    tooling = yaml.safe_load(_load("roles/tooling/defaults/main.yml"))
    assert "ARG KUBECTL_VERSION=%s" % tooling["tooling_kubectl_version"] in containerfile
    assert "ARG HELM_VERSION=%s" % tooling["tooling_helm_version"] in containerfile
    for arch, digest in tooling["tooling_kubectl_checksums"].items():
        assert "ARG KUBECTL_SHA256_%s=%s" % (arch.upper(), digest) in containerfile
    for arch, digest in tooling["tooling_helm_checksums"].items():
        assert "ARG HELM_SHA256_%s=%s" % (arch.upper(), digest) in containerfile
    # The downloads are checked before they are installed.
    install = containerfile[containerfile.index("ARG KUBECTL_VERSION"):]
    assert install.index("sha256sum -c") < install.index("install -m 0755")
    assert install.count("sha256sum -c -") == 2


def test_ansible_core_matches_requirements(containerfile):
    wanted = [line.split("#")[0].strip() for line in _load("requirements.txt").splitlines()]
    assert "ansible==14.5.0" in wanted  # the ansible release whose core is pinned below
    assert "ansible-core==2.21.5" in containerfile


def test_python_and_galaxy_requirements_are_bundled_unchanged(context):
    assert (context / "_build" / "requirements.txt").read_text() == _load("requirements.txt")
    bundled = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert bundled == yaml.safe_load(_load("requirements.yml"))
    assert "kubernetes.core" in [c["name"] for c in bundled["collections"]]
