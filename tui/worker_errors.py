"""Worker failures, shown one way: the app's one worker-error handler.

Workers simply raise. A worker's state changes go to the node that started it and
do not bubble, so `WorkerErrors` is mixed into the app and into every screen that
runs workers; all of them share one record per app. A `DlpickError` becomes one
notification titled with what the worker was doing, shown once: again only for
an error that worker has not shown since it last succeeded. Anything else is a
bug: its traceback goes to the bug log, its one line is shown, and quitting the
app then exits with EXIT_BUG. A node that must react
to a failure (re-enable a button, mark data stale) handles `WorkerFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from textual import on
from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import Worker, WorkerState

from dlpick.core.errors import EXIT_BUG, EXIT_OK, DlpickError, bug_line

NOTIFY_SECONDS = 10


def title_of(worker: Worker[Any]) -> str:
    """What the worker was doing, as a notification title: 'Fetching live prices'."""
    what = worker.description or worker.name or "working"
    return what[:1].upper() + what[1:]


class WorkerFailed(Message):
    """One of this node's workers failed; the user has been shown `title` and `text`."""

    def __init__(self, worker: Worker[Any], text: str, *, bug: bool) -> None:
        super().__init__()
        self.worker = worker
        self.text = text  # the error's one line (for a bug: where its traceback is)
        self.bug = bug

    @property
    def title(self) -> str:
        return title_of(self.worker)

    @property
    def error(self) -> BaseException | None:
        return self.worker.error

    @property
    def line(self) -> str:
        """For a status line: 'listing the runs failed: cannot connect to …'."""
        return f"{self.worker.description or self.worker.name} failed: {self.text}"


# Distinct errors remembered per worker between successes (a flapping host has two or three).
REMEMBERED = 16


@dataclass
class WorkerRecord:
    """What one app has shown of its workers' failures, and whether one was a bug."""

    # (worker group, worker name) -> {the error as caught: the line shown for it}, since
    # that worker last succeeded. A host that fails one way, then another, then the first
    # way again (reset, lost, reset...) is shown each way once, not on every refresh.
    shown: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    bugs: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_BUG if self.bugs else EXIT_OK

    def failed(self, worker: Worker[Any], error: BaseException) -> tuple[str, bool, bool]:
        """(the line to show, whether it is a bug, whether it is news since the last success)."""
        bug = not isinstance(error, DlpickError)
        caught = f"{type(error).__name__}: {error}"
        seen = self.shown.setdefault((worker.group, worker.name), {})
        if caught in seen:
            return seen[caught], bug, False
        if bug:
            self.bugs += 1
            line = bug_line(error, worker.description)  # writes the traceback once
        else:
            line = str(error)
        if len(seen) >= REMEMBERED:
            del seen[next(iter(seen))]
        seen[caught] = line
        return line, bug, True

    def succeeded(self, worker: Worker[Any]) -> None:
        """A worker that works again: its next failure is news, even with the same text."""
        self.shown.pop((worker.group, worker.name), None)


_records: WeakKeyDictionary[App[Any], WorkerRecord] = WeakKeyDictionary()


def worker_record(app: App[Any]) -> WorkerRecord:
    """The app's one record of worker failures (made on first use)."""
    return _records.setdefault(app, WorkerRecord())


class WorkerErrors(MessagePump):
    """Mixed into the app and every screen that runs workers: failures go one way."""

    @on(Worker.StateChanged)
    def _report_worker_state(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        record = worker_record(self.app)
        if event.state == WorkerState.SUCCESS:
            record.succeeded(worker)
            return
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        line, bug, new = record.failed(worker, worker.error)
        if new:
            self.app.notify(line, title=title_of(worker), severity="error", timeout=NOTIFY_SECONDS)
        self.post_message(WorkerFailed(worker, line, bug=bug))
