"""Modal dialogs over the price table: the filter and the region picker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from dlpick.core.errors import InputError
from dlpick.core.inputs import parse_number
from dlpick.core.regions import ALL_REGIONS
from dlpick.pricing.select import unknown_models


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the table to; empty means everything."""

    gpus: tuple[str, ...] = ()
    min_gpu_memory: float | None = None
    max_price: float | None = None
    max_interruption: float | None = None  # percent a month, the advisor band's upper bound

    @property
    def active(self) -> bool:
        return self != Filters()

    def describe(self) -> str:
        """'H100,A100 · ≥80 GiB · ≤$10/h'."""
        parts = []
        if self.gpus:
            parts.append(",".join(self.gpus))
        if self.min_gpu_memory is not None:
            parts.append(f"≥{self.min_gpu_memory:g} GiB")
        if self.max_price is not None:
            parts.append(f"≤${self.max_price:g}/h")
        if self.max_interruption is not None:
            parts.append(f"interrupted ≤{self.max_interruption:g}%")
        return " · ".join(parts)


def _number(text: str, what: str, maximum: float | None = None) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return parse_number(text, what, minimum=0, maximum=maximum)
    except InputError as exc:
        raise ValueError(exc.message) from None


def parse_filters(
    gpu: str,
    min_memory: str,
    max_price: str,
    models: Sequence[str],
    max_interruption: str = "",
) -> Filters:
    """Filters from the dialog's fields; ValueError names the field that is wrong."""
    gpus = tuple(g.strip() for g in gpu.split(",") if g.strip())
    try:
        unknown_models(gpus, models)
    except InputError as exc:
        raise ValueError(exc.message) from None
    return Filters(
        gpus=gpus,
        min_gpu_memory=_number(min_memory, "minimum GPU memory"),
        max_price=_number(max_price, "maximum price"),
        max_interruption=_number(max_interruption, "maximum interruption", maximum=100),
    )


class FilterDialog(ModalScreen[Filters | None]):
    """Narrow the table by accelerator model, GPU memory and price per hour."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="close without changing")
    ]

    def __init__(self, current: Filters, models: Sequence[str], *, spot: bool) -> None:
        super().__init__()
        self.current = current
        self.models = sorted(models)
        self.spot = spot

    def compose(self) -> ComposeResult:
        basis = "spot" if self.spot else "on-demand"
        with Vertical(id="filter-dialog", classes="dialog"):
            yield Label("Filter instance types", classes="dialog-title")
            yield Label("Accelerator model(s), comma-separated")
            yield Input(
                ",".join(self.current.gpus),
                placeholder="any, e.g. H100,A100 or L4",
                id="filter-gpu",
                suggester=SuggestFromList(self.models, case_sensitive=False),
                compact=True,
            )
            yield Label("Minimum GPU memory per instance (GiB)")
            yield Input(
                _fmt(self.current.min_gpu_memory),
                placeholder="any",
                id="filter-min-memory",
                compact=True,
            )
            yield Label(f"Maximum {basis} price ($/hour)")
            yield Input(
                _fmt(self.current.max_price),
                placeholder="any",
                id="filter-max-price",
                compact=True,
            )
            yield Label("Maximum spot interruption (% a month, advisor band)")
            yield Input(
                _fmt(self.current.max_interruption),
                placeholder="any, e.g. 10 keeps <5% and 5-10%",
                id="filter-max-interruption",
                compact=True,
            )
            yield Static(id="filter-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="filter-apply", compact=True)
                yield Button("Clear", id="filter-clear", compact=True)
                yield Button("Cancel", id="filter-cancel", compact=True)

    @on(Button.Pressed, "#filter-apply")
    @on(Input.Submitted)
    def apply(self) -> None:
        try:
            filters = parse_filters(
                self.query_one("#filter-gpu", Input).value,
                self.query_one("#filter-min-memory", Input).value,
                self.query_one("#filter-max-price", Input).value,
                self.models,
                self.query_one("#filter-max-interruption", Input).value,
            )
        except ValueError as exc:
            self.query_one("#filter-error", Static).update(str(exc))
            return
        self.dismiss(filters)

    @on(Button.Pressed, "#filter-clear")
    def clear(self) -> None:
        self.dismiss(Filters())

    @on(Button.Pressed, "#filter-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class RegionPicker(ModalScreen[str | None]):
    """Choose a region, or all regions (each type in its cheapest region)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="keep the current region")
    ]

    def __init__(self, regions: Sequence[str], current: str) -> None:
        super().__init__()
        self.regions = list(regions)
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option("All regions (cheapest region per type)", id=ALL_REGIONS)]
        options += [Option(name, id=name) for name in self.regions]
        with Vertical(id="region-dialog", classes="dialog"):
            yield Label("Region", classes="dialog-title")
            yield OptionList(*options, id="region-list")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        try:
            option_list.highlighted = option_list.get_option_index(self.current)
        except LookupError:
            option_list.highlighted = 0

    @on(OptionList.OptionSelected)
    def choose(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
