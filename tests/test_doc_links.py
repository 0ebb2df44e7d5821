"""Every relative link in README.md and docs/*.md leads somewhere.

A link's file (or folder) must exist inside the repository, and a `#anchor` into a Markdown
file (or within the same one) must be one of that file's headings, slugged as GitHub does:
the heading's text in lower case, every character that is not a letter, digit, space, `-`
or `_` dropped, spaces turned into `-`, and a repeated slug suffixed `-1`, `-2`, … . Links
in code (fenced blocks and `inline code`) are not links, and are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", flags=re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+).+?\1", flags=re.DOTALL)
# [text](target) and ![alt](target), with an optional "title"; <https://…> autolinks are absolute.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", flags=re.MULTILINE)


def without_code(text: str) -> str:
    return INLINE_CODE.sub("", FENCE.sub("", text))


def github_slug(heading: str) -> str:
    text = re.sub(r"`([^`]*)`", r"\1", heading)  # code spans keep their text
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML goes
    text = text.lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    links = LINK.findall(without_code(path.read_text()))
    return [link for link in links if not re.match(r"^[a-z][a-z0-9+.-]*:", link, flags=re.IGNORECASE)]


def broken_links(path: Path) -> list[str]:
    broken = []
    for link in relative_links(path):
        target, _, anchor = link.partition("#")
        resolved = (path.parent / unquote(target)).resolve() if target else path
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{link}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{link}: no such file")
        elif anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            broken.append(f"{link}: no heading with that anchor in {resolved.relative_to(ROOT)}")
    return broken


def test_github_slugs() -> None:
    assert github_slug("Scaling out with PostgreSQL") == "scaling-out-with-postgresql"
    assert github_slug("`/incident stats`: insights, and *what* they mean?") == "incident-stats-insights-and-what-they-mean"
    assert github_slug("Slack's limits — and what they mean for us") == "slacks-limits--and-what-they-mean-for-us"
    assert github_slug("SCRIBE_WORKERS and the pool") == "scribe_workers-and-the-pool"


def test_links_in_code_are_not_links(tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n[ok](#top) `[no](missing.md)`\n\n```\n[no](gone.md)\n```\n[bad](#nowhere) [web](https://x.example/y)\n")
    assert relative_links(page) == ["#top", "#nowhere"]


def test_there_are_guides_to_check() -> None:
    assert {p.name for p in DOCUMENTS} >= {"README.md", "using.md", "running.md", "slack-limits.md", "developing.md"}


def test_readme_links_every_guide() -> None:
    linked = {link.partition("#")[0] for link in relative_links(ROOT / "README.md")}
    guides = {f"docs/{p.name}" for p in DOCUMENTS if p.parent.name == "docs"}
    assert guides - linked == set(), "README.md should link every guide in docs/"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert relative_links(path) or path.name != "README.md"
    assert broken_links(path) == []
