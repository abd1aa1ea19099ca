"""The launch dialog: what a launch will create and cost, the quota verdict, then launch.

Planning needs AWS (specs, AMI, quota, key pair, security group), so it runs in a
thread worker and is redone when an option changes; Launch acts on the plan on
screen and only while it is current. A quota that would refuse the launch
disables Launch and offers the increase request instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Log, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from dlpick.pricing.catalog import Offer
from dlpick.tui.account import AwsAccess
from dlpick.tui.output import fmt_count, fmt_num

if TYPE_CHECKING:
    from dlpick.remote.launch import PlanRow

# Launch options the dialog offers; the CLI has more (key pair, volume, CIDR, budget).
AMI_CHOICES = (("base (driver + CUDA)", "base"), ("PyTorch (newest)", "pytorch"))
MARKETS = (("on-demand", "on-demand"), ("spot (one-time)", "spot"))
OS_CHOICES = ("ubuntu-24.04", "ubuntu-22.04", "al2023")
DEFAULT_IDLE_MINUTES = 60
# Typing in a field re-plans once the typing pauses, not on every key.
REPLAN_DELAY = 0.4
VERDICT_STYLES = {"fits": "green", "short": "bold red", "unknown": "yellow"}


@dataclass(frozen=True)
class Options:
    """What the user chose in the dialog."""

    spot: bool
    ami: str
    os: str
    name: str
    idle_minutes: int | None  # None: no idle alarm
    max_hours: float | None


def parse_options(spot: bool, ami: str, os_name: str, name: str, idle: str, hours: str) -> Options:
    """Options from the dialog's fields; ValueError names the field that is wrong."""
    idle_minutes: int | None = None
    if idle.strip():
        try:
            idle_minutes = int(idle)
        except ValueError:
            raise ValueError("idle stop must be whole minutes (empty: no idle stop)") from None
        if idle_minutes <= 0:
            raise ValueError("idle stop must be above zero minutes (empty: no idle stop)")
    max_hours: float | None = None
    if hours.strip():
        try:
            max_hours = float(hours)
        except ValueError:
            raise ValueError("max hours must be a number (empty: no limit)") from None
        if max_hours <= 0:
            raise ValueError("max hours must be above zero (empty: no limit)")
    return Options(spot, ami, os_name, name.strip(), idle_minutes, max_hours)


def offer_price(offer: Offer, spot: bool) -> tuple[float | None, str]:
    """The hourly price the table shows for this offer, and where it came from."""
    if spot:
        # EC2 picks the AZ, so this is the lowest the spot price can be right now.
        return offer.spot_usd_hour, f"{offer.spot_source} {offer.spot_as_of[:10]}, cheapest AZ"
    return offer.on_demand_usd_hour, f"{offer.price_source} {offer.price_as_of[:10]}"


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


# -- messages from the workers ---------------------------------------------------


class PlanReady(Message):
    def __init__(self, generation: int, plan: Any) -> None:
        super().__init__()
        self.generation = generation
        self.plan = plan  # dlpick.remote.launch.LaunchPlan


class Failed(Message):
    """A planning, dry-run, launch or request step failed; `text` is one line."""

    def __init__(self, step: str, text: str, generation: int = -1) -> None:
        super().__init__()
        self.step = step
        self.text = text
        self.generation = generation


class NoAws(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Progress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Launched(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result  # dlpick.remote.launch.LaunchResult


class DryRunPassed(Message):
    pass


class QuotaRequested(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LaunchDialog(ModalScreen[str | None]):
    """Plan, confirm and launch one instance type; dismisses with the region launched in."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="close the dialog (not while launching)"),
    ]

    def __init__(self, offer: Offer, *, spot: bool, account: AwsAccess) -> None:
        super().__init__()
        self.offer = offer
        self.account = account
        self.initial_spot = spot
        self.plan: Any | None = None  # the plan on screen, current for the options shown
        self.state = "planning"  # planning, ready, failed, launching, done, no-aws
        self._generation = 0
        self._replan: Timer | None = None
        self._planned: Options | None = None  # the options of the plan shown or coming
        self._launched_region: str | None = None

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        offer = self.offer
        with Vertical(id="launch-dialog", classes="dialog"):
            yield Label(
                f"Launch {offer.instance_type} in {offer.region}",
                id="launch-title",
                classes="dialog-title",
            )
            yield Static(id="launch-summary")
            with Grid(id="launch-options"):
                yield Label("Market")
                yield Select(
                    MARKETS,
                    value="spot" if self.initial_spot else "on-demand",
                    allow_blank=False,
                    id="launch-market",
                    compact=True,
                )
                yield Label("AMI")
                yield Select(
                    AMI_CHOICES, value="base", allow_blank=False, id="launch-ami", compact=True
                )
                yield Label("OS")
                yield Select(
                    [(o, o) for o in OS_CHOICES],
                    value=OS_CHOICES[0],
                    allow_blank=False,
                    id="launch-os",
                    compact=True,
                )
                yield Label("Name")
                yield Input(
                    placeholder=f"dlpick-{offer.instance_type}", id="launch-name", compact=True
                )
                yield Label("Idle stop, min")
                yield Input(
                    str(DEFAULT_IDLE_MINUTES),
                    placeholder="off",
                    id="launch-idle",
                    compact=True,
                    tooltip="stop after this long idle (CloudWatch alarm); empty: never",
                )
                yield Label("Max hours")
                yield Input(
                    placeholder="no limit",
                    id="launch-hours",
                    compact=True,
                    tooltip="the instance stops itself after this many hours",
                )
            # Only the middle scrolls: the buttons stay in view on a small terminal.
            with VerticalScroll(id="launch-body"):
                yield Static(id="launch-quota")  # first: a refusal matters more than the plan
                yield Static(id="launch-plan")
                yield Log(id="launch-progress", max_lines=200)
                yield Static(id="launch-result")
                yield Static(id="launch-error")
            with Horizontal(id="launch-confirm", classes="dialog-buttons"):
                yield Static(id="launch-question")
                yield Button("Request", id="launch-request-yes", variant="warning", compact=True)
                yield Button("Back", id="launch-request-no", compact=True)
            with Horizontal(id="launch-buttons", classes="dialog-buttons"):
                yield Button(
                    "Request quota increase",
                    id="launch-request",
                    variant="warning",
                    compact=True,
                )
                yield Button("Launch", id="launch-go", variant="primary", compact=True)
                yield Button("Dry run", id="launch-dry", compact=True)
                yield Button("Cancel", id="launch-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#launch-progress").display = False
        self.query_one("#launch-confirm").display = False
        self.query_one("#launch-request").display = False
        for empty in ("#launch-quota", "#launch-result", "#launch-error"):
            self._show(empty, "")
        self._show_summary()
        if self.account.available is False or self.account.offline:
            self._no_aws(self.account.why_not)
            return
        self._start_plan()

    # -- reading the options -------------------------------------------------------

    def _options(self) -> Options:
        ami = self.query_one("#launch-ami", Select).value
        os_name = self.query_one("#launch-os", Select).value
        return parse_options(
            self.query_one("#launch-market", Select).value == "spot",
            str(ami),
            str(os_name),
            self.query_one("#launch-name", Input).value,
            self.query_one("#launch-idle", Input).value,
            self.query_one("#launch-hours", Input).value,
        )

    def _request(self, options: Options) -> Any:
        from dlpick.remote.launch import LaunchRequest

        settings = self.account.settings
        return LaunchRequest(
            instance_type=self.offer.instance_type,
            region=self.offer.region,
            spot=options.spot,
            ami=options.ami,
            os=options.os,
            name=options.name or None,
            checkip_url=settings.checkip_url,
            idle_stop_minutes=options.idle_minutes,
            idle_threshold_percent=settings.idle_threshold_percent,
            max_hours=options.max_hours,
        )

    def _show_summary(self) -> None:
        offer = self.offer
        spec = offer.spec
        spot = self.query_one("#launch-market", Select).value == "spot"
        usd, _ = offer_price(offer, spot)
        price = Text(f"${usd:.4f}/h" if usd is not None else "price unknown", style="bold")
        self.query_one("#launch-summary", Static).update(
            Text.assemble(
                f"{fmt_count(spec.accelerator_count)}× {offer.gpu_model}, "
                f"{fmt_num(spec.accelerator_memory_gib, 0)} GiB · {spec.vcpus} vCPU · "
                f"{fmt_num(spec.memory_gib, 0)} GiB RAM · ",
                price,
                " spot" if spot else " on-demand",
            )
        )

    # -- planning --------------------------------------------------------------------

    def _start_plan(self) -> None:
        self._generation += 1
        self.plan = None
        try:
            options = self._options()
        except ValueError as exc:
            self._planned = None
            self.state = "failed"
            self._error(str(exc))
            self._sync_buttons()
            return
        self._planned = options
        self.state = "planning"
        self._error("")
        self.query_one("#launch-plan", Static).update(
            Text("planning: reading the AMI, quota, key pair and security group…", style="dim")
        )
        self._show("#launch-quota", "")
        self._sync_buttons()
        self.make_plan(self._generation, self._request(options))

    @work(
        thread=True,
        exclusive=True,
        group="launch-plan",
        exit_on_error=False,
        description="planning the launch",
    )
    def make_plan(self, generation: int, request: Any) -> None:
        from dlpick.pricing.errors import DlpickError

        worker = get_current_worker()
        if self.account.get() is None:
            self.post_message(NoAws(self.account.why_not))
            return
        spot = request.spot
        try:
            plan = self.account.plan(request, lambda: offer_price(self.offer, spot))
        except DlpickError as exc:
            self.post_message(Failed("plan", f"planning: {exc}", generation))
            return
        if not worker.is_cancelled:
            self.post_message(PlanReady(generation, plan))

    @on(PlanReady)
    def _plan_ready(self, message: PlanReady) -> None:
        if message.generation != self._generation or self.state != "planning":
            return  # the options changed meanwhile; a newer plan is on its way
        from dlpick.remote.launch import quota_refusal

        plan = message.plan
        self.plan = plan
        self.state = "ready"
        check = plan.quota
        self.query_one("#launch-plan", Static).update(plan_table(plan.rows(), check.verdict))
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
        self._show("#launch-quota", Text("\n").join(notes))
        self._sync_buttons()

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        if message.step == "plan":
            if message.generation != self._generation:
                return
            self.state = "failed"
            self.query_one("#launch-plan", Static).update("")
        elif message.step == "launch":
            self.state = "ready" if self.plan is not None else "failed"
            self._set_options_enabled(True)
        else:  # a dry run or a quota request: the plan stays, the attempt is reported
            self._show("#launch-result", "")
            self.query_one("#launch-request", Button).disabled = False
        self._error(message.text)
        self._sync_buttons()

    @on(NoAws)
    def _no_aws_message(self, message: NoAws) -> None:
        self._no_aws(message.text)

    def _no_aws(self, why: str) -> None:
        self.state = "no-aws"
        self.query_one("#launch-options").display = False
        self.query_one("#launch-plan", Static).update(
            Text.assemble(
                (f"Cannot launch: {why}.", "bold"),
                "\nThe price table keeps working offline; launching needs AWS access.",
            )
        )
        self._sync_buttons()

    # -- option changes re-plan ----------------------------------------------------------

    @on(Select.Changed)
    def _option_changed(self) -> None:
        self._show_summary()
        self._schedule_plan(0)

    @on(Input.Changed)
    def _field_changed(self) -> None:
        self._schedule_plan(REPLAN_DELAY)

    def _schedule_plan(self, delay: float) -> None:
        if self.state in ("launching", "done", "no-aws"):
            return
        try:
            if self._options() == self._planned:
                return  # widgets announcing their first value, or a change undone
        except ValueError:
            pass  # planning again shows what is wrong
        if self._replan is not None:
            self._replan.stop()
        # Launch waits for the new plan: what is on screen must be what launches.
        self.plan = None
        self._sync_buttons()
        if delay:
            self._replan = self.set_timer(delay, self._start_plan)
        else:
            self._start_plan()

    # -- buttons ---------------------------------------------------------------------------

    def _sync_buttons(self) -> None:
        from dlpick.remote.launch import quota_refusal

        go = self.query_one("#launch-go", Button)
        dry = self.query_one("#launch-dry", Button)
        request = self.query_one("#launch-request", Button)
        cancel = self.query_one("#launch-cancel", Button)
        plan = self.plan
        ready = self.state == "ready" and plan is not None
        refused = plan is not None and ready and quota_refusal(plan) is not None
        go.display = dry.display = self.state not in ("done", "no-aws")
        go.disabled = not ready or refused
        dry.disabled = not ready
        can_request = bool(
            refused and plan is not None and plan.quota.quota and plan.quota.quota.code
        )
        request.display = can_request and self.state == "ready"
        cancel.label = "Close" if self.state in ("done", "no-aws") else "Cancel"
        cancel.disabled = self.state == "launching"

    def _error(self, text: str) -> None:
        self._show("#launch-error", Text(text, style="bold red"))

    def _show(self, selector: str, content: Any) -> None:
        """Fill a message area; an empty one takes no room."""
        widget = self.query_one(selector, Static)
        widget.update(content)
        widget.display = bool(content.plain if isinstance(content, Text) else content)

    def _set_options_enabled(self, enabled: bool) -> None:
        for widget in self.query_one("#launch-options").children:
            widget.disabled = not enabled

    @on(Button.Pressed, "#launch-cancel")
    def action_close(self) -> None:
        if self.state == "launching":
            self.notify("launching: wait until it runs (or fails) before closing", timeout=4)
            return
        self.dismiss(self._launched_region)

    @on(Button.Pressed, "#launch-go")
    def _go(self) -> None:
        if self.plan is None or self.state != "ready":
            return
        self.state = "launching"
        self._error("")
        self._set_options_enabled(False)
        log = self.query_one("#launch-progress", Log)
        log.display = True
        log.clear()
        self._sync_buttons()
        self.launch(self.plan)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False, description="launching")
    def launch(self, plan: Any) -> None:
        from dlpick.pricing.errors import DlpickError
        from dlpick.remote.launch import execute

        def progress(text: str) -> None:
            # A handful of lines per launch: each is posted as it happens.
            self.post_message(Progress(text))

        aws = self.account.get()
        try:
            result = execute(aws, plan, progress)
        except DlpickError as exc:
            self.post_message(Failed("launch", f"launch failed: {exc}"))
            return
        self.post_message(Launched(result))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.query_one("#launch-progress", Log).write_line(message.text)

    @on(Launched)
    def _launched(self, message: Launched) -> None:
        result = message.result
        self.state = "done"
        self._launched_region = result.region
        price = f"${result.usd_hour:.4f}/h" if result.usd_hour is not None else "price unknown"
        state = "was already running" if result.already_running else "is running"
        rows = Table.grid(padding=(0, 1))
        rows.add_column(style="bold", no_wrap=True)
        rows.add_column(overflow="fold")
        rows.add_row("host", result.public_dns or result.public_ip or "-")
        rows.add_row("ssh", result.ssh_command)
        rows.add_row(
            "stop",
            f"press i, then s (stop) or t (terminate); or dlpick stop {result.instance_id} "
            f"--region {result.region}",
        )
        from rich.console import Group

        self._show(
            "#launch-result",
            Group(
                Text(
                    f"{result.instance_id} {state} in {result.region} ({price} until stopped)",
                    style="bold green",
                ),
                rows,
            ),
        )
        self._sync_buttons()
        self.query_one("#launch-cancel", Button).focus()

    @on(Button.Pressed, "#launch-dry")
    def _dry(self) -> None:
        if self.plan is None:
            return
        self._error("")
        self._show("#launch-result", Text("dry run: asking EC2…", style="dim"))
        self.dry_run(self.plan)

    @work(
        thread=True, exclusive=True, group="launch-dry", exit_on_error=False, description="dry run"
    )
    def dry_run(self, plan: Any) -> None:
        from dlpick.pricing.errors import DlpickError
        from dlpick.remote.launch import dry_run

        try:
            dry_run(self.account.get(), plan)
        except DlpickError as exc:
            self.post_message(Failed("dry-run", f"dry run: {exc}"))
            return
        self.post_message(DryRunPassed())

    @on(DryRunPassed)
    def _dry_passed(self) -> None:
        self._show(
            "#launch-result",
            Text("dry run: AWS accepts this launch; nothing was created", style="green"),
        )

    # -- quota increase ------------------------------------------------------------------

    @on(Button.Pressed, "#launch-request")
    def _ask_request(self) -> None:
        plan = self.plan
        if plan is None or plan.quota.quota is None:
            return
        quota = plan.quota.quota
        current = "unknown" if quota.value is None else f"{quota.value:g}"
        self.query_one("#launch-question", Static).update(
            f"Ask AWS to raise {quota.name} ({quota.code}) in {plan.request.region} "
            f"from {current} to {plan.quota.request_value} vCPUs?"
        )
        self.query_one("#launch-buttons").display = False
        self.query_one("#launch-confirm").display = True
        self.query_one("#launch-request-yes", Button).focus()

    @on(Button.Pressed, "#launch-request-no")
    def _request_back(self) -> None:
        self.query_one("#launch-confirm").display = False
        self.query_one("#launch-buttons").display = True

    @on(Button.Pressed, "#launch-request-yes")
    def _request_yes(self) -> None:
        plan = self.plan
        self._request_back()
        if plan is None or plan.quota.quota is None:
            return
        self.query_one("#launch-request", Button).disabled = True
        self.request_quota(plan.request.region, plan.quota.quota.code, plan.quota.request_value)

    @work(
        thread=True,
        exclusive=True,
        group="launch-request",
        exit_on_error=False,
        description="requesting a quota increase",
    )
    def request_quota(self, region: str, code: str, value: int) -> None:
        from dlpick.pricing.errors import DlpickError
        from dlpick.remote.quotas import request_increase

        try:
            answer = request_increase(self.account.get(), region, code, value)
        except DlpickError as exc:
            self.post_message(Failed("request", f"requesting {code}: {exc}"))
            return
        case = answer.get("CaseId") or answer.get("Id") or "?"
        self.post_message(
            QuotaRequested(
                f"requested {code} = {value} vCPUs in {region}: "
                f"{answer.get('Status', 'PENDING')} (case {case}). AWS usually answers within "
                "a day; Launch works once it is approved."
            )
        )

    @on(QuotaRequested)
    def _requested(self, message: QuotaRequested) -> None:
        self._show("#launch-result", Text(message.text, style="yellow"))

    # -- anything unexpected -----------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or not str(event.worker.group).startswith("launch"):
            return
        error = event.worker.error
        text = f"{type(error).__name__}: {error}".splitlines()[0]
        step = "plan" if event.worker.group == "launch-plan" else "launch"
        self.post_message(Failed(step, text, self._generation))
