"""An EC2 endpoint in front of moto that runs out of capacity where a test says.

Every request is passed to moto except RunInstances in the chosen places: the region
comes from the request's SigV4 credential scope, the AZ from Placement.AvailabilityZone
or the SubnetId (looked up in moto), "" when the request names no AZ. There the
proxy answers with EC2's capacity error, or passes the request on and then closes
the connection without answering (the instance exists; the answer is lost).

moto ignores ClientToken; the proxy keeps EC2's promise instead: a RunInstances
repeated with a token it has seen gets the first answer again, and starts nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import boto3

from tests.peers.fault_server import _SCOPE
from tests.peers.loopback import LoopbackServer, QuietHandler, relay_handler

ANY = "*"  # every request in the region, with or without an AZ


def capacity_message(instance_type: str, zone: str, named: list[str]) -> str:
    """EC2's wording of InsufficientInstanceCapacity, naming AZs that have capacity."""
    text = (
        f"We currently do not have sufficient {instance_type} capacity in the Availability "
        f"Zone you requested ({zone}). Our system will be working on provisioning additional "
        "capacity."
    )
    if named:
        text += (
            f" You can currently get {instance_type} capacity by not specifying an "
            f"Availability Zone in your request or choosing {', '.join(named)}."
        )
    return text


@dataclass
class RunCall:
    """One RunInstances the proxy saw, and what it did with it."""

    region: str
    zone: str
    token: str
    outcome: str  # "refused", "forwarded", "replayed", "dropped"


@dataclass
class CapacityProxy:
    """Refuse (region -> AZs, ANY for all) with `code`, or drop answers (region, AZ)."""

    upstream: str
    refuse: dict[str, set[str]] = field(default_factory=dict)
    code: str = "InsufficientInstanceCapacity"
    named: dict[str, list[str]] = field(default_factory=dict)  # region -> AZs to name
    drop: set[tuple[str, str]] = field(default_factory=set)
    calls: list[RunCall] = field(default_factory=list)
    _answers: dict[tuple[str, str], tuple[int, bytes, None, dict[str, str]]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _SCOPE.search(self.headers.get("Authorization", ""))
                region, service = match.groups() if match else ("", "")
                form = {k: v[0] for k, v in parse_qs(payload.decode("utf-8", "replace")).items()}
                if service != "ec2" or form.get("Action") != "RunInstances":
                    self.reply(*relay_handler(self, proxy.upstream, payload))
                    return
                proxy.run_instances(self, region, form, payload)

            do_GET = do_POST

        self._server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> CapacityProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def zone_of(self, region: str, form: dict[str, str]) -> str:
        if form.get("Placement.AvailabilityZone"):
            return form["Placement.AvailabilityZone"]
        if not form.get("SubnetId"):
            return ""
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=self.upstream)
        return str(
            ec2.describe_subnets(SubnetIds=[form["SubnetId"]])["Subnets"][0]["AvailabilityZone"]
        )

    def run_instances(
        self, handler: QuietHandler, region: str, form: dict[str, str], payload: bytes
    ) -> None:
        zone = self.zone_of(region, form)
        token = form.get("ClientToken", "")
        refused = self.refuse.get(region, set())
        if ANY in refused or zone in refused:
            self.calls.append(RunCall(region, zone, token, "refused"))
            message = capacity_message(
                form.get("InstanceType", "?"), zone or region, self.named.get(region, [])
            )
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                f"<Code>{self.code}</Code><Message>{message}</Message>"
                "</Error></Errors><RequestID>capacity-0</RequestID></Response>"
            )
            handler.reply(400, body.encode(), "text/xml")
            return
        with self._lock:  # one answer per token, as EC2 keeps it
            answer = self._answers.get((region, token)) if token else None
            outcome = "replayed" if answer else "forwarded"
            if answer is None:
                answer = relay_handler(handler, self.upstream, payload)
                if token and answer[0] == 200:
                    self._answers[(region, token)] = answer
        if (region, zone) in self.drop:
            self.calls.append(RunCall(region, zone, token, "dropped"))
            handler.close_connection = True  # the instance exists; the answer never arrives
            return
        self.calls.append(RunCall(region, zone, token, outcome))
        handler.reply(*answer)
