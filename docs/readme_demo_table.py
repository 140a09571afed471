"""Copy the demo's own table and figure into the README: `make readme-demo` runs it after `make demo`.

    python docs/readme_demo_table.py [demo-output]

The README's table between ``<!-- demo-table:start -->`` and ``<!-- demo-table:end -->`` becomes the
table of ``demo-output/comparison.md`` (as ``polysense demo`` wrote it), and ``docs/demo-comparison.png``
its figure; ``tests/test_readme.py`` runs the demo and fails when the README says other values.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- demo-table:start -->", "<!-- demo-table:end -->"


def table_of(comparison_md: str) -> str:
    """The markdown table lines of a ``comparison.md``."""
    return "\n".join(line for line in comparison_md.splitlines() if line.startswith("|"))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "demo-output")
    table = table_of((out / "comparison.md").read_text(encoding="utf-8"))
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: the {START} / {END} markers are missing")
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), f"{START}\n{table}\n{END}", text, flags=re.S)
    readme.write_text(text, encoding="utf-8")
    shutil.copy(out / "comparison.png", ROOT / "docs" / "demo-comparison.png")
    print(f"README.md: demo table from {out / 'comparison.md'}; docs/demo-comparison.png from {out / 'comparison.png'}")


if __name__ == "__main__":
    main()
