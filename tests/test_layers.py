"""The dependency direction tui -> remote -> pricing holds at import time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["dlpick.pricing", "dlpick.remote"])
def test_domain_code_never_imports_textual(package: str) -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.iter_modules(pkg.__path__):\n"
        "    importlib.import_module(pkg.__name__ + '.' + m.name)\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in "
        "('textual', 'dlpick'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert not [n for n in loaded if n.startswith("textual")]
    assert not [n for n in loaded if n.startswith("dlpick.tui")]
    if package == "dlpick.pricing":
        assert not [n for n in loaded if n.startswith("dlpick.remote")]


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


# -- the rooms, read from the source: every import, function-local ones too ----

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("pricing", "remote", "tui")
# The CLI's own modules: screens and widgets reach the domain directly, never through them.
CLI_MODULES = (
    "dlpick.tui.cli.main",
    "dlpick.tui.cli.launch",
    "dlpick.tui.cli.fleet",
    "dlpick.tui.cli.ssh",
    "dlpick.tui.cli.spot",
)


def product_files() -> list[Path]:
    return sorted(p for part in PRODUCT for p in (ROOT / part).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def room(path: Path) -> str:
    return path.relative_to(ROOT).parts[0]


def importers_of(prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in product_files():
        hits = sorted(m for m in imports_of(path) if m.startswith(prefixes))
        if hits:
            out[str(path.relative_to(ROOT))] = hits
    return out


def test_dependencies_point_from_tui_to_remote_to_pricing() -> None:
    wrong = []
    for path in product_files():
        for module in imports_of(path):
            top = module.split(".")
            if room(path) == "pricing" and top[:2] in (["dlpick", "remote"], ["dlpick", "tui"]):
                wrong.append((str(path), module))
            if room(path) == "remote" and top[:2] == ["dlpick", "tui"]:
                wrong.append((str(path), module))
            if room(path) in ("pricing", "remote") and top[0] == "textual":
                wrong.append((str(path), module))
    assert wrong == []


def test_screens_and_widgets_do_not_go_through_the_cli() -> None:
    wrong = []
    for path in product_files():
        rel = path.relative_to(ROOT)
        if (
            rel.parts[0] == "tui"
            and rel.name not in ("cli.py",)
            and not rel.name.startswith("cmd_")
        ):
            for module in imports_of(path):
                if module.startswith(CLI_MODULES) or module == "argparse":
                    wrong.append((str(rel), module))
    assert wrong == []


def test_file_locations_and_aws_errors_each_have_one_home() -> None:
    assert list(importers_of(("platformdirs",))) == ["pricing/locations.py"]
    # pandas only where it is used: the snapshot builder and the spot history's figures.
    assert list(importers_of(("pandas",))) == ["pricing/snapshot.py", "pricing/spot_history.py"]
    # botocore is used in one place: its failures become AwsError there, and every
    # other module sees only AwsError.
    assert list(importers_of(("botocore",))) == ["pricing/aws.py", "pricing/aws_errors.py"]


def test_no_catch_all_outside_the_places_that_report_bugs() -> None:
    allowed = {"tui/cli.py"}
    found = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ExceptHandler) and (
                node.type is None
                or (isinstance(node.type, ast.Name) and node.type.id == "Exception")
            ):
                found.append(str(path.relative_to(ROOT)))
    assert sorted(set(found) - allowed) == []


def test_no_product_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in product_files()
        if (n := len(path.read_text("utf-8").splitlines())) > 400
    }
    assert long == {}
