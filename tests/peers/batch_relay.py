"""A relay in front of moto that makes Batch answer as AWS does where moto does not.

moto answers ListJobs in one page and DescribeJobs for any number of ids. AWS pages
ListJobs, takes at most 100 ids per DescribeJobs, and throttles. The relay passes
every request on to moto and, for Batch's job calls, cuts the answer into pages of
`page_size` (with a nextToken), refuses more than 100 ids, and answers the next
`throttle` DescribeJobs calls with AWS's throttling error.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from tests.peers.loopback import LoopbackServer, QuietHandler, relay

DESCRIBE_LIMIT = 100


class BatchRelay(LoopbackServer):
    def __init__(self, upstream: str, *, page_size: int = 2, throttle: int = 0) -> None:
        self.upstream = upstream
        self.page_size = page_size
        self.throttle = throttle
        self.calls: Counter[str] = Counter()  # path -> requests seen
        self.lock = threading.Lock()
        relay = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = relay.answer(
                    self.command, self.path, dict(self.headers), payload
                )
                self.reply(status, body, headers=headers)

            do_GET = do_POST

        super().__init__(Handler)

    def answer(
        self, method: str, path: str, headers: dict[str, str], payload: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            self.calls[path] += 1
            throttled = path == "/v1/describejobs" and self.throttle > 0
            if throttled:
                self.throttle -= 1
        if throttled:
            return _error(429, "TooManyRequestsException", "Too Many Requests")
        if path == "/v1/describejobs":
            if len(json.loads(payload or b"{}").get("jobs", [])) > DESCRIBE_LIMIT:
                return _error(400, "ClientException", "jobs: at most 100 job ids per request")
        if path == "/v1/listjobs":
            return self._page(method, path, headers, payload)
        return self._relay(method, path, headers, payload)

    def _page(
        self, method: str, path: str, headers: dict[str, str], payload: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        request = json.loads(payload or b"{}")
        start = int(request.pop("nextToken", None) or 0)
        request.pop("maxResults", None)
        status, body, kept = self._relay(method, path, headers, json.dumps(request).encode())
        if status != 200:
            return status, body, kept
        answer: dict[str, Any] = json.loads(body)
        every = answer.get("jobSummaryList", [])
        answer["jobSummaryList"] = every[start : start + self.page_size]
        if start + self.page_size < len(every):
            answer["nextToken"] = str(start + self.page_size)
        return 200, json.dumps(answer).encode(), kept

    def _relay(
        self, method: str, path: str, headers: dict[str, str], payload: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        return relay(self.upstream, method, path, headers, payload)


def _error(status: int, code: str, message: str) -> tuple[int, bytes, dict[str, str]]:
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": code}
