"""``polysense predict | export``: a trained run applied to new files, and taken out of polysense.

The work is in :mod:`polysense.deploy`; these commands
parse arguments and call them.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import typer

from polysense.cli.options import with_threads
from polysense.errors import ParameterError
from polysense.files import atomic_write_bytes, atomic_write_text


def predict(
    run_dir: Path = typer.Argument(..., help="A run folder written by `polysense train`."),
    paths: list[Path] = typer.Argument(..., help="Audio files and folders (searched recursively)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list: an object per file (or window)."),
    out: Path = typer.Option(None, "-o", "--out", help="Write predictions.csv (classifiers) or vectors.npy + "
                             "vectors.csv (embedding models)."),
    top_k: int = typer.Option(5, "--top-k", help="How many labels with their probabilities to list."),
    window: float = typer.Option(5.0, "--window", help="Files longer than --long are predicted per window of this many seconds."),
    hop: float = typer.Option(None, "--hop", help="Seconds between windows (default: half the window)."),
    long_s: float = typer.Option(60.0, "--long", help="Files longer than this many seconds are predicted per window."),
    batch_size: int = typer.Option(64, "--batch-size", help="Items per forward pass."),
) -> None:
    """Predict labels (classifiers) or vectors (embedding models) for new, unlabelled audio files."""
    from polysense.deploy.prediction import Predictor
    from polysense.train.run import load_run

    if out is not None and out.suffix.lower() not in (".csv", ".npy"):
        raise ParameterError(f"-o {out}: name it .csv (predicted labels) or .npy (vectors of an embedding model)")
    predictor = Predictor(load_run(run_dir), top_k=top_k, batch_size=batch_size, long_s=long_s, window_s=window, hop_s=hop)
    if predictor.kind == "embedder" and (out is None or out.suffix.lower() != ".npy"):
        raise ParameterError(f"{run_dir} is an embedding model: give -o VECTORS.npy for its vectors "
                             "(an index VECTORS.csv is written beside it)")
    if predictor.kind == "classifier" and out is not None and out.suffix.lower() != ".csv":
        raise ParameterError(f"-o {out}: {run_dir} is a classifier; name the output predictions.csv")
    result = predictor.predict_files(paths)
    for file, reason in result.skipped:
        typer.echo(f"skipped {reason}" if reason.startswith(file) else f"skipped {file}: {reason}", err=True)
    if not result.items:
        raise ParameterError(f"no file could be predicted ({len(result.skipped)} skipped): give audio files or folders "
                             "that hold them")
    if out is not None:
        written = _write_outputs(result, out)
        typer.echo(f"wrote {', '.join(str(p) for p in written)} ({len(result.items)} predictions, "
                   f"{len(result.skipped)} files skipped)", err=as_json)
    if as_json:
        typer.echo(json.dumps([item.to_dict() for item in result.items]
                              + [{"file": f, "skipped": reason} for f, reason in result.skipped]))
    elif out is None:
        for item in result.items:
            where = f" [{item.start_s:.2f}-{item.end_s:.2f} s]" if item.windowed else ""
            others = ", ".join(f"{k} {s:.3f}" for k, s in item.top[1:])
            typer.echo(f"{item.file}{where}: {item.label} {item.score:.3f}" + (f"  ({others})" if others else ""))


def _write_outputs(result, out: Path) -> list[Path]:
    if result.kind == "embedder":
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, result.vectors.numpy())
        index = out.with_suffix(".csv")
        atomic_write_bytes(out, buffer.getvalue())
        atomic_write_text(index, _csv([["row", "file", "start_s", "end_s"]]
                                      + [[i, item.file, f"{item.start_s:.4f}", f"{item.end_s:.4f}"]
                                         for i, item in enumerate(result.items)]))
        return [out, index]
    k = max((len(item.top) for item in result.items), default=0)
    header = ["file", "start_s", "end_s", "label", "score"] + [c for j in range(2, k + 1) for c in (f"label_{j}", f"score_{j}")]
    rows = [[item.file, f"{item.start_s:.4f}", f"{item.end_s:.4f}", item.label, f"{item.score:.6f}"]
            + [v for label, score in item.top[1:] for v in (label, f"{score:.6f}")] for item in result.items]
    atomic_write_text(out, _csv([header] + rows))
    return [out]


def _csv(rows: list[list]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def export(
    run_dir: Path = typer.Argument(..., help="A run folder written by `polysense train`."),
    out: Path = typer.Option(..., "-o", "--out", help="The ONNX file to write (model.onnx)."),
    check: list[Path] = typer.Option(None, "--check", help="Real audio files (or folders) to check the export on "
                                     "(default: the run's own test items)."),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Largest absolute difference from PyTorch accepted."),
    as_json: bool = typer.Option(False, "--json", help="Print the export report as one JSON object."),
) -> None:
    """Export RUN's model, front end inside (waveform in, probabilities or vectors out), to ONNX; checked in onnxruntime."""
    from polysense.deploy.export import export_run

    report = export_run(run_dir, out, check_files=check or None, tolerance=tolerance)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        typer.echo(f"wrote {report.path} ({report.bytes / 1e6:.1f} MB; inputs waveform (batch, time) at the run's rate "
                   f"+ lengths (batch,), output {report.output}); onnxruntime matches PyTorch to "
                   f"{report.max_abs_difference:.2g} (tolerance {report.tolerance:g}) on {report.checked_inputs} real inputs")


def register(app: typer.Typer) -> None:
    """Add predict and export to ``app``."""
    app.command("predict")(with_threads(predict))
    app.command("export")(with_threads(export))
