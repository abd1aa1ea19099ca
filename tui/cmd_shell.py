"""`dlpick ssh`: an interactive shell through the system ssh client, with the host key
checked by dlpick's rules first and `-L` port forwards."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from typing import TYPE_CHECKING

from dlpick.pricing.errors import InputError
from dlpick.tui.cmd_ssh import _resolve, _run_async, _say

if TYPE_CHECKING:
    from dlpick.remote.target import Target
    from dlpick.tui.config import Settings

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
    target: Target,
    *,
    forwards: list[str],
    identity: str | None,
    accept_new: bool,
    user: str | None,
    known_hosts: str | None,
) -> list[str]:
    """The system ssh command line for an interactive session to `target`."""
    argv = ["ssh"]
    config = os.path.expanduser("~/.ssh/config")
    # ssh finds ~/.ssh through the password database, dlpick through $HOME: say which.
    if os.path.isfile(config):
        argv += ["-F", config]
    if identity:
        argv += ["-i", os.path.expanduser(identity)]
    if target.port:
        argv += ["-p", str(target.port)]
    if user:
        argv += ["-l", user]
    if target.instance_id and known_hosts:
        argv += [
            "-o",
            f"HostKeyAlias={target.instance_id}",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
        ]
    elif accept_new:
        argv += ["-o", "StrictHostKeyChecking=accept-new"]
    for spec in forwards:
        argv += ["-L", spec]
    argv.append(target.host)
    return argv


def cmd_ssh(args: argparse.Namespace, settings: Settings) -> int:
    """`dlpick ssh`: hand over to the system ssh client with the checked host key."""
    from dlpick.remote.ssh import configured, connect, identity_file, login_user

    forwards = [forward_spec(f) for f in args.forwards]
    target, options = _resolve(args, settings)
    ssh = shutil.which("ssh")
    if ssh is None:
        raise InputError("no ssh client found on PATH (install OpenSSH)")

    async def check() -> tuple[str | None, str | None]:
        if target.instance_id:
            # Pin (or verify) the key with dlpick's rules before ssh sees the host.
            conn = await connect(target, options)
            conn.close()
        user, identity = await configured(target)
        return login_user(target, user), identity_file(target, args.identity, identity)

    user, identity = _run_async(check())
    known = str(options.instance_known_hosts()) if target.instance_id else None
    argv = ssh_command(
        target,
        forwards=forwards,
        identity=identity,
        accept_new=args.accept_new,
        user=user,
        known_hosts=known,
    )
    for spec in forwards:
        _say(f"forwarding localhost:{spec.split(':')[-3]} -> {':'.join(spec.split(':')[-2:])}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(ssh, argv)
    return 0  # not reached: exec replaced this process
