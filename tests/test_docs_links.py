"""README.md and docs/*.md link only to what exists, and README stays a front page.

Every relative link (`[text](path)`, `![alt](path)`, `<img src="path">`) must name an
existing file, and a `#anchor` into a markdown file (or within the same page) a heading
of that file, slugged as GitHub does: lowercase, punctuation dropped except hyphens and
spaces (letters, digits and underscores stay), spaces become hyphens, and a repeated
heading gets `-1`, `-2`... Links inside code (fenced blocks, `inline`) are not links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target); the target may carry a "title" after a space.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMG = re.compile(r"<img\s[^>]*\bsrc=\"([^\"]+)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked."""
    lines, fence = [], ""
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence:
            if opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence):
                fence = ""
            lines.append("")
            continue
        if opening:
            fence = opening[1]
            lines.append("")
            continue
        lines.append(INLINE_CODE.sub(lambda m: " " * len(m[0]), line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    lines, fence = page.read_text().splitlines(), False
    for line in lines:
        if FENCE.match(line):
            fence = not fence
            continue
        heading = None if fence else HEADING.match(line)
        if heading:
            base = slug(heading[1])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of every relative link on the page."""
    found = []
    for number, line in enumerate(prose(page.read_text()), 1):
        for match in [*LINK.finditer(line), *IMG.finditer(line)]:
            target = match[1]
            if not EXTERNAL.match(target) and not target.startswith("//"):
                found.append((number, target))
    return found


def broken(page: Path, root: Path = ROOT) -> list[str]:
    """Every relative link on the page that leads nowhere, as `page:line: target (why)`."""
    problems = []
    for number, target in links(page):
        path_part, _, fragment = target.partition("#")
        where = f"{page.relative_to(root)}:{number}: {target}"
        goal = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not goal.exists():
            problems.append(f"{where} (no such file)")
        elif fragment and goal.suffix == ".md" and unquote(fragment) not in anchors(goal):
            problems.append(f"{where} (no heading #{fragment} in {goal.name})")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken(page) == []


def test_the_readme_is_a_front_page() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the reference is docs/"


def test_the_readme_links_to_every_docs_page() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


def test_github_slugs() -> None:
    assert slug("`dlpick capacity-blocks`") == "dlpick-capacity-blocks"
    assert slug("Measured TFLOPs: `dlpick bench`") == "measured-tflops-dlpick-bench"
    assert slug("Spend guard: idle, forgotten and over-budget instances") == (
        "spend-guard-idle-forgotten-and-over-budget-instances"
    )
    assert slug("Screenshots and `make bench`") == "screenshots-and-make-bench"


def test_a_broken_link_or_anchor_is_caught(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "shot.png").write_bytes(b"")
    page = docs / "page.md"
    page.write_text(
        "# A page\n\n## Spot placement score\n\n## Spot placement score\n\n"
        "[ok](page.md#spot-placement-score) [ok](#spot-placement-score-1) ![ok](../shot.png)\n"
        "[gone](missing.md) ![gone](shot.png) [no heading](page.md#spot-placement)\n"
        "[web](https://example.com/x) `[code](missing.md)`\n\n"
        "```\n[in a block](missing.md)\n```\n"
    )
    assert broken(page, root=tmp_path) == [
        "docs/page.md:8: missing.md (no such file)",
        "docs/page.md:8: shot.png (no such file)",
        "docs/page.md:8: page.md#spot-placement (no heading #spot-placement in page.md)",
    ]
