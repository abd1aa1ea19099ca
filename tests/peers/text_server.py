"""A tiny HTTP server on 127.0.0.1 answering every GET with one text body."""

from __future__ import annotations

from tests.peers.loopback import LoopbackServer, QuietHandler


class TextServer(LoopbackServer):
    """Serves `body` (which a test may change) until stopped."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.requests = 0  # GETs answered, so a test can tell a cached run asked nothing
        peer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                peer.requests += 1
                self.reply(200, peer.body.encode())

        super().__init__(Handler)
        self.start()
