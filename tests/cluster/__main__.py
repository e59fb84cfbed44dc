"""`python -m cluster up|down`: start (or reuse) and stop the test control plane for `make cluster-up`;
`hostpods` is the cluster's own process that runs Pods' programs on the host (tests/cluster/hostpods.py)."""

import argparse

from cluster import ROOT, Cluster

parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
parser.add_argument("action", choices=["up", "down", "hostpods"])
parser.add_argument("--name", default="mcp-test")
parser.add_argument("--state-dir", default=str(ROOT / ".cluster"))
parser.add_argument("--cluster-dir", help="hostpods: the cluster's folder (marks the process as the cluster's)")
args = parser.parse_args()
cluster = Cluster(args.name, args.state_dir)
if args.action == "hostpods":
    from cluster import hostpods

    hostpods.run(cluster, list(cluster.bin.values()))
elif args.action == "up":
    cluster.up()
    print(f"cluster {args.name} is up: export KUBECONFIG={cluster.kubeconfig}")
elif cluster.kubeconfig.exists():
    cluster.down()
    print(f"cluster {args.name} stopped")
