"""Data augmentation for waveforms and spectrograms, deterministic under a seed.

Every function takes an optional ``generator`` (:class:`torch.Generator`, CPU): the same generator
state gives the same augmentation, and no function touches the global random state. Inputs are
never modified in place. Batches follow the collate convention: leading dimensions are
independent examples, the last axis is time (samples for waveforms, frames for spectrograms), and
a boolean ``mask`` (``True`` = real sample, ``False`` = padding, as ``audio_mask`` from
:func:`polysense.data.collate.collate`) tells real content from padding. One convention for every
function: ``mask`` has the input's shape without the feature axis (waveforms: (..., samples);
spectrograms: (..., frames)) and marks a prefix of each row.

What each changes and what it keeps
-----------------------------------
================  ==============================================  ===============================================
function          changes                                         keeps
================  ==============================================  ===============================================
spec_augment      ``freq_masks`` bands of <= ``freq_mask_param``   shape; every padded frame (index >= length);
                  bins and ``time_masks`` spans of                 every value outside the masks
                  <= ``time_mask_param`` frames (never more
                  than ``max_time_fraction`` of the real length)
                  set to ``mask_value`` (default: the
                  example's mean)
speed_perturb_b.  resamples each example by its own speed factor   labels (order of examples); returns the new
(speed_perturb_   s ~ U[min_factor, max_factor]: length ÷ s,       mask (real length ≈ L / s); padding 0
batch)            frequencies × s
pitch_shift_b.    shifts each example's pitch by n ~ U[min, max]   length, mask, padded samples
(pitch_shift_     semitones (phase vocoder + resampling)
batch)
add_noise         adds noise scaled so that                       shape, dtype; padded samples (stay as they were)
                  10·log10(P_signal / P_noise) = ``snr_db``
                  exactly, powers measured over real samples
gain              multiplies by 10**(gain_db / 20)                shape; zeros (so padding stays zero)
random_gain       gain with gain_db ~ U[min_gain_db, max_gain_db] as gain
                  per example
time_shift        moves the real samples by ``shift`` samples      length; padded samples; with ``mode="roll"``
                  (positive = later), circularly within the        the multiset of real samples
                  real part (``roll``) or filling with zeros
                  (``zero``)
mixup             inputs -> lam·x + (1-lam)·x[index], targets ->   shapes; returns the permutation, the weights
                  the same mixture of one-hot/soft targets,        and the union of the two masks
                  lam ~ Beta(alpha, alpha) per example
================  ==============================================  ===============================================

The :class:`torch.nn.Module` wrappers (:class:`SpecAugment`, :class:`AddNoise`, :class:`RandomGain`,
:class:`TimeShift`) own a generator seeded at construction and act only in training mode
(``module.train()``); in evaluation mode they return their input unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.special
import torch
from torch import nn

from polysense._checks import check_choice, check_positive_float, check_positive_int, check_signal
from polysense.errors import ParameterError
from polysense.signal.perturb import pitch_shift, speed_perturb

__all__ = [
    "AddNoise",
    "MixupOutput",
    "RandomGain",
    "SpecAugment",
    "TimeShift",
    "add_noise",
    "gain",
    "mixup",
    "pitch_shift_batch",
    "random_gain",
    "spec_augment",
    "speed_perturb_batch",
    "SpeedPerturb",
    "time_shift",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _uniform(shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) float64 on the CPU from ``generator`` (the global generator when None)."""
    return torch.rand(tuple(shape), generator=generator, dtype=torch.float64)


def _randint(high: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Integers uniform in ``[0, high]`` (inclusive), elementwise; ``high >= 0``."""
    u = _uniform(high.shape, generator)
    return torch.minimum((u * (high.to(torch.float64) + 1)).floor().long(), high)


def _check_mask(mask: torch.Tensor | None, x: torch.Tensor, name: str = "mask") -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ParameterError(
            f"{name} must be a bool tensor (True = real sample, False = padding), got "
            f"{type(mask).__name__ if not isinstance(mask, torch.Tensor) else mask.dtype}"
        )
    if mask.shape != x.shape:
        raise ParameterError(f"{name} has shape {tuple(mask.shape)}: expected the input's shape {tuple(x.shape)}")
    return mask.to(x.device)


def _prefix_lengths(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """Lengths of a prefix mask (True…True False…False per row); raises for any other pattern."""
    lengths = mask.sum(-1)
    expected = torch.arange(mask.shape[-1], device=mask.device) < lengths.unsqueeze(-1)
    if not bool((expected == mask).all()):
        raise ParameterError(
            f"{name} must mark real samples as a prefix of each row (True…True then False…False, "
            "as collate's audio_mask does); right-pad the batch before augmenting"
        )
    return lengths


def _per_example(name: str, value, lead_shape: torch.Size, *, dtype=torch.float64) -> torch.Tensor:
    """A scalar or a tensor of shape ``lead_shape`` (one value per example), as a tensor."""
    t = torch.as_tensor(value, dtype=dtype)
    if t.ndim and t.shape != lead_shape:
        raise ParameterError(
            f"{name} has shape {tuple(t.shape)}: expected a scalar or one value per example, "
            f"shape {tuple(lead_shape)}"
        )
    if dtype.is_floating_point and not bool(torch.isfinite(t).all()):
        raise ParameterError(f"{name}={value!r} is invalid: expected finite numbers")
    return t.expand(lead_shape)


# --------------------------------------------------------------------------------------------
# SpecAugment
# --------------------------------------------------------------------------------------------


def spec_augment(
    spec: torch.Tensor,
    *,
    freq_masks: int = 2,
    freq_mask_param: int = 8,
    time_masks: int = 2,
    time_mask_param: int = 20,
    max_time_fraction: float = 1.0,
    mask: torch.Tensor | None = None,
    mask_value: float | str = "mean",
    generator: torch.Generator | None = None,
    return_mask: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Frequency and time masking of SpecAugment (Park et al., 2019), without time warping.

    For each example (every index of the leading dimensions of ``spec``, shape
    ``(..., freq, frames)``) independently:

    * ``freq_masks`` times: draw a width ``f ~ U{0, …, min(freq_mask_param, n_freq)}`` and a start
      ``f0 ~ U{0, …, n_freq - f}``, and set bins ``[f0, f0 + f)`` to ``mask_value``;
    * ``time_masks`` times: with ``L`` the example's real length (the number of ``True`` frames of
      ``mask`` (..., frames), a prefix mask as every augmentation here takes; default all frames)
      and ``T = min(time_mask_param, floor(max_time_fraction · L))``, draw ``t ~ U{0, …, T}`` and
      ``t0 ~ U{0, …, L - t}`` and set frames ``[t0, t0 + t)`` to ``mask_value``.

    Time masks therefore lie inside the real frames: padded frames (index ``>= L``) are returned
    exactly as given. Masks may overlap. ``mask_value="mean"`` (default) fills with each example's
    mean over its real frames (all bins): a masked region then carries no level cue, whatever the
    features' scale (raw dB, whose 0 lies far above speech, or normalised features, whose mean is
    0). A number fills with that number.

    Returns the augmented copy, and with ``return_mask=True`` also the boolean tensor (same shape
    as ``spec``) that is ``True`` where a value was masked.
    """
    spec = check_signal("spec", spec)
    if spec.ndim < 2:
        raise ParameterError(f"spec has shape {tuple(spec.shape)}: expected (..., freq, frames)")
    freq_masks = check_positive_int("freq_masks", freq_masks, minimum=0)
    time_masks = check_positive_int("time_masks", time_masks, minimum=0)
    freq_mask_param = check_positive_int("freq_mask_param", freq_mask_param, minimum=0)
    time_mask_param = check_positive_int("time_mask_param", time_mask_param, minimum=0)
    max_time_fraction = check_positive_float("max_time_fraction", max_time_fraction, what="share of real frames")
    if max_time_fraction > 1:
        raise ParameterError(f"max_time_fraction={max_time_fraction} is invalid: expected a share in (0, 1]")
    *lead, n_freq, n_frames = spec.shape
    lead = torch.Size(lead)
    if mask is None:
        length_t = torch.full(lead, n_frames, dtype=torch.long)
    else:
        mask = _check_mask(mask, spec[..., 0, :], name="mask")
        length_t = _prefix_lengths(mask).cpu()
    if not (mask_value == "mean" or (isinstance(mask_value, (int, float)) and math.isfinite(mask_value))):
        raise ParameterError(f"mask_value={mask_value!r} is invalid: expected 'mean' or a finite number")
    n = int(lead.numel())
    length_flat = length_t.reshape(n)

    # Frequency masks: (n, freq_masks) widths and starts.
    f_width = _randint(torch.full((n, freq_masks), min(freq_mask_param, n_freq)), generator)
    f_start = _randint(n_freq - f_width, generator)
    bins = torch.arange(n_freq)
    f_hit = ((bins >= f_start[..., None]) & (bins < (f_start + f_width)[..., None])).any(1)  # (n, freq)

    # Time masks, inside the real frames of each example.
    t_cap = torch.minimum(
        torch.full((n,), time_mask_param), (length_flat.double() * max_time_fraction).floor().long()
    )
    t_width = _randint(t_cap[:, None].expand(n, time_masks), generator)
    t_start = _randint(length_flat[:, None] - t_width, generator)
    frames = torch.arange(n_frames)
    t_hit = ((frames >= t_start[..., None]) & (frames < (t_start + t_width)[..., None])).any(1)  # (n, frames)

    hit = (f_hit[:, :, None] | t_hit[:, None, :]).reshape(*lead, n_freq, n_frames)
    # A frequency mask covers the real frames only, never the padding.
    real = (frames < length_flat[:, None]).reshape(*lead, 1, n_frames)
    hit = (hit & real).to(spec.device)
    if mask_value == "mean":
        weights = real.to(device=spec.device, dtype=spec.dtype)
        count = (weights.sum(-1, keepdim=True) * n_freq).clamp_min(1)
        fill = (spec * weights).sum((-2, -1), keepdim=True) / count
        out = torch.where(hit, fill, spec)
    else:
        out = spec.masked_fill(hit, float(mask_value))
    return (out, hit) if return_mask else out


# --------------------------------------------------------------------------------------------
# waveform augmentations
# --------------------------------------------------------------------------------------------


def add_noise(
    waveform: torch.Tensor,
    *,
    snr_db: float | torch.Tensor,
    noise: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add noise at a signal-to-noise ratio of exactly ``snr_db`` decibels.

    With ``P(s) = mean(s²)`` over the real samples (``mask``, default all), the noise ``n`` (white
    Gaussian drawn from ``generator`` when ``noise`` is None, else the given tensor broadcastable to
    ``waveform``) is scaled by ``a = sqrt(P(x) / (P(n) · 10**(snr_db/10)))`` and the result is
    ``x + a·n`` on real samples; padded samples are returned unchanged. ``snr_db`` is a scalar or
    one value per example (shape = the leading dimensions). A silent example (``P(x) = 0``) has no
    defined SNR and is returned unchanged.
    """
    waveform = check_signal("waveform", waveform)
    mask = _check_mask(mask, waveform)
    lead = waveform.shape[:-1]
    snr = _per_example("snr_db", snr_db, lead).to(waveform.device)
    if noise is None:
        noise = torch.randn(waveform.shape, generator=generator, dtype=torch.float64).to(waveform.device)
    else:
        noise = check_signal("noise", noise)
        if noise.shape[-1] != waveform.shape[-1]:
            raise ParameterError(
                f"noise has {noise.shape[-1]} samples: expected as many as waveform ({waveform.shape[-1]}); "
                "crop or tile the noise first"
            )
        noise = noise.to(device=waveform.device, dtype=torch.float64).expand(waveform.shape)
    x = waveform.to(torch.float64)
    if mask is not None:
        noise = noise * mask
        count = mask.sum(-1).clamp_min(1)
        p_signal = (x.square() * mask).sum(-1) / count
    else:
        count = x.shape[-1]
        p_signal = x.square().mean(-1)
    p_noise = noise.square().sum(-1) / count
    silent_noise = (p_noise == 0) & (p_signal > 0)
    if bool(silent_noise.any()):
        raise ParameterError("noise is all zeros over the real samples of some example: no SNR can be reached")
    scale = torch.where(
        p_signal > 0, torch.sqrt(p_signal / (p_noise.clamp_min(1e-300) * 10 ** (snr / 10))), torch.zeros_like(p_signal)
    )
    return (x + scale[..., None] * noise).to(waveform.dtype)


def gain(waveform: torch.Tensor, *, gain_db: float | torch.Tensor) -> torch.Tensor:
    """Multiply by ``10**(gain_db / 20)`` (a scalar or one value per example). No clipping."""
    waveform = check_signal("waveform", waveform)
    g = _per_example("gain_db", gain_db, waveform.shape[:-1]).to(waveform.device)
    return (waveform.to(torch.float64) * 10 ** (g[..., None] / 20)).to(waveform.dtype)


def random_gain(
    waveform: torch.Tensor,
    *,
    min_gain_db: float = -6.0,
    max_gain_db: float = 6.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """:func:`gain` with ``gain_db ~ U[min_gain_db, max_gain_db]`` drawn per example."""
    waveform = check_signal("waveform", waveform)
    if not (math.isfinite(min_gain_db) and math.isfinite(max_gain_db)) or min_gain_db > max_gain_db:
        raise ParameterError(
            f"min_gain_db={min_gain_db}, max_gain_db={max_gain_db} is invalid: expected finite numbers "
            "with min_gain_db <= max_gain_db"
        )
    u = _uniform(waveform.shape[:-1], generator)
    return gain(waveform, gain_db=min_gain_db + (max_gain_db - min_gain_db) * u)


def time_shift(
    waveform: torch.Tensor,
    *,
    max_shift: int | None = None,
    shift: int | torch.Tensor | None = None,
    mode: str = "roll",
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Shift each example's real samples by ``shift`` samples (positive = later), keeping the length.

    Give either ``shift`` (a scalar or one integer per example) or ``max_shift`` (each example
    draws ``shift ~ U{-max_shift, …, max_shift}`` from ``generator``). With ``mask`` (a prefix mask,
    as collate returns) the shift happens within each example's real length ``L`` and padded samples
    are untouched. ``mode="roll"`` wraps around: ``y[t] = x[(t - shift) mod L]``; ``mode="zero"``
    fills the vacated samples with zeros: ``y[t] = x[t - shift]`` if ``0 <= t - shift < L`` else 0.
    """
    waveform = check_signal("waveform", waveform)
    check_choice("mode", mode, ("roll", "zero"))
    mask = _check_mask(mask, waveform)
    lead = waveform.shape[:-1]
    n_time = waveform.shape[-1]
    if (shift is None) == (max_shift is None):
        raise ParameterError("time_shift needs exactly one of shift= (samples) or max_shift= (random shifts)")
    if shift is None:
        max_shift = check_positive_int("max_shift", max_shift, minimum=0, what="samples")
        shift_t = _randint(torch.full(lead, 2 * max_shift), generator) - max_shift
    else:
        shift_t = _per_example("shift", shift, lead, dtype=torch.long)
    lengths = _prefix_lengths(mask) if mask is not None else torch.full(lead, n_time, device=waveform.device)
    lengths = lengths.to(waveform.device)
    shift_t = shift_t.to(waveform.device)
    t = torch.arange(n_time, device=waveform.device)
    source = t - shift_t[..., None]
    real = t < lengths[..., None]
    if mode == "roll":
        source = torch.remainder(source, lengths[..., None].clamp_min(1))
        valid = real
    else:
        valid = real & (source >= 0) & (source < lengths[..., None])
    gathered = torch.gather(waveform, -1, torch.where(valid, source, t.expand_as(source)))
    shifted = torch.where(valid, gathered, torch.zeros_like(gathered))
    return torch.where(real, shifted, waveform)


def _factors(name_lo: str, lo: float, name_hi: str, hi: float, n: int, generator) -> torch.Tensor:
    lo_f = check_positive_float(name_lo, lo) if "factor" in name_lo else float(lo)
    hi_f = check_positive_float(name_hi, hi) if "factor" in name_hi else float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)) or lo_f > hi_f:
        raise ParameterError(f"{name_lo}={lo}, {name_hi}={hi} is invalid: expected finite numbers with {name_lo} <= {name_hi}")
    return lo_f + (hi_f - lo_f) * _uniform((n,), generator)


def speed_perturb_batch(
    waveform: torch.Tensor,
    *,
    sample_rate: float,
    mask: torch.Tensor | None = None,
    min_factor: float = 0.9,
    max_factor: float = 1.1,
    factors: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Speed perturbation of a batch (B, T): each example's real part played ``s`` times faster.

    ``s ~ U[min_factor, max_factor]`` per example (or the given ``factors`` (B,)), applied with
    :func:`polysense.signal.perturb.speed_perturb` (soxr). Returns ``(waveform (B, T'), mask (B, T'))``
    with ``T'`` the longest new real length and zeros after each example's new length (``L / s`` to
    within a sample: soxr's output length).
    """
    waveform = check_signal("waveform", waveform)
    if waveform.ndim != 2:
        raise ParameterError(f"waveform has shape {tuple(waveform.shape)}: expected a batch (batch, samples)")
    mask = _check_mask(mask, waveform)
    lengths = _prefix_lengths(mask) if mask is not None else torch.full((waveform.shape[0],), waveform.shape[1])
    if factors is None:
        factors = _factors("min_factor", min_factor, "max_factor", max_factor, waveform.shape[0], generator)
    else:
        factors = _per_example("factors", factors, waveform.shape[:1])
    pieces = []
    for x, length, s in zip(waveform, lengths.tolist(), factors.tolist(), strict=True):
        pieces.append(speed_perturb(x[:length], factor=s, sample_rate=sample_rate) if length else x[:0])
    out_len = max(1, max(p.shape[-1] for p in pieces))
    out = waveform.new_zeros(waveform.shape[0], out_len)
    new_mask = torch.zeros(waveform.shape[0], out_len, dtype=torch.bool, device=waveform.device)
    for i, p in enumerate(pieces):
        out[i, : p.shape[-1]] = p
        new_mask[i, : p.shape[-1]] = True
    return out, new_mask


def pitch_shift_batch(
    waveform: torch.Tensor,
    *,
    sample_rate: float,
    mask: torch.Tensor | None = None,
    min_semitones: float = -2.0,
    max_semitones: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pitch shift of each example's real part by ``n ~ U[min_semitones, max_semitones]`` semitones.

    :func:`polysense.signal.perturb.pitch_shift` per example; lengths, mask and padding are kept.
    """
    waveform = check_signal("waveform", waveform)
    if waveform.ndim != 2:
        raise ParameterError(f"waveform has shape {tuple(waveform.shape)}: expected a batch (batch, samples)")
    mask = _check_mask(mask, waveform)
    lengths = _prefix_lengths(mask) if mask is not None else torch.full((waveform.shape[0],), waveform.shape[1])
    steps = _factors("min_semitones", min_semitones, "max_semitones", max_semitones, waveform.shape[0], generator)
    out = waveform.clone()
    for i, (length, n) in enumerate(zip(lengths.tolist(), steps.tolist(), strict=True)):
        if length:
            out[i, :length] = pitch_shift(waveform[i, :length], semitones=n, sample_rate=sample_rate)
    return out


# --------------------------------------------------------------------------------------------
# mixup
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixupOutput:
    """The result of :func:`mixup`.

    ``inputs``: ``lam·x + (1 - lam)·x[index]``; ``targets``: the same mixture of the targets as
    ``(N, num_classes)`` float weights (each row sums to 1 for one-hot/probability targets);
    ``lam``: the weight of each example's own input, shape ``(N,)``; ``index``: the partner of each
    example; ``mask``: ``mask | mask[index]`` (real wherever either input is), or None.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    lam: torch.Tensor
    index: torch.Tensor
    mask: torch.Tensor | None


def mixup(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float = 0.2,
    num_classes: int | None = None,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> MixupOutput:
    """Mixup (Zhang et al., 2018) of a batch with a random permutation of itself.

    ``inputs`` has shape ``(N, ...)``; ``targets`` is ``(N,)`` class indices (turned one-hot with
    ``num_classes``) or ``(N, C)`` float weights. Each example ``i`` draws
    ``lam_i ~ Beta(alpha, alpha)`` (by inverting the Beta CDF at a uniform draw from ``generator``,
    so it is reproducible) and a partner ``index[i]`` (a random permutation). Train against the
    returned soft targets, e.g. ``F.cross_entropy(logits, out.targets)``.
    """
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point() or inputs.ndim < 1:
        raise ParameterError("inputs must be a floating-point tensor of shape (N, ...)")
    alpha = check_positive_float("alpha", alpha, what="Beta(alpha, alpha) concentration")
    n = inputs.shape[0]
    if not isinstance(targets, torch.Tensor) or targets.shape[0] != n:
        raise ParameterError(f"targets must be a tensor with {n} rows (one per input), got {getattr(targets, 'shape', targets)}")
    if targets.ndim == 1 and not targets.is_floating_point():
        if num_classes is None:
            raise ParameterError("targets are class indices: pass num_classes= so they can be mixed as one-hot weights")
        num_classes = check_positive_int("num_classes", num_classes)
        if n and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
            raise ParameterError(f"targets hold classes outside [0, {num_classes}): got {targets.unique().tolist()}")
        soft = torch.nn.functional.one_hot(targets.long(), num_classes).to(inputs.dtype)
    elif targets.ndim == 2 and targets.is_floating_point():
        soft = targets.to(inputs.dtype)
    else:
        raise ParameterError(
            f"targets has shape {tuple(targets.shape)} and dtype {targets.dtype}: expected (N,) integer "
            "class indices or (N, C) float weights"
        )
    mask = _check_mask(mask, inputs)
    u = _uniform((n,), generator).clamp(1e-12, 1 - 1e-12).numpy()
    lam = torch.from_numpy(scipy.special.betaincinv(alpha, alpha, u)).to(device=inputs.device, dtype=inputs.dtype)
    index = torch.randperm(n, generator=generator).to(inputs.device)
    lam_x = lam.reshape(n, *([1] * (inputs.ndim - 1)))
    mixed = lam_x * inputs + (1 - lam_x) * inputs[index]
    mixed_targets = lam[:, None] * soft + (1 - lam[:, None]) * soft[index]
    mixed_mask = None if mask is None else mask | mask[index]
    return MixupOutput(inputs=mixed, targets=mixed_targets, lam=lam, index=index, mask=mixed_mask)


# --------------------------------------------------------------------------------------------
# nn.Module wrappers
# --------------------------------------------------------------------------------------------


class _Seeded(nn.Module):
    """Holds a CPU generator seeded once; subclasses augment only in training mode."""

    def __init__(self, seed: int | None) -> None:
        super().__init__()
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))


class SpecAugment(_Seeded):
    """Module form of :func:`spec_augment`: ``forward(spec, mask=None)``; identity in eval mode."""

    def __init__(
        self,
        *,
        freq_masks: int = 2,
        freq_mask_param: int = 8,
        time_masks: int = 2,
        time_mask_param: int = 20,
        max_time_fraction: float = 1.0,
        mask_value: float | str = "mean",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.params = dict(
            freq_masks=freq_masks,
            freq_mask_param=freq_mask_param,
            time_masks=time_masks,
            time_mask_param=time_mask_param,
            max_time_fraction=max_time_fraction,
            mask_value=mask_value,
        )

    def forward(self, spec: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training:
            return spec
        return spec_augment(spec, mask=mask, generator=self.generator, **self.params)


class AddNoise(_Seeded):
    """Module form of :func:`add_noise` with white noise at ``snr_db``; identity in eval mode."""

    def __init__(self, *, snr_db: float, seed: int | None = None) -> None:
        super().__init__(seed)
        self.snr_db = float(snr_db)

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training:
            return waveform
        return add_noise(waveform, snr_db=self.snr_db, mask=mask, generator=self.generator)


class RandomGain(_Seeded):
    """Module form of :func:`random_gain`; identity in eval mode."""

    def __init__(self, *, min_gain_db: float = -6.0, max_gain_db: float = 6.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.min_gain_db, self.max_gain_db = float(min_gain_db), float(max_gain_db)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return waveform
        return random_gain(
            waveform, min_gain_db=self.min_gain_db, max_gain_db=self.max_gain_db, generator=self.generator
        )


class TimeShift(_Seeded):
    """Module form of :func:`time_shift` with random shifts up to ``max_shift``; identity in eval mode."""

    def __init__(self, *, max_shift: int, mode: str = "roll", seed: int | None = None) -> None:
        super().__init__(seed)
        self.max_shift = check_positive_int("max_shift", max_shift, minimum=0)
        self.mode = check_choice("mode", mode, ("roll", "zero"))

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training:
            return waveform
        return time_shift(waveform, max_shift=self.max_shift, mode=self.mode, mask=mask, generator=self.generator)


class SpeedPerturb(_Seeded):
    """Module form of :func:`speed_perturb_batch`: ``forward(waveform, mask) -> (waveform, mask)``;
    identity in eval mode."""

    def __init__(self, *, sample_rate: float, min_factor: float = 0.9, max_factor: float = 1.1,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.sample_rate, self.min_factor, self.max_factor = float(sample_rate), float(min_factor), float(max_factor)

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor | None = None):
        if not self.training:
            return waveform, mask
        return speed_perturb_batch(waveform, sample_rate=self.sample_rate, mask=mask, min_factor=self.min_factor,
                                   max_factor=self.max_factor, generator=self.generator)
