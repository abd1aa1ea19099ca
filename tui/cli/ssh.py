"""The SSH subcommands: `dlpick run`, `runs`, `logs` and `ssh` (an interactive shell
through the system ssh client).

Each handler takes (args, settings) and returns an exit code; problems the user
can fix are raised as InputError (one line, exit code 1), a command line that cannot be
used as given as a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from dlpick.core.aws import Aws
from dlpick.core.errors import EXIT_NO_STATUS, InputError
from dlpick.tui.cli.common import Parser, add_global_options, number_arg, region_for
from dlpick.tui.cli.output import Col

if TYPE_CHECKING:
    from dlpick.remote.ssh.connection import SshFiles, SshOptions
    from dlpick.remote.ssh.follow import FollowEvent
    from dlpick.remote.ssh.target import Target
    from dlpick.tui.config import Settings


T = TypeVar("T")
DEFAULT_FOLLOW_TAIL = 10

TARGET_HELP = "an instance id (i-...) or [user@]host[:port]; ~/.ssh/config applies"


def add_connection_options(parser: argparse.ArgumentParser, *, lists: bool = False) -> None:
    add_global_options(
        parser, region_help="region of an instance-id TARGET", needs_aws="instance", lists=lists
    )
    parser.add_argument(
        "--accept-new",
        action="store_true",
        help="pin the host key of a host not yet in ~/.ssh/known_hosts",
    )
    parser.add_argument("-i", "--identity", metavar="KEYFILE", help="private key to log in with")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="a name for the run (letters, digits, . _ -)")
    parser.add_argument(
        "--workdir", metavar="DIR", help="directory on the host to run in (default: home)"
    )
    add_connection_options(parser)


class RunCommand(argparse.Action):
    """Everything after `run TARGET`: dlpick's own options up to `--`, then COMMAND.

    Checked while parsing, so a missing or misplaced command is a usage error (exit 2).
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        words = [str(word) for word in values] if isinstance(values, list) else []
        if "--" in words:
            cut = words.index("--")
            ours, words = words[:cut], words[cut + 1 :]
            if ours:
                options = Parser(
                    prog=parser.prog, add_help=False, argument_default=argparse.SUPPRESS
                )
                _add_run_options(options)
                options.parse_args(ours, namespace)
        elif words and words[0].startswith("-"):
            parser.error(
                f"unknown option {words[0]!r}; put the command after --, "
                "e.g. dlpick run HOST -- python train.py"
            )
        if not words:
            parser.error("no command given: dlpick run TARGET -- COMMAND...")
        setattr(namespace, self.dest, words)


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add run, runs, logs and ssh to the `dlpick` subcommands."""
    run = sub.add_parser(
        "run",
        help="start a command on a host, detached from SSH, logging to ~/dlpick-runs/",
        description=(
            "Start COMMAND on the host under nohup, detached from the SSH session: it keeps "
            "running after you disconnect. stdout and stderr go to ~/dlpick-runs/RUN/log; the "
            "exit status is recorded when it ends. Prints the run id and returns at once."
        ),
        epilog=(
            "One COMMAND word is a shell command line (e.g. 'cd src && python train.py'); "
            "several are quoted word by word. It runs in the login shell of the remote user."
        ),
    )
    run.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    _add_run_options(run)
    run.add_argument(
        "command", nargs=argparse.REMAINDER, action=RunCommand, metavar="-- COMMAND..."
    )
    run.set_defaults(handler=cmd_run)

    runs = sub.add_parser(
        "runs",
        help="the runs on a host: state, start time, log size",
        description="List the runs on a host with their state (running / exited N), start "
        "time and log size.",
    )
    runs.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    add_connection_options(runs, lists=True)
    runs.set_defaults(handler=cmd_runs)

    logs = sub.add_parser(
        "logs",
        help="print or follow a run's log",
        description=(
            "Print the log of the latest run (or RUN). With --follow, stream it until the run "
            "ends, reconnecting if the connection drops without losing or repeating a line, "
            "then exit with the run's exit status."
        ),
        epilog=f"By default prints the whole log, or its last {DEFAULT_FOLLOW_TAIL} lines "
        "with --follow. With --follow, as with ssh, the exit status is the run's own, and "
        "255 when dlpick itself fails or the run left no status (killed, or the host "
        "rebooted); a command line that cannot be used is refused first, with 2.",
    )
    logs.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    logs.add_argument("run", metavar="RUN", nargs="?", help="run id, id prefix, or run name")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="stream until the run ends; exit with its status",
    )
    start = logs.add_mutually_exclusive_group()
    start.add_argument("--from-start", action="store_true", help="begin at the first line")
    start.add_argument(
        "--tail",
        type=number_arg("--tail", minimum=0, maximum=10_000_000, integer=True),
        metavar="N",
        help="begin at the last N lines",
    )
    add_connection_options(logs)
    # With --follow the exit status is the run's: `main` makes dlpick's own failures 255.
    logs.set_defaults(handler=cmd_logs, passes_status=True)

    ssh = sub.add_parser(
        "ssh",
        help="an interactive shell on a host, with port forwards",
        description=(
            "Open an interactive shell on the host with the system ssh client, after checking "
            "its host key as dlpick does. -L forwards a local port, e.g. -L 8888 for Jupyter "
            "or -L 6006 for TensorBoard."
        ),
    )
    ssh.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    ssh.add_argument(
        "-L",
        dest="forwards",
        action="append",
        type=forward_spec,
        default=[],
        metavar="PORT[:HOST:PORT]",
        help="forward a local port to the host (PORT alone means the same port there)",
    )
    add_connection_options(ssh)
    ssh.set_defaults(handler=cmd_ssh)


def say(message: str) -> None:
    print(f"dlpick: {message}", file=sys.stderr, flush=True)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; its failures are DlpickErrors, reported once by `main`."""
    return asyncio.run(coro)


def resolve_target(args: argparse.Namespace, settings: Settings) -> tuple[Target, SshOptions]:
    """TARGET as typed -> where to connect, and how to check its host key."""
    from dlpick.remote.ssh.connection import SshOptions
    from dlpick.remote.ssh.target import Target, instance_access, parse_target

    spec = parse_target(args.target)
    options = SshOptions(identity=args.identity, accept_new=args.accept_new, notify=say)
    if not spec.instance_id:
        return Target(host=spec.host, user=spec.user, port=spec.port), options

    region = region_for(args.region, settings)
    aws = Aws(profile=settings.profile)
    target, options.console_output = instance_access(
        aws, spec.instance_id, region, user=spec.user, port=spec.port, say=say
    )
    return target, options


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """`dlpick run`: start a detached run and print its id."""
    from dlpick.remote.ssh.connection import connect
    from dlpick.remote.ssh.runs import start_run

    command: list[str] = args.command
    target, options = resolve_target(args, settings)

    async def go() -> str:
        conn = await connect(target, options)
        try:
            return await start_run(conn, command, name=args.name, workdir=args.workdir)
        finally:
            conn.close()

    run_id = run_async(go())
    print(run_id)
    say(f"started; follow it with: dlpick logs {args.target} {run_id} --follow")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


# `dlpick runs` columns; the command is free text: it wraps, never cut.
RUN_COLUMNS = (
    Col("Run", 100),
    Col("State", 95),
    Col("Started", 80),
    Col("Log", 70, right=True),
    Col("Command", 60, wrap=True),
)


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    """`dlpick runs`: the runs on a host."""
    from dlpick.remote.ssh.connection import connect
    from dlpick.remote.ssh.runs import RUN_FIELDS, Run, list_runs

    target, options = resolve_target(args, settings)

    async def go() -> list[Run]:
        conn = await connect(target, options)
        try:
            return await list_runs(conn)
        finally:
            conn.close()

    runs = run_async(go())
    if args.format in ("json", "csv"):
        from dlpick.tui.cli import output

        records = [r.to_record() for r in runs]
        if args.format == "json":
            print(output.to_json(records))
        else:
            sys.stdout.write(output.to_csv(records, RUN_FIELDS))
        return 0
    if not runs:
        print(f"no runs on {target.label} yet")
        return 0
    from dlpick.tui.cli.output import print_table

    rows = [[r.run_id, r.state, _started(r.started), _size(r.log_size), r.command] for r in runs]
    print_table(RUN_COLUMNS, rows)
    return 0


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    """`dlpick logs`: print a run's log; with --follow, stream it and exit with its status."""
    from dlpick.remote.ssh.connection import connect, connector
    from dlpick.remote.ssh.follow import ConnectionChange, LogChunk, LogFollower, LogReset
    from dlpick.remote.ssh.runs import find_run, tail_start

    target, options = resolve_target(args, settings)

    def show(event: FollowEvent) -> None:
        if isinstance(event, LogReset):
            say(f"the log was {event.reason}; continuing from its new start")
        elif isinstance(event, ConnectionChange):
            if event.state == "reconnecting":
                say(
                    f"connection lost ({event.error}); reconnecting in {event.delay:.1f} s "
                    f"(attempt {event.attempt})"
                )
            elif event.state == "connected" and event.attempt:
                say("reconnected")

    async def go() -> tuple[int | None, str]:
        conn = await connect(target, options)
        run = await find_run(conn, args.run)
        tail = args.tail
        if tail is None and args.follow and not args.from_start:
            tail = DEFAULT_FOLLOW_TAIL
        offset, inode = 0, None
        if tail is not None:
            offset, inode = await tail_start(conn, run.log_path, tail)
        follower = LogFollower.for_run(
            connector(target, options),
            run.run_id,
            connection=conn,
            offset=offset,
            inode=inode,
            follow=args.follow,
        )
        writer = StdoutWriter()
        try:
            async for event in follower.events():
                if isinstance(event, LogChunk):
                    await writer.write(event.data)
                else:
                    show(event)
        finally:
            await writer.close()
        return follower.exit_status, run.run_id

    status, run_id = run_async(go())
    if not args.follow:
        return 0
    if status is None:
        say(f"run {run_id} ended without recording an exit status (killed, or the host rebooted)")
        return EXIT_NO_STATUS
    return status


class StdoutWriter:
    """Writes log chunks to stdout in a thread, so a slow reader of our output (a pipe,
    a terminal) and the network transfer overlap instead of taking turns.

    At most `depth` chunks wait, which bounds memory and pushes back on the follower.
    """

    def __init__(self, depth: int = 2) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        out = sys.stdout.buffer
        while (data := await self._queue.get()) is not None:
            if self._error is None:
                try:
                    await asyncio.to_thread(_write_all, out, data)
                except (OSError, ValueError) as exc:
                    self._error = exc  # keep draining so write() never blocks forever

    async def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        await self._queue.put(data)

    async def close(self) -> None:
        await self._queue.put(None)
        await self._task
        if self._error is not None:
            raise self._error


def _write_all(out: BinaryIO, data: bytes) -> None:
    out.write(data)
    out.flush()


def _started(run_started: datetime | None) -> str:
    return run_started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if run_started else "?"


FORWARD = re.compile(
    r"^(?:(?P<bind>[^:]+):)?(?P<port>\d+)(?::(?P<host>[^:]+|\[[^\]]+\]):(?P<hport>\d+))?$"
)


def forward_spec(text: str) -> str:
    """`-L PORT` means the same port on the host; anything else is ssh's own -L syntax."""
    match = FORWARD.match(text)
    if not match:
        raise InputError(f"cannot read -L {text!r}: use PORT or PORT:HOST:PORT (e.g. -L 8888)")
    for key in ("port", "hport"):
        if match[key] and not 0 < int(match[key]) < 65536:
            raise InputError(f"port {match[key]} in -L {text!r} is out of range")
    if match["host"]:
        return text
    bind = f"{match['bind']}:" if match["bind"] else ""
    return f"{bind}{match['port']}:localhost:{match['port']}"


def ssh_command(
    target: Target, *, forwards: list[str], files: SshFiles, accept_new: bool
) -> list[str]:
    """The system ssh command line for an interactive session to `target`.

    ssh finds ~/.ssh through the password database, dlpick through $HOME: every file
    dlpick reads (config, known hosts, keys) is named, so both read the same ones.
    """

    argv = ["ssh"]
    config = os.path.expanduser("~/.ssh/config")
    if os.path.isfile(config):
        argv += ["-F", config]
    for key in files.identities:
        argv += ["-i", key]
    if target.port:
        argv += ["-p", str(target.port)]
    if files.user:
        argv += ["-l", files.user]
    if files.known_hosts:
        named = " ".join(_ssh_word(str(path)) for path in files.known_hosts)
        argv += ["-o", f"UserKnownHostsFile={named}"]
    if target.instance_id:
        argv += ["-o", f"HostKeyAlias={target.instance_id}", "-o", "StrictHostKeyChecking=yes"]
    elif accept_new:
        argv += ["-o", "StrictHostKeyChecking=accept-new"]
    for spec in forwards:
        argv += ["-L", spec]
    argv.append(target.host)
    return argv


def cmd_ssh(args: argparse.Namespace, settings: Settings) -> int:
    """`dlpick ssh`: hand over to the system ssh client with the checked host key."""
    from dlpick.remote.ssh.connection import connect, ssh_files

    forwards: list[str] = args.forwards  # as ssh's -L takes them (forward_spec)
    target, options = resolve_target(args, settings)
    ssh = shutil.which("ssh")
    if ssh is None:
        raise InputError("no ssh client found on PATH (install OpenSSH)")

    async def check() -> SshFiles:
        if target.instance_id:
            # Pin (or verify) the key with dlpick's rules before ssh sees the host.
            conn = await connect(target, options)
            conn.close()
        return await ssh_files(target, options)

    argv = ssh_command(
        target, forwards=forwards, files=run_async(check()), accept_new=args.accept_new
    )
    for spec in forwards:
        say(f"forwarding localhost:{spec.split(':')[-3]} -> {':'.join(spec.split(':')[-2:])}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(ssh, argv)
    return 0  # not reached: exec replaced this process


def _ssh_word(text: str) -> str:
    """A file name as one word of an ssh option value (ssh splits them at blanks)."""
    return f'"{text}"' if any(c.isspace() for c in text) else text
