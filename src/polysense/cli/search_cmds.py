"""``polysense index``, ``polysense search`` and ``polysense serve`` (the work is in polysense.search)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from polysense.cli.options import with_threads

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("index")(with_threads(index))
    app.command("search")(with_threads(search))
    app.command("serve")(with_threads(serve))


def index(
    run_dir: Path = typer.Argument(..., help="A trained run folder (the --out of `polysense train`)."),
    source: Path = typer.Argument(..., help="A folder (walked recursively) or a .csv/.jsonl manifest."),
    out: Path = typer.Option(..., "-o", "--out", help="The index folder (updated in place when it exists)."),
    index_type: str = typer.Option("auto", "--index", help="auto (flat up to 50k vectors, HNSW above), flat, hnsw or ivf."),
    window_s: float = typer.Option(10.0, "--window", help="Seconds of audio per vector for long files."),
    hop_s: float = typer.Option(5.0, "--hop", help="Seconds between audio windows."),
    batch_size: int = typer.Option(32, "--batch-size", help="Items per model call."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-embed everything (after changing the model or windows)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Embed SOURCE with the model of RUN_DIR into the index OUT; a second run embeds only what changed.

    Under `torchrun --nproc-per-node N -m polysense index ...` the files are shared among the processes.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from polysense.search import build_index, load_embedder
    from polysense.search.distributed import init_from_env, rank_and_world

    if index_type not in INDEX_TYPES:
        raise typer.BadParameter(f"--index {index_type!r}: choose one of {', '.join(INDEX_TYPES)}")
    joined = init_from_env()
    rank, world = rank_and_world()
    try:
        bundle = load_embedder(run_dir)
        columns = (TextColumn(f"embedding{f' (rank {rank}/{world})' if world > 1 else ''}"), BarColumn(),
                   MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=True, disable=as_json or not sys.stderr.isatty(),
                      console=None) as bar:
            task = bar.add_task("embed", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = build_index(bundle, source, out, index_type=index_type, window_s=window_s, hop_s=hop_s,
                                 batch_size=batch_size, rebuild=rebuild, progress=progress)
    finally:  # a bad-input error reaches the app's one error handler (polysense.cli.errors)
        if joined:
            import torch.distributed as dist

            dist.destroy_process_group()
    if rank != 0:
        return
    summary = {
        "index": str(out), "files": report.files, "vectors": report.vectors, "embedded": report.embedded,
        "unchanged": report.unchanged, "renamed_or_moved": report.reused_by_hash, "removed": report.removed,
        "changed": report.changed, "index_type": report.index.get("type"), "index_params": report.index,
        "ignored": report.ignored, "seconds": round(report.seconds, 3),
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    state = "updated" if report.changed else "unchanged (nothing to do)"
    typer.echo(f"{out}: {state}; {report.files} files, {report.vectors} vectors ({summary['index_type']} index); "
               f"embedded {report.embedded}, kept {report.unchanged} unchanged, {report.reused_by_hash} "
               f"renamed/moved, {report.removed} removed; {report.seconds:.1f} s")
    for kind, count in sorted(report.ignored.items()):
        typer.echo(f"ignored {count} {kind} file(s): this model does not embed {kind}")
    if report.skipped:
        typer.echo(f"skipped {len(report.skipped)} unreadable file(s):", err=True)
        for s in report.skipped[:20]:
            typer.echo(f"  {s.path}: {s.reason}", err=True)
        if len(report.skipped) > 20:
            typer.echo(f"  ... and {len(report.skipped) - 20} more (see --json)", err=True)


def _open(index_dir: Path, run_dir: Path | None):
    from polysense.search import Index, load_embedder

    embedder = load_embedder(run_dir) if run_dir is not None else None
    return Index.open(index_dir, embedder=embedder)


def search(
    index_dir: Path = typer.Argument(..., help="An index folder made by `polysense index`."),
    query: str | None = typer.Argument(None, help="A text query, e.g. \"a dog barking\"."),
    audio: Path | None = typer.Option(None, "--audio", help="Search by a sound file."),
    image: Path | None = typer.Option(None, "--image", help="Search by a picture."),
    like: str | None = typer.Option(None, "--like", help="Search by an indexed item (its id, as results show)."),
    k: int = typer.Option(10, "-k", help="Number of results."),
    dedupe: float | None = typer.Option(None, "--dedupe", help="Hide results at least this similar to the query (e.g. 0.95)."),
    run_dir: Path | None = typer.Option(None, "--run", help="The run folder of the model (default: the one the index records)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> None:
    """Ranked results for one query: a text, --audio FILE, --image FILE or --like ID."""
    given = [name for name, value in (("QUERY", query), ("--audio", audio), ("--image", image), ("--like", like))
             if value is not None]
    if len(given) != 1:
        raise typer.BadParameter(f"give exactly one query (QUERY, --audio, --image or --like); got {given or 'none'}")
    with _open(index_dir, run_dir) as idx:
        hits = idx.search(text=query, audio=audio, image=image, like=like, k=k, dedupe=dedupe)
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for col in ("#", "score", "id", "time", "caption / text"):
        table.add_column(col, overflow="fold")
    for h in hits:
        time = f"{h.start_s:.1f}-{h.end_s:.1f} s" if h.start_s is not None else ""
        table.add_row(str(h.rank), f"{h.score:.3f}", h.item_id, time, h.caption or h.text or "")
    Console().print(table)


def serve(
    index_dir: Path = typer.Argument(..., help="An index folder made by `polysense index`."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, help="TCP port."),
    run_dir: Path | None = typer.Option(None, "--run", help="The run folder of the model (default: the one the index records)."),
    max_upload_mb: float | None = typer.Option(
        None, "--max-upload-mb", help="Largest upload accepted, in MiB (default: POLYSENSE_MAX_UPLOAD_BYTES, 100 MiB)."),
) -> None:
    """A web page and JSON API (docs at /docs) searching INDEX_DIR."""
    from polysense.search.server import serve as run_server

    if max_upload_mb is not None and max_upload_mb <= 0:
        raise typer.BadParameter(f"--max-upload-mb {max_upload_mb}: give a positive size")
    idx = _open(index_dir, run_dir)
    _ = idx.embedder  # load the model now: a wrong model fails here, not on the first query
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving on {host}: anyone who can reach it can search and play the collection", err=True)
    run_server(idx, host=host, port=port,
               max_upload_bytes=None if max_upload_mb is None else int(max_upload_mb * 1024 * 1024))
