"""A real OpenSSH sshd on 127.0.0.1, with its own host key, config and client key.

Sessions get HOME set to a scratch directory (sshd's server-side SetEnv), so
runs land there and not in the real home of whoever runs the tests, and PATH
starts with that home's `bin`, where tests put fake host tools (nvidia-smi).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_ALIAS = "dlpick-test"  # the Host name tests use in ~/.ssh/config
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # sshd's default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "dlpick-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


class Sshd:
    """One sshd process; `client_config()` is what a user would put in ~/.ssh/config."""

    def __init__(self, root: Path | None = None) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="dlpick-sshd-")
        self.root = root or Path(self._tmp.name)  # type: ignore[union-attr]
        self.root.mkdir(parents=True, exist_ok=True)
        self.user = getpass.getuser()
        self.port = free_port()
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.client_key = self.root / "id_ed25519"
        self.remote_home = self.root / "remote-home"
        self.remote_home.mkdir(exist_ok=True)
        self.remote_bin = self.remote_home / "bin"  # first on the sessions' PATH
        self.config = self.root / "sshd_config"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host_public_key(self) -> str:
        """The host key's public line, e.g. 'ssh-ed25519 AAAA... dlpick-test'."""
        return Path(f"{self.host_key}.pub").read_text().strip()

    def host_fingerprint(self) -> str:
        """'SHA256:...' of the host key, as cloud-init prints it."""
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{self.host_key}.pub"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.split()[1]

    def start(self) -> Sshd:
        _keygen(self.host_key)
        _keygen(self.client_key)
        authorized = self.root / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        self.config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"Port {self.port}",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {authorized}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "UsePAM no",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {self.user}",
                    "AllowTcpForwarding yes",
                    # Many quick reconnects from the fault tests must not be throttled.
                    "MaxStartups 100:30:200",
                    "MaxSessions 50",
                    "LogLevel ERROR",
                    f"SetEnv HOME={self.remote_home} PATH={self.remote_bin}:{SESSION_PATH}",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        log = open(self.root / "sshd.log", "wb")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sshd exited with {self.proc.returncode}: "
                    + (self.root / "sshd.log").read_text()
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not answer within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def reset(self) -> None:
        """Forget every run from earlier tests, and the go-on files runs wait for."""
        shutil.rmtree(self.remote_home / "dlpick-runs", ignore_errors=True)
        for held in self.remote_home.glob("go-on*"):
            held.unlink()

    def known_hosts_line(self, port: int | None = None) -> str:
        """The ~/.ssh/known_hosts line OpenSSH writes for this server."""
        return f"[127.0.0.1]:{port or self.port} {self.host_public_key}\n"

    def client_config(
        self, alias: str, *, port: int | None = None, known_hosts: Path | None = None
    ) -> str:
        """An OpenSSH client config block that reaches this sshd as `alias`."""
        lines = [
            f"Host {alias}",
            "    HostName 127.0.0.1",
            f"    Port {port or self.port}",
            f"    User {self.user}",
            f"    IdentityFile {self.client_key}",
            "    IdentitiesOnly yes",
            "    BatchMode yes",
        ]
        if known_hosts is not None:
            lines.append(f"    UserKnownHostsFile {known_hosts}")
        return "\n".join(lines) + "\n"


class TcpCutter:
    """A TCP forwarder on 127.0.0.1 whose live connections the test can cut at will.

    It stands between dlpick and sshd, so cutting it looks to both like a dropped
    network: the client sees a reset and sshd sees its peer go away.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cuts = 0
        self.accepted = 0
        self._live: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self._live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(262144):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def live(self) -> int:
        with self._lock:
            return len(self._live) // 2

    def cut(self) -> int:
        """Drop every live connection with a reset; returns how many were cut."""
        with self._lock:
            sockets, self._live = self._live, []
        for s in sockets:
            try:
                # Linger 0 makes close() send a reset, like a dropped NAT mapping;
                # shutdown first so the pump threads blocked in recv() wake up.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        if sockets:
            self.cuts += 1
        return len(sockets) // 2

    def close(self) -> None:
        self._stopped = True
        self.listener.close()
        self.cut()


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll until the predicate is true (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


if __name__ == "__main__":  # manual check: python -m tests.peers.sshd
    server = Sshd().start()
    print(server.client_config("dlpick-test"), os.getpid())
    server.stop()
