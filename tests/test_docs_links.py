"""Every relative link in README.md and docs/*.md resolves.

A link resolves when its path (relative to the page, or to the repository root when it starts with "/") exists in
the repository and is not git-ignored (a file only a local run produced would be broken on GitHub), and when its
#fragment points into a markdown page, that page has a heading with that GitHub anchor. Links inside code blocks,
inline code and HTML comments are not links and are not checked; external links (https:, mailto:) are not fetched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCED = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.DOTALL | re.MULTILINE)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_LINK = re.compile(r"^[ ]{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HEADING = re.compile(r"^[ ]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")


def prose(text: str) -> str:
    """The page without code blocks, HTML comments and inline code (whose brackets are not links)."""
    text = FENCED.sub("", text)
    text = COMMENT.sub("", text)
    return INLINE_CODE.sub(lambda m: "code", text)


def links(text: str) -> list[str]:
    body = prose(text)
    return [m.group(1) for m in INLINE_LINK.finditer(body)] + [m.group(1) for m in REFERENCE_LINK.finditer(body)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for m in HEADING.finditer(COMMENT.sub("", FENCED.sub("", page.read_text(encoding="utf-8")))):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def ignored_by_git(paths: list[Path], root: Path) -> set[Path]:
    """The paths git ignores (none when git or a work tree is not available)."""
    if not paths or shutil.which("git") is None or not (root / ".git").exists():
        return set()
    proc = subprocess.run(["git", "-C", str(root), "check-ignore", "--stdin"], check=False,  # exit 1: none ignored
                          input="\n".join(str(p.relative_to(root)) for p in paths), capture_output=True, text=True)
    return {(root / line).resolve() for line in proc.stdout.splitlines() if line}


def resolve(page: Path, target: str, root: Path) -> tuple[Path, str]:
    path, _, fragment = target.partition("#")
    path = unquote(path)
    if not path:
        return page.resolve(), fragment
    base = root if path.startswith("/") else page.parent
    return (base / path.lstrip("/")).resolve(), fragment


def broken_links(pages: list[Path], root: Path = ROOT) -> list[str]:
    """'page: target (why)' for every relative link that does not resolve."""
    found = []
    for page in pages:
        for target in links(page.read_text(encoding="utf-8")):
            if not target or EXTERNAL.match(target):
                continue
            path, fragment = resolve(page, target, root)
            found.append((page, target, path, fragment))
    ignored = ignored_by_git([p for _, _, p, _ in found if p.exists() and p.is_relative_to(root)], root)
    problems = []
    for page, target, path, fragment in found:
        where = f"{page.relative_to(root)}: {target}"
        if not path.is_relative_to(root.resolve()):
            problems.append(f"{where} (outside the repository)")
        elif not path.exists():
            problems.append(f"{where} (no such file)")
        elif path in ignored:
            problems.append(f"{where} (git-ignored: not in the repository)")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            problems.append(f"{where} (no heading with anchor #{fragment})")
    return problems


def test_docs_links_resolve():
    assert sum(len(links(page.read_text(encoding="utf-8"))) for page in PAGES) > 50  # the parser sees the links
    problems = broken_links(PAGES, ROOT)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_checker_catches_broken_links(tmp_path):
    """The checker itself fails on what it should, and ignores what is not a link."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Accuracy control (`--max-drop`)\n")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n"
        "[ok](docs/other.md) [ok anchor](docs/other.md#accuracy-control---max-drop) [same page](#title)\n"
        "[missing](docs/nope.md) ![missing image](img/plot.png) [bad anchor](docs/other.md#nope)\n"
        "[escapes](../outside.md) [web](https://example.com/x.md)\n"
        "`[not a link](inline.md)`\n\n```\n[not a link](fenced.md)\n```\n<!-- ![not a link](comment.png) -->\n"
        "[ref]: docs/gone.md\n")
    problems = broken_links([page], tmp_path)
    targets = sorted(p.split(": ", 1)[1].split(" (")[0] for p in problems)
    assert targets == ["../outside.md", "docs/gone.md", "docs/nope.md", "docs/other.md#nope", "img/plot.png"], problems
