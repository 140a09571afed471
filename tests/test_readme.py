"""The README's demo table is what the demo prints: the demo runs here (one thread, as `make demo`
runs it) and every run, task, model, score and value must equal the README's row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _rows(table: str) -> list[list[str]]:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    return [row[:5] for row in rows[1:]]  # run, task, model, score, value (training seconds vary by machine)


@pytest.mark.slow
def test_the_readme_demo_table_is_what_the_demo_prints(tmp_path):
    from polysense.demo import DEMO_THREADS, run_demo
    from polysense.evaluate.compare import comparison_table
    from polysense.threads import use_threads

    block = re.search(r"<!-- demo-table:start -->(.*?)<!-- demo-table:end -->", README.read_text(encoding="utf-8"), re.S)
    assert block, "README.md lost its <!-- demo-table:start/end --> block"
    use_threads(DEMO_THREADS)
    printed = comparison_table(run_demo(tmp_path, say=lambda line: None))
    assert _rows(block.group(1)) == _rows(printed), "the README's demo table drifted: run `make readme-demo`"
