"""A test double for the ``helm`` command line (helm 3.19), used by the tests of mcp_gateway.platform.

Why a double: no helm binary, no OCI registry (cr.agentgateway.dev) and no chart repository
(simcubeltd.github.io) can be reached where this collection is tested, yet the collection deploys
three charts with kubernetes.core.helm / helm_repository / helm_info. The double implements exactly
the helm commands those modules run (``version``, ``env``, ``plugin list``, ``repo add|list|remove|
update``, ``show chart|values|readme|crds|all``, ``upgrade -i``, ``install``, ``uninstall``, ``list``,
``get values|manifest|notes|hooks|metadata|all``, ``status``, ``history``, ``template``,
``dependency update|build|list``) with helm's flags (global ones included) and helm's messages, and
fails like helm (``Error: ...`` on stderr, exit code 1) for anything else.

State is kept like real helm keeps it: releases are ``helm.sh/release.v1`` Secrets in the release
namespace of the cluster named by the kubeconfig/context (an emulated one in the tests), repositories
in repositories.yaml. "Installing" a chart creates in the cluster what the real chart renders (see
CHARTS.md), with helm's ownership label and annotations, waits for readiness with ``--wait`` and
rolls back with ``--atomic``.

What it records: every invocation, as one JSON line (argv with credentials redacted, HELM_*/KUBECONFIG
environment with HELM_KUBETOKEN redacted, cwd, exit code, stdout/stderr sizes, duration) appended to
``$HELM_DOUBLE_LOG`` (default: ``helm-calls.jsonl`` next to the kubeconfig, else
``~/.cache/helm-double/helm-calls.jsonl``); ``helm_double.record.read(path)`` reads them back.
"""

# The helm version the double reports (the collection's tooling role pins the same: tooling_helm_version).
HELM_VERSION = "v3.19.0"
