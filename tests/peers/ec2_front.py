"""An EC2 endpoint for tests that answers what moto does not implement (spot placement
scores, Capacity Block offerings, purchases and reservations, a spot price history at
chosen times) and forwards every other action to the moto server.

EC2 speaks the query protocol: a form-encoded POST naming the Action, answered in XML
in the EC2 namespace. dlpick reaches this front through AWS_ENDPOINT_URL_EC2 like any
endpoint override. Every request is recorded with its form, so tests can assert what
dlpick asked.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from tests.peers.loopback import LoopbackServer, QuietHandler, listed
from tests.peers.spot_history import SpotHistorySeed, request_region

NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
OWN_ACTIONS = (
    "GetSpotPlacementScores",
    "DescribeCapacityBlockOfferings",
    "PurchaseCapacityBlock",
    "DescribeCapacityReservations",
)


@dataclass
class Offering:
    """A Capacity Block offering as the front serves it."""

    offering_id: str
    instance_type: str
    availability_zone: str
    start: str
    end: str
    hours: int
    fee: str
    count: int = 1

    def xml(self) -> str:
        return (
            "<item>"
            f"<capacityBlockOfferingId>{self.offering_id}</capacityBlockOfferingId>"
            f"<instanceType>{self.instance_type}</instanceType>"
            f"<availabilityZone>{self.availability_zone}</availabilityZone>"
            f"<instanceCount>{self.count}</instanceCount>"
            f"<startDate>{self.start}</startDate><endDate>{self.end}</endDate>"
            f"<capacityBlockDurationHours>{self.hours}</capacityBlockDurationHours>"
            f"<upfrontFee>{self.fee}</upfrontFee><currencyCode>USD</currencyCode>"
            "<tenancy>default</tenancy>"
            "</item>"
        )


@dataclass
class Ec2State:
    """What the front serves and what it was asked."""

    region_scores: dict[str, int] = field(default_factory=dict)
    az_scores: dict[str, int] = field(default_factory=dict)  # AZ id -> score
    deny_scores: bool = False  # answer GetSpotPlacementScores with UnauthorizedOperation
    offerings: list[Offering] = field(default_factory=list)
    reservations: dict[str, dict[str, str]] = field(default_factory=dict)  # cr-... -> fields
    requests: list[dict[str, str]] = field(default_factory=list)
    # Once seeded, DescribeSpotPriceHistory is answered here (see spot_history.py).
    history: SpotHistorySeed = field(default_factory=SpotHistorySeed)

    def asked(self, action: str) -> list[dict[str, str]]:
        return [r for r in self.requests if r["Action"] == action]


def _reservation_xml(fields: dict[str, str]) -> str:
    order = (
        "capacityReservationId",
        "instanceType",
        "instancePlatform",
        "availabilityZone",
        "availabilityZoneId",
        "tenancy",
        "totalInstanceCount",
        "availableInstanceCount",
        "state",
        "startDate",
        "endDate",
        "endDateType",
        "instanceMatchCriteria",
        "reservationType",
    )
    return "".join(f"<{k}>{escape(fields[k])}</{k}>" for k in order if k in fields)


class Ec2Front(LoopbackServer):
    """The front: its own answers for OWN_ACTIONS, moto's for everything else."""

    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url
        self.state = Ec2State()
        self.lock = threading.Lock()
        front = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                with front.lock:
                    front.state.requests.append(form)
                if form.get("Action") == "DescribeSpotPriceHistory" and front.has_history():
                    status, xml = front.spot_history(request_region(dict(self.headers)), form)
                    self.reply(status, xml.encode(), "text/xml")
                    return
                if form.get("Action") in OWN_ACTIONS:
                    status, xml = front.answer(form)
                    self.reply(status, xml.encode(), "text/xml")
                    return
                status, headers, data = front.forward(self.path, dict(self.headers), body)
                self.reply(status, data, headers.get("Content-Type", "text/xml"))

        super().__init__(Handler)

    def forward(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(self.moto_url + path, data=body, headers=keep)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def has_history(self) -> bool:
        with self.lock:
            return bool(self.state.history.records or self.state.history.failing_regions)

    def spot_history(self, region: str, form: dict[str, str]) -> tuple[int, str]:
        from tests.peers.spot_history import answer

        self.state.history.flowing.wait(30)
        with self.lock:
            if region in self.state.history.failing_regions:
                return self.error(
                    403,
                    "UnauthorizedOperation",
                    "You are not authorized to perform this operation.",
                )
            return self.ok("DescribeSpotPriceHistory", answer(self.state.history, region, form))

    def answer(self, form: dict[str, str]) -> tuple[int, str]:
        action = form["Action"]
        with self.lock:
            state = self.state
            if action == "GetSpotPlacementScores":
                if state.deny_scores:
                    return self.error(
                        403,
                        "UnauthorizedOperation",
                        "You are not authorized to perform this operation.",
                    )
                if form.get("SingleAvailabilityZone") == "true":
                    items = "".join(
                        f"<item><region>{listed(form, 'RegionName')[0]}</region>"
                        f"<availabilityZoneId>{az}</availabilityZoneId><score>{s}</score></item>"
                        for az, s in state.az_scores.items()
                    )
                else:
                    items = "".join(
                        f"<item><region>{r}</region><score>{state.region_scores[r]}</score></item>"
                        for r in listed(form, "RegionName")
                        if r in state.region_scores
                    )
                return self.ok(action, f"<spotPlacementScoreSet>{items}</spotPlacementScoreSet>")
            if action == "DescribeCapacityBlockOfferings":
                hours = int(form["CapacityDurationHours"])
                count = int(form.get("InstanceCount", "1"))
                items = "".join(
                    o.xml()
                    for o in state.offerings
                    if o.instance_type == form.get("InstanceType")
                    and o.hours == hours
                    and o.count == count
                )
                return self.ok(
                    action, f"<capacityBlockOfferingSet>{items}</capacityBlockOfferingSet>"
                )
            if action == "PurchaseCapacityBlock":
                offering = next(
                    (
                        o
                        for o in state.offerings
                        if o.offering_id == form["CapacityBlockOfferingId"]
                    ),
                    None,
                )
                if offering is None:
                    return self.error(400, "InvalidParameterValue", "no such offering")
                cr = f"cr-{len(state.reservations) + 1:017x}"
                fields = {
                    "capacityReservationId": cr,
                    "instanceType": offering.instance_type,
                    "instancePlatform": form["InstancePlatform"],
                    "availabilityZone": offering.availability_zone,
                    "tenancy": "default",
                    "totalInstanceCount": str(offering.count),
                    "availableInstanceCount": str(offering.count),
                    "state": "active",
                    "startDate": offering.start,
                    "endDate": offering.end,
                    "endDateType": "limited",
                    "instanceMatchCriteria": "targeted",
                    "reservationType": "capacity-block",
                }
                state.reservations[cr] = fields
                return self.ok(
                    action,
                    f"<capacityReservation>{_reservation_xml(fields)}</capacityReservation>",
                )
            # DescribeCapacityReservations
            wanted = listed(form, "CapacityReservationId") or list(state.reservations)
            items = "".join(
                f"<item>{_reservation_xml(state.reservations[cr])}</item>"
                for cr in wanted
                if cr in state.reservations
            )
            return self.ok(action, f"<capacityReservationSet>{items}</capacityReservationSet>")

    @staticmethod
    def ok(action: str, inner: str) -> tuple[int, str]:
        return 200, (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{NAMESPACE}">'
            f"<requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>{inner}</{action}Response>"
        )

    @staticmethod
    def error(status: int, code: str, message: str) -> tuple[int, str]:
        return status, (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error></Errors>"
            "<RequestID>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestID></Response>"
        )
