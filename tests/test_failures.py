"""Every subcommand against every way AWS can fail, and every bad input: one line, no traceback.

The failures come from a real HTTP endpoint on 127.0.0.1 that answers in each
service's own wire format (tests/peers/fault_server.py), or from a port where
nothing listens. Nothing here patches dlpick.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlpick.core.errors import EXIT_ERROR, EXIT_USAGE
from dlpick.tui.cli.main import main
from tests.peers.fault_server import FAULTS, HANG, FaultServer

INSTANCE = "i-0123456789abcdef0"
# Each command that reaches AWS, with the exit code it must end with when AWS fails.
# `prices` is the one that falls back: cached or bundled prices, marked as such.
COMMANDS = {
    "prices": (["prices", "--format", "json"], 0),
    "ls": (["ls"], EXIT_ERROR),
    "ls-all-regions": (["ls", "--all-regions"], EXIT_ERROR),
    "quotas": (["quotas"], EXIT_ERROR),
    "quotas-request": (["quotas", "request", "L-DB2E81BA", "64", "--yes"], EXIT_ERROR),
    "launch": (["launch", "g6.xlarge", "--yes"], EXIT_ERROR),
    "stop": (["stop", INSTANCE, "--yes"], EXIT_ERROR),
    "terminate": (["terminate", INSTANCE, "--yes"], EXIT_ERROR),
    "run": (["run", INSTANCE, "--", "true"], EXIT_ERROR),
    "runs": (["runs", INSTANCE], EXIT_ERROR),
    "logs": (["logs", INSTANCE], EXIT_ERROR),
    "bench": (["bench", INSTANCE], EXIT_ERROR),
    "ssh": (["ssh", INSTANCE], EXIT_ERROR),
    "batch-jobs": (["batch", "jobs"], EXIT_ERROR),
    "batch-submit": (["batch", "submit", "--", "python", "train.py"], EXIT_ERROR),
    "batch-cancel": (["batch", "cancel", "job-1", "--yes"], EXIT_ERROR),
    "batch-logs": (["batch", "logs", "job-1", "--follow"], EXIT_ERROR),
    "batch-teardown": (["batch", "teardown", "--yes"], EXIT_ERROR),
}


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer().start()
    yield server
    server.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dummy_credentials(monkeypatch: pytest.MonkeyPatch, endpoint: str, *, attempts: int = 1) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Retries only where the retry is the point: the back-off costs seconds a call.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(attempts))


def use_fault(fault: str, server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point AWS at the fault server failing that way, or at a port nothing listens on."""
    if fault == "unreachable":
        dummy_credentials(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    else:
        server.fault = FAULTS[fault]
        # "Throttled past retries": one retry, still throttled.
        dummy_credentials(monkeypatch, server.url, attempts=2 if fault == "throttled" else 1)


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, start: str) -> None:
    assert "Traceback" not in err, err
    assert err.count("\n") == 1, err
    assert err.startswith(start), err
    assert "<" not in err and "b'" not in err, err  # no HTML, no raw bytes


@pytest.mark.parametrize("fault", [*FAULTS, "unreachable"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_fails_in_one_honest_line(
    fault: str,
    command: str,
    fault_server: FaultServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_fault(fault, fault_server, monkeypatch)
    argv, expected = COMMANDS[command]
    code, out, err = run(capsys, argv)
    assert code == expected, (code, err)
    if expected == 0:
        # Prices fall back to the bundled snapshot and say so, once, with the reason.
        assert_one_line(err, "warning: ")
        assert '"price_source": "snapshot"' in out
    else:
        assert_one_line(_last_line(err), "error: ")
        assert out == ""
        # Fail closed: nothing that reads as an empty fleet or a fitting quota.
        assert "$0.00" not in out + err and "fits" not in out + err


@pytest.mark.parametrize("fault", [*FAULTS, "unreachable"])
def test_batch_setup_fails_in_one_line_after_the_price_warning(
    fault: str,
    fault_server: FaultServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Setup ranks types from the catalog (which falls back and warns), then fails on AWS."""
    use_fault(fault, fault_server, monkeypatch)
    code, out, err = run(capsys, ["batch", "setup", "--types", "g6.xlarge", "--dry-run"])
    assert code == EXIT_ERROR, err
    errors = [line for line in err.splitlines() if not line.startswith(("planning ", "warning: "))]
    assert_one_line("\n".join(errors) + "\n", "error: ")
    assert out == ""


def _last_line(err: str) -> str:
    """Progress lines ("planning ...") may come first; the failure is the last line."""
    lines = [line for line in err.splitlines() if not line.startswith("planning ")]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["launch", "g6.xlarge", "--max-hours", "nan"], "--max-hours must be a finite number"),
        (["launch", "g6.xlarge", "--max-hours", "1e300"], "--max-hours must be at most 8760"),
        (["launch", "g6.xlarge", "--max-hours", "0"], "--max-hours must be above 0"),
        (["launch", "g6.xlarge", "--budget", "1e400"], "--budget must be a finite number"),
        (["launch", "g6.xlarge", "--volume-gb", "-1"], "--volume-gb must be at least 8"),
        (["launch", "g6.xlarge", "--volume-gb", "0"], "--volume-gb must be at least 8"),
        (["launch", "g6.xlarge", "--volume-gb", "999999"], "--volume-gb must be at most 16384"),
        (["launch", "g6.xlarge", "--volume-gb", "20.5"], "--volume-gb must be a whole number"),
        (["launch", "g6.xlarge", "--idle-stop", "0"], "--idle-stop must be at least 5"),
        (["launch", "g6.xlarge", "--max-price", "nan", "--spot"], "--max-price must be a finite"),
        (["launch", "g6.xlarge", "--max-price", "0.5"], "--max-price is the spot price cap"),
        (["launch", "g6.xlarge", "--region", "xx-fake-9"], "--region: unknown region 'xx-fake"),
        (["launch", "g6.xlarge", "--region", ""], "--region is empty"),
        (["launch", "g6.xlarge", "--ssh-cidr", "999.1.1.1/32", "--dry-run"], "--ssh-cidr '999."),
        (["launch", "g6.xlarge", "--ami", "ami-zzzz"], "--ami 'ami-zzzz' is not an AMI id"),
        (["launch", "g6.xlarge", "--ami", "latest"], "--ami 'latest' is not an image dlpick"),
        (["launch", "g6.xlarge", "--ami", "multi-framework"], "is the Neuron DLAMI, for trn"),
        (["launch", "g6.xlarge", "--capacity-block", "$(x)"], "--capacity-block '$(x)' is not"),
        (["launch", "g9.huge"], "TYPE 'g9.huge' is not an EC2 instance type"),
        (["launch", ""], "TYPE is empty"),
        (["capacity-blocks", "p5.48xlarge", "--start-after", "2020-01-01"], "is in the past"),
        (["capacity-blocks", "p5.48xlarge", "--buy", "$(x)"], "--buy '$(x)' is not a Capacity"),
        (["capacity-blocks", "g9.huge"], "TYPE 'g9.huge' is not an EC2 instance type"),
        (["spot-history", "G6.XLARGE"], "TYPE 'G6.XLARGE' is not an EC2 instance type"),
        (["bench", "box", "--instance-type", "g9.huge"], "--instance-type 'g9.huge' is not"),
        (["prices", "--offline", "--max-price", "nan"], "--max-price must be a finite number"),
        (["prices", "--offline", "--min-gpu-memory", "inf"], "--min-gpu-memory must be a finite"),
        (["prices", "--offline", "--gpu", ""], "--gpu is empty"),
        (["prices", "--offline", "--gpu", " , "], "--gpu ' , ' names nothing"),
        (["prices", "--offline", "--region", ""], "--region is empty"),
        (["batch", "setup", "--gpu", ""], "--gpu is empty"),
        (["quotas", "request", "L-DB2E81BA", "nan"], "VCPUS must be a finite number"),
        (["quotas", "request", "L-DB2E81BA", "inf"], "VCPUS must be a finite number"),
        (["quotas", "request", "L-DB2E81BA", "1e12"], "VCPUS must be at most 100000"),
        (["quotas", "request", "L-DB2E81BA", "0"], "VCPUS must be at least 1"),
        (["quotas", "request", "not-a-code", "64"], "CODE 'not-a-code' is not a quota code"),
        (["quotas", "--region", "xx-fake-9"], "--region: unknown region 'xx-fake-9'"),
        (["ls", "--region", "xx-fake-9"], "--region: unknown region 'xx-fake-9'"),
        (["ls", "--region", ""], "--region is empty"),
        (["stop", INSTANCE, "--region", "xx-fake-9"], "--region: unknown region 'xx-fake-9'"),
        (["terminate", INSTANCE, "--region", "xx-fake-9"], "--region: unknown region"),
        (["runs", INSTANCE, "--region", "xx-fake-9"], "--region: unknown region 'xx-fake-9'"),
        (["logs", "box", "--tail", "-3"], "--tail must be at least 0"),
        (["ssh", "box", "-L", "jupyter"], "cannot read -L 'jupyter'"),
        (["--region", "xx-fake-9", "--offline"], "--region: unknown region 'xx-fake-9'"),
        (["--region", "all", "ls"], "dlpick ls: error: --region all: this command works in one"),
        (["ls", "--region", "all"], "--region all: this command works in one region"),
    ],
)
def test_bad_input_is_refused_before_anything_reaches_aws(
    argv: list[str],
    message: str,
    fault_server: FaultServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value the command line alone shows to be wrong is a usage error, named, at once."""
    dummy_credentials(monkeypatch, fault_server.url)
    before = fault_server.requests
    started = time.monotonic()
    code, out, err = run(capsys, argv)
    assert code == EXIT_USAGE, err
    assert_one_line(err, "dlpick")
    assert re.match(r"dlpick( [a-z-]+)*: error: ", err) and message in err, err
    assert err.endswith(" --help)\n")
    assert out == ""
    assert fault_server.requests == before
    assert time.monotonic() - started < 2


def test_a_region_from_the_environment_is_checked_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "xx-fake-9")
    code, _, err = run(capsys, ["prices", "--offline"])
    assert code == EXIT_ERROR
    assert_one_line(err, "error: unknown region 'xx-fake-9'")


def test_usage_errors_are_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, ["launch"])
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and "dlpick launch: error:" in err and "--help" in err


def test_a_full_disk_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "dlpick.tui.cli.main",
                "prices",
                "--offline",
                "--format",
                "json",
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    assert done.returncode == EXIT_ERROR
    # After the one line saying the prices are offline ones, the failure.
    assert done.stderr.startswith("offline: on-demand prices: snapshot, ")
    assert done.stderr.splitlines()[1:] == [
        "error: cannot write the output: No space left on device"
    ]


def test_a_bug_is_reported_as_a_bug_with_its_traceback_in_the_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    from dlpick.pricing import catalog

    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("division by zero")

    # A programming error deep inside a command (not a failure dlpick knows).
    monkeypatch.setattr(catalog.Catalog, "offers", broken)
    code, _, err = run(capsys, ["prices", "--offline"])
    log = isolated_home / ".local" / "state" / "dlpick" / "bugs.log"
    assert code == 70
    assert err.startswith("bug in dlpick: ZeroDivisionError: division by zero; traceback in ")
    assert str(log) in err and err.count("\n") == 1
    assert "Traceback (most recent call last)" in log.read_text()


def test_ctrl_c_stops_a_command_within_half_a_second(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """AWS accepts the connections and never answers; Ctrl-C must not wait for it."""
    fault_server.fault = HANG
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "AWS_ENDPOINT_URL": fault_server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    before = fault_server.requests
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlpick.tui.cli.main", "ls", "--all-regions"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while fault_server.requests == before:  # the command is now waiting on AWS
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=5)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        fault_server.fault = FAULTS["expired"]
    assert proc.returncode == 130
    assert proc.stderr is not None and proc.stderr.read() == "interrupted\n"
    assert took < 0.5, took


@pytest.mark.parametrize(
    ("idle", "hours", "message"),
    [
        ("0", "", "idle stop (minutes) must be at least 5, not '0'"),
        ("7.5", "", "idle stop (minutes) must be a whole number"),
        ("", "nan", "max hours must be a finite number, not 'nan'"),
        ("", "1e300", "max hours must be at most 8760"),
        ("", "-1", "max hours must be above 0"),
    ],
)
def test_the_launch_dialog_refuses_what_the_cli_refuses(
    idle: str, hours: str, message: str
) -> None:
    from dlpick.tui.screens.launch.form import parse_options

    with pytest.raises(ValueError, match=re.escape(message)):
        parse_options(False, "base", "ubuntu-24.04", "", idle, hours)
    assert parse_options(False, "base", "ubuntu-24.04", "", "60", "8").max_hours == 8


@pytest.mark.parametrize("fault", [*FAULTS, "unreachable"])
async def test_the_app_under_each_fault_says_unknown_and_keeps_its_prices(
    fault: str, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlpick.tui.app import build_app
    from dlpick.tui.config import Settings
    from dlpick.tui.widgets.ticker import Ticker
    from dlpick.tui.worker_errors import worker_record

    if fault == "unreachable":
        dummy_credentials(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    else:
        fault_server.fault = FAULTS[fault]
        dummy_credentials(monkeypatch, fault_server.url)
    app = build_app(Settings(), "us-east-1")
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        deadline = time.monotonic() + 20
        while app.fleet.status != "error" or any(not w.is_finished for w in app.workers):
            assert time.monotonic() < deadline, app.fleet
            await pilot.pause(0.05)
        ticker = app.screen.query_one(Ticker)
        assert str(ticker.render()).startswith("? running: ")
        assert worker_record(app).bugs == 0
        assert app.prices.table.row_count > 10  # the bundled prices, still there
