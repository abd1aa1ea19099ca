"""Runs, logs and host keys against a real OpenSSH sshd on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlpick.core.errors import SshError
from dlpick.remote.ssh.connection import SshOptions, connect, connector, console_fingerprints
from dlpick.remote.ssh.follow import (
    ConnectionChange,
    FollowEvent,
    LogChunk,
    LogFollower,
    LogReset,
    RunEnded,
)
from dlpick.remote.ssh.runs import find_run, list_runs, start_run
from dlpick.remote.ssh.target import Target, TargetError, parse_target, resolve_instance
from dlpick.tui.cli.main import main
from dlpick.tui.cli.ssh import forward_spec
from tests.peers.sshd import SSH_ALIAS, Sshd, TcpCutter, free_port, wait_for
from tests.peers.text_server import TextServer

CUT_ALIAS = "dlpick-cut"


def dlpick(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def run_dir(sshd: Sshd, run_id: str) -> Path:
    return sshd.remote_home / "dlpick-runs" / run_id


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
def cutter(sshd: Sshd, isolated_home: Path) -> Any:
    """A TCP path to sshd that the test can cut, reachable as host `dlpick-cut`."""
    proxy = TcpCutter(sshd.port)
    known = isolated_home / ".ssh" / "known_hosts"
    with known.open("a") as f:
        f.write(sshd.known_hosts_line(proxy.port))
    with (isolated_home / ".ssh" / "config").open("a") as f:
        f.write(sshd.client_config(CUT_ALIAS, port=proxy.port, known_hosts=known))
    yield proxy
    proxy.close()


# -- targets ----------------------------------------------------------------------


def test_targets_parse_like_ssh() -> None:
    assert parse_target("i-0123456789abcdef0").instance_id == "i-0123456789abcdef0"
    spec = parse_target("ubuntu@10.0.0.5:2222")
    assert (spec.user, spec.host, spec.port, spec.instance_id) == ("ubuntu", "10.0.0.5", 2222, None)
    assert parse_target("gpu-box").host == "gpu-box"
    assert parse_target("root@[::1]:22").host == "::1"
    with pytest.raises(TargetError):
        parse_target("a@b@c")
    with pytest.raises(TargetError):
        parse_target("host:99999")


def test_forward_specs() -> None:
    assert forward_spec("8888") == "8888:localhost:8888"
    assert forward_spec("16006:localhost:6006") == "16006:localhost:6006"
    assert forward_spec("127.0.0.1:6006") == "127.0.0.1:6006:localhost:6006"


def test_console_fingerprints_from_cloud_init() -> None:
    console = (
        "Cloud-init v. 23.4 running\n"
        "ec2: #############################################################\n"
        "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        "ec2: 256 SHA256:" + "A" * 43 + " root@ip-172-31-1-2 (ECDSA)\n"
        "ec2: 256 SHA256:" + "b" * 43 + " root@ip-172-31-1-2 (ED25519)\n"
        "ec2: -----END SSH HOST KEY FINGERPRINTS-----\n"
    )
    assert console_fingerprints(console) == {"SHA256:" + "A" * 43, "SHA256:" + "b" * 43}
    import base64

    encoded = base64.b64encode(console.encode()).decode()
    assert console_fingerprints(encoded) == console_fingerprints(console)
    assert console_fingerprints("Linux version 6.1\n") == set()


# -- run / runs / logs ---------------------------------------------------------------


def test_run_then_runs_then_logs_follow_exits_with_status(
    sshd: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = dlpick(
        capsys,
        "run",
        SSH_ALIAS,
        "--name",
        "hello",
        "--",
        # Held until the test says go, so `runs` sees it running however slow the connect.
        'echo out; echo err >&2; while [ ! -f "$HOME/go-on" ]; do sleep 0.05; done; '
        "printf 'no newline'; exit 4",
    )
    assert rc == 0, err
    run_id = out.strip()
    assert run_id.split("-")[2] == "hello"
    assert "dlpick logs" in err

    rc, out, _ = dlpick(capsys, "runs", SSH_ALIAS)
    assert rc == 0
    assert run_id in out and "running" in out

    (sshd.remote_home / "go-on").touch()
    rc, out, _ = dlpick(capsys, "logs", SSH_ALIAS, "--follow", "--from-start")
    assert rc == 4
    assert out == "out\nerr\nno newline"

    rc, out, _ = dlpick(capsys, "runs", SSH_ALIAS)
    assert "exited 4" in out
    assert (run_dir(sshd, run_id) / "status").read_text().strip() == "4"
    rc, out, _ = dlpick(capsys, "logs", SSH_ALIAS, "hello")
    assert (rc, out) == (0, "out\nerr\nno newline")


def test_run_keeps_argument_quoting_and_workdir(
    sshd: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    work = sshd.remote_home / "project"
    work.mkdir(exist_ok=True)
    rc, out, err = dlpick(
        capsys, "run", SSH_ALIAS, "--workdir", "project", "--", "sh", "-c", 'pwd; echo "$0"', "a b"
    )
    assert rc == 0, err
    rc, out, _ = dlpick(capsys, "logs", SSH_ALIAS, out.strip(), "--follow", "--from-start")
    assert (rc, out) == (0, f"{work}\na b\n")

    rc, _, err = dlpick(capsys, "run", SSH_ALIAS, "--workdir", "nowhere", "--", "true")
    assert rc == 1 and "no such directory on the host: nowhere" in err
    rc, _, err = dlpick(capsys, "run", SSH_ALIAS, "--name", "has space", "--", "true")
    assert rc == 1 and "run name" in err


def test_logs_tail_and_default(sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = dlpick(capsys, "run", SSH_ALIAS, "--", "seq 1 100")
    run_id = out.strip()
    wait_for(lambda: (run_dir(sshd, run_id) / "status").exists())
    rc, out, _ = dlpick(capsys, "logs", SSH_ALIAS, "--tail", "3")
    assert (rc, out) == (0, "98\n99\n100\n")
    rc, out, _ = dlpick(capsys, "logs", SSH_ALIAS, run_id[:20], "--follow")
    assert rc == 0 and out == "".join(f"{n}\n" for n in range(91, 101))
    rc, out, _ = dlpick(capsys, "logs", SSH_ALIAS)
    assert out == "".join(f"{n}\n" for n in range(1, 101))
    rc, _, err = dlpick(capsys, "logs", SSH_ALIAS, "no-such-run")
    assert rc == 1 and "no run 'no-such-run'" in err


def test_no_runs_and_no_command(sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = dlpick(capsys, "runs", SSH_ALIAS)
    assert rc == 0 and "no runs" in out
    rc, _, err = dlpick(capsys, "logs", SSH_ALIAS)
    assert rc == 1 and "no runs on this host yet" in err
    rc, _, err = dlpick(capsys, "run", SSH_ALIAS)
    assert rc == 2 and "no command given" in err


async def test_run_survives_the_session_ending(sshd: Sshd, cutter: TcpCutter) -> None:
    conn = await connect(Target(host=CUT_ALIAS))
    go_on = sshd.remote_home / "go-on-survivor"
    run_id = await start_run(
        conn, f'while [ ! -f "{go_on}" ]; do sleep 0.05; done; echo survived', name="survivor"
    )
    assert cutter.cut() == 1  # the network drops right after the start
    with contextlib.suppress(Exception):
        await conn.wait_closed()

    direct = await connect(Target(host=SSH_ALIAS))
    try:
        run = await find_run(direct, "survivor")
        assert run.run_id == run_id and run.state == "running"
        go_on.touch()
        follower = LogFollower.for_run(connector(Target(host=SSH_ALIAS)), run_id, connection=direct)
        chunks: list[bytes] = []
        status = await follower.run(
            lambda e: chunks.append(e.data) if isinstance(e, LogChunk) else None
        )
        assert (status, b"".join(chunks)) == (0, b"survived\n")
    finally:
        direct.close()


async def test_follow_loses_nothing_when_the_connection_is_cut(
    sshd: Sshd, cutter: TcpCutter
) -> None:
    """200,000 numbered lines stream while the connection is cut again and again."""
    target = Target(host=CUT_ALIAS)
    conn = await connect(Target(host=SSH_ALIAS))
    producer = (
        'awk \'BEGIN { for (i = 1; i <= 200000; i++) { printf "line %06d of the run\\n", i; '
        'if (i % 2500 == 0) { fflush(); system("sleep 0.04") } } '
        'printf "the end, no newline" }\''
    )
    run_id = await start_run(conn, producer, name="numbers")
    conn.close()

    follower = LogFollower.for_run(
        connector(target, SshOptions(connect_timeout=5)),
        run_id,
        chunk_bytes=64 * 1024,  # more frames, so cuts land mid-frame too
        backoff_initial=0.05,
        backoff_max=0.5,
    )
    received: list[bytes] = []
    states: list[str] = []

    def collect(event: FollowEvent) -> None:
        if isinstance(event, LogChunk):
            received.append(event.data)
        elif isinstance(event, ConnectionChange):
            states.append(event.state)

    task = asyncio.create_task(follower.run(collect))
    cuts_with_progress = 0
    while not task.done():
        seen = len(received)
        await asyncio.sleep(0.2)
        # Cut only after fresh data arrived, so each cut interrupts a live stream.
        if len(received) > seen and cutter.cut():
            cuts_with_progress += 1
    status = await task

    log = (run_dir(sshd, run_id) / "log").read_bytes()
    followed = b"".join(received)
    assert cuts_with_progress >= 5, cuts_with_progress
    assert follower.reconnects >= 5
    assert "reconnecting" in states
    assert status == 0
    assert len(followed) == len(log)
    assert followed == log
    lines = followed.split(b"\n")
    assert lines[0] == b"line 000001 of the run"
    assert lines[199999] == b"line 200000 of the run"
    assert lines[-1] == b"the end, no newline"


async def test_follow_reports_truncation_and_rotation(sshd: Sshd) -> None:
    folder = sshd.remote_home / "app"
    folder.mkdir(exist_ok=True)
    log, status = folder / "train.log", folder / "status"
    for path in (status, folder / "train.log.1"):
        path.unlink(missing_ok=True)
    log.write_bytes(b"a1\na2\n")
    follower = LogFollower(
        connector(Target(host=SSH_ALIAS)),
        "app/train.log",
        status_path="app/status",
        poll_interval=0.05,
    )
    events: list[FollowEvent] = []
    task = asyncio.create_task(follower.run(events.append))

    def text() -> bytes:
        return b"".join(e.data for e in events if isinstance(e, LogChunk))

    await until(lambda: text() == b"a1\na2\n")
    log.write_bytes(b"b1\n")  # truncated in place (same inode), shorter than before
    await until(lambda: text().endswith(b"b1\n"))
    os.rename(log, folder / "train.log.1")
    log.write_bytes(b"c1\nc2\nc3\n")  # rotated: a new file, longer than the offset
    await until(lambda: text().endswith(b"c3\n"))
    status.write_text("0\n")
    assert await asyncio.wait_for(task, 15) == 0

    resets = [e.reason for e in events if isinstance(e, LogReset)]
    assert resets == ["truncated", "rotated"]
    assert text() == b"a1\na2\nb1\nc1\nc2\nc3\n"
    assert isinstance(events[-1], RunEnded)


async def test_follow_returns_none_for_a_killed_run(sshd: Sshd) -> None:
    conn = await connect(Target(host=SSH_ALIAS))
    try:
        run_id = await start_run(conn, "echo started; sleep 30", name="doomed")
        pid = int((run_dir(sshd, run_id) / "pid").read_text())
        await until(lambda: (run_dir(sshd, run_id) / "log").read_bytes() == b"started\n")
        os.killpg(pid, 9)  # the wrapper and the command: as if the host rebooted
        follower = LogFollower.for_run(connector(Target(host=SSH_ALIAS)), run_id, connection=conn)
        assert await asyncio.wait_for(follower.run(), 15) is None
        runs = await list_runs(conn)
        assert [r.state for r in runs if r.run_id == run_id] == ["lost"]
    finally:
        conn.close()


# -- host keys -------------------------------------------------------------------------


def _other_key_line(name: str) -> str:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    return f"{name} {key.export_public_key().decode().strip()}\n"


def test_pinned_host_key_is_accepted(sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = dlpick(capsys, "runs", SSH_ALIAS)
    assert rc == 0 and err == ""


def test_changed_host_key_is_refused(
    sshd: Sshd, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = isolated_home / ".ssh" / "known_hosts"
    known.write_text(_other_key_line(f"[127.0.0.1]:{sshd.port}"))
    rc, out, err = dlpick(capsys, "runs", SSH_ALIAS)
    assert rc == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "has changed" in err
    assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}' -f {known}" in err


def test_unknown_host_key_needs_accept_new(
    sshd: Sshd, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = isolated_home / ".ssh" / "known_hosts"
    known.write_text("")
    rc, _, err = dlpick(capsys, "runs", SSH_ALIAS)
    assert rc == 1 and "not known" in err and "--accept-new" in err
    assert known.read_text() == ""

    rc, _, err = dlpick(capsys, "runs", SSH_ALIAS, "--accept-new")
    assert rc == 0 and "pinned new host key" in err
    assert known.read_text().split() == sshd.known_hosts_line().split()[:3]
    rc, _, err = dlpick(capsys, "runs", SSH_ALIAS)
    assert (rc, err) == (0, "")


# -- EC2 instances ---------------------------------------------------------------------

UBUNTU_DLAMI = "ami-dca37ea5"  # "Deep Learning AMI Ubuntu Linux - 2.4_Oct2017" in moto
AMAZON_LINUX_DLAMI = "ami-999844e0"  # "Deep Learning AMI Amazon Linux - 3.3_Oct2017"


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Console output moto serves per instance id, instead of its fixed fake."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.ec2.responses.general import SAMPLE_CONSOLE_OUTPUT, General
    from moto.ec2.utils import Base64EncodedString

    seeded: dict[str, str] = {}

    def get_console_output(response: Any) -> ActionResult:
        instance = response.ec2_backend.get_instance(response._get_param("InstanceId"))
        text = seeded.get(instance.id, SAMPLE_CONSOLE_OUTPUT)
        return ActionResult(
            {
                "InstanceId": instance.id,
                "Timestamp": utcnow(),
                "Output": Base64EncodedString.from_raw_string(text),
            }
        )

    monkeypatch.setattr(General, "get_console_output", get_console_output)
    return seeded


def cloud_init_block(fingerprint: str) -> str:
    return (
        "[   12.3] cloud-init[1234]: Cloud-init v. 24.1 finished\n"
        "#############################################################\n"
        "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        f"256 {fingerprint} root@ip-172-31-5-9 (ED25519)\n"
        "-----END SSH HOST KEY FINGERPRINTS-----\n"
        "#############################################################\n"
    )


def launch(image: str = UBUNTU_DLAMI) -> dict[str, Any]:
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    instance = ec2.run_instances(ImageId=image, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1)[
        "Instances"
    ][0]
    return dict(
        ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0][
            "Instances"
        ][0]
    )


def map_instance_to_sshd(sshd: Sshd, home: Path, address: str) -> None:
    """What a test machine needs so that the instance's fake address reaches the local sshd."""
    with (home / ".ssh" / "config").open("a") as f:
        f.write(sshd.client_config(address).replace(f"Host {address}", f"Host {address}", 1))


def instance_on_sshd(sshd: Sshd, home: Path, console: dict[str, str]) -> str:
    """A moto instance whose address reaches sshd and whose console shows sshd's key."""
    instance = launch()
    iid = str(instance["InstanceId"])
    map_instance_to_sshd(sshd, home, instance["PublicIpAddress"])
    console[iid] = cloud_init_block(sshd.host_fingerprint())
    return iid


def test_instance_resolves_address_and_login_user(aws: Any) -> None:
    from dlpick.core.aws import Aws

    ec2 = Aws().ec2("us-east-1")
    ubuntu, amazon = launch(UBUNTU_DLAMI), launch(AMAZON_LINUX_DLAMI)
    target = resolve_instance(ec2, ubuntu["InstanceId"], "us-east-1")
    assert target.host == ubuntu["PublicIpAddress"]
    assert (target.default_user, target.user, target.instance_id) == (
        "ubuntu",
        None,
        ubuntu["InstanceId"],
    )
    assert resolve_instance(ec2, amazon["InstanceId"], "us-east-1").default_user == "ec2-user"
    with pytest.raises(TargetError, match="no instance i-0000000000000000a"):
        resolve_instance(ec2, "i-0000000000000000a", "us-east-1")


def test_instance_key_is_pinned_from_console_fingerprints(
    aws: Any,
    sshd: Sshd,
    console: dict[str, str],
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    iid = instance_on_sshd(sshd, isolated_home, console)

    rc, _, err = dlpick(capsys, "runs", iid)
    assert rc == 0, err
    assert "checked against its console output" in err
    pinned = isolated_home / ".local" / "share" / "dlpick" / "known_hosts"
    assert pinned.read_text().split() == [iid, *sshd.host_public_key.split()[:2]]

    # Once pinned, the console is not needed and nothing is said.
    console[iid] = "rebooted, no fingerprints\n"
    rc, _, err = dlpick(capsys, "runs", iid)
    assert (rc, err) == (0, "")

    # The same address now answers with another key: refused, with the file to fix.
    pinned.write_text(_other_key_line(iid))
    rc, _, err = dlpick(capsys, "runs", iid)
    assert rc == 1 and "has changed" in err and f"ssh-keygen -R '{iid}' -f {pinned}" in err


def test_instance_key_not_in_console_fingerprints_is_refused(
    aws: Any,
    sshd: Sshd,
    console: dict[str, str],
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    instance = launch()
    map_instance_to_sshd(sshd, isolated_home, instance["PublicIpAddress"])
    console[instance["InstanceId"]] = cloud_init_block("SHA256:" + "Q" * 43)
    rc, _, err = dlpick(capsys, "runs", instance["InstanceId"])
    assert rc == 1 and "is not one the instance printed to its console" in err
    assert not (isolated_home / ".local" / "share" / "dlpick" / "known_hosts").exists()


def test_instance_without_fingerprints_is_trusted_on_first_use(
    aws: Any,
    sshd: Sshd,
    console: dict[str, str],
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    instance = launch()
    map_instance_to_sshd(sshd, isolated_home, instance["PublicIpAddress"])
    rc, out, err = dlpick(capsys, "run", instance["InstanceId"], "--", "echo on the instance")
    assert rc == 0, err
    assert "trusting" in err and "on first use" in err
    rc, out, _ = dlpick(capsys, "logs", instance["InstanceId"], "--follow")
    assert (rc, out) == (0, "on the instance\n")


# -- dlpick ssh ---------------------------------------------------------------------------


def test_ssh_forwards_a_port_and_runs_a_shell(sshd: Sshd) -> None:
    server = TextServer("tensorboard here")
    local = free_port()
    remote = server.port
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dlpick.tui.cli.main",
            "ssh",
            SSH_ALIAS,
            "-L",
            f"{local}:127.0.0.1:{remote}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        import urllib.request

        def answered() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=2) as r:
                    return bool(r.read() == b"tensorboard here")
            except OSError:
                return False

        wait_for(answered, timeout=15, interval=0.1)
        out, err = proc.communicate(b"echo shell-$((6 * 7))\nexit 0\n", timeout=15)
        assert proc.returncode == 0, err
        assert b"shell-42" in out
        assert f"forwarding localhost:{local}".encode() in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()


def test_ssh_refuses_a_bad_forward(sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = dlpick(capsys, "ssh", SSH_ALIAS, "-L", "jupyter")
    assert rc == 2 and "cannot read -L 'jupyter'" in err


def test_unreachable_host_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        rc, _, err = dlpick(capsys, "runs", f"127.0.0.1:{port}")
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "cannot connect" in err


async def test_a_connection_lost_under_a_command_is_an_ssh_error_not_a_bug(
    sshd: Sshd, cutter: TcpCutter
) -> None:
    conn = await connect(Target(host=CUT_ALIAS))
    assert cutter.cut() == 1
    with contextlib.suppress(Exception):
        await conn.wait_closed()
    with pytest.raises(SshError, match="was lost") as raised:
        await list_runs(conn)
    assert raised.value.transient


def dlpick_process(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`dlpick ARGV` as its own process, as a user's shell starts it (no warning filters)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "dlpick"), *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_runs_writes_nothing_to_stderr(sshd: Sshd) -> None:
    done = dlpick_process("runs", SSH_ALIAS)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "no runs on dlpick-test yet\n"


def test_logs_follow_passes_the_run_status_and_fails_itself_with_255(
    sshd: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = dlpick(capsys, "run", SSH_ALIAS, "--name", "fails", "--", "echo bad; exit 1")
    assert rc == 0, err
    run_id = out.strip()
    rc, out, err = dlpick(capsys, "logs", SSH_ALIAS, run_id, "--follow")
    assert (rc, out, err) == (1, "bad\n", "")  # the run's own 1

    # dlpick failing while it follows is 255, never a status a run could have left.
    rc, out, err = dlpick(capsys, "logs", SSH_ALIAS, "no-such-run", "--follow")
    assert (rc, out) == (255, "") and err.startswith("error: no run 'no-such-run'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        rc, _, err = dlpick(capsys, "logs", f"127.0.0.1:{s.getsockname()[1]}", "--follow")
    assert rc == 255 and err.startswith("error: cannot connect to 127.0.0.1:")
    # Without --follow nothing is passed through: the usual 1.
    rc, _, err = dlpick(capsys, "logs", SSH_ALIAS, "no-such-run")
    assert rc == 1 and err.startswith("error: no run 'no-such-run'")
    # A command line that cannot be used is refused before anything is followed.
    rc, _, err = dlpick(capsys, "logs", SSH_ALIAS, "--follow", "--tail", "-3")
    assert rc == 2 and "--tail must be at least 0" in err


def test_logs_follow_of_a_run_that_left_no_status_is_255(
    sshd: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = dlpick(capsys, "run", SSH_ALIAS, "--", "echo started; sleep 30")
    assert rc == 0, err
    run_id = out.strip()
    wait_for(lambda: (run_dir(sshd, run_id) / "log").read_bytes() == b"started\n")
    os.killpg(int((run_dir(sshd, run_id) / "pid").read_text()), 9)  # as a reboot would
    rc, out, err = dlpick(capsys, "logs", SSH_ALIAS, run_id, "--follow", "--from-start")
    assert (rc, out) == (255, "started\n")
    assert "ended without recording an exit status" in err


def test_ssh_uses_the_known_hosts_and_key_dlpick_uses_when_home_is_elsewhere(
    sshd: Sshd, isolated_home: Path
) -> None:
    """$HOME is not the login home here (as under sudo -E or in a container): ssh alone
    would read the login home's ~/.ssh, where neither this host's key nor this key is."""
    ssh_dir = isolated_home / ".ssh"
    assert Path(os.path.expanduser("~")) != Path(pwd_home())
    key = ssh_dir / "id_dlpick_test"
    key.write_bytes(sshd.client_key.read_bytes())
    key.chmod(0o600)
    # No UserKnownHostsFile: ~/.ssh/known_hosts, which the sshd fixture filled. The key
    # is named with ~, which ssh would read from the login home.
    config = sshd.client_config("dlpick-home").replace(
        f"IdentityFile {sshd.client_key}", "IdentityFile ~/.ssh/id_dlpick_test"
    )
    with (ssh_dir / "config").open("a") as f:
        f.write(config)
    assert dlpick_process("runs", "dlpick-home").returncode == 0  # dlpick's own reading

    done = dlpick_process("ssh", "dlpick-home", stdin="echo shell-$((6 * 7))\nexit 0\n")
    assert done.returncode == 0, done.stderr
    assert "shell-42" in done.stdout and "Host key verification failed" not in done.stderr


def pwd_home() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir
