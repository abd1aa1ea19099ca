"""A relay in front of moto that makes Batch answer as AWS does where moto does not.

moto answers ListJobs in one page and DescribeJobs for any number of ids. AWS pages
ListJobs, takes at most 100 ids per DescribeJobs, and throttles. The relay passes
every request on to moto and, for Batch's job calls, cuts the answer into pages of
`page_size` (with a nextToken), refuses more than 100 ids, and answers the next
`throttle` DescribeJobs calls with AWS's throttling error.

For CloudWatch Logs' GetLogEvents it records each request, caps its `limit` at
`log_page` (small pages), and every `fault_every`-th call (and the `fault_burst` - 1
before it) answers with the next fault of `log_faults`: "close" (the socket closes
without an answer), "throttle" (ThrottlingException), "500" (an internal error) or
"denied" (AccessDeniedException, which no retry gets past).
`extra_jobs` adds DescribeJobs records moto cannot make (a multi-node job's nodes,
`JOB#N`), or replaces moto's (a job still RUNNING).
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
        self.log_page: int | None = None
        self.fault_every = 0
        self.fault_burst = 1
        self.log_faults: list[str] = ["close", "throttle", "500"]
        self.faults_made: Counter[str] = Counter()
        self.log_requests: list[dict[str, Any]] = []
        self.extra_jobs: dict[str, dict[str, Any]] = {}
        relay = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".GetLogEvents"):
                    answered = relay.log_events(dict(self.headers), payload)
                    if answered is None:  # drop the connection without a word
                        self.close_connection = True
                        return
                    self.reply(*answered[:2], headers=answered[2])
                    return
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
            wanted = json.loads(payload or b"{}").get("jobs", [])
            if len(wanted) > DESCRIBE_LIMIT:
                return _error(400, "ClientException", "jobs: at most 100 job ids per request")
            extra = [self.extra_jobs[i] for i in wanted if i in self.extra_jobs]
            if extra:
                status, body, kept = self._relay(method, path, headers, payload)
                answer = json.loads(body)
                ours = {j["jobId"] for j in extra}
                answer["jobs"] = [j for j in answer.get("jobs", []) if j["jobId"] not in ours]
                answer["jobs"] += extra
                return status, json.dumps(answer).encode(), kept
        if path == "/v1/listjobs":
            return self._page(method, path, headers, payload)
        return self._relay(method, path, headers, payload)

    def log_events(
        self, headers: dict[str, str], payload: bytes
    ) -> tuple[int, bytes, dict[str, str]] | None:
        """GetLogEvents, in small pages and with faults; None: close without answering."""
        request = json.loads(payload or b"{}")
        with self.lock:
            self.log_requests.append(dict(request))
            calls = len(self.log_requests)
            fault = None
            at = calls % self.fault_every if self.fault_every else -1
            if at == 0 or at > self.fault_every - self.fault_burst:
                fault = self.log_faults[((calls - 1) // self.fault_every) % len(self.log_faults)]
                self.faults_made[fault] += 1
        if fault == "close":
            return None
        if fault == "throttle":
            return _error(400, "ThrottlingException", "Rate exceeded")
        if fault == "500":
            return _error(500, "ServiceUnavailableException", "internal error")
        if fault == "denied":
            return _error(400, "AccessDeniedException", "not authorized to GetLogEvents")
        if self.log_page is not None:
            request["limit"] = min(int(request.get("limit", 10000)), self.log_page)
        return self._relay("POST", "/", headers, json.dumps(request).encode())

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
