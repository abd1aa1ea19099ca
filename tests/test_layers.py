"""The rooms hold: tui -> remote -> pricing -> core, no import loop, light start-up."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_start import LATER


@pytest.mark.parametrize("package", ["dlpick.core", "dlpick.pricing", "dlpick.remote"])
def test_domain_code_never_imports_textual(package: str) -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in "
        "('textual', 'dlpick'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert not [n for n in loaded if n.startswith("textual")]
    assert not [n for n in loaded if n.startswith("dlpick.tui")]
    above = {
        "dlpick.core": ("dlpick.pricing", "dlpick.remote"),
        "dlpick.pricing": ("dlpick.remote",),
    }
    assert not [n for n in loaded if n.startswith(above.get(package, ("dlpick.tui",)))]


def test_offline_prices_do_not_import_boto3_or_pandas() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from dlpick.tui.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['prices', '--offline', '--format', 'json'])\n"
        "print(rc, 'boto3' in sys.modules, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False", "False"]


def test_prices_and_the_app_with_its_detail_pane_do_not_import_pandas() -> None:
    """pandas (about 0.3 s to import) is for the spot history's worker and command only."""
    code = (
        "import asyncio, sys, io, contextlib, tempfile\n"
        "from pathlib import Path\n"
        "from dlpick.tui.cli.main import main\n"
        "quiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        "    rc = main(['prices', '--format', 'json'])\n"
        "after_prices = 'pandas' in sys.modules\n"
        "from tests.screenshots import make_app\n"
        "async def frame():\n"
        "    app = make_app(Path(tempfile.mkdtemp()))\n"
        "    async with app.run_test(size=(120, 36)) as pilot:\n"
        "        await pilot.press('d', 'down')\n"
        "        await pilot.pause(0.6)\n"
        "asyncio.run(frame())\n"
        "print(rc, after_prices, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["0", "False", "False"]


# -- the rooms, read from the source: every import, function-local and type-only ones too --

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("core", "pricing", "remote", "tui")
# The rooms from the bottom up: a room imports only from itself and the rooms below it.
ROOMS = {"core": 0, "pricing": 1, "remote": 2, "tui": 3}
# Imports that may wait inside a function until they are needed, so start-up stays
# light: each of these takes 5 ms or more to import on the development machine
# (`python -X importtime`), e.g. asyncio 40 ms, urllib.request 31 ms, platformdirs 26 ms,
# importlib.metadata 20 ms, concurrent.futures 12 ms, traceback 5 ms, plotext 55 ms
# (textual-plotext 25 to 40 ms once Textual is loaded), and far more for boto3, pandas,
# asyncssh and Textual.
HEAVY = (
    "asyncio",
    "asyncssh",
    "boto3",
    "botocore",
    "concurrent.futures",
    "cryptography",
    "http",
    "importlib.metadata",
    "mypy_boto3",
    "numpy",
    "pandas",
    "platformdirs",
    "plotext",
    "rich",
    "sqlite3",
    "ssl",
    "textual",
    "textual_plotext",  # already covered by "textual"'s prefix; named for the record
    "tomllib",
    "torch",
    "traceback",
    "urllib.request",
)


@dataclass(frozen=True)
class Import:
    """One import statement's target, and where it stands."""

    module: str  # a dlpick module, resolved to its file's module; else as written
    line: int
    in_function: bool
    type_only: bool
    names: tuple[str, ...] = ()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("dlpick", *parts))


def product_files() -> list[Path]:
    return sorted(p for part in PRODUCT for p in (ROOT / part).rglob("*.py"))


MODULES = {module_name(p): p for p in product_files()}


def resolve(name: str) -> str:
    """A dotted name (module or module.attribute) as the dlpick module that holds it."""
    probe = name
    while probe and probe not in MODULES:
        probe = probe.rpartition(".")[0]
    return probe or name


def inside(tree: ast.AST, kinds: tuple[type, ...]) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, kinds):
            found.update(id(sub) for sub in ast.walk(node) if sub is not node)
    return found


def imports_in(path: Path) -> list[Import]:
    """Every import of a file, wherever the statement stands."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    functions = inside(tree, (ast.FunctionDef, ast.AsyncFunctionDef))
    type_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        for sub in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        targets: list[tuple[str, tuple[str, ...]]]
        if isinstance(node, ast.Import):
            targets = [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = tuple(alias.name for alias in node.names)
            if node.module.startswith("dlpick"):
                # `from package import module` names a module; `from module import name` not.
                targets = [(resolve(f"{node.module}.{n}"), (n,)) for n in names]
            else:
                targets = [(node.module, names)]
        else:
            continue
        for module, names in targets:
            found.append(
                Import(
                    resolve(module) if module.startswith("dlpick") else module,
                    node.lineno,
                    id(node) in functions,
                    id(node) in type_only,
                    names,
                )
            )
    return found


IMPORTS = {name: imports_in(path) for name, path in MODULES.items()}


def room(module: str) -> str:
    return module.split(".")[1]


def test_dependencies_point_from_tui_to_remote_to_pricing_to_core() -> None:
    wrong = []
    for name, imports in IMPORTS.items():
        for imp in imports:
            if imp.module.startswith("dlpick.") and ROOMS[room(imp.module)] > ROOMS[room(name)]:
                wrong.append((name, imp.module))
            if room(name) != "tui" and imp.module.split(".")[0] == "textual":
                wrong.append((name, imp.module))
    assert wrong == []


def import_graph() -> dict[str, set[str]]:
    """module -> the dlpick modules it imports, by any import statement at all."""
    return {
        name: {i.module for i in imports if i.module in MODULES and i.module != name}
        for name, imports in IMPORTS.items()
    }


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_loop_anywhere() -> None:
    """Imports inside functions and under TYPE_CHECKING count: a loop hidden in a
    function is still a loop between two concepts."""
    assert loops(import_graph()) == []


def package_of(module: str) -> str:
    """The concept a module belongs to: its folder (dlpick.remote.launch), or itself at
    the top of tui/ and remote/ (dlpick.tui.account), or its room (dlpick.pricing)."""
    parts = module.split(".")
    if parts[1] in ("remote", "tui") and len(parts) > 2:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def test_no_import_loop_between_folders_either() -> None:
    """A folder is a concept: launch/ does not lean on ssh/ while ssh/ leans on launch/."""
    graph: dict[str, set[str]] = {}
    for name, targets in import_graph().items():
        graph.setdefault(package_of(name), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(name)
        )
    for targets in list(graph.values()):
        for target in targets:
            graph.setdefault(target, set())
    assert loops(graph) == []


def test_the_loop_finder_finds_loops() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert loops(graph) == [["a", "b", "c"]]
    assert loops({"a": {"b"}, "b": set()}) == []


def heavy(module: str, seen: set[str] | None = None) -> bool:
    """Whether importing `module` at module level brings in something in HEAVY."""
    if not module.startswith("dlpick"):
        return module.startswith(HEAVY)
    seen = set() if seen is None else seen
    for imp in IMPORTS.get(module, []):
        if imp.in_function or imp.type_only or imp.module in seen:
            continue
        seen.add(imp.module)
        if heavy(imp.module, seen):
            return True
    return False


# The CLI's command groups: `dlpick` builds every group's parser, and each command
# loads the domain code it runs only when it runs.
COMMAND_GROUPS = {
    f"dlpick.tui.cli.{group}"
    for group in ("batch", "bench", "capacity", "fleet", "launch", "spot", "ssh")
}


DOMAIN = ("dlpick.remote", "dlpick.pricing")


def deferred_without_cause() -> list[str]:
    """Imports inside functions that need not wait: only a heavy module, a command group
    that `dlpick` loads when its command runs, or what the app's first frame must not
    load (tests/test_start.py) is kept off the start-up path."""
    wrong = []
    for name, imports in IMPORTS.items():
        for imp in imports:
            if not imp.in_function or heavy(imp.module) or imp.module in LATER:
                continue
            if imp.module.startswith("dlpick.tui.cli.") and imp.module not in (
                "dlpick.tui.cli.common",
                "dlpick.tui.cli.output",
            ):
                continue
            if name in COMMAND_GROUPS and imp.module.startswith(
                ("dlpick.remote", "dlpick.pricing")
            ):
                continue  # a command loads what it runs when it runs, not with the parser
            wrong.append(f"{MODULES[name].relative_to(ROOT)}:{imp.line} {imp.module}")
    return sorted(set(wrong))


def test_imports_wait_inside_functions_only_for_heavy_modules() -> None:
    assert deferred_without_cause() == []


def test_nothing_private_is_imported_across_modules() -> None:
    wrong = [
        f"{name} imports {imp.module}.{n}"
        for name, imports in IMPORTS.items()
        for imp in imports
        for n in imp.names
        if n.startswith("_") and imp.module != name
    ]
    assert wrong == []


def importers_of(prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        str(MODULES[name].relative_to(ROOT))
        for name, imports in IMPORTS.items()
        if any(i.module.startswith(prefixes) for i in imports)
    )


def test_screens_and_widgets_do_not_go_through_the_cli() -> None:
    wrong = [
        (name, imp.module)
        for name, imports in IMPORTS.items()
        if name.startswith("dlpick.tui.") and not name.startswith("dlpick.tui.cli")
        for imp in imports
        if imp.module.startswith("dlpick.tui.cli") or imp.module == "argparse"
    ]
    assert wrong == []


def test_file_locations_and_aws_errors_each_have_one_home() -> None:
    assert importers_of(("platformdirs",)) == ["core/locations.py"]
    # pandas only where it is used: the snapshot builder and the spot history's figures.
    assert importers_of(("pandas",)) == ["pricing/snapshot.py", "pricing/spot_history.py"]
    # botocore is used in one place: its failures become AwsError there, and every
    # other module sees only AwsError.
    assert importers_of(("botocore",)) == ["core/aws.py", "core/aws_errors.py"]


def test_no_catch_all_outside_the_places_that_report_bugs() -> None:
    allowed = {"tui/cli/main.py"}
    found = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ExceptHandler) and (
                node.type is None
                or (isinstance(node.type, ast.Name) and node.type.id == "Exception")
            ):
                found.append(str(path.relative_to(ROOT)))
    assert sorted(set(found) - allowed) == []


LONG = 600


def test_a_long_module_says_why_it_is_one_concept() -> None:
    """No size cap: a module is one concept. Past about 600 lines its docstring says
    why it is still one, in a paragraph that starts 'One module:'."""
    unexplained = []
    for path in product_files():
        text = path.read_text("utf-8")
        if len(text.splitlines()) > LONG:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "\nOne module:" not in f"\n{doc}":
                unexplained.append(str(path.relative_to(ROOT)))
    assert unexplained == []
