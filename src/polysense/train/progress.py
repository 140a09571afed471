"""What a run tells: ``metrics.jsonl``, TensorBoard when installed, and the console (a rich
progress bar with rate and ETA on a terminal, plain lines otherwise, nothing with ``quiet``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from polysense.train.run import RunFolder

__all__ = ["RunLog"]



class RunLog:
    """metrics.jsonl, TensorBoard when installed, and the console (a rich progress bar on a
    terminal, plain lines otherwise, nothing with quiet)."""

    def __init__(self, run_dir: Path, *, enabled: bool, quiet: bool) -> None:
        self.enabled = enabled
        self.quiet = quiet or not enabled
        folder = RunFolder(run_dir)
        self.path = folder.metrics_path
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(folder.tensorboard_dir))
            except Exception:  # tensorboard is optional: no writer when it is not installed
                self.tb = None
        self.interactive = enabled and not self.quiet and sys.stdout.isatty()
        self.progress = None
        self.task = None

    def truncate(self, size: int) -> None:
        if self.enabled and self.path.is_file():
            with open(self.path, "r+b") as handle:
                handle.truncate(size)

    def size(self) -> int:
        return self.path.stat().st_size if self.enabled and self.path.is_file() else 0

    def record(self, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
        if self.tb is not None:
            prefix = entry.get("split", "train")
            for key, value in entry.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.tb.add_scalar(f"{prefix}/{key}", value, entry.get("step", 0))

    def say(self, text: str) -> None:
        if self.quiet:
            return
        if self.progress is not None:
            self.progress.console.print(text)
        else:
            print(text, flush=True)

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        if not self.interactive:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if self.progress is None:
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), transient=True)
            self.progress.start()
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{epochs}", total=total, completed=done, rate="")

    def advance(self, loss: float, rate: float) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, rate=f"loss {loss:.4f} · {rate:.1f} batch/s")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.tb is not None:
            self.tb.close()


