"""A trained run as one ONNX file: waveform in, class probabilities or vectors out.

The exported graph holds the whole model, its front end included (framing, window, FFT, mel
bank, log, normalisation), so a user needs only onnxruntime and a waveform at the run's sample
rate:

    inputs   waveform  float32 (batch, time)   samples in [-1, 1] at the run's sample rate
             lengths   int64   (batch,)        real samples of each row (the rest is padding)
    output   probabilities float32 (batch, K)  softmax of a classifier's logits, or
             embeddings    float32 (batch, D)  an embedding model's audio vectors

Batch and time are dynamic. The graph is traced with ``torch.export`` (values are not checked
inside it: the front end's checks and its CPU engine step aside while a graph is traced) and
converted by ``torch.onnx.export``. Before the file is written, :func:`export_run` runs it in
onnxruntime on real inputs (each alone and all as one padded batch) and compares with PyTorch:
the largest absolute difference must be at most ``tolerance`` (1e-4), else nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from polysense import audio as audio_io
from polysense._checks import check_positive_float
from polysense.data.collate import pad_sequences
from polysense.deploy.prediction import Predictor, audio_files
from polysense.errors import AudioError, ParameterError, PolysenseError
from polysense.train.run import load_run, run_data

__all__ = ["ExportError", "ExportReport", "WaveformModel", "export_run", "export_waveform_model"]


class ExportError(PolysenseError, RuntimeError):
    """The model cannot be exported, or the exported model does not match PyTorch."""


class WaveformModel(nn.Module):
    """A run's model as a function of waveforms: ``(waveform (B, T), lengths (B,))`` →
    probabilities (B, K) for a classifier, audio embeddings (B, D) for an embedding model."""

    def __init__(self, model: nn.Module, *, kind: str, sample_rate: int) -> None:
        super().__init__()
        if kind not in ("classifier", "embedder"):
            raise ParameterError(f"kind={kind!r}: expected 'classifier' or 'embedder'")
        self.model = model
        self.kind = kind
        self.sample_rate = int(sample_rate)

    @property
    def output_name(self) -> str:
        return "embeddings" if self.kind == "embedder" else "probabilities"

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(waveform.shape[-1], device=waveform.device)[None, :] < lengths[:, None]
        batch = {"audio": waveform, "audio_mask": mask, "audio_lengths": lengths, "sample_rate": self.sample_rate}
        if self.kind == "embedder":
            return self.model.encode("audio", batch)
        return torch.softmax(self.model(batch).logits, dim=-1)


@dataclass
class ExportReport:
    """What :func:`export_run` wrote and how closely onnxruntime matched PyTorch."""

    path: Path
    output: str
    max_abs_difference: float
    tolerance: float
    checked_inputs: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "output": self.output, "max_abs_difference": self.max_abs_difference,
                "tolerance": self.tolerance, "checked_inputs": self.checked_inputs, "bytes": self.bytes}


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, *, check_files: Sequence[str | os.PathLike] | None = None,
               tolerance: float = 1e-4, max_check_items: int = 16) -> ExportReport:
    """Export the model of ``run_dir`` to the ONNX file ``out`` and check it (module docstring).

    ``check_files`` are the real inputs of the check (audio files; folders are searched); without
    them, up to ``max_check_items`` items of the run's own test (else validation) split.
    """
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ParameterError(f"-o {out}: name the exported model .onnx")
    tolerance = check_positive_float("tolerance", tolerance)
    _onnxruntime()  # before the slow part: a missing package is said at once
    run = load_run(run_dir)
    predictor = Predictor(run)  # refuses runs that take no audio, or that neither classify nor embed
    wrapper = WaveformModel(run.model, kind=predictor.kind, sample_rate=predictor.sample_rate).eval()
    waveforms = _check_inputs(run, predictor, check_files, max_check_items)
    difference = export_waveform_model(wrapper, out, waveforms, tolerance=tolerance)
    return ExportReport(path=out, output=wrapper.output_name, max_abs_difference=difference, tolerance=tolerance,
                        checked_inputs=len(waveforms), bytes=out.stat().st_size)


def export_waveform_model(wrapper: WaveformModel, out: str | os.PathLike, waveforms: Sequence[torch.Tensor], *,
                          tolerance: float = 1e-4) -> float:
    """Write ``wrapper`` to the ONNX file ``out`` when onnxruntime matches PyTorch on ``waveforms``
    (each alone, then all as one padded batch) to ``tolerance``; return the largest difference.

    Raises :class:`ExportError` naming the layer the exporter cannot express, or the difference;
    either way nothing is written at ``out``.
    """
    out = Path(out)
    ort = _onnxruntime()
    if len(waveforms) < 2:
        raise ParameterError("the export check needs at least 2 real audio inputs (to check a padded batch)")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".onnx", dir=out.parent)
    os.close(handle)
    try:
        _export(wrapper, list(waveforms), temporary)
        difference = _compare(wrapper, ort, temporary, list(waveforms))
        if not difference <= tolerance:
            raise ExportError(f"{out}: the exported model differs from PyTorch by up to {difference:.3g} on "
                              f"{len(waveforms)} real inputs, more than the tolerance {tolerance:g}; nothing was written")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 is for the half-written file only
        os.replace(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return difference


def _onnxruntime() -> Any:
    try:
        import onnx  # noqa: F401  - torch.onnx writes through it
        import onnxruntime
        import onnxscript  # noqa: F401  - torch.onnx's converter
    except ImportError as error:
        raise ParameterError(f"exporting needs onnx, onnxscript and onnxruntime ({error.name} is missing): "
                             "pip install 'polysense[export]'") from None
    return onnxruntime


def _check_inputs(run: Any, predictor: Any, check_files, limit: int) -> list[torch.Tensor]:
    if check_files:
        files, missing = audio_files(check_files)
        if missing:
            raise ParameterError(f"--check {missing[0][0]}: {missing[0][1]}")
        waveforms = []
        for file in files:
            try:
                waveforms.append(audio_io.load(file, sample_rate=predictor.sample_rate)[0])
            except AudioError:
                continue  # an unreadable file checks nothing; the others do
            if len(waveforms) == limit:
                break
    else:
        try:
            splits = run_data(run.config)
        except PolysenseError as error:
            raise ParameterError(f"{run.run_dir}: the run's data cannot be read to check the export ({error}); "
                                 "give real audio files with --check FILE...") from None
        part = splits.test if splits.test is not None and len(splits.test) else splits.val
        if part is None or not len(part):
            raise ParameterError(f"{run.run_dir}: the run's data has no test or validation items to check the "
                                 "export with; give real audio files with --check FILE...")
        waveforms = []
        for index in range(min(limit, len(part))):
            item = part[index]
            audio = item.get("audio") if isinstance(item, dict) else None
            if isinstance(audio, torch.Tensor) and audio.ndim == 1:
                waveforms.append(audio.float())
    if len(waveforms) < 2:
        raise ParameterError(f"{run.run_dir}: the export check needs at least 2 readable audio inputs (to check a "
                             "padded batch); give more files with --check")
    return waveforms


def _export(wrapper: WaveformModel, waveforms: list[torch.Tensor], path: str) -> None:
    import logging
    import warnings

    example, _, lengths = pad_sequences(waveforms[:2])
    batch, time = torch.export.Dim.AUTO, torch.export.Dim.AUTO
    try:
        with warnings.catch_warnings(), _quiet(logging.getLogger("torch.onnx")):
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (example, lengths), path, dynamo=True, input_names=["waveform", "lengths"],
                              output_names=[wrapper.output_name], dynamic_shapes=({0: batch, 1: time}, {0: batch}),
                              external_data=False, report=False, verbose=False)
    except Exception as error:  # noqa: BLE001 - every exporter failure becomes one message naming the layer
        raise ExportError(_explain(error, wrapper)) from None


class _quiet:
    """Silence a logger inside a ``with`` (the exporter logs what it skips: optional torchvision ops)."""

    def __init__(self, logger: Any) -> None:
        self.logger, self.level = logger, logger.level

    def __enter__(self) -> None:
        self.logger.setLevel(100)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)


def _explain(error: BaseException, wrapper: nn.Module) -> str:
    """The layer of ``wrapper`` where the exporter gave up (the deepest module whose code was
    running), the line, and why (the first line of the innermost cause)."""
    names = {id(module): name for name, module in wrapper.model.named_modules()}
    layer = where = None
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        tb = current.__traceback__
        while tb is not None:
            owner = tb.tb_frame.f_locals.get("self")
            if isinstance(owner, nn.Module) and id(owner) in names:
                layer = f"{names[id(owner)] or 'model'} ({type(owner).__name__})"
                where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    root = chain[-1]
    reason = next((line.strip() for line in str(root).splitlines() if line.strip()), type(root).__name__)
    return (f"the model cannot be exported to ONNX: layer {layer or '(none found)'} at {where or 'unknown'}: "
            f"{type(root).__name__}: {reason[:300]}. Export needs a forward pass of tensor operations "
            "(no branch on a value read from a tensor)")


def _compare(wrapper: WaveformModel, ort: Any, path: str, waveforms: list[torch.Tensor]) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    batches = [[w] for w in waveforms] + [waveforms]  # each alone, then all as one padded batch
    worst = 0.0
    with torch.no_grad():
        for group in batches:
            padded, _, lengths = pad_sequences(group)
            expected = wrapper(padded, lengths).float()
            got = session.run([wrapper.output_name], {"waveform": padded.numpy(), "lengths": lengths.numpy()})[0]
            worst = max(worst, float((torch.from_numpy(got) - expected).abs().max()))
    return worst
