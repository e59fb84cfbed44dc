"""What the HTTP peers share: a threaded HTTP(S) server on 127.0.0.1 and a JSON request handler."""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    """Routes every request to ``self.peer.handle(self, form)``; answers JSON."""

    protocol_version = "HTTP/1.1"
    peer = None

    def log_message(self, *args):  # keep test output clean
        return

    def do_GET(self):
        self.peer.handle(self, None)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        self.peer.handle(self, urllib.parse.parse_qs(raw, keep_blank_values=True))

    def send_json(self, status, payload, headers=None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LoopbackPeer:
    """Start/stop of a peer's server on 127.0.0.1 (a free port), optionally TLS; context manager.

    Subclasses implement ``handle(handler, form)`` (form is None for GET) and may set
    ``ssl_context`` before ``start()``.
    """

    ssl_context = None
    _server = None

    @property
    def port(self):
        return self._server.server_address[1]

    def start(self):
        handler = type("Handler", (JsonHandler,), {"peer": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
