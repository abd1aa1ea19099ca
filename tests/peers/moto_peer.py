"""moto in server mode, in the test process, with what moto lacks seeded in.

moto is imported only after the validation switches are set, so that bad
instance types, AMIs and key pairs fail as they do on AWS.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

VALIDATION = {
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SpotSeed:
    """Spot price history moto serves instead of its fixed $0.00001."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by region
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        region: str,
        instance_type: str,
        az: str,
        price: float,
        *,
        product: str = "Linux/UNIX",
        when: datetime | None = None,
    ) -> None:
        stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        with self.lock:
            self.records.setdefault(region, []).append(
                {
                    "InstanceType": instance_type,
                    "ProductDescription": product,
                    "SpotPrice": f"{price:.6f}",
                    "AvailabilityZone": az,
                    "Timestamp": stamp,
                }
            )

    def clear(self) -> None:
        with self.lock:
            self.records.clear()


class MotoPeer:
    def __init__(self) -> None:
        os.environ.update(VALIDATION)
        import logging

        from moto.server import ThreadedMotoServer

        # One log line per request would bury test and bench output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.spot = SpotSeed()
        self.calls: list[str] = []
        self._patch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoPeer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=10).read()
        self.spot.clear()

    def _patch(self) -> None:
        """Serve seeded spot prices through moto's own response class."""
        from moto.core.responses import ActionResult
        from moto.ec2.responses.spot_instances import SpotInstances

        seed = self.spot

        def describe_spot_price_history(response: Any) -> ActionResult:
            wanted = set(response._get_param("InstanceTypes", []) or [])
            products = set(response._get_param("ProductDescriptions", []) or [])
            with seed.lock:
                records = list(seed.records.get(response.region, []))
            history = [
                r
                for r in records
                if (not wanted or r["InstanceType"] in wanted)
                and (not products or r["ProductDescription"] in products)
            ]
            return ActionResult({"SpotPriceHistory": history})

        SpotInstances.describe_spot_price_history = describe_spot_price_history  # type: ignore[method-assign]
