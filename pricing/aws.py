"""AWS access shared by every part of dlpick: clients with sane timeouts, and
errors turned into one line a user can act on.

boto3 is imported lazily so that offline commands and the app's first frame do
not pay for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

# The Pricing API answers from a few regions only; us-east-1 is the documented one.
PRICING_REGION = "us-east-1"
DEFAULT_REGION = "us-east-1"

# Error codes that mean "your credentials do not work", not "AWS refused this request".
CREDENTIAL_ERRORS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "MissingAuthenticationToken",
    }
)
THROTTLE_ERRORS = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)


class AwsError(Exception):
    """An AWS failure worded for the user (one line, no traceback)."""

    def __init__(self, message: str, *, code: str = "", credentials: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.credentials = credentials


@dataclass
class CallCounter:
    """Counts the AWS API calls made through sessions it is attached to."""

    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, model: Any = None, **_: Any) -> None:
        name = getattr(model, "name", "?")
        service = getattr(getattr(model, "service_model", None), "service_name", "?")
        with self._lock:
            self.calls.append(f"{service}.{name}")

    @property
    def count(self) -> int:
        return len(self.calls)


def client_config() -> Any:
    """botocore Config used for every client: bounded timeouts, standard retries."""
    from botocore.config import Config

    return Config(
        connect_timeout=5,
        read_timeout=20,
        retries={"mode": "standard", "max_attempts": 4},
        user_agent_extra="dlpick",
    )


class Aws:
    """One boto3 session per thread, clients cached per (service, region).

    boto3 clients are thread-safe but sessions are not, so each worker thread
    gets its own session. An optional CallCounter sees every API call.
    """

    def __init__(self, *, profile: str | None = None, counter: CallCounter | None = None) -> None:
        self.profile = profile
        self.counter = counter
        self._local = threading.local()
        self._clients: dict[tuple[str, str, int], Any] = {}
        self._lock = threading.Lock()

    def _session(self) -> boto3.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            import boto3

            session = boto3.Session(profile_name=self.profile)
            if self.counter is not None:
                session.events.register("before-call.*.*", self.counter)
            self._local.session = session
        return session

    def default_region(self) -> str:
        return self._session().region_name or DEFAULT_REGION

    def has_credentials(self) -> bool:
        try:
            return self._session().get_credentials() is not None
        except Exception:  # a broken profile is the same as none for this question
            return False

    def client(self, service: str, region: str) -> Any:
        key = (service, region, threading.get_ident())
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        # The stubs type client() per service literal; the name here is a plain str.
        make: Callable[..., Any] = self._session().client
        made = make(service, region_name=region, config=client_config())
        with self._lock:
            self._clients[key] = made
        return made


def describe_error(exc: BaseException, doing: str) -> AwsError:
    """Turn a botocore exception into an AwsError with one actionable line."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
    )

    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, NoCredentialsError):
        return AwsError(
            f"{doing}: no AWS credentials found (run `aws configure` or set AWS_PROFILE)",
            code="NoCredentials",
            credentials=True,
        )
    if isinstance(exc, ProfileNotFound):
        return AwsError(f"{doing}: {exc}", code="ProfileNotFound", credentials=True)
    if isinstance(exc, NoRegionError):
        return AwsError(f"{doing}: no AWS region set (use --region or AWS_DEFAULT_REGION)")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(f"{doing}: cannot reach AWS ({exc})", code="EndpointConnectionError")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = str(err.get("Message", "")).strip()
        if code in CREDENTIAL_ERRORS:
            return AwsError(
                f"{doing}: AWS credentials were refused ({code}); refresh them "
                "(e.g. `aws sso login`) and retry",
                code=code,
                credentials=True,
            )
        if code in THROTTLE_ERRORS:
            return AwsError(
                f"{doing}: AWS is throttling requests ({code}); retry in a minute", code=code
            )
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            return AwsError(f"{doing}: permission denied ({code}): {message}", code=code)
        return AwsError(f"{doing}: {code}: {message}" if message else f"{doing}: {code}", code=code)
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{doing}: {exc}", code=type(exc).__name__)
    return AwsError(f"{doing}: {exc}", code=type(exc).__name__)


def paginate(method: Callable[..., Any], key: str, **kwargs: Any) -> list[Any]:
    """Collect `key` from every page of a NextToken-paginated call."""
    items: list[Any] = []
    token: str | None = None
    while True:
        page = method(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items
