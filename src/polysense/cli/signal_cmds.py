"""``polysense info | spectrogram | explain``: look at a sound file and the lecture's figures.

The commands parse arguments and call the library (polysense.audio, polysense.signal,
polysense.explain); errors the user can fix (a bad file, a bad value) are printed as
one line on stderr with exit code 1, without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from polysense.errors import ParameterError

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
TOPIC_HELP = "aliasing | quantization | dft | windows | resolution | stft | denoising | synthesis"


@contextmanager
def user_errors() -> Iterator[None]:
    """Marks the part of a command that calls the library. Errors are turned into one line on
    stderr + exit 1 in one place for every command (polysense.cli.errors.UserErrorGroup), which
    also honours --debug, so nothing is caught here."""
    yield


def _figure_path(out: Path) -> Path:
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise ParameterError(
            f"--output={str(out)!r} has suffix {out.suffix!r}: expected one of {', '.join(FIGURE_SUFFIXES)}"
        )
    return out


def _fmt_hz(value: float) -> str:
    return f"{value:,.6g} Hz"


def info(
    file: Path = typer.Argument(..., help="An audio file (WAV, FLAC, OGG, ...)."),
    n_fft: int = typer.Option(512, "--n-fft", help="FFT size N for the resolution figures (samples)."),
    hop: int = typer.Option(128, "--hop", help="Hop length H between frames (samples)."),
) -> None:
    """Sample rate, channels, duration, sample format, Nyquist frequency and time/frequency resolution."""
    from polysense.audio import info as audio_info
    from polysense.signal.resolution import resolution

    with user_errors():
        meta = audio_info(file)
        res = resolution(sample_rate=meta.sample_rate, n_fft=n_fft, hop_length=hop, num_samples=max(meta.frames, 1))
    table = Table(title=str(file), show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    bit_depth = f"{meta.bit_depth}-bit" if meta.bit_depth else "n/a (compressed)"
    rows: list[tuple[str, str]] = [
        ("sample rate", _fmt_hz(meta.sample_rate)),
        ("channels", str(meta.channels)),
        ("frames", f"{meta.frames:,}"),
        ("duration", f"{meta.duration_s:.3f} s"),
        ("format", f"{meta.format} / {meta.subtype}"),
        ("bit depth", bit_depth),
        ("Nyquist frequency f_max = sr/2", _fmt_hz(res.f_max_hz)),
        (f"time resolution Δt = N/sr (N={n_fft})", f"{res.delta_t_s * 1000:.4g} ms"),
        ("frequency resolution Δf = sr/N", _fmt_hz(res.delta_f_hz)),
        (f"hop H={hop}", f"{res.hop_s * 1000:.4g} ms"),
        ("frequency bins (N/2 + 1)", str(res.n_bins)),
        ("frames (centred)", f"{res.num_frames:,}"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    Console(width=100).print(table)


def spectrogram(
    file: Path = typer.Argument(..., help="An audio file (mixed to mono)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the figure (.png, .pdf or .svg)."),
    n_fft: int = typer.Option(1024, "--n-fft", help="FFT size N (samples)."),
    hop: int | None = typer.Option(None, "--hop", help="Hop length H (samples); default n_fft // 4."),
    win_length: int | None = typer.Option(None, "--win-length", help="Window length (samples); default n_fft."),
    window: str = typer.Option("hann", "--window", help="Window name: hann, hamming, blackman, ..."),
    scale: str = typer.Option("linear", "--scale", help="Frequency axis: linear | log | mel."),
    db: bool = typer.Option(True, "--db/--no-db", help="Colour in dB relative to the maximum, or linear power."),
    convention: str | None = typer.Option(None, "--convention", help="librosa (default) | torchaudio | scipy."),
    n_mels: int = typer.Option(128, "--n-mels", help="Mel bands for --scale mel."),
    sample_rate: int | None = typer.Option(None, "--sample-rate", help="Resample to this rate (Hz) first."),
) -> None:
    """Draw the waveform and spectrogram of FILE, axes in seconds and Hz, colour bar in dB."""
    from polysense.audio import load
    from polysense.explain import save_figure, spectrogram_figure  # here: matplotlib + torch add ~4 s to every start-up

    with user_errors():
        path = _figure_path(output)
        waveform, sr = load(file, sample_rate=sample_rate, mono=True)
        fig = spectrogram_figure(
            waveform, sample_rate=sr, n_fft=n_fft, hop_length=hop, win_length=win_length, window=window,
            scale=scale, db=db, convention=convention, n_mels=n_mels, title=f"{file.name} ({sr} Hz)",
        )
        written = save_figure(fig, path)
    typer.echo(f"wrote {written}")


def explain(
    topic: str = typer.Argument(..., help=f"One of: {TOPIC_HELP}."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the figure (.png, .pdf or .svg)."),
    run: Path = typer.Option(None, "--run", help="A trained run drawn into the topics that take one: denoising "
                             "(a mask_unet run), synthesis (a specgan run: generated vs real spectrograms)."),
) -> None:
    """Draw one of the lecture's figures from computed data."""
    from polysense.errors import ParameterError
    from polysense.explain import write_explain  # here, as above: ~4 s of every `polysense` start-up otherwise

    with user_errors():
        if run is not None and topic not in ("denoising", "synthesis"):
            raise ParameterError(f"--run: the topic {topic!r} draws no trained model; leave --run out "
                                 "(it serves denoising and synthesis)")
        written = write_explain(topic, _figure_path(output), **({"run_dir": run} if run is not None else {}))
    typer.echo(f"wrote {written}")


COMMANDS: dict[str, Callable[..., Any]] = {"info": info, "spectrogram": spectrogram, "explain": explain}


def register(app: typer.Typer) -> None:
    """Add ``info``, ``spectrogram`` and ``explain`` to ``app``."""
    for name, command in COMMANDS.items():
        app.command(name)(command)
