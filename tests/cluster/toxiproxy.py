"""toxiproxy (github.com/Shopify/toxiproxy/v2, built by tests/binaries/build.sh): a real TCP fault proxy.

``Toxiproxy()`` starts ``toxiproxy-server`` on 127.0.0.1 with a free API port and stops it on exit.
``proxy(name, upstream)`` opens a listener on 127.0.0.1 (a free port) that forwards to ``upstream``
(``host:port``); ``toxic(...)`` adds one of toxiproxy's toxics to it (latency, reset_peer, timeout,
limit_data, slicer, ...), ``remove(...)`` takes it off, ``reset()`` removes every toxic. TLS passes
through unchanged (it is a TCP proxy), so a client keeps verifying the upstream's certificate.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

from cluster import binaries


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Toxiproxy:
    def __init__(self, log_path):
        self.log_path = log_path
        self.port = None
        self.proc = None

    def __enter__(self):
        server = f"{binaries(build=False)['toxiproxy']}/toxiproxy-server"
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([server, "-host", "127.0.0.1", "-port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.api("GET", "/version")
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"toxiproxy-server did not answer; see {self.log_path}")
                time.sleep(0.1)

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def api(self, method, path, body=None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def proxy(self, name, upstream):
        """A new proxy to ``upstream``; returns its listen address ``127.0.0.1:<port>``."""
        return self.api("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": upstream,
                                             "enabled": True})["listen"]

    def toxic(self, proxy, kind, stream="downstream", toxicity=1.0, name=None, **attributes):
        name = name or f"{kind}_{stream}"
        self.api("POST", f"/proxies/{proxy}/toxics", {"name": name, "type": kind, "stream": stream,
                                                      "toxicity": toxicity, "attributes": attributes})
        return name

    def remove(self, proxy, name):
        self.api("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self):
        """Every proxy enabled and every toxic removed."""
        self.api("POST", "/reset")

    @contextmanager
    def toxics(self, proxy, *specs):
        """``with tp.toxics(name, ("latency", "downstream", {"latency": 300})): ...``: on, then off."""
        names = [self.toxic(proxy, kind, stream, **attrs) for kind, stream, attrs in specs]
        try:
            yield names
        finally:
            for name in names:
                try:
                    self.remove(proxy, name)
                except urllib.error.HTTPError:
                    pass
