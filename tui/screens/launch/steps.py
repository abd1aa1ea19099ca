"""The launch dialog's steps after the form: what its workers report, and how a
plan's notes and a launch's result read on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.message import Message

from dlpick.remote.launch.plan import quota_refusal

if TYPE_CHECKING:
    from dlpick.remote.launch.model import LaunchPlan, LaunchResult, PlanRow


class PlanReady(Message):
    def __init__(self, generation: int, plan: LaunchPlan) -> None:
        super().__init__()
        self.generation = generation
        self.plan = plan  # dlpick.remote.launch.execute.LaunchPlan


class NoAws(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Progress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Launched(Message):
    def __init__(self, result: LaunchResult) -> None:
        super().__init__()
        self.result = result  # dlpick.remote.launch.execute.LaunchResult


class DryRunPassed(Message):
    pass


class QuotaRequested(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def plan_notes(plan: LaunchPlan) -> Text:
    """What to know before launching: a launch already made, a refusal, a pending request."""
    check = plan.quota
    notes: list[Text] = []
    if plan.existing_instance:
        notes.append(
            Text(
                f"this launch already started {plan.existing_instance}: Launch shows it "
                "and starts nothing new",
                style="bold",
            )
        )
    if quota_refusal(plan) is not None:
        notes.append(
            Text(
                f"Launch is disabled: AWS would refuse it. Ask for "
                f"{check.request_value} vCPUs with the button below.",
                style="bold red",
            )
        )
    if check.quota is not None and check.quota.pending_request is not None:
        notes.append(
            Text(
                f"an increase to {check.quota.pending_request:g} vCPUs is pending at AWS",
                style="yellow",
            )
        )
    return Text("\n").join(notes)


def request_question(plan: LaunchPlan) -> str:
    """'Ask AWS to raise <quota> (<code>) in <region> from 0 to 192 vCPUs?'"""
    quota = plan.quota.quota
    if quota is None:  # asked only for a quota known to be short; said plainly otherwise
        return f"Ask AWS for {plan.quota.request_value} vCPUs in {plan.request.region}?"
    current = "unknown" if quota.value is None else f"{quota.value:g}"
    return (
        f"Ask AWS to raise {quota.name} ({quota.code}) in {plan.request.region} "
        f"from {current} to {plan.quota.request_value} vCPUs?"
    )


def requested_text(region: str, code: str, value: int, answer: dict[str, Any]) -> str:
    """What AWS answered to a quota increase request, and what happens next."""
    case = answer.get("CaseId") or answer.get("Id") or "?"
    return (
        f"requested {code} = {value} vCPUs in {region}: "
        f"{answer.get('Status', 'PENDING')} (case {case}). AWS usually answers within "
        "a day; Launch works once it is approved."
    )


def result_view(result: LaunchResult) -> Group:
    """A LaunchResult: what runs where at what price, how to reach it and stop it."""
    price = f"${result.usd_hour:.4f}/h" if result.usd_hour is not None else "price unknown"
    state = "was already running" if result.already_running else "is running"
    rows = Table.grid(padding=(0, 1))
    rows.add_column(style="bold", no_wrap=True)
    rows.add_column(overflow="fold")
    rows.add_row("host", result.public_dns or result.public_ip or "-")
    rows.add_row("ssh", result.ssh_command)
    if result.spot:
        rows.add_row(
            "end",
            f"press i, then t (terminate); or dlpick terminate {result.instance_id} "
            f"--region {result.region} (a one-time spot instance cannot be stopped)",
        )
    else:
        rows.add_row(
            "stop",
            f"press i, then s (stop) or t (terminate); or dlpick stop {result.instance_id} "
            f"--region {result.region}",
        )
    return Group(
        Text(
            f"{result.instance_id} {state} in {result.region} ({price} until stopped)",
            style="bold green",
        ),
        rows,
    )


VERDICT_STYLES = {"fits": "green", "short": "bold red", "unknown": "yellow"}


def plan_table(rows: list[PlanRow], verdict: str) -> Table:
    """LaunchPlan.rows() as a two-column grid, so long values wrap aligned.

    The quota row is coloured by its verdict: green fits, red short, yellow unknown;
    warnings are red.
    """
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for row in rows:
        style = {"quota": VERDICT_STYLES[verdict], "warning": "bold red"}.get(row.kind, "")
        grid.add_row(row.label, Text(row.value, style=style))
    return grid
