"""Serve the HubSpot OAuth token endpoint test double (tests/peers/hubspot_server.py) for this scenario.

    python hubspot_double.py STATE_DIR

Reads the credentials it accepts from STATE_DIR/hubspot-credentials.json (client_id, client_secret,
refresh_token; written by create.yml), serves on a free port of 127.0.0.1, writes that port to
STATE_DIR/hubspot.port and appends each request it answered, secrets masked, to STATE_DIR/hubspot-requests.jsonl.
Runs until SIGTERM (destroy.yml).
"""

import json
import os
import signal
import sys
import threading

from peers.hubspot_server import HubSpotServer


def main(state_dir):
    with open(os.path.join(state_dir, "hubspot-credentials.json"), encoding="utf-8") as handle:
        credentials = json.load(handle)
    server = HubSpotServer(client_id=credentials["client_id"], client_secret=credentials["client_secret"],
                           refresh_token=credentials["refresh_token"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        with open(os.path.join(state_dir, "hubspot.port"), "w", encoding="ascii") as handle:
            handle.write("%d\n" % server.port)
        written = 0
        log_path = os.path.join(state_dir, "hubspot-requests.jsonl")
        while not stop.wait(0.2):
            # server.requests holds secrets masked already; write the new ones.
            fresh = server.requests[written:]
            if fresh:
                with open(log_path, "a", encoding="utf-8") as log:
                    for request in fresh:
                        log.write(json.dumps(request) + "\n")
                written += len(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
