"""The one error every failure the user can act on becomes.

AWS, SSH, config, cache and data failures are translated into a `DlpickError` at
the edge, once per source (`dlpick.core.aws.aws_error`, `dlpick.remote.ssh.connection`,
`dlpick.tui.config`, ...). The CLI catches it once in `main`, the app in one
worker-error handler. Anything else that escapes is a bug and is reported as one.
"""

from __future__ import annotations

import datetime
import re

from dlpick.core.locations import bug_log_file

# Exit codes (docs/configuration.md, "Errors and exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # a user-facing error: one line on stderr
EXIT_USAGE = 2  # the command line (or the terminal) cannot be used
EXIT_PARTIAL = 3  # the answer is printed but some region or part could not be read
EXIT_BUG = 70  # a bug in dlpick; the traceback is in the state dir's log
EXIT_INTERRUPTED = 130
# While a command passes a remote run's exit status through (`logs --follow`), as ssh
# does: dlpick's own failure (an error or a bug), or a run that left no status.
EXIT_NO_STATUS = 255

_MAX_LINE = 300


class DlpickError(Exception):
    """A failure worded for the user: what went wrong, and a hint of what to do next."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.hint = one_line(hint)

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class InputError(DlpickError):
    """A value the user gave (flag, argument, dialog field) that cannot be used."""


class ConfigError(DlpickError):
    """A setting in the config file or a DLPICK_* variable that cannot be used."""


class DataError(DlpickError):
    """A file or answer that does not have the shape dlpick expects."""


class AwsError(DlpickError):
    """An AWS call that failed: what was being done, where, and AWS's reason.

    `code` is AWS's error code (or the failure's kind); the message reads
    "listing instances in us-east-1: AWS credentials were refused (ExpiredToken)".
    """

    def __init__(
        self,
        reason: str,
        *,
        operation: str = "",
        region: str = "",
        hint: str = "",
        code: str = "",
        credentials: bool = False,
        unreachable: bool = False,
        aws_message: str = "",
    ) -> None:
        where = " ".join(p for p in (operation, f"in {region}" if region else "") if p)
        super().__init__(f"{where}: {reason}" if where else reason, hint=hint)
        self.reason = one_line(reason)
        self.operation = operation
        self.region = region
        self.code = code
        self.credentials = credentials  # the credentials themselves do not work
        self.unreachable = unreachable  # AWS (or the endpoint) cannot be reached at all
        self.aws_message = aws_message  # AWS's own message, whole (the reason may be cut)

    @property
    def account_wide(self) -> bool:
        """The same failure would repeat for every region: no point trying the others."""
        return self.credentials or self.unreachable

    def doing(self, what: str, region: str | None = None) -> AwsError:
        """The same error told as what dlpick was doing (replacing the API call's name)."""
        err = AwsError(
            self.reason,
            operation=what,
            region=self.region if region is None else region,
            hint=self.hint,
            code=self.code,
            credentials=self.credentials,
            unreachable=self.unreachable,
        )
        err.__cause__ = self.__cause__
        return err


class SshError(DlpickError):
    """An SSH connection or remote command that failed."""

    transient = False  # True when retrying later may succeed (network, not keys)


def one_line(text: object, limit: int = _MAX_LINE) -> str:
    """Text reduced to one line of at most `limit` characters (HTML pages to their title)."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
    if re.search(r"<\s*(!doctype|html|head|body)\b", raw, re.IGNORECASE):
        title = re.search(r"<title[^>]*>(.*?)</title>", raw, re.IGNORECASE | re.DOTALL)
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", raw, re.IGNORECASE | re.DOTALL)
        found = title or heading
        raw = re.sub(r"<[^>]+>", "", found.group(1)) if found else "an HTML page"
    flat = " ".join(raw.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_reason(exc: BaseException) -> str:
    """Why an OS, network or URL read failed, in words, without the wrapping that
    urllib puts around it: 'Name or service not known', 'HTTP 404 Not Found',
    'timed out', 'Connection refused'."""
    code, reason = getattr(exc, "code", None), getattr(exc, "reason", None)
    if isinstance(code, int) and isinstance(reason, str):  # an HTTP answer (HTTPError)
        return f"HTTP {code} {reason}".strip()
    if isinstance(reason, BaseException):  # urllib's URLError around the socket's error
        return failure_reason(reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return (
        one_line(reason if isinstance(reason, str) and reason else exc, 160) or type(exc).__name__
    )


def write_bug_report(exc: BaseException, context: str = "") -> str:
    """Append the traceback of a bug to the bug log; the path, or why it could not be written."""
    import traceback

    path = bug_log_file()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {stamp} {context}\n{text}\n")
    except OSError as err:
        return f"(the traceback could not be written to {path}: {err.strerror or err})"
    return str(path)


def bug_line(exc: BaseException, context: str = "") -> str:
    """The one line a bug is reported with: that it is a bug, and where its traceback is."""
    where = write_bug_report(exc, context)
    return f"bug in dlpick: {type(exc).__name__}: {one_line(exc, 160)}; traceback in {where}"


class LaunchError(AwsError):
    """A launch that cannot go ahead, worded with what to do next."""
