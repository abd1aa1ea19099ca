"""The runs screen's dialogs: which host to open, and what run to start on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from dlpick.remote.ssh.runs import NAME
from dlpick.remote.ssh.target import TargetError, parse_target

CSS = "../remote.tcss"


class TargetDialog(ModalScreen[str | None]):
    """Ask which host to open: an instance id or [user@]host[:port]."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="close without opening a host")
    ]

    def __init__(self, region: str | None) -> None:
        super().__init__()
        self.aws_region = region  # where an instance-id target is looked up

    def compose(self) -> ComposeResult:
        where = f" (instances in {self.aws_region})" if self.aws_region else ""
        with Vertical(classes="dialog"):
            yield Label("Runs on a host", classes="dialog-title")
            yield Label(f"Instance id{where}, or [user@]host[:port] (~/.ssh/config applies)")
            yield Input(placeholder="i-0123456789abcdef0 or ubuntu@gpu-box", id="target-input")
            yield Static(id="target-error", classes="dialog-error")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        try:
            parse_target(event.value)
        except TargetError as exc:
            self.query_one("#target-error", Static).update(str(exc))
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class NewRun:
    """What the new-run form asks for."""

    command: str
    name: str | None = None
    workdir: str | None = None


def parse_new_run(command: str, name: str, workdir: str) -> NewRun:
    """The form's fields as a NewRun; ValueError says which field is wrong."""
    if not command.strip():
        raise ValueError("give a command, e.g. python train.py --epochs 10")
    name = name.strip()
    if name and not NAME.match(name):
        raise ValueError("name: letters, digits, '.', '_' or '-' (up to 64, no spaces)")
    return NewRun(command.strip(), name or None, workdir.strip() or None)


class NewRunDialog(ModalScreen[NewRun | None]):
    """Start a command on the host, detached from SSH, logging to ~/dlpick-runs/."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="close without starting anything")
    ]

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Start a run on {self.host}", classes="dialog-title")
            yield Label("Command (runs in your login shell, survives disconnecting)")
            yield Input(placeholder="python train.py --epochs 10", id="run-command")
            yield Label("Name (optional)")
            yield Input(placeholder="e.g. resnet-lr3e-4", id="run-name")
            yield Label("Working directory on the host (optional, default: home)")
            yield Input(placeholder="~", id="run-workdir")
            yield Static(id="run-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start", variant="primary", id="run-start", compact=True)
                yield Button("Cancel", id="run-cancel", compact=True)

    @on(Button.Pressed, "#run-start")
    @on(Input.Submitted)
    def start(self) -> None:
        try:
            run = parse_new_run(
                self.query_one("#run-command", Input).value,
                self.query_one("#run-name", Input).value,
                self.query_one("#run-workdir", Input).value,
            )
        except ValueError as exc:
            self.query_one("#run-error", Static).update(str(exc))
            return
        self.dismiss(run)

    @on(Button.Pressed, "#run-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
