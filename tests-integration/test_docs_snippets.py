"""The Getting started page's code runs, and prints what the page says it prints.

A fenced ``python`` block preceded by the line ``<!-- runnable -->`` is executed; the blocks of a
page share one namespace, in page order, in a fresh directory. A fenced block preceded by
``<!-- output -->`` is what the runnable block just before it prints.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["getting-started.md"]

_BLOCK = re.compile(
    r"^<!-- (?P<kind>runnable|output) -->\n```[a-z]*\n(?P<body>.*?)^```$", re.DOTALL | re.MULTILINE
)
_SENTINEL = "----- entropic docs block {} -----"

_DRIVER = """
import json, sys
blocks = json.loads(open(sys.argv[1], encoding="utf-8").read())
namespace = {"__name__": "__main__"}
for i, code in enumerate(blocks):
    print(SENTINEL.format(i), flush=True)
    exec(compile(code, f"{sys.argv[2]} block {i}", "exec"), namespace)
"""


@dataclass
class Snippet:
    """One runnable block and the output the page promises for it, if any."""

    code: str
    output: str | None = None
    line: int = 0


def snippets(page: Path) -> list[Snippet]:
    """The runnable blocks of ``page``, each with the output block that follows it."""
    text = page.read_text(encoding="utf-8")
    found: list[Snippet] = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match["kind"] == "runnable":
            found.append(Snippet(match["body"], line=line))
        else:
            assert found, f"{page.name}:{line}: an output block before any runnable block"
            assert found[-1].output is None, f"{page.name}:{line}: two output blocks in a row"
            found[-1].output = match["body"]
    return found


def test_the_marker_pattern_finds_blocks() -> None:
    page = "<!-- runnable -->\n```python\nprint(1)\n```\n\n<!-- output -->\n```text\n1\n```\n"
    blocks = [m.groupdict() for m in _BLOCK.finditer(page)]
    assert blocks == [
        {"kind": "runnable", "body": "print(1)\n"},
        {"kind": "output", "body": "1\n"},
    ]


@pytest.mark.parametrize("name", PAGES)
def test_page_code_runs_and_prints_what_the_page_says(name: str, tmp_path: Path) -> None:
    page = DOCS / name
    found = snippets(page)
    assert len(found) >= 3, f"{name} should have runnable blocks"
    (tmp_path / "blocks.json").write_text(json.dumps([s.code for s in found]), encoding="utf-8")
    driver = tmp_path / "driver.py"
    driver.write_text(f"SENTINEL = {_SENTINEL!r}\n{_DRIVER}", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(driver), "blocks.json", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{name}: a block failed:\n{done.stderr}"
    printed = re.split(r"^----- entropic docs block \d+ -----\n", done.stdout, flags=re.MULTILINE)
    assert printed[0] == ""
    printed = printed[1:]
    assert len(printed) == len(found)
    for snippet, out in zip(found, printed, strict=True):
        if snippet.output is not None:
            assert out == snippet.output, f"{name}:{snippet.line}: the output differs"
