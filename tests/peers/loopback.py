"""What the project's HTTP peers share: a threaded server on 127.0.0.1, and one way to
write an answer."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit


def listed(form: dict[str, str], prefix: str) -> list[str]:
    """The members of a query-protocol list (`Prefix.1`, `Prefix.2`, ...) in order."""
    found = [(int(k[len(prefix) + 1 :]), v) for k, v in form.items() if k.startswith(prefix + ".")]
    return [v for _, v in sorted(found)]


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps test output quiet and answers in one call."""

    def log_message(self, *args: object) -> None:
        pass

    def reply(
        self,
        status: int,
        data: bytes,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def relay(
    upstream: str, method: str, path: str, headers: Mapping[str, str], payload: bytes
) -> tuple[int, bytes, dict[str, str]]:
    """Pass a request on to `upstream`: its status, body and the headers worth relaying."""
    target = urlsplit(upstream)
    conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
    try:
        sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        sent["Host"] = target.netloc
        sent["Content-Length"] = str(len(payload))
        conn.request(method, path, body=payload, headers=sent)
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    kept = {
        key: value
        for key, value in answer.getheaders()
        if key.lower() not in ("content-length", "transfer-encoding", "connection")
    }
    return answer.status, data, kept


def relay_handler(
    handler: BaseHTTPRequestHandler, upstream: str, payload: bytes
) -> tuple[int, bytes, None, dict[str, str]]:
    """Pass the handler's request on to `upstream`, as `QuietHandler.reply`'s arguments."""
    status, data, kept = relay(
        upstream, handler.command, handler.path, dict(handler.headers.items()), payload
    )
    return status, data, None, kept
