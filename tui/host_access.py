"""A TARGET typed in the app: resolved once (EC2 lookup for an instance id), then
connected to on demand with the same host-key rules as the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dlpick.core.aws import Aws
from dlpick.remote.ssh.connection import Connect, SshOptions, connect
from dlpick.remote.ssh.target import Target, TargetSpec, instance_access, parse_target

if TYPE_CHECKING:
    import asyncssh


@dataclass
class HostAccess:
    """How the app reaches one host: `text` is an instance id or `[user@]host[:port]`."""

    text: str
    region: str | None = None  # where to look an instance id up; None: the AWS default
    profile: str | None = None
    notify: Callable[[str], None] = field(default=lambda message: None)
    _resolved: tuple[Target, SshOptions] | None = field(default=None, init=False, repr=False)

    @property
    def label(self) -> str:
        return self.text

    async def resolve(self) -> tuple[Target, SshOptions]:
        """Where to connect and how to check the host key (raises TargetError)."""
        if self._resolved is None:
            spec = parse_target(self.text)
            options = SshOptions(notify=lambda message: self.notify(message))
            if spec.instance_id:
                # boto3 blocks: keep it off the UI loop.
                target, console = await asyncio.to_thread(self._lookup, spec.instance_id, spec)
                options.console_output = console
            else:
                target = Target(host=spec.host, user=spec.user, port=spec.port)
            self._resolved = (target, options)
        return self._resolved

    def _lookup(
        self, instance_id: str, spec: TargetSpec
    ) -> tuple[Target, Callable[[str], str | None]]:
        aws = Aws(profile=self.profile)
        region = self.region or aws.default_region()
        return instance_access(aws, instance_id, region, user=spec.user, port=spec.port)

    async def connect(self) -> asyncssh.SSHClientConnection:
        target, options = await self.resolve()
        return await connect(target, options)

    def connector(self) -> Connect:
        """A factory of fresh connections, for reconnecting."""
        return self.connect
