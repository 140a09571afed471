"""``polysense denoise | separate``: run a trained denoiser or separator over a sound file.

Files of any length are processed block by block with overlap-add (memory bounded), at the model's
sample rate, and written back at the input's rate (see :mod:`polysense.enhance.blockwise`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from polysense.cli.options import with_threads

from polysense.cli.signal_cmds import user_errors
from polysense.errors import ParameterError

BLOCK_HELP = "Seconds per processing window (memory is bounded by it)."
OVERLAP_HELP = "Seconds of overlap between windows (cross-faded)."


def _load(run_dir: Path, method: str):
    from polysense.train.run import load_run

    run = load_run(run_dir)
    model = run.model
    if not callable(getattr(model, method, None)):
        name = run.config.get("model", {}).get("name", type(model).__name__)
        wanted = ("a denoiser (model mask_unet; e.g. `polysense train fsdd-denoise --out RUN`)" if method == "enhance"
                  else "a separator (model mask_unet_separator or conv_tasnet; e.g. `polysense train fsdd-separate --out RUN`)")
        raise ParameterError(f"{run_dir}: the run holds a {name!r} model, which cannot "
                             f"{'denoise' if method == 'enhance' else 'separate'}: give the run folder of {wanted}")
    rate = run.sample_rate or model.sample_rate
    if rate is None:
        raise ParameterError(f"{run_dir}: the run records no sample rate (run.json); retrain it with `polysense train`")
    return model, int(rate)


def denoise(
    run_dir: Path = typer.Argument(..., help="Run folder of a trained denoiser (polysense train fsdd-denoise)."),
    in_wav: Path = typer.Argument(..., help="Noisy audio file (any length, any rate the model can serve)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the denoised WAV."),
    block_s: float = typer.Option(4.0, "--block-s", help=BLOCK_HELP),
    overlap_s: float = typer.Option(0.5, "--overlap-s", help=OVERLAP_HELP),
) -> None:
    """Denoise a sound file with a trained mask U-Net; the output keeps the input's sample rate."""
    from polysense.enhance.blockwise import denoise_file

    with user_errors():
        model, rate = _load(run_dir, "enhance")
        written = denoise_file(model, in_wav, output, sample_rate=rate, block_s=block_s, overlap_s=overlap_s)
    typer.echo(f"wrote {written}")


def separate(
    run_dir: Path = typer.Argument(..., help="Run folder of a trained separator (polysense train fsdd-separate)."),
    mix_wav: Path = typer.Argument(..., help="Mixture audio file (any length)."),
    out_dir: Path = typer.Option(..., "-o", "--output", help="Folder for source1.wav, source2.wav, ..."),
    block_s: float = typer.Option(4.0, "--block-s", help=BLOCK_HELP),
    overlap_s: float = typer.Option(0.5, "--overlap-s", help=OVERLAP_HELP),
) -> None:
    """Separate a mixture into its sources with a trained separator (mask_unet_separator or conv_tasnet)."""
    from polysense.enhance.blockwise import separate_file

    with user_errors():
        model, rate = _load(run_dir, "separate")
        paths = separate_file(model, mix_wav, out_dir, sample_rate=rate, block_s=block_s, overlap_s=overlap_s)
    for path in paths:
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``denoise`` and ``separate`` to ``app``."""
    app.command("denoise")(with_threads(denoise))
    app.command("separate")(with_threads(separate))
