"""Metrics of denoising and separation: SI-SDR(i), SNR(i), STOI and PESQ.

All in dB unless said otherwise, computed per utterance in float64:

- ``si_sdr(ŝ, s)``: scale-invariant SDR (see :mod:`polysense.losses.separation` for the formula);
  ``si_sdr_improvement = SI-SDR(ŝ, s) − SI-SDR(x, s)`` with x the mixture.
- ``snr(ŝ, s) = 10·log10(||s||² / ||ŝ − s||²)`` (not scale-invariant: a gain error counts);
  ``snr_improvement = SNR(ŝ, s) − SNR(x, s)``.
- ``stoi``: short-time objective intelligibility (Taal et al. 2011) in [0, 1] via ``pystoi``
  (it resamples to 10 kHz internally).
- ``pesq``: ITU-T P.862 narrowband MOS-LQO (about 1.0 to 4.5) at 8 kHz via ``pesq``; other rates
  are resampled to 8 kHz first.

A silent (all-zero) or constant reference makes SI-SDR and SNR undefined: that is a
:class:`~polysense.errors.ParameterError`, never a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from polysense._checks import check_sample_rate, check_signal
from polysense.errors import ParameterError
from polysense.losses.separation import si_sdr as _si_sdr_tensor

__all__ = [
    "PESQ_SAMPLE_RATE",
    "concatenated_stoi",
    "mean_std",
    "pesq",
    "score_utterances",
    "si_sdr",
    "si_sdr_improvement",
    "snr",
    "snr_improvement",
    "stoi",
    "summarize",
    "utterance_metrics",
]

PESQ_SAMPLE_RATE = 8000  # narrowband P.862


def _pair(estimate: Any, reference: Any) -> tuple[torch.Tensor, torch.Tensor]:
    est = check_signal("estimate", torch.as_tensor(estimate)).double()
    ref = check_signal("reference", torch.as_tensor(reference)).double()
    if est.shape != ref.shape:
        raise ParameterError(f"estimate has shape {tuple(est.shape)} but reference has {tuple(ref.shape)}: "
                             "give signals of the same length (trim or pad the estimate)")
    centred = ref - ref.mean(-1, keepdim=True)
    silent = centred.abs().amax(-1) == 0
    if bool(silent.any()):
        raise ParameterError(
            f"reference is silent (all samples equal) in {int(silent.sum())} of {silent.numel()} signal(s): "
            "SI-SDR and SNR are undefined without a reference signal; drop silent references "
            "(e.g. mixtures whose speech was cut away) or choose segments that contain speech"
        )
    return est, ref


def si_sdr(estimate: Any, reference: Any) -> torch.Tensor:
    """SI-SDR (dB) of ``estimate`` against ``reference``, both (..., T); float64 result (...).

    A perfect estimate gives +inf (no error); a silent reference raises ParameterError.
    """
    est, ref = _pair(estimate, reference)
    return _si_sdr_tensor(est, ref, eps=0.0)


def si_sdr_improvement(estimate: Any, reference: Any, mixture: Any) -> torch.Tensor:
    """``SI-SDR(estimate, reference) − SI-SDR(mixture, reference)`` in dB."""
    return si_sdr(estimate, reference) - si_sdr(mixture, reference)


def snr(estimate: Any, reference: Any) -> torch.Tensor:
    """``10·log10(||s||² / ||ŝ − s||²)`` in dB (float64), over the last axis."""
    est, ref = _pair(estimate, reference)
    return 10 * torch.log10(ref.square().sum(-1) / (est - ref).square().sum(-1))


def snr_improvement(estimate: Any, reference: Any, mixture: Any) -> torch.Tensor:
    """``SNR(estimate, reference) − SNR(mixture, reference)`` in dB."""
    return snr(estimate, reference) - snr(mixture, reference)


def stoi(estimate: Any, reference: Any, *, sample_rate: float, extended: bool = False) -> float | None:
    """STOI (or ESTOI with ``extended=True``) of a 1-D ``estimate`` against ``reference``.

    None when the reference has too little speech for STOI's 384-ms analysis segments (after its
    silent frames are removed, fewer than 30 frames of 25.6 ms remain; pystoi would return 1e-5):
    a single spoken digit is often that short, so :func:`score_utterances` scores STOI over the
    concatenation of the utterances instead.
    """
    import warnings

    from pystoi import stoi as _stoi

    est, ref = _pair(estimate, reference)
    if est.ndim != 1:
        raise ParameterError(f"stoi takes one signal (time,), got shape {tuple(est.shape)}")
    sr = check_sample_rate(sample_rate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(ref.numpy(), est.numpy(), int(sr), extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return None
    return value


def pesq(estimate: Any, reference: Any, *, sample_rate: float) -> float | None:
    """Narrowband PESQ (MOS-LQO) of a 1-D ``estimate`` at 8 kHz; None when P.862 finds no utterance."""
    from pesq import NoUtterancesError, PesqError
    from pesq import pesq as _pesq

    from polysense.signal.resample import resample

    est, ref = _pair(estimate, reference)
    if est.ndim != 1:
        raise ParameterError(f"pesq takes one signal (time,), got shape {tuple(est.shape)}")
    sr = check_sample_rate(sample_rate)
    if sr != PESQ_SAMPLE_RATE:
        est = resample(est, orig_sample_rate=sr, new_sample_rate=PESQ_SAMPLE_RATE)
        ref = resample(ref, orig_sample_rate=sr, new_sample_rate=PESQ_SAMPLE_RATE)
    try:
        return float(_pesq(PESQ_SAMPLE_RATE, ref.numpy(), est.numpy(), "nb"))
    except (NoUtterancesError, PesqError):
        return None


def utterance_metrics(estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, *,
                      sample_rate: float, perceptual: bool = True) -> dict[str, float]:
    """SI-SDR, SI-SDRi, SNRi (and STOI, PESQ with ``perceptual``) of one utterance (time,)."""
    out = {
        "si_sdr": float(si_sdr(estimate, reference)),
        "si_sdri": float(si_sdr_improvement(estimate, reference, mixture)),
        "snri": float(snr_improvement(estimate, reference, mixture)),
    }
    if perceptual:
        value = stoi(estimate, reference, sample_rate=sample_rate)
        if value is not None:
            out["stoi"] = value
        value = pesq(estimate, reference, sample_rate=sample_rate)
        if value is not None:
            out["pesq"] = value
    return out


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of every metric over the rows, plus ``count`` and ``{name}_std``; PESQ's failures counted."""
    if not rows:
        raise ParameterError("no utterance was evaluated: give a non-empty dataset")
    out: dict[str, float] = {"count": float(len(rows))}
    names = sorted({k for r in rows for k in r})
    for name in names:
        values = np.array([r[name] for r in rows if name in r], dtype=np.float64)
        out[name] = float(values.mean())
        out[f"{name}_std"] = float(values.std())
    if any("pesq" in r or "si_sdr" in r for r in rows):
        out["pesq_failed"] = float(sum(1 for r in rows if "pesq" not in r))
    return out


def concatenated_stoi(estimates: list[torch.Tensor], references: list[torch.Tensor], *,
                      sample_rate: float) -> float | None:
    """STOI of the utterances joined end to end (each pair trimmed to the same length): short
    utterances (a spoken digit) are too short for STOI one by one."""
    if not estimates:
        return None
    return stoi(torch.cat([e.double() for e in estimates]), torch.cat([r.double() for r in references]),
                sample_rate=sample_rate)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """(mean, population std) of finite values; a clear error when there are none."""
    arr = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        raise ParameterError("no finite values to average")
    return float(arr.mean()), float(arr.std())


def score_utterances(utterances: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], *, sample_rate: float,
                     perceptual: bool = True) -> dict[str, float]:
    """The enhancement metrics of ``(estimate, reference, input)`` 1-D utterances (a separator's
    estimates already matched to their sources): the means (and ``_std``) of ``si_sdr``,
    ``si_sdri``, ``snri`` in dB and, with ``perceptual``, ``stoi`` (utterances long enough for
    it), ``stoi_concat`` (all utterances joined) and ``pesq`` (``pesq_failed`` counts utterances
    P.862 refused); ``count`` is the number of utterances."""
    sr = check_sample_rate(sample_rate)
    rows = [utterance_metrics(e, r, x, sample_rate=sr, perceptual=perceptual) for e, r, x in utterances]
    out = summarize(rows)
    if perceptual:
        value = concatenated_stoi([e for e, _, _ in utterances], [r for _, r, _ in utterances], sample_rate=sr)
        if value is not None:
            out["stoi_concat"] = value
    return out
