"""The dependency direction tui -> remote -> pricing holds at import time."""

from __future__ import annotations

import json
import subprocess
import sys

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
        "from dlpick.tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['prices', '--offline', '--format', 'json'])\n"
        "print(rc, 'boto3' in sys.modules, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False", "False"]
