"""An AWS endpoint that fails every request one chosen way, in each service's own wire format.

It stands in for the failures AWS, a proxy or the network produce (refused or
expired credentials, throttling, a region not enabled, an HTML error page, an
answer that cannot be parsed), so every command can be tried against each.
The region and service are read from the request's SigV4 credential scope.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from tests.peers.loopback import LoopbackServer, QuietHandler, relay_handler


@dataclass(frozen=True)
class Fault:
    """One failure: the AWS error code per protocol family, or a raw HTTP answer."""

    name: str
    status: int
    ec2_code: str = ""
    json_code: str = ""
    message: str = ""
    raw_body: str = ""  # sent as is (HTML pages, malformed answers)
    raw_type: str = "text/html"
    hang: bool = False  # accept the request and never answer (a black hole)


FAULTS = {
    "expired": Fault(
        "expired", 400, "RequestExpired", "ExpiredTokenException", "The security token expired"
    ),
    "denied": Fault(
        "denied",
        403,
        "UnauthorizedOperation",
        "AccessDeniedException",
        "You are not authorized to perform this operation.",
    ),
    "throttled": Fault(
        "throttled", 400, "RequestLimitExceeded", "ThrottlingException", "Rate exceeded"
    ),
    "not-enabled": Fault(
        "not-enabled", 401, "OptInRequired", "OptInRequired", "You are not subscribed."
    ),
    "html500": Fault(
        "html500",
        500,
        raw_body=(
            "<!doctype html>\n<html><head><title>500 Internal Server Error</title></head>\n"
            "<body><h1>Internal Server Error</h1>\n<p>The server encountered an internal error"
            " and was unable to complete your request.</p>\n"
            + "<p>padding</p>\n" * 40
            + "</body></html>"
        ),
    ),
    "malformed": Fault("malformed", 200, raw_body="<Response><unclosed", raw_type="text/xml"),
}
HANG = Fault("hang", 0, hang=True)


_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


class FaultServer(LoopbackServer):
    """Serves `fault` (settable between requests) on 127.0.0.1; counts requests.

    With `upstream` (another endpoint, e.g. moto) and `regions`, only requests signed
    for those regions fail; the rest are passed to the upstream and its answer relayed.
    """

    def __init__(self, upstream: str | None = None, regions: frozenset[str] = frozenset()) -> None:
        self.fault = FAULTS["expired"]
        self.upstream = upstream
        self.regions = regions
        self.requests = 0
        self._released = threading.Event()  # set at stop: hung requests may end
        server = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length)
                server.requests += 1
                match = _SCOPE.search(self.headers.get("Authorization", ""))
                region, service = match.groups() if match else ("", "")
                if server.upstream and region not in server.regions:
                    self._relay(payload)
                    return
                if server.fault.hang:
                    server._released.wait()
                    return
                status, content_type, body, extra = server.answer(service)
                self.reply(status, body.encode(), content_type, extra)

            do_GET = do_POST

            def _relay(self, payload: bytes) -> None:
                assert server.upstream is not None
                self.reply(*relay_handler(self, server.upstream, payload))

        super().__init__(Handler)

    def answer(self, service: str) -> tuple[int, str, str, dict[str, str]]:
        fault = self.fault
        if fault.raw_body:
            return fault.status, fault.raw_type, fault.raw_body, {}
        if service == "ec2":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                f"<Code>{fault.ec2_code}</Code><Message>{fault.message}</Message>"
                "</Error></Errors><RequestID>fault-0</RequestID></Response>"
            )
            return fault.status, "text/xml", body, {}
        if service in ("sts", "iam"):
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.ec2_code}</Code>"
                f"<Message>{fault.message}</Message></Error><RequestId>fault-0</RequestId>"
                "</ErrorResponse>"
            )
            return fault.status, "text/xml", body, {}
        body = f'{{"__type": "{fault.json_code}", "message": "{fault.message}"}}'
        return (
            fault.status,
            "application/x-amz-json-1.1",
            body,
            {"x-amzn-ErrorType": fault.json_code},
        )

    def stop(self) -> None:
        self._released.set()
        super().stop()
