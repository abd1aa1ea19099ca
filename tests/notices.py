"""The notifications an app posted, read from its `Notify` messages through
`run_test(message_hook=...)`: every one, including those whose toast has gone."""

from __future__ import annotations

from textual.message import Message
from textual.notifications import Notification, Notify


class Notices:
    """Pass `hook` as `message_hook`; `shown` lists the notifications in order."""

    def __init__(self) -> None:
        self.shown: list[Notification] = []

    def hook(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.shown.append(message.notification)

    def messages(self, *, severity: str | None = None, containing: str = "") -> list[str]:
        return [
            n.message
            for n in self.shown
            if (severity is None or n.severity == severity) and containing in n.message
        ]

    def titled(self, *, severity: str) -> list[tuple[str, str]]:
        return [(n.title, n.message) for n in self.shown if n.severity == severity]
