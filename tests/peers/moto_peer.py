"""moto in server mode, in the test process, with what moto lacks seeded in.

moto is imported only after the validation switches are set, so that bad
instance types, AMIs and key pairs fail as they do on AWS, and after it is told
which AMIs to load (its default ones only: see `default_amis_only`).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
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


@dataclass
class QuotaSeed:
    """EC2 vCPU quotas moto lacks, served through its service-quotas API."""

    quotas: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # region->code
    requests: list[dict[str, Any]] = field(default_factory=list)
    deny: bool = False  # answer every call with AccessDeniedException
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, region: str, code: str, name: str, value: float) -> None:
        with self.lock:
            self.quotas.setdefault(region, {})[code] = {
                "ServiceCode": "ec2",
                "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "QuotaArn": f"arn:aws:servicequotas:{region}:123456789012:ec2/{code}",
                "QuotaCode": code,
                "QuotaName": name,
                "Value": float(value),
                "Unit": "None",
                "Adjustable": True,
                "GlobalQuota": False,
            }

    def clear(self) -> None:
        with self.lock:
            self.quotas.clear()
            self.requests.clear()
            self.deny = False


def default_amis_only() -> str:
    """A file of moto's 44 default AMIs, without the thousand or so "latest" AMIs per
    region it also loads: every reset builds each region's EC2 anew, and loading those
    took 1.3 s of a reset after a scan of 17 regions (0.1 s without them). Tests register
    the images they launch, or use a default one."""
    import gzip
    from importlib import resources
    from importlib.metadata import version

    name = f"dlpick-moto-{version('moto')}-amis-{os.getuid()}.json"
    target = Path(tempfile.gettempdir()) / name
    if not target.exists():
        packed = resources.files("moto") / "ec2/resources/amis.json.gz"
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(gzip.decompress(packed.read_bytes()))
        partial.replace(target)  # several test workers may write it at once
    return str(target)


class MotoPeer:
    def __init__(self) -> None:
        os.environ.update(VALIDATION)
        os.environ["MOTO_AMIS_PATH"] = default_amis_only()
        import logging

        from moto.server import ThreadedMotoServer

        # One log line per request would bury test and bench output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.spot = SpotSeed()
        self.quotas = QuotaSeed()
        self._patch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoPeer:
        self.server.start()
        self.configure()
        return self

    def configure(self) -> None:
        """moto's settings for the whole server (they survive a reset).

        Batch runs jobs without Docker (there is none here): a job is SUCCEEDED as soon
        as it is submitted.
        """
        import json

        config = {"batch": {"use_docker": False}}
        request = urllib.request.Request(
            f"{self.url}/moto-api/config",
            method="POST",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).read()

    def stop(self) -> None:
        self.server.stop()

    def reset(self, *, managed_policies: bool = False) -> None:
        """Forget every resource. `managed_policies`: IAM then knows AWS's managed
        policies (a Batch host's role attaches one), as on AWS. moto reads the switch
        when IAM is next used, and loading them slows every call after the reset, so
        only the tests that need them ask."""
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = str(managed_policies).lower()
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=10).read()
        self.spot.clear()
        self.quotas.clear()

    def _patch(self) -> None:
        """Serve seeded spot prices through moto's own response class."""
        from moto.core.responses import ActionResult
        from moto.ec2.responses.spot_instances import SpotInstances

        seed = self.spot

        # Named `self`: it takes the place of a SpotInstances method.
        def describe_spot_price_history(self: SpotInstances) -> ActionResult:
            wanted = set(self._get_param("InstanceTypes", []) or [])
            products = set(self._get_param("ProductDescriptions", []) or [])
            with seed.lock:
                records = list(seed.records.get(self.region, []))
            history = [
                r
                for r in records
                if (not wanted or r["InstanceType"] in wanted)
                and (not products or r["ProductDescription"] in products)
            ]
            return ActionResult({"SpotPriceHistory": history})

        SpotInstances.describe_spot_price_history = describe_spot_price_history  # type: ignore[method-assign]
        self._patch_quotas()
        self._patch_batch_updates()

    def _patch_batch_updates(self) -> None:
        """Apply UpdateComputeEnvironment's computeResources, as Batch does for an
        environment that allows updates in place; moto keeps only the state."""
        from moto.batch.models import BatchBackend

        original = BatchBackend.update_compute_environment

        def update_compute_environment(
            self: BatchBackend,
            compute_environment_name: str,
            state: str | None,
            compute_resources: Any | None,
            service_role: str | None,
        ) -> tuple[str, str]:
            answer = original(
                self, compute_environment_name, state, compute_resources, service_role
            )
            env = self.get_compute_environment(compute_environment_name)
            if env is not None and compute_resources:
                env.compute_resources.update(compute_resources)
            return answer

        BatchBackend.update_compute_environment = update_compute_environment  # type: ignore[method-assign]

    def seed_parameter(self, region: str, name: str, value: str) -> None:
        """A public SSM parameter (such as a DLAMI id) that moto does not ship."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ssm.models import Parameter, ssm_backends

        backend = ssm_backends[DEFAULT_ACCOUNT_ID][region]
        backend._parameters[name].append(
            # moto leaves two CloudFormation hooks of Parameter abstract without ABCMeta,
            # so it instantiates at run time as moto's own code does.
            Parameter(  # type: ignore[abstract]
                account_id=DEFAULT_ACCOUNT_ID,
                name=name,
                value=value,
                parameter_type="String",
                description=None,
                allowed_pattern=None,
                keyid=None,
                last_modified_date=datetime.now(UTC),
                version=len(backend._parameters[name]) + 1,
                data_type="aws:ec2:image",
            )
        )

    def _patch_quotas(self) -> None:
        """Add the EC2 quota calls moto's service-quotas backend lacks."""
        import json

        from moto.core.exceptions import JsonRESTError
        from moto.servicequotas.responses import ServiceQuotasResponse

        seed = self.quotas
        original_get = ServiceQuotasResponse.get_service_quota

        def guard(response: Any) -> dict[str, Any]:
            if seed.deny:
                raise JsonRESTError("AccessDeniedException", "User is not authorized")
            return dict(json.loads(response.body or "{}"))

        def list_service_quotas(response: Any) -> str:
            params = guard(response)
            with seed.lock:
                quotas = list(seed.quotas.get(response.region, {}).values())
            if params.get("ServiceCode") != "ec2":
                quotas = []
            return json.dumps({"Quotas": quotas})

        def get_service_quota(response: Any) -> str:
            params = guard(response)
            if params.get("ServiceCode") != "ec2":
                return str(original_get(response))
            with seed.lock:
                quota = seed.quotas.get(response.region, {}).get(params.get("QuotaCode", ""))
            if quota is None:
                raise JsonRESTError("NoSuchResourceException", "The quota does not exist")
            return json.dumps({"Quota": quota})

        def get_aws_default_service_quota(response: Any) -> str:
            guard(response)
            raise JsonRESTError("NoSuchResourceException", "The quota does not exist")

        def request_service_quota_increase(response: Any) -> str:
            params = guard(response)
            with seed.lock:
                known = seed.quotas.get(response.region, {}).get(params.get("QuotaCode", ""))
                record = {
                    "Id": f"req-{len(seed.requests) + 1}",
                    "CaseId": f"case-{len(seed.requests) + 1}",
                    "ServiceCode": params["ServiceCode"],
                    "QuotaCode": params["QuotaCode"],
                    "QuotaName": known["QuotaName"] if known else params["QuotaCode"],
                    "DesiredValue": params["DesiredValue"],
                    "Status": "PENDING",
                    "Region": response.region,
                }
                seed.requests.append(record)
            return json.dumps({"RequestedQuota": record})

        def list_requested_service_quota_change_history_by_quota(response: Any) -> str:
            params = guard(response)
            with seed.lock:
                found = [
                    r
                    for r in seed.requests
                    if r["QuotaCode"] == params.get("QuotaCode") and r["Region"] == response.region
                ]
            return json.dumps({"RequestedQuotas": found})

        for fn in (
            list_service_quotas,
            get_service_quota,
            get_aws_default_service_quota,
            request_service_quota_increase,
            list_requested_service_quota_change_history_by_quota,
        ):
            setattr(ServiceQuotasResponse, fn.__name__, fn)
