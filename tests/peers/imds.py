"""EC2's instance metadata service, IMDSv2 only: a token by PUT, then metadata by GET
with that token (a GET without it is refused with 401, as on an instance that
requires IMDSv2)."""

from __future__ import annotations

import secrets

from tests.peers.loopback import LoopbackServer, QuietHandler


class Imds(LoopbackServer):
    """Answers /latest/meta-data/PATH from `values` to token holders."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.token = secrets.token_hex(16)
        self.refused = 0  # GETs without the token
        peer = self

        class Handler(QuietHandler):
            def do_PUT(self) -> None:
                if self.path != "/latest/api/token" or not self.headers.get(
                    "X-aws-ec2-metadata-token-ttl-seconds"
                ):
                    self.reply(400, b"")
                    return
                self.reply(200, peer.token.encode())

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") != peer.token:
                    peer.refused += 1
                    self.reply(401, b"")
                    return
                value = peer.values.get(self.path.removeprefix("/latest/meta-data/"))
                if value is None:
                    self.reply(404, b"")
                else:
                    self.reply(200, value.encode())

        super().__init__(Handler)
        self.start()
