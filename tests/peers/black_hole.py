"""An endpoint on 127.0.0.1 that accepts connections and never answers.

Every AWS call sent to it waits for its read timeout: the worker that made it is
stuck in the network, as on a hotel Wi-Fi that swallows packets.
"""

from __future__ import annotations

import socket
import threading


class BlackHole:
    """Accepts and holds connections until stopped; `held` counts them."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            with self._lock:
                self._held.append(conn)

    def stop(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()
