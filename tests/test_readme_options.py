"""The reference's option tables say what `--help` says: every option, no stale one, the choices.

The tables live in docs/*.md, a command's table on whichever page describes it, and each
command's table exists exactly once across docs/. Each table's header names its command
(`| \\`dlpick ls\\` option | meaning |`). The `dlpick` table holds the global options; a
subcommand's table holds the rest of its options (and its own `--region`, whose meaning
differs per command).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlpick.tui.cli.common import LISTING
from dlpick.tui.cli.main import build_parser

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
HEADER = re.compile(r"^\| `(dlpick[^`]*)` option \| meaning \|$")
# Documented once, in the `dlpick` table; --region is documented per command too.
GLOBAL_ONLY = {"--profile", "--offline", "--output", "--format"}


def docs_text() -> str:
    """Every docs/ page, one after another; a blank line between pages ends any table."""
    return "\n\n".join(page.read_text() for page in PAGES)


def option_tables(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """command -> option string -> (the option cell, the meaning cell)."""
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    current: dict[str, tuple[str, str]] | None = None
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            assert header[1] not in tables, f"two tables for {header[1]}"
            current = tables[header[1]] = {}
            continue
        if current is None or line.startswith("|---"):
            continue
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 2, line
        option, meaning = cells
        names = re.findall(r"`(-{1,2}[\w-]+)`", option)
        assert names, f"no option in {line!r}"
        for name in names:
            assert name not in current, f"{name} twice in the table"
            current[name] = (option, meaning)
    return tables


def commands(
    parser: argparse.ArgumentParser, name: str = "dlpick"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from commands(child, f"{name} {sub}")


def plain(text: str) -> str:
    return " ".join(text.replace("`", "").replace("\\|", "|").split())


def mismatches(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """Every way the docs' tables and the parser disagree, as sentences."""
    tables = option_tables(text)
    problems = []
    for name, command in commands(parser):
        table = tables.pop(name, None)
        if table is None:
            problems.append(f"docs/ has no option table for {name}")
            continue
        formatter = command._get_formatter()
        shown: set[str] = set()
        for action in command._actions:
            if not action.option_strings or action.dest == "help":
                continue
            for option in action.option_strings:
                if name != "dlpick" and option in GLOBAL_ONLY:
                    continue
                shown.add(option)
                if option not in table:
                    problems.append(f"{name} {option} is not in docs/")
                    continue
                cell, meaning = table[option]
                help_text = plain(formatter._expand_help(action) if action.help else "")
                if not plain(meaning).startswith(help_text):
                    problems.append(
                        f"{name} {option}: docs/ says {meaning!r}, --help {help_text!r}"
                    )
                for choice in action.choices or ():
                    if f"`{choice}`" not in cell:
                        problems.append(f"{name} {option}: choice {choice} not shown")
        problems += [f"{name} {option} in docs/ is not an option" for option in set(table) - shown]
    problems += [f"docs/ documents {name}, which is not a command" for name in tables]
    return problems


def test_docs_document_every_option_of_every_command() -> None:
    assert mismatches(build_parser(), docs_text()) == []


def test_each_command_has_one_table_across_docs_and_none_in_readme() -> None:
    pages: dict[str, list[str]] = {}
    for page in PAGES:
        for name in option_tables(page.read_text()):
            pages.setdefault(name, []).append(page.name)
    assert {name: where for name, where in pages.items() if len(where) > 1} == {}
    assert set(pages) == {name for name, _ in commands(build_parser())}
    assert option_tables(README.read_text()) == {}, "option tables belong in docs/"
    with pytest.raises(AssertionError, match="two tables for dlpick"):
        option_tables(docs_text() + "\n\n" + docs_text())


def test_an_undocumented_option_or_a_stale_one_is_caught() -> None:
    docs = docs_text()
    parser = build_parser()
    prices = dict(commands(parser))["dlpick prices"]
    prices.add_argument("--cheapest-az", action="store_true", help="only the cheapest AZ")
    assert mismatches(parser, docs) == ["dlpick prices --cheapest-az is not in docs/"]
    stale = docs.replace("| `--reverse` |", "| `--backwards` |")
    assert "dlpick prices --backwards in docs/ is not an option" in mismatches(
        build_parser(), stale
    )
    wrong = docs.replace("`training`\\|`inference`", "`training`")
    assert "dlpick prices --use: choice inference not shown" in mismatches(build_parser(), wrong)


def test_the_global_options_are_on_every_command_and_output_on_the_listing_ones() -> None:
    parser = build_parser()
    listing = {f"dlpick {c}" for c in LISTING}
    top = {o: a.help for a in parser._actions for o in a.option_strings}
    for name, command in commands(parser):
        options = {o: a.help for a in command._actions for o in a.option_strings}
        for option in ("--profile", "--region", "--offline"):
            assert option in options, f"{name} lacks {option}"
        for option in ("--profile", "--offline"):
            assert options[option] == top[option], f"{name} {option} says something else"
        if name != "dlpick":
            assert ("--output" in options) == (name in listing), name
            assert ("--format" in options) == (name in listing), name
    assert ", ".join(LISTING) in plain(option_tables(docs_text())["dlpick"]["--output"][1])


@pytest.mark.parametrize("name", [f"dlpick {c}" for c in LISTING])
def test_listing_commands_offer_table_csv_and_json(name: str) -> None:
    command = dict(commands(build_parser()))[name]
    [output] = [a for a in command._actions if "--output" in a.option_strings]
    assert tuple(output.choices or ()) == ("table", "csv", "json")
    assert output.option_strings == ["--output", "--format"]
