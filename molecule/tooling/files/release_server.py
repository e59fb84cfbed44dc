"""A real HTTP server on loopback that serves release files for the tooling scenario.

It is not a test double of any product: it is a plain static file server (standard library
``http.server``) standing in for a download mirror. Every GET/HEAD is appended as a JSON line to
``requests.log`` in the served directory so the scenario can assert what was (not) downloaded.

Usage: release_server.py DIRECTORY PORTFILE  -- binds 127.0.0.1 on a free port, writes the port to
PORTFILE, then serves until killed.
"""

import functools
import http.server
import json
import os
import sys


class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Static file handler that records each request path and method."""

    def _record(self) -> None:
        with open(os.path.join(self.directory, "requests.log"), "a", encoding="utf-8") as log:
            log.write(json.dumps({"method": self.command, "path": self.path}) + "\n")

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._record()
        super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        self._record()
        super().do_HEAD()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep stderr quiet; requests.log is the record."""


def main() -> None:
    directory, portfile = sys.argv[1], sys.argv[2]
    handler = functools.partial(RecordingHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(portfile + ".tmp", "w", encoding="utf-8") as out:
        out.write(str(server.server_address[1]))
    os.replace(portfile + ".tmp", portfile)
    server.serve_forever()


if __name__ == "__main__":
    main()
