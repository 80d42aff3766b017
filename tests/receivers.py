"""A real local HTTP receiver for the webhook tests (decision webhooks, drift alerts)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class Receiver(BaseHTTPRequestHandler):
    """Records each POST (headers, body) and answers the queued statuses in turn, then 200."""

    received: list[tuple[dict[str, str], bytes]] = []
    statuses: list[int] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).statuses.pop(0) if type(self).statuses else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def http_receiver(statuses: list[int] | None = None) -> Iterator[tuple[str, type[Receiver]]]:
    """A receiver on a free local port: its URL and its handler class (``received``, ``statuses``)."""
    handler = type("Receiver", (Receiver,), {"received": [], "statuses": list(statuses or [])})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", handler
    finally:
        server.shutdown()
        server.server_close()
