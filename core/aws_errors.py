"""The one translation of botocore's failures into AwsError, and the check that an
answer has the data asked for. `dlpick.core.aws` wraps every client with them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypedDict

from dlpick.core.errors import AwsError, one_line

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

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
ACCESS_DENIED_ERRORS = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})
OPT_IN_ERRORS = frozenset({"OptInRequired", "InvalidRegion"})


class _Where(TypedDict):
    """Where a failed call was made, for the AwsError that reports it."""

    operation: str
    region: str


def aws_error(exc: BaseException, operation: str = "", region: str = "") -> AwsError:
    """The one translation of a botocore failure into an AwsError (one line, a hint)."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, AwsError):
        return exc
    at: _Where = {"operation": operation, "region": region}
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            "no AWS credentials found",
            hint="run `aws configure`, or set AWS_PROFILE or AWS_ACCESS_KEY_ID",
            code="NoCredentials",
            credentials=True,
        )
    if isinstance(exc, ProfileNotFound):
        # The same words as the AWS CLI.
        return AwsError(str(exc), code="ProfileNotFound", credentials=True)
    if isinstance(exc, NoRegionError):
        return AwsError(
            "no AWS region set", hint="pass --region or set AWS_DEFAULT_REGION", code="NoRegion"
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        return AwsError(
            "cannot reach AWS" + (f" at {url}" if url else ""),
            hint="check the network connection",
            code="EndpointConnectionError",
            unreachable=True,
            **at,
        )
    if isinstance(exc, ReadTimeoutError):
        return AwsError(
            "AWS did not answer in time",
            hint="retry, the network may be slow",
            code="ReadTimeout",
            unreachable=True,
            **at,
        )
    if isinstance(exc, ResponseParserError):
        text = str(exc)
        if re.search(r"<\s*(!doctype|html)\b", text, re.IGNORECASE):
            # A proxy's or load balancer's error page, not an AWS answer.
            reason = f"an HTML page ({one_line(text, 80)}) came back instead of an AWS answer"
        else:
            reason = "AWS sent an answer dlpick cannot read"
        return AwsError(
            reason,
            hint="retry later, and if it persists check AWS_ENDPOINT_URL and any proxy",
            code="MalformedAnswer",
            **at,
        )
    if isinstance(exc, ClientError):
        return _client_error(exc, at)
    if isinstance(exc, OSError):
        return AwsError(
            f"the connection to AWS failed ({exc.strerror or one_line(exc, 120)})",
            hint="check the network and retry",
            code="ConnectionError",
            unreachable=True,
            **at,
        )
    return AwsError(one_line(exc), code=type(exc).__name__, **at)


def _client_error(exc: ClientError, at: _Where) -> AwsError:
    err = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    code = str(err.get("Code", "") or status or "")
    message = one_line(err.get("Message", "") or "", 200)
    if code in CREDENTIAL_ERRORS:
        return AwsError(
            f"AWS credentials were refused ({code})",
            hint="refresh them (e.g. `aws sso login`) and retry"
            + (", or enable the region if it is an opt-in one" if code == "AuthFailure" else ""),
            code=code,
            credentials=True,
            **at,
        )
    if code in THROTTLE_ERRORS:
        return AwsError(
            f"AWS is throttling requests ({code})", hint="retry in a minute", code=code, **at
        )
    if code in ACCESS_DENIED_ERRORS:
        return AwsError(
            f"permission denied ({code})" + (f": {message}" if message else ""),
            hint="ask your AWS administrator for this permission",
            code=code,
            **at,
        )
    if code in OPT_IN_ERRORS:
        return AwsError(
            f"the region is not enabled for this account ({code})",
            hint="enable it under Account > AWS Regions, or pick another region",
            code=code,
            **at,
        )
    if code.isdigit() or (status and status >= 500 and not message):
        # A body AWS did not write (a proxy's or load balancer's page): status and reason.
        http = int(code) if code.isdigit() else status
        reason = message.removeprefix(str(http)).strip() if message != code else ""
        reason = reason or _http_reason(http)
        return AwsError(
            f"AWS answered HTTP {http}" + (f" ({reason})" if reason else ""),
            hint="retry later, and if it persists check AWS_ENDPOINT_URL and any proxy",
            code=code,
            **at,
        )
    whole = " ".join(str(err.get("Message", "") or "").split())
    return AwsError(f"{code}: {message}" if message else code, code=code, aws_message=whole, **at)


def _http_reason(status: int | None) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status or 0).phrase
    except ValueError:
        return ""


def no_credentials() -> Exception:
    from botocore.exceptions import NoCredentialsError

    return NoCredentialsError()


def botocore_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    # OSError: a connection lost in a way botocore did not wrap.
    return (BotoCoreError, ClientError, ResponseParserError, OSError)


def expect(answer: Any, key: str, kind: type = object) -> Any:
    """`answer[key]` when the answer has it with the right type, else a MalformedAnswer.

    botocore leaves a JSON answer it could not parse as {"message": body}: such an
    answer must never read as "nothing there".
    """
    if not isinstance(answer, dict) or not isinstance(answer.get(key), kind):
        raise AwsError(
            f"AWS sent an answer dlpick cannot read (no {key})",
            hint="retry later, and if it persists check AWS_ENDPOINT_URL and any proxy",
            code="MalformedAnswer",
        )
    return answer[key]
