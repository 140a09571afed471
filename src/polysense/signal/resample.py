"""Sample-rate conversion with soxr (the SoX resampler), on torch tensors.

Resampling to a lower rate must first remove everything above the new Nyquist frequency
``new_sample_rate / 2``, or it would alias back into the band. soxr does this with a
linear-phase low-pass filter whose quality level sets its steepness and stop-band depth:

======  =====================================================================
"QQ"    quick cubic interpolation, **no anti-aliasing filter**: content above
        the new Nyquist folds back into the band (measured: a 9 kHz tone taken
        from 48 to 16 kHz comes out at 7 kHz at full level). Previews only.
"LQ"    16-bit quality, ~96 dB stop band, wide transition band
"MQ"    16-bit quality, ~96 dB stop band, narrower transition
"HQ"    20-bit quality, ~120 dB stop band (default; the usual choice)
"VHQ"   28-bit quality, ~170 dB stop band
======  =====================================================================

(Nominal figures from the soxr documentation.) Measured here on 0.5 s float32 tones, for
44.1/48/22.05 → 16 kHz and 16 → 8 kHz: a tone at 1.125 × the new Nyquist comes out at
most -109 dB (LQ), -116 dB (MQ), -141 dB (HQ), -155 dB (VHQ) relative to its input level,
and a 1 kHz tone keeps its level within 0.001 dB at every quality
(``tests/signal/test_resample.py`` checks > 60 dB and < 0.01 dB).
"""

from __future__ import annotations

import math

import numpy as np
import soxr
import torch

from polysense._checks import check_choice, check_sample_rate, check_signal, check_size
from polysense.errors import ParameterError

__all__ = ["MAX_RATIO", "QUALITIES", "check_ratio", "expected_length", "resample"]

QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


# The largest sample magnitude, as a share of the dtype's maximum: a low-pass filter overshoots its
# input (Gibbs); measured up to 2.41x over the five qualities and six rate pairs on ±1 and step
# inputs (issue 20), so 1/8 leaves room and a sample near float32's maximum is refused, not turned to Inf.
_HEADROOM = 1 / 8

# The largest ratio between the two rates: soxr ran for minutes (or never returned) at 1e10 and
# returned nothing for inputs shorter than the ratio; real conversions stay below ~1,250 (10 MHz -> 8 kHz).
MAX_RATIO = 1 << 16


def resample(
    x: torch.Tensor,
    *,
    orig_sample_rate: float,
    new_sample_rate: float,
    quality: str = "HQ",
) -> torch.Tensor:
    """Convert ``x`` (..., time) from ``orig_sample_rate`` to ``new_sample_rate`` Hz with soxr.

    Parameters
    ----------
    x : Tensor (..., time)
        Real float32/float64 signal; leading dimensions are processed as channels of one soxr
        stream. Any device: the data go through the CPU and come back.
    orig_sample_rate, new_sample_rate : float
        Rates in Hz (> 0).
    quality : "QQ" | "LQ" | "MQ" | "HQ" | "VHQ"
        soxr quality recipe (see the module table).

    Returns
    -------
    Tensor (..., ceil(time · new/orig)) (soxr's output length), same dtype and device as ``x``.
    Equal rates return a copy. Not differentiable (computed outside autograd); the result does
    not require grad.
    """
    x = check_signal("x", x, overflow="its resampled version", max_abs=torch.finfo(x.dtype).max * _HEADROOM
                     if isinstance(x, torch.Tensor) and x.dtype in (torch.float32, torch.float64) else None)
    orig = check_sample_rate(orig_sample_rate, "orig_sample_rate")
    new = check_sample_rate(new_sample_rate, "new_sample_rate")
    check_choice("quality", quality, QUALITIES)
    check_ratio(orig, new, num_samples=x.shape[-1])
    # The output length, checked before soxr runs: a ratio of 1e15 would otherwise run for minutes.
    check_size(f"the length of x resampled from orig_sample_rate={orig:g} to new_sample_rate={new:g} Hz",
               expected_length(x.shape[-1], orig_sample_rate=orig, new_sample_rate=new), limit="max_samples",
               bytes_each=x.element_size() * max(1, x[..., 0].numel()), what=f"from {x.shape[-1]} samples")
    if orig == new:
        return x.detach().clone()
    lead = x.shape[:-1]
    length = x.shape[-1]
    frames = x.detach().reshape(-1, length).transpose(0, 1).cpu().numpy()  # (time, channels)
    frames = np.ascontiguousarray(frames)
    out = soxr.resample(frames, orig, new, quality=quality)
    if out.ndim == 1:
        out = out[:, None]
    result = torch.from_numpy(np.ascontiguousarray(out.T)).to(device=x.device, dtype=x.dtype)
    return result.reshape(*lead, result.shape[-1])


def check_ratio(orig_sample_rate: float, new_sample_rate: float, *, num_samples: int | None = None) -> None:
    """Refuse a conversion between rates more than :data:`MAX_RATIO` apart, or one that turns
    ``num_samples`` samples into less than one."""
    orig, new = float(orig_sample_rate), float(new_sample_rate)
    what = "" if num_samples is None else f"{num_samples} samples "
    if max(orig / new, new / orig) > MAX_RATIO or (num_samples is not None and num_samples * new / orig < 1):
        raise ParameterError(
            f"resampling {what}from orig_sample_rate={orig:g} to new_sample_rate={new:g} Hz is refused: expected "
            f"a rate ratio of at most {MAX_RATIO:,} either way (soxr does not finish beyond that) and at least one "
            "output sample; resample in steps or check the rates"
        )


def expected_length(num_samples: int, *, orig_sample_rate: float, new_sample_rate: float) -> int:
    """Length soxr returns for ``num_samples`` input samples: ``ceil(num_samples · new / orig)``."""
    return int(math.ceil(num_samples * float(new_sample_rate) / float(orig_sample_rate)))
