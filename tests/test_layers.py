"""The layering rule of GUIDE.md, read from the source: up to the trainer, no module imports (at
the top or inside a function) a package above its own, so data flows one way and the floors below
evaluation hold no cycle. The trainer scores validation with polysense.metrics through
polysense.inference, never with polysense.evaluate."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "polysense"

#: The floors, lowest first (single modules and packages of polysense).
FLOORS = ("errors", "limits", "_checks", "threads", "signal", "audio", "data", "losses", "models", "metrics",
          "inference", "train")
#: Everything above the trainer (what a floor below may never import).
ABOVE = ("evaluate", "explain", "search", "deploy", "enhance", "detect", "recognize", "demo", "cli")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("polysense"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("polysense"))
    return found


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("floor", FLOORS)
def test_no_floor_up_to_the_trainer_imports_one_above_it(floor):
    rank = {name: i for i, name in enumerate(FLOORS + ABOVE)}
    paths = [SOURCE / f"{floor}.py"] if (SOURCE / f"{floor}.py").is_file() else sorted((SOURCE / floor).rglob("*.py"))
    assert paths and all(p.is_file() for p in paths)
    upward = sorted(f"{p.relative_to(SOURCE)} -> {target}" for p in paths for target in _imports(p)
                    if rank.get(_floor(target), -1) > rank[floor])
    assert not upward, "imports up a floor:\n" + "\n".join(upward)


def test_the_trainer_never_imports_evaluate():
    targets = {t for p in (SOURCE / "train").rglob("*.py") for t in _imports(p)}
    assert not {t for t in targets if _floor(t) == "evaluate"}
    assert "polysense.inference" in targets  # validation runs through the one inference path
