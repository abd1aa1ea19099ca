"""SSH connections with the host-key rules dlpick promises.

- Host targets are checked against ~/.ssh/known_hosts (or the config's
  UserKnownHostsFile) exactly as ssh does; an unknown key is refused unless the
  user asked for `accept_new`, which pins it there.
- EC2 instances are pinned in dlpick's own known-hosts file under their instance
  id. The first key is checked against the fingerprints cloud-init printed to
  the instance console when they are there; otherwise it is trusted on first
  use, and the user is told so.
- A key that differs from the pinned one is always refused, with the file to fix.

~/.ssh/config is honoured through asyncssh (User, Port, IdentityFile, ProxyJump,
HostName, HostKeyAlias, UserKnownHostsFile).
"""

from __future__ import annotations

import base64
import os
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dlpick.core import locations
from dlpick.core.errors import SshError
from dlpick.remote.launch.access import default_key_path
from dlpick.remote.ssh.target import Target

if TYPE_CHECKING:
    import asyncssh

# Every module that imports asyncssh imports this one first. asyncssh still names DSA
# keys, and cryptography warns at each name as asyncssh is imported: five warnings
# (ten lines) on stderr before every SSH command's output. Only that one is silenced.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")

FINGERPRINTS_BEGIN = "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
FINGERPRINTS_END = "-----END SSH HOST KEY FINGERPRINTS-----"
SHA256_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
MD5_FINGERPRINT = re.compile(r"\b(?:[0-9a-f]{2}:){15}[0-9a-f]{2}\b")

FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

Connect = Callable[[], Awaitable["asyncssh.SSHClientConnection"]]


class HostKeyError(SshError):
    """The server's host key is unknown or does not match the pinned one."""


def console_fingerprints(console_output: str | None) -> set[str]:
    """Host key fingerprints from the last cloud-init block in an instance's console output.

    Returns 'SHA256:...' strings (and 'MD5:aa:bb:...' for old images); empty when absent.
    """
    if not console_output:
        return set()
    text = console_output
    # EC2 returns the console base64-encoded; boto3 leaves decoding to the caller.
    if FINGERPRINTS_BEGIN not in text:
        try:
            text = base64.b64decode(text, validate=False).decode("utf-8", "replace")
        except ValueError:
            return set()
    start = text.rfind(FINGERPRINTS_BEGIN)
    if start < 0:
        return set()
    end = text.find(FINGERPRINTS_END, start)
    block = text[start : end if end > 0 else len(text)]
    found = set(SHA256_FINGERPRINT.findall(block))
    found.update(f"MD5:{m}" for m in MD5_FINGERPRINT.findall(block))
    return found


def known_hosts_name(host: str, port: int | None) -> str:
    """The name OpenSSH files a host's keys under: host, or [host]:port off port 22."""
    return host if not port or port == 22 else f"[{host}]:{port}"


def _append_known_host(path: Path, name: str, key: asyncssh.SSHKey) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    public = key.export_public_key("openssh").decode().split()
    line = f"{name} {public[0]} {public[1]}\n"
    # Append-only, one write: never rewrites what the user already trusts.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        existing = path.stat().st_size
        prefix = b""
        if existing:
            with open(path, "rb") as f:
                f.seek(existing - 1)
                prefix = b"" if f.read(1) == b"\n" else b"\n"
        os.write(fd, prefix + line.encode())
    finally:
        os.close(fd)


@dataclass
class SshOptions:
    """How to connect: identity, key policy, and how to tell the user things."""

    identity: str | None = None  # a private key file, like ssh -i
    accept_new: bool = (
        False  # pin an unknown host key (host targets), like StrictHostKeyChecking=accept-new
    )
    connect_timeout: float = 15.0
    notify: Callable[[str], None] = field(default=lambda message: None)
    # For instance targets: returns the instance's console output (EC2 GetConsoleOutput).
    console_output: Callable[[str], str | None] | None = None
    known_hosts_file: Path | None = None  # dlpick's own file; default in the user data dir

    def instance_known_hosts(self) -> Path:
        """The file EC2 instance host keys are pinned in."""
        return self.known_hosts_file or locations.known_hosts_file()


class _KeyChecker:
    """asyncssh calls validate_host_public_key only for keys not already trusted."""

    def __init__(
        self,
        *,
        files: list[Path],
        alias: str | None,
        accept_new: bool,
        fingerprints: set[str] | None,
        trust_first_use: bool,
        notify: Callable[[str], None],
        label: str,
    ) -> None:
        self.files = files
        self.alias = alias
        self.accept_new = accept_new
        self.fingerprints = fingerprints
        self.trust_first_use = trust_first_use
        self.notify = notify
        self.label = label
        self.refusal: str | None = None
        self.refusal_hint = ""

    def client(self) -> asyncssh.SSHClient:
        import asyncssh

        checker = self

        class Client(asyncssh.SSHClient):
            def validate_host_public_key(
                self, host: str, addr: str, port: int, key: asyncssh.SSHKey
            ) -> bool:
                return checker.validate(host, addr, port, key)

        return Client()

    def _pinned(self, host: str, addr: str, port: int) -> list[asyncssh.SSHKey]:
        import asyncssh

        keys: list[asyncssh.SSHKey] = []
        for path in self.files:
            if path.is_file():
                try:
                    keys += asyncssh.match_known_hosts(
                        str(path), self.alias or host, addr, None if port == 22 else port
                    )[0]
                except (OSError, ValueError):
                    continue
        return keys

    def validate(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        name = self.alias or known_hosts_name(host, port)
        fingerprint = key.get_fingerprint("sha256")
        where = self.files[0] if self.files else Path("~/.ssh/known_hosts")
        if self._pinned(host, addr, port):
            self.refusal = (
                f"host key for {self.label} has changed (now {fingerprint}); refusing to connect"
            )
            self.refusal_hint = (
                f"if the host was rebuilt, remove the old key with: "
                f"ssh-keygen -R '{name}' -f {where}"
            )
            return False
        if self.fingerprints:
            md5 = key.get_fingerprint("md5")
            if fingerprint not in self.fingerprints and md5 not in self.fingerprints:
                self.refusal = (
                    f"host key of {self.label} ({fingerprint}) is not one the instance printed to "
                    "its console at boot; refusing to connect"
                )
                return False
            _append_known_host(where, name, key)
            self.notify(
                f"pinned host key of {self.label} ({fingerprint}), "
                "checked against its console output"
            )
            return True
        if self.trust_first_use or self.accept_new:
            _append_known_host(where, name, key)
            if self.trust_first_use:
                self.notify(
                    f"no host key fingerprints in {self.label}'s console output yet; trusting "
                    f"{fingerprint} on first use and pinning it in {where}"
                )
            else:
                self.notify(f"pinned new host key of {self.label} ({fingerprint}) in {where}")
            return True
        self.refusal = (
            f"host key of {self.label} ({fingerprint}) is not known; check it and rerun with "
            f"--accept-new to pin it in {where}"
        )
        return False


async def connect(
    target: Target, options: SshOptions | None = None
) -> asyncssh.SSHClientConnection:
    """Open an authenticated SSH connection to a target, enforcing the host-key rules."""
    import asyncio

    import asyncssh

    options = options or SshOptions()
    kwargs: dict[str, Any] = {
        "connect_timeout": options.connect_timeout,
        # Notice a dead network within about 45 s even when the stream is idle.
        "keepalive_interval": 15,
        "keepalive_count_max": 3,
    }
    if target.port:
        kwargs["port"] = target.port
    fingerprints: set[str] | None = None
    if target.instance_id:
        path = options.instance_known_hosts()
        files = [path]
        alias: str | None = target.instance_id
        # Only dlpick's file counts for instances: its address may be reused by another
        # host in ~/.ssh/known_hosts. A tuple of keys is exclusive; b"" would fall back
        # to ~/.ssh/known_hosts inside asyncssh.
        kwargs["known_hosts"] = (_pinned_keys(path, target.instance_id), [], [])
        kwargs["host_key_alias"] = alias
        if not kwargs["known_hosts"][0] and options.console_output is not None:
            text = await asyncio.to_thread(options.console_output, target.instance_id)
            fingerprints = console_fingerprints(text)
    else:
        alias = None
        files = []
    resolved = await _config_for(target)
    user = login_user(target, _configured_user(resolved))
    if user:
        kwargs["username"] = user
    if not resolved.config.get("Ciphers"):
        # AES-GCM runs in one hardware-accelerated call per packet in asyncssh, where
        # chacha20-poly1305 (its first choice) costs several: logs stream ~1.5x faster.
        kwargs["encryption_algs"] = [
            *FAST_CIPHERS,
            "chacha20-poly1305@openssh.com",
            "aes256-ctr",
            "aes192-ctr",
            "aes128-ctr",
        ]
    identity = identity_file(target, options.identity, resolved.config.get("IdentityFile"))
    if identity:
        kwargs["client_keys"] = [identity]
    if not target.instance_id:
        files = _host_known_hosts(resolved)
        alias = resolved.host_key_alias
    checker = _KeyChecker(
        files=files,
        alias=alias,
        accept_new=options.accept_new,
        fingerprints=fingerprints,
        trust_first_use=bool(target.instance_id),
        notify=options.notify,
        label=target.label,
    )
    try:
        return await asyncssh.connect(target.host, client_factory=checker.client, **kwargs)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostKeyError(
            checker.refusal or f"host key of {target.label} not accepted: {exc.reason}",
            hint=checker.refusal_hint,
        ) from None
    except asyncssh.PermissionDenied:
        raise SshError(
            f"permission denied connecting to {target.label}: the server refused the key "
            "(give one with -i or IdentityFile in ~/.ssh/config)"
        ) from None
    except asyncssh.DisconnectError as exc:
        error = SshError(f"connection to {target.label} failed: {exc.reason}")
        error.transient = True
        raise error from None
    except TimeoutError:
        error = SshError(f"cannot connect to {target.label}: timed out")
        error.transient = True
        raise error from None
    except OSError as exc:
        error = SshError(f"cannot connect to {target.label}: {exc.strerror or exc}")
        error.transient = True
        raise error from None


async def run_remote(
    conn: asyncssh.SSHClientConnection, command: str, **kwargs: Any
) -> asyncssh.SSHCompletedProcess:
    """`conn.run(command)`, with a connection lost on the way as one SshError.

    The one place a command on an open connection is translated: asyncssh and the
    socket below it have many ways to say the link went away.
    """
    import asyncssh

    try:
        return await conn.run(command, **kwargs)
    except (asyncssh.Error, OSError) as exc:
        host = conn.get_extra_info("peername") or ("the host",)
        reason = getattr(exc, "reason", "") or getattr(exc, "strerror", "") or str(exc)
        error = SshError(f"the connection to {host[0]} was lost: {reason or type(exc).__name__}")
        error.transient = True
        raise error from None


async def _config_for(target: Target) -> asyncssh.SSHClientConnectionOptions:
    """asyncssh's reading of ~/.ssh/config (and defaults) for this target."""
    import asyncssh

    try:
        # config=() asks for the default ~/.ssh/config, as asyncssh.connect does.
        return await asyncssh.SSHClientConnectionOptions.construct(
            None, config=(), host=target.host, **({"port": target.port} if target.port else {})
        )
    except (OSError, asyncssh.Error, ValueError) as exc:
        raise SshError(f"cannot read ~/.ssh/config: {exc}") from None


def login_user(target: Target, configured_user: str | None) -> str | None:
    """The user to log in as when it must be given explicitly, else None (config decides).

    Typed `user@` wins; then a User in ~/.ssh/config; then the AMI's usual user.
    """
    if target.user:
        return target.user
    if target.default_user and not configured_user:
        return target.default_user
    return None


def identity_file(target: Target, given: str | None, configured: object) -> str | None:
    """The private key to use when it must be given explicitly, else None (config decides).

    `-i` wins; then IdentityFile in ~/.ssh/config; then, for an instance, the key
    `dlpick launch` saved for its key pair (~/.ssh/KEYNAME.pem) when it exists.
    """
    if given:
        return os.path.expanduser(given)
    if configured or not target.key_name:
        return None

    path = default_key_path(target.key_name)
    return str(path) if path.is_file() else None


def _host_known_hosts(resolved: asyncssh.SSHClientConnectionOptions) -> list[Path]:
    """The known-hosts files a host target is checked against: the config's
    UserKnownHostsFile, else ~/.ssh/known_hosts; none when the config says none."""
    # Without a known_hosts argument asyncssh fills this from the config: None
    # or a list of file names (its own code casts it so).
    known = cast("list[str] | None", resolved.known_hosts)
    if known is None:
        return []
    return [Path(os.path.expanduser(str(p))) for p in known] or [
        Path.home() / ".ssh" / "known_hosts"
    ]


# The keys asyncssh (like ssh) tries when none is named, in its order.
DEFAULT_KEYS = ("id_ed25519_sk", "id_ecdsa_sk", "id_ed448", "id_ed25519", "id_ecdsa", "id_rsa")


@dataclass(frozen=True)
class SshFiles:
    """What dlpick's own connection to a target uses, `~` being $HOME as dlpick reads it.

    The system ssh takes `~` from the password database instead: when $HOME is another
    directory (sudo -E, a container, a test), it would read other files. `dlpick ssh`
    hands these to it explicitly, so it checks the key dlpick pinned with the key dlpick
    logs in with.
    """

    user: str | None  # the user to give explicitly (None: the config decides)
    known_hosts: list[Path]  # where the host key is checked (and pinned)
    identities: list[str]  # the private keys, in the order they are tried


async def ssh_files(target: Target, options: SshOptions) -> SshFiles:
    """The user, known-hosts files and private keys dlpick's connection to `target` uses."""
    resolved = await _config_for(target)
    if target.instance_id:
        known = [options.instance_known_hosts()]
    else:
        known = _host_known_hosts(resolved)
    configured = cast("list[str] | None", resolved.config.get("IdentityFile"))
    identity = identity_file(target, options.identity, configured)
    if identity:
        identities = [identity]
    elif configured:
        identities = [os.path.expanduser(str(p)) for p in configured]
    else:
        home = Path.home() / ".ssh"
        identities = [str(home / name) for name in DEFAULT_KEYS if (home / name).is_file()]
    return SshFiles(login_user(target, _configured_user(resolved)), known, identities)


def _configured_user(resolved: asyncssh.SSHClientConnectionOptions) -> str | None:
    # The config parser stores User as text; its get() is typed object.
    return cast("str | None", resolved.config.get("User"))


def _pinned_keys(path: Path, name: str) -> list[asyncssh.SSHKey]:
    import asyncssh

    if not path.is_file():
        return []
    try:
        return list(asyncssh.match_known_hosts(str(path), name, "", None)[0])
    except (OSError, ValueError) as exc:
        raise SshError(f"cannot read {path}: {exc}") from None


def connector(target: Target, options: SshOptions | None = None) -> Connect:
    """A zero-argument coroutine factory that opens a fresh connection (for reconnects)."""

    async def open_connection() -> asyncssh.SSHClientConnection:
        return await connect(target, options)

    return open_connection
