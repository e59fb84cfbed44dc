"""Serve a test double as its own process, for Molecule scenarios and `make demo`.

    python -m peers hubspot STATE_DIR [--background]
    python -m peers oidc    STATE_DIR [--tenant-id T] [--client-id C] [--background]
    python -m peers stop    STATE_DIR

``hubspot`` (tests/peers/hubspot_server.py) accepts the credentials in STATE_DIR/hubspot-credentials.json
(client_id, client_secret, refresh_token) and writes its port to STATE_DIR/hubspot.port. ``oidc``
(tests/peers/oidc_authority.py, the Azure AD double) writes STATE_DIR/oidc-vars.json: the auth_policy
variables that point the platform at it (host, port, issuer, its CA). Each appends the requests it
answered, secrets masked, to STATE_DIR/<peer>-requests.jsonl and runs until SIGTERM. ``--background``
returns once the peer serves (at once when one already serves from STATE_DIR); ``stop`` ends them.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PEERS = ("hubspot", "oidc")


def serve(peer, state, args):
    if peer == "hubspot":
        from peers.hubspot_server import HubSpotServer

        credentials = json.loads((state / "hubspot-credentials.json").read_text())
        server = HubSpotServer(client_id=credentials["client_id"], client_secret=credentials["client_secret"],
                               refresh_token=credentials["refresh_token"])
    else:
        from peers.oidc_authority import OidcAuthority

        server = OidcAuthority(tenant_id=args.tenant_id, client_id=args.client_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        ready = state / ("hubspot.port" if peer == "hubspot" else "oidc-vars.json")
        content = "%d\n" % server.port if peer == "hubspot" else json.dumps(server.collection_vars())
        ready.with_suffix(".tmp").write_text(content)
        ready.with_suffix(".tmp").rename(ready)
        written = 0
        while not stop.wait(0.2):
            fresh = server.requests[written:]  # secrets already masked by the peer
            if fresh:
                with open(state / f"{peer}-requests.jsonl", "a", encoding="utf-8") as log:
                    log.writelines(json.dumps(request) + "\n" for request in fresh)
                written += len(fresh)
        ready.unlink(missing_ok=True)


def serving(state, peer):
    pidfile = state / f"{peer}.pid"
    try:
        return peer.encode() in Path(f"/proc/{int(pidfile.read_text())}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False


def main():
    parser = argparse.ArgumentParser(prog="python -m peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("peer", choices=PEERS + ("stop",))
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("--tenant-id")
    parser.add_argument("--client-id")
    parser.add_argument("--background", action="store_true")
    args = parser.parse_args()
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    if args.peer == "stop":
        for peer in PEERS:
            if serving(state, peer):
                os.kill(int((state / f"{peer}.pid").read_text()), signal.SIGTERM)
        return 0
    if not args.background:
        (state / f"{args.peer}.pid").write_text(str(os.getpid()))
        serve(args.peer, state, args)
        return 0
    ready = state / ("hubspot.port" if args.peer == "hubspot" else "oidc-vars.json")
    if serving(state, args.peer) and ready.exists():
        return 0
    ready.unlink(missing_ok=True)  # a stale one from a killed peer
    command = [sys.executable, "-m", "peers", args.peer, str(state)]
    command += [f"--{name}={value}" for name, value in (("tenant-id", args.tenant_id), ("client-id", args.client_id)) if value]
    with open(state / f"{args.peer}.out", "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent)))
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"peer {args.peer} did not start: see {state / (args.peer + '.out')}")
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
