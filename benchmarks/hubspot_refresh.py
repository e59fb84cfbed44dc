"""Exchange latency of the HubSpot OAuth client against the local token-endpoint double.

Prints figures only (no assertions): per-exchange latency (min / median / p95 / max) for N
sequential exchanges, the throughput of C concurrent workers, and the wall time of an exchange
that first meets a 429 with Retry-After: 1 (to show the backoff honours it).

    PYTHONPATH=tests:.collections .venv/bin/python benchmarks/hubspot_refresh.py [-n 200] [-c 4]
"""

import argparse
import os
import statistics
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
for path in (os.path.join(ROOT, "tests"), os.path.join(ROOT, ".collections")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.mcp_gateway.platform.plugins.module_utils import hubspot_oauth  # noqa: E402
from peers.hubspot_server import HubSpotServer  # noqa: E402


def exchange(server):
    started = time.perf_counter()
    hubspot_oauth.refresh_access_token(server.client_id, server.client_secret, server.refresh_token,
                                       token_url=server.url, timeout=5)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="sequential exchanges")
    parser.add_argument("-c", type=int, default=4, help="concurrent workers for the throughput figure")
    args = parser.parse_args()
    with HubSpotServer() as server:
        exchange(server)  # warm-up
        samples = sorted(exchange(server) for _ in range(args.n))
        ms = [s * 1000 for s in samples]
        print("sequential exchanges: n=%d" % args.n)
        print("  latency ms: min %.2f  median %.2f  p95 %.2f  max %.2f" % (
            ms[0], statistics.median(ms), ms[int(len(ms) * 0.95) - 1], ms[-1]))

        per_worker = max(1, args.n // args.c)
        threads = [threading.Thread(target=lambda: [exchange(server) for _ in range(per_worker)])
                   for _ in range(args.c)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        print("concurrent: %d workers x %d exchanges in %.2fs = %.0f exchanges/s" % (
            args.c, per_worker, elapsed, args.c * per_worker / elapsed))

        server.script(("429", 1))
        wall = exchange(server)
        print("429 with Retry-After: 1, then success: %.2fs wall (2 requests)" % wall)


if __name__ == "__main__":
    main()
