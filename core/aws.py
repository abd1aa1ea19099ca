"""AWS access shared by every part of dlpick: clients with sane timeouts whose
failures arrive as one AwsError, translated here and nowhere else.

boto3 is imported lazily so that offline commands and the app's first frame do
not pay for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from dlpick.core.aws_errors import aws_error, botocore_errors, expect, no_credentials
from dlpick.core.errors import AwsError

if TYPE_CHECKING:
    # Types only: importing boto3 or the stubs at run time would slow every start.
    import boto3
    from botocore.client import BaseClient
    from botocore.config import Config
    from botocore.model import OperationModel
    from botocore.paginate import Paginator
    from botocore.waiter import Waiter
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_pricing import PricingClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

T = TypeVar("T")

_loader_lock = threading.Lock()
_loader: list[Any] = []  # the one botocore data loader of the process, once made


def _shared_loader() -> Any:
    """botocore's service-model loader, shared by every session dlpick makes.

    A session per thread (map_regions runs eight) would otherwise parse EC2's model
    again each time: about 0.1 s of CPU per session, 15 ms with the models loaded.
    """
    with _loader_lock:
        if not _loader:
            from botocore.loaders import create_loader

            _loader.append(create_loader())
        return _loader[0]


# The Pricing API answers from a few regions only; us-east-1 is the documented one.
PRICING_REGION = "us-east-1"
DEFAULT_REGION = "us-east-1"


@dataclass
class CallCounter:
    """Counts the AWS API calls made through sessions it is attached to."""

    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, model: OperationModel | None = None, **_: object) -> None:
        name = getattr(model, "name", "?")
        service = getattr(getattr(model, "service_model", None), "service_name", "?")
        with self._lock:
            self.calls.append(f"{service}.{name}")

    @property
    def count(self) -> int:
        return len(self.calls)


def client_config() -> Config:
    """botocore Config used for every client: bounded timeouts, standard retries."""
    from botocore.config import Config

    return Config(
        connect_timeout=5,
        read_timeout=20,
        # AWS_MAX_ATTEMPTS is the standard way to change it; the Config would override it.
        retries={"mode": "standard", "max_attempts": _max_attempts()},
        user_agent_extra="dlpick",
    )


def _max_attempts() -> int:
    try:
        return max(1, min(10, int(os.environ.get("AWS_MAX_ATTEMPTS", "4"))))
    except ValueError:
        return 4


class Aws:
    """One boto3 session per thread, clients cached per (service, region).

    boto3 clients are thread-safe but sessions are not, so each worker thread
    gets its own session. An optional CallCounter sees every API call.
    """

    def __init__(self, *, profile: str | None = None, counter: CallCounter | None = None) -> None:
        self.profile = profile
        self.counter = counter
        self._local = threading.local()
        self._clients: dict[tuple[str, str, int], TranslatingClient] = {}
        self._lock = threading.Lock()

    def _session(self) -> boto3.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            import boto3
            import botocore.session

            core = botocore.session.Session()
            core.register_component("data_loader", _shared_loader())
            session = boto3.Session(botocore_session=core, profile_name=self.profile)
            if self.counter is not None:
                session.events.register("before-call.*.*", self.counter)
            self._local.session = session
        return session

    def default_region(self) -> str:
        return self._session().region_name or DEFAULT_REGION

    def credentials_problem(self) -> AwsError | None:
        """Why no AWS call can work (no credentials, a missing profile), or None."""
        try:
            if self._session().get_credentials() is None:
                return aws_error(no_credentials())
        except botocore_errors() as exc:
            return aws_error(exc)
        return None

    def has_credentials(self) -> bool:
        return self.credentials_problem() is None

    def require_credentials(self) -> Aws:
        """This access, or the AwsError saying why it has no credentials."""
        problem = self.credentials_problem()
        if problem is not None:
            raise problem
        return self

    def client(self, service: str, region: str) -> TranslatingClient:
        """A client whose failures raise AwsError (see TranslatingClient).

        Untyped: callers use the typed accessors below (ec2, pricing, ...).
        """
        key = (service, region, threading.get_ident())
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        try:
            # The stubs type client() per service literal; the name here is a plain str.
            make: Callable[..., Any] = self._session().client
            made = TranslatingClient(
                make(service, region_name=region, config=client_config()), region
            )
        except botocore_errors() as exc:
            raise aws_error(exc, region=region) from exc
        with self._lock:
            self._clients[key] = made
        return made

    # Typed views of the same proxy: it answers every call of the real client
    # (raising AwsError instead of botocore's errors), so the stub type holds.

    def ec2(self, region: str) -> EC2Client:
        return cast("EC2Client", self.client("ec2", region))

    def pricing(self) -> PricingClient:
        """The Pricing API client, at the one endpoint region that serves it."""
        return cast("PricingClient", self.client("pricing", PRICING_REGION))

    def service_quotas(self, region: str) -> ServiceQuotasClient:
        return cast("ServiceQuotasClient", self.client("service-quotas", region))

    def ssm(self, region: str) -> SSMClient:
        return cast("SSMClient", self.client("ssm", region))

    def sts(self, region: str) -> STSClient:
        return cast("STSClient", self.client("sts", region))

    def cloudwatch(self, region: str) -> CloudWatchClient:
        return cast("CloudWatchClient", self.client("cloudwatch", region))

    def batch(self, region: str) -> BatchClient:
        return cast("BatchClient", self.client("batch", region))

    def ecs(self, region: str) -> ECSClient:
        return cast("ECSClient", self.client("ecs", region))

    def iam(self, region: str) -> IAMClient:
        """IAM is global; `region` only picks the endpoint's partition."""
        return cast("IAMClient", self.client("iam", region))

    def s3(self, region: str) -> S3Client:
        return cast("S3Client", self.client("s3", region))

    def logs(self, region: str) -> LogsClient:
        """CloudWatch Logs, typed for the calls dlpick makes (see LogsClient)."""
        return cast("LogsClient", self.client("logs", region))


class LogsClient(Protocol):
    """The CloudWatch Logs calls dlpick makes (the project's stubs leave Logs out)."""

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]: ...


def instance_type_name(name: str) -> InstanceTypeType:
    """An instance type as EC2's request shapes take it.

    The stubs list the types known when they were built; AWS adds types sooner and
    checks the name itself, so any name passes through unchanged.
    """
    return cast("InstanceTypeType", name)


def _operation(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


class TranslatingClient:
    """A boto3 client whose calls raise AwsError, translated once here, not botocore's own.

    Everything else (``meta``, ``exceptions``, attributes) passes through.
    """

    def __init__(self, client: BaseClient, region: str) -> None:
        self._client = client
        self._region = region

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name.startswith("_") or name in ("meta", "exceptions") or not callable(attr):
            return attr
        if name == "get_paginator":
            return lambda op: _TranslatingPaginator(attr(op), _operation(op), self._region)
        if name == "get_waiter":
            return lambda waiter: _TranslatingWaiter(attr(waiter), waiter, self._region)
        operation = _operation(name)
        region = self._region

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except botocore_errors() as exc:
                raise aws_error(exc, operation, region) from exc

        return call


class _TranslatingPaginator:
    def __init__(self, paginator: Paginator, operation: str, region: str) -> None:
        self._paginator = paginator
        self._operation = operation
        self._region = region

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from self._paginator.paginate(**kwargs)
        except botocore_errors() as exc:
            raise aws_error(exc, self._operation, self._region) from exc


class _TranslatingWaiter:
    def __init__(self, waiter: Waiter, name: str, region: str) -> None:
        self._waiter = waiter
        self._name = name
        self._region = region

    def wait(self, **kwargs: Any) -> None:
        from botocore.exceptions import WaiterError

        try:
            self._waiter.wait(**kwargs)
        except WaiterError as exc:
            last = getattr(exc, "last_response", None) or {}
            if "Error" in last:  # the waiter stopped on an AWS error: say that one
                from botocore.exceptions import ClientError

                raise aws_error(ClientError(last, "Wait"), "", self._region) from exc  # type: ignore[arg-type]
            reason = getattr(exc, "kwargs", {}).get("reason", exc)
            raise AwsError(
                f"waiting for {self._name.replace('_', ' ')} in {self._region}: {reason}",
                code="WaiterError",
            ) from exc
        except botocore_errors() as exc:
            raise aws_error(exc, "", self._region) from exc


def map_regions(work: Callable[[str], T], regions: Iterable[str], *, workers: int = 8) -> list[T]:
    """`work` for every region in parallel threads, results in the regions' order.

    On an interrupt (Ctrl-C) the pending regions are dropped and the threads still
    in a network call are not waited for.
    """
    from concurrent.futures import ThreadPoolExecutor

    names = list(regions)
    if len(names) <= 1:
        return [work(name) for name in names]
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(names))))
    try:
        results = list(pool.map(work, names))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def paginate(method: Callable[..., Any], key: str, **kwargs: Any) -> list[Any]:
    """Collect `key` from every page of a NextToken-paginated call.

    A page without `key` is not an empty answer but one dlpick cannot read.
    """
    items: list[Any] = []
    token: str | None = None
    while True:
        page = method(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(expect(page, key, list))
        token = page.get("NextToken")
        if not token:
            return items
