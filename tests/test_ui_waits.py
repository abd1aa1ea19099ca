"""No test reads the app's state straight after a key press or a click.

`await pilot.press(...)` and `await pilot.click(...)` return once the events are sent and
the app looked idle for a moment; what they set off (a message handled in turn, a screen
pushed or popped, a worker) may not have happened yet, most often on a loaded machine.
So, in every async function of the tests (tests/*.py but tests/ui.py), the first
statement after such an action that reads the app's state must come after a wait for
what the action does: tests.ui's `until`, `on_screen` or `workers_done`, the replay's
`settled`, Textual's `wait_for_complete`, or a helper of the tests that ends with one of
them. `pilot.pause()` is no such wait: it ends when the app looks idle, not when the
effect is there. (tests.ui's `settled_click` is an action: it waits before its click.)

What reads the app's state: an `assert`, a `return` of a value, or any statement that
uses the app, the pilot, or a name bound (in that function) to something taken from them
or to a screen, dialog, app or log made there; or that reads a widget attribute
(`.query_one`, `.screen`, `.value`, `.plain`, ... see READS), or calls `str()`; or that
calls a helper which reads before it waits.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parent
EXEMPT = {"ui.py", "test_ui_waits.py"}

# Calls that act on the app (key presses, clicks): what follows must wait for them.
ACTIONS = {"press", "click", "double_click", "settled_click"}
# Calls that wait for what an action did.
WAITS = {"until", "on_screen", "workers_done", "settled", "wait_for_complete"}
# The names of the helpers these replaced, which waited on a condition the same way: the
# check holds the tests of before to the same rule.
WAITS |= {"wait_for", "wait_ready", "_until"}
# Pauses: they neither wait for an action's effect nor read anything.
PAUSES = {"pause", "sleep", "wait_for_animation", "wait_for_scheduled_animations"}
# Attributes whose reading is reading the app's state.
READS = {
    "query_one",
    "query",
    "screen",
    "focused",
    "renderable",
    "render",
    "content",
    "value",
    "plain",
    "lines",
    "display",
    "disabled",
    "has_focus",
    "state",
    "plan",
    "columns",
    "rows",
    "ordered_rows",
    "row_count",
    "get_cell",
    "get_row",
    "get_row_index",
    "cursor_row",
    "cursor_coordinate",
    "scroll_y",
    "highlighted",
    "option_count",
    "following",
    "match",
    "offer",
    "summary",
    "note",
    "region",
    "size",
    "return_code",
}
# Constructors whose result is part of the app under test.
APP_KINDS = ("App", "Screen", "Dialog", "Log", "Table", "Pane")

# What a call to a helper amounts to, found by reading the helper.
WAIT, ACT, NEUTRAL = "wait", "act", "neutral"


@dataclass
class Site:
    path: Path
    action_line: int
    read_line: int
    function: str

    def __str__(self) -> str:
        return (
            f"{self.path.name}:{self.read_line} in {self.function}(): reads the app right "
            f"after the action on line {self.action_line}, with no wait in between"
        )


def call_name(node: ast.AST) -> str | None:
    """`f` of `f(...)`, `x.f(...)` or `await x.f(...)`; None for anything else."""
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def calls_in(node: ast.AST) -> Iterator[ast.Call]:
    """Every call in `node`, not those inside a lambda or a nested function."""
    stack = [node]
    while stack:
        here = stack.pop()
        if (
            isinstance(here, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef)
            and here is not node
        ):
            continue
        if isinstance(here, ast.Call):
            yield here
        stack.extend(ast.iter_child_nodes(here))


def outside_lambdas(node: ast.AST) -> Iterator[ast.AST]:
    stack = [node]
    while stack:
        here = stack.pop()
        if isinstance(here, ast.Lambda):
            continue
        yield here
        stack.extend(ast.iter_child_nodes(here))


@dataclass
class Function:
    """One async function being checked: its names bound to the app, and what it finds."""

    path: Path
    node: ast.AsyncFunctionDef
    kinds: dict[str, tuple[bool, str]]
    tainted: set[str] = field(default_factory=set)
    sites: list[Site] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tainted = {"app", "pilot"}
        if not self.node.name.startswith("test_"):
            # A helper's arguments are the app's parts (a test's are fixtures).
            self.tainted |= {a.arg for a in self.node.args.args + self.node.args.kwonlyargs}
        self._taint(self.node)

    def _taint(self, root: ast.AST) -> None:
        """Names bound from the app (directly or through other such names), or to a new
        screen, dialog, app, log, table or pane, are the app's too."""
        changed = True
        while changed:
            changed = False
            for node in ast.walk(root):
                targets: list[ast.expr] = []
                value: ast.AST | None = None
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                    targets, value = [node.target], node.value
                elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                    targets, value = [node.target], node.iter
                elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                    targets, value = [node.optional_vars], node.context_expr
                if value is None:
                    continue
                if self._from_app(value):
                    for target in targets:
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name) and name.id not in self.tainted:
                                self.tainted.add(name.id)
                                changed = True

    def _from_app(self, value: ast.AST) -> bool:
        for node in outside_lambdas(value):
            if isinstance(node, ast.Name) and node.id in self.tainted:
                return True
            if isinstance(node, ast.Call):
                name = call_name(node)
                if name and name[:1].isupper() and name.endswith(APP_KINDS):
                    return True
        return False

    # -- what one statement is ----------------------------------------------------------

    def kind(self, stmt: ast.stmt) -> tuple[bool, str]:
        """Whether it reads the app before any wait in it, and what it leaves: WAIT (it
        waited last), ACT (it acted last) or NEUTRAL. Its calls are taken in order; a
        helper counts as what was found of it (see helper_kinds)."""
        reads, effect = False, NEUTRAL
        for call in sorted(calls_in(stmt), key=lambda c: (c.lineno, c.col_offset)):
            name = call_name(call)
            if name in WAITS:
                effect = WAIT
            elif name in ACTIONS:
                if self._widget_press(call) and effect != WAIT and self.reads(call.func):
                    reads = True  # finding the button to press reads the screen
                effect = ACT
            elif name in self.kinds:
                helper_reads, helper_effect = self.kinds[name]
                reads = reads or (helper_reads and effect != WAIT)
                effect = helper_effect if helper_effect != NEUTRAL else effect
        if effect == NEUTRAL and not reads:
            if isinstance(stmt, ast.Expr) and call_name(stmt.value) in PAUSES:
                return False, NEUTRAL  # a pause is not a wait, nor a read
            reads = self.reads(stmt)
        return reads, effect

    @staticmethod
    def _widget_press(call: ast.Call) -> bool:
        """A widget's own `.press()` (a button's), not the pilot's `press(keys)`."""
        func = call.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "press"
            and not (isinstance(func.value, ast.Name) and func.value.id == "pilot")
        )

    def reads(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Assert) or (isinstance(node, ast.Return) and node.value):
            return True
        for part in outside_lambdas(node):
            if isinstance(part, ast.Attribute) and part.attr in READS:
                return True
            if isinstance(part, ast.Name) and part.id in self.tainted:
                return True
            if isinstance(part, ast.Call) and call_name(part) in ("str", "repr"):
                return True
        return False

    # -- the walk -------------------------------------------------------------------------

    def check(self, entry: int | None = None) -> int | None:
        """Walk the body; returns the line of an action still not waited for at the end."""
        return self.block(self.node.body, entry)

    def block(self, body: Iterable[ast.stmt], pending: int | None) -> int | None:
        for stmt in body:
            pending = self.statement(stmt, pending)
        return pending

    def found(self, pending: int, node: ast.AST) -> None:
        site = Site(self.path, pending, getattr(node, "lineno", 0), self.node.name)
        if site not in self.sites:
            self.sites.append(site)

    def header(self, exprs: Iterable[ast.AST], pending: int | None) -> int | None:
        for expr in exprs:
            if pending is not None and self.reads(expr):
                self.found(pending, expr)
                return None
        return pending

    def statement(self, stmt: ast.stmt, pending: int | None) -> int | None:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return pending
        if isinstance(stmt, ast.If | ast.While):
            pending = self.header([stmt.test], pending)
            then = self.block(stmt.body, pending)
            if isinstance(stmt, ast.While):
                then = self.block(stmt.body, then)  # round again
            other = self.block(stmt.orelse, pending)
            return then if then is not None else other
        if isinstance(stmt, ast.For | ast.AsyncFor):
            pending = self.header([stmt.iter], pending)
            once = self.block(stmt.body, pending)
            again = self.block(stmt.body, once)  # the action at the end of a round
            after = self.block(stmt.orelse, again if again is not None else pending)
            return after if after is not None else (once or pending)
        if isinstance(stmt, ast.With | ast.AsyncWith):
            pending = self.header([i.context_expr for i in stmt.items], pending)
            inside = self.block(stmt.body, pending)
            runs_the_app = any(call_name(i.context_expr) == "run_test" for i in stmt.items)
            return None if runs_the_app else inside  # leaving run_test waits for the app
        if isinstance(stmt, ast.Try):
            tried = self.block(stmt.body, pending)
            handled = [self.block(h.body, tried or pending) for h in stmt.handlers]
            after = self.block(stmt.orelse, tried)
            ends = [p for p in (after, *handled) if p is not None]
            return self.block(stmt.finalbody, ends[0] if ends else None)
        reads, effect = self.kind(stmt)
        if reads and pending is not None:
            self.found(pending, stmt)
            if pending != ENTRY:
                pending = None  # one finding per action
        if effect == WAIT:
            return None
        if effect == ACT:
            return stmt.lineno
        return pending


ENTRY = -1  # the caller's action, when a helper is read to see what calling it amounts to


def parse_all() -> dict[Path, ast.Module]:
    return {
        path: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path in sorted(TESTS.glob("*.py"))
        if path.name not in EXEMPT
    }


def async_functions(tree: ast.Module) -> Iterator[ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef):
            yield node


def helper_kinds(trees: dict[Path, ast.Module]) -> dict[str, tuple[bool, str]]:
    """What calling each helper amounts to, after a key press: whether it reads the app
    before it waits, and what it leaves: WAIT (it waits, after its own actions), ACT (an
    action of its own not waited for) or NEUTRAL. Helpers call helpers: worked out until
    nothing changes."""
    kinds: dict[str, tuple[bool, str]] = {}
    while True:
        before = dict(kinds)
        for path, tree in trees.items():
            for node in async_functions(tree):
                if node.name.startswith("test_") or node.name in WAITS | ACTIONS:
                    continue
                function = Function(path, node, kinds)
                end = function.check(ENTRY)
                reads = any(site.action_line == ENTRY for site in function.sites)
                effect = WAIT if end is None else NEUTRAL if end == ENTRY else ACT
                kinds[node.name] = (reads, effect)
        if kinds == before:
            return kinds


def unwaited_reads(trees: dict[Path, ast.Module]) -> list[Site]:
    kinds = helper_kinds(trees)
    sites: list[Site] = []
    for path, tree in trees.items():
        for node in async_functions(tree):
            function = Function(path, node, kinds)
            function.check()
            sites += function.sites
    return sites


def test_no_test_reads_the_app_straight_after_a_key_or_a_click() -> None:
    sites = unwaited_reads(parse_all())
    assert not sites, "\n".join(str(s) for s in sites)


# -- the check itself ---------------------------------------------------------------------


def sites_in(source: str) -> list[tuple[int, int]]:
    tree = ast.parse(source)
    return [(s.action_line, s.read_line) for s in unwaited_reads({Path("test_x.py"): tree})]


def test_the_check_finds_a_read_after_a_press_or_a_click() -> None:
    source = """
async def test_a(pilot, app):
    await pilot.press("f")
    assert isinstance(app.screen, FilterDialog)

async def test_b(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test() as pilot:
        await pilot.click("#go")
        await pilot.pause()
        text = text_of(app, "#result")
"""
    assert sites_in(source) == [(3, 4), (9, 11)]


def test_the_check_follows_loops_helpers_and_branches() -> None:
    source = """
async def open_it(app, pilot):
    table = app.query_one("#prices")
    await pilot.press("l")

async def opened(app, pilot):
    await pilot.press("l")
    await until(pilot, lambda: app.screen.state == "ready")

async def test_loop(app, pilot):
    for key in "sr":
        rows_now = rows(app)
        await pilot.press(key)

async def test_helper(app, pilot):
    await pilot.press("v")
    await open_it(app, pilot)

async def test_branch(app, pilot):
    await pilot.press("v")
    if app.screen.ready:
        pass
"""
    assert sorted(sites_in(source)) == [(13, 12), (16, 17), (20, 21)]


def test_the_check_lets_waits_and_what_is_not_the_app_through() -> None:
    source = """
async def opened(app, pilot):
    await pilot.press("l")
    await until(pilot, lambda: app.screen.state == "ready")

async def test_ok(tmp_path, sshd):
    app = make_app(tmp_path)
    async with app.run_test() as pilot:
        await pilot.press("l")
        (sshd.home / "go-on").touch()
        await until(pilot, lambda: "done" in text_of(app, "#result"))
        assert "done" in text_of(app, "#result")
        await opened(app, pilot)
        assert app.screen.plan
        await pilot.press("c")
        await pilot.press("enter")
        await workers_done(pilot, app.screen)
        assert nothing_sent()
        await pilot.press("q")
    assert app.return_code == 0
"""
    assert sites_in(source) == []
