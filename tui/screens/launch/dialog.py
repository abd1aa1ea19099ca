"""The launch dialog: what a launch will create and cost, the quota verdict, then launch.

Planning needs AWS (specs, AMI, quota, key pair, security group), so it runs in a
thread worker and is redone when an option changes; Launch acts on the plan on
screen and only while it is current. A quota that would refuse the launch
disables Launch and offers the increase request instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Log, Select, Static
from textual.worker import Worker, get_current_worker

from dlpick.core.errors import AwsError
from dlpick.pricing.catalog import Offer
from dlpick.remote.launch.execute import execute
from dlpick.remote.launch.plan import quota_refusal
from dlpick.remote.launch.quotas import request_increase
from dlpick.remote.launch.run_instances import dry_run
from dlpick.tui.account import AwsAccess
from dlpick.tui.screens.launch.fields import LaunchOptions
from dlpick.tui.screens.launch.form import (
    Options,
    dialog_rows,
    in_dialog_terms,
    launch_request,
    offer_price,
    summary_text,
)
from dlpick.tui.screens.launch.steps import (
    DryRunPassed,
    Launched,
    NoAws,
    PlanReady,
    Progress,
    QuotaRequested,
    plan_notes,
    plan_table,
    request_question,
    requested_text,
    result_view,
)
from dlpick.tui.worker_errors import WorkerErrors, WorkerFailed

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dlpick.remote.launch.model import LaunchPlan, LaunchRequest

# Typing in a field re-plans once the typing pauses, not on every key.
REPLAN_DELAY = 0.4


class LaunchDialog(WorkerErrors, ModalScreen[str | None]):
    """Plan, confirm and launch one instance type; dismisses with the region launched in."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="close the dialog (not while launching)"),
    ]

    def __init__(self, offer: Offer, *, spot: bool, account: AwsAccess) -> None:
        super().__init__()
        self.offer = offer
        self.account = account
        self.initial_spot = spot
        self.plan: LaunchPlan | None = None  # the plan on screen, current for the options shown
        self.state = "planning"  # planning, ready, failed, launching, done, no-aws
        self._generation = 0
        self._replan: Timer | None = None
        self._planned: Options | None = None  # the options of the plan shown or coming
        self._plan_worker: Worker[None] | None = None
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
            yield LaunchOptions(offer, spot=self.initial_spot)
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
        self.form.find_choices(self.account)

    # -- reading the options -------------------------------------------------------

    @property
    def form(self) -> LaunchOptions:
        return self.query_one(LaunchOptions)

    def _show_summary(self) -> None:
        self.query_one("#launch-summary", Static).update(summary_text(self.offer, self.form.spot))

    # -- planning --------------------------------------------------------------------

    def _start_plan(self) -> None:
        self._generation += 1
        self.plan = None
        try:
            options = self.form.read()
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
        self._plan_worker = self.make_plan(
            self._generation, launch_request(self.offer, options, self.account.settings)
        )

    @work(
        thread=True,
        exclusive=True,
        group="launch-plan",
        exit_on_error=False,
        description="planning the launch",
    )
    def make_plan(self, generation: int, request: LaunchRequest) -> None:
        worker = get_current_worker()
        if self.account.get() is None:
            self.post_message(NoAws(self.account.why_not))
            return

        spot = request.spot
        try:
            plan = self.account.plan(request, lambda: offer_price(self.offer, spot))
        except AwsError as exc:
            raise in_dialog_terms(exc) from None
        if not worker.is_cancelled:
            self.post_message(PlanReady(generation, plan))

    @on(PlanReady)
    def _plan_ready(self, message: PlanReady) -> None:
        if message.generation != self._generation or self.state != "planning":
            return  # the options changed meanwhile; a newer plan is on its way
        plan = message.plan
        self.plan = plan
        self.state = "ready"
        check = plan.quota
        self.query_one("#launch-plan", Static).update(plan_table(dialog_rows(plan), check.verdict))
        self._show("#launch-quota", plan_notes(plan))
        self._sync_buttons()

    @on(WorkerFailed)
    def _step_failed(self, message: WorkerFailed) -> None:
        group = message.worker.group
        if group == "launch-plan":
            if message.worker is not self._plan_worker:
                return  # a plan for options since changed
            self.state = "failed"
            self.query_one("#launch-plan", Static).update("")
        elif group == "launch":
            self.state = "ready" if self.plan is not None else "failed"
            self.form.enable(True)
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
        self.form.market_changed()
        self._show_summary()
        self._schedule_plan(0)

    @on(Input.Changed)
    def _field_changed(self) -> None:
        self._schedule_plan(REPLAN_DELAY)

    def _schedule_plan(self, delay: float) -> None:
        if self.state in ("launching", "done", "no-aws"):
            return
        try:
            if self.form.read() == self._planned:
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

    def _show(self, selector: str, content: RenderableType) -> None:
        """Fill a message area; an empty one takes no room."""
        widget = self.query_one(selector, Static)
        widget.update(content)
        widget.display = bool(content.plain if isinstance(content, Text) else content)

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
        self.form.enable(False)
        log = self.query_one("#launch-progress", Log)
        log.display = True
        log.clear()
        self._sync_buttons()
        self.launch(self.plan)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False, description="launching")
    def launch(self, plan: LaunchPlan) -> None:
        from dlpick.tui.screens.move_region import APP_DECLINE_HINT, ask_from_worker

        def progress(text: str) -> None:
            # A handful of lines per launch: each is posted as it happens.
            self.post_message(Progress(text))

        worker = get_current_worker()
        choose = ask_from_worker(self.app, plan.request.region, lambda: worker.is_cancelled)
        result = execute(self.account.require(), plan, progress, choose, None, APP_DECLINE_HINT)
        self.post_message(Launched(result))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.query_one("#launch-progress", Log).write_line(message.text)

    @on(Launched)
    def _launched(self, message: Launched) -> None:
        result = message.result
        self.state = "done"
        self._launched_region = result.region
        self._show("#launch-result", result_view(result))
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
    def dry_run(self, plan: LaunchPlan) -> None:
        dry_run(self.account.require(), plan)
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
        self.query_one("#launch-question", Static).update(request_question(plan))
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
        answer = request_increase(self.account.require(), region, code, value)
        self.post_message(QuotaRequested(requested_text(region, code, value, answer)))

    @on(QuotaRequested)
    def _requested(self, message: QuotaRequested) -> None:
        self._show("#launch-result", Text(message.text, style="yellow"))
