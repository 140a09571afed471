"""The batch schema every model reads: where each modality sits in a batch dict, which samples
have it, and how an encoder is run on it.

A batch is a dict as :func:`polysense.data.collate.collate` makes it. Modality ``m`` is read
from :data:`MODALITY_KEYS` (``"audio"`` + ``"audio_mask"``, ``"image"``, ``"text"`` →
``"input_ids"`` + ``"text_mask"``; any other name ``m`` → ``m`` + ``"m_mask"``). A modality is
missing for a whole batch when its input key is absent (or None), and for single samples
through an optional ``"m_present"`` (B,) bool tensor (False = missing; the sample's input must
still be finite, e.g. zero padding, and is ignored). Audio batches carry their
``"sample_rate"`` (int, Hz), which :func:`encode_modality` checks against the encoder's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.signal.resample import resample

__all__ = [
    "MODALITY_KEYS",
    "SAMPLE_RATE_KEY",
    "batch_size",
    "check_sample_rate_of",
    "check_some_present",
    "encode_modality",
    "encode_required",
    "first_input",
    "has_modality",
    "modality_keys",
    "modality_presence",
    "presence_key",
]

#: Batch keys of the built-in modalities: (input key, padding-mask key).
MODALITY_KEYS: dict[str, tuple[str, str]] = {
    "audio": ("audio", "audio_mask"),
    "image": ("image", "image_mask"),
    "text": ("input_ids", "text_mask"),
}

#: The batch key of the audio's sample rate (an int, Hz).
SAMPLE_RATE_KEY = "sample_rate"


def modality_keys(modality: str) -> tuple[str, str]:
    """The (input key, mask key) of ``modality`` in a batch dict (``m``, ``m_mask`` by default)."""
    return MODALITY_KEYS.get(modality, (modality, f"{modality}_mask"))


def presence_key(modality: str) -> str:
    """The batch key of the optional per-sample presence mask of ``modality``: ``"<m>_present"``."""
    return f"{modality}_present"


def has_modality(batch: Mapping[str, Any], modality: str) -> bool:
    """True when the batch holds ``modality``'s input (for at least some samples)."""
    return batch.get(modality_keys(modality)[0]) is not None


def _resample_audio(
    audio: torch.Tensor, mask: torch.Tensor | None, *, orig_sample_rate: int, new_sample_rate: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A padded waveform batch (B, T) at ``orig_sample_rate`` resampled with soxr, and its mask
    (each item's valid length becomes ``ceil(length · new / orig)``, soxr's output length)."""
    if mask is not None:
        audio = audio * mask.to(audio.dtype)  # padding holds zeros, whatever the batch put there
    out = resample(audio, orig_sample_rate=orig_sample_rate, new_sample_rate=new_sample_rate)
    if mask is None:
        return out, None
    lengths = torch.ceil(mask.sum(dim=-1).double() * new_sample_rate / orig_sample_rate).long()
    new_mask = torch.arange(out.shape[-1], device=out.device)[None] < lengths.clamp_max(out.shape[-1])[:, None]
    return out, new_mask


def check_sample_rate_of(encoder: nn.Module, modality: str, batch: Mapping[str, Any]) -> int | None:
    """The batch's sample rate when it differs from ``encoder.sample_rate`` and the encoder
    resamples (``encoder.resample`` True); None when they agree or either is unknown.

    Raises ParameterError naming both rates when they differ and the encoder does not resample.
    """
    expected = getattr(encoder, "sample_rate", None)
    given = batch.get(SAMPLE_RATE_KEY)
    if expected is None or given is None:
        return None
    if isinstance(given, torch.Tensor):
        given = given.flatten()[0].item() if given.numel() else None
        if given is None:
            return None
    if int(given) == int(expected):
        return None
    if getattr(encoder, "resample", False):
        return int(given)
    raise ParameterError(
        f"the batch's {modality} is at sample_rate={int(given)} Hz but the {modality} encoder "
        f"{type(encoder).__name__} was built for sample_rate={int(expected)} Hz: build the encoder with "
        f"sample_rate={int(given)} (its mel axis depends on it), resample the data, or build it with resample=True"
    )


def encode_modality(encoder: nn.Module, modality: str, batch: Mapping[str, Any]) -> EncoderOutput | None:
    """Run ``encoder`` on ``modality``'s input in ``batch``; None when the batch lacks it.

    The padding mask (e.g. ``"audio_mask"``) is passed as the second argument when the batch
    has one; image encoders are called with the images alone. A waveform batch's
    ``"sample_rate"`` must equal the encoder's ``sample_rate`` (ParameterError naming both
    otherwise), unless the encoder was built with ``resample=True``: then the waveforms are
    resampled to its rate with soxr first (not differentiable; the input is data).
    """
    input_key, mask_key = modality_keys(modality)
    x = batch.get(input_key)
    if x is None:
        return None
    mask = batch.get(mask_key)
    # a rate applies to waveforms only: (B, n_mels, frames) features were computed already
    if isinstance(x, torch.Tensor) and x.ndim == 2 and x.is_floating_point():
        orig = check_sample_rate_of(encoder, modality, batch)
        if orig is not None:
            x, mask = _resample_audio(x, mask, orig_sample_rate=orig, new_sample_rate=int(encoder.sample_rate))
    out = encoder(x) if mask is None else encoder(x, mask)
    if not isinstance(out, EncoderOutput):
        raise ParameterError(
            f"the {modality!r} encoder returned {type(out).__name__}: expected an EncoderOutput(tokens, mask, pooled)"
        )
    return out


def encode_required(encoder: nn.Module, modality: str, batch: Mapping[str, Any]) -> EncoderOutput:
    """:func:`encode_modality`, raising ParameterError when the batch lacks ``modality``."""
    out = encode_modality(encoder, modality, batch)
    if out is None:
        raise ParameterError(
            f"the batch has no {modality} input: expected the key {modality_keys(modality)[0]!r} "
            f"(found {sorted(batch)})"
        )
    return out


def first_input(batch: Mapping[str, Any], modalities: Sequence[str]) -> Any:
    """The input of the first of ``modalities`` that the batch has (to read the batch size)."""
    for modality in modalities:
        x = batch.get(modality_keys(modality)[0])
        if x is not None:
            return x
    raise ParameterError(
        f"the batch has none of the model's modalities {list(modalities)}: expected at least one of the keys "
        f"{[modality_keys(m)[0] for m in modalities]} (found {sorted(batch)})"
    )


def batch_size(batch: Mapping[str, Any], modalities: Sequence[str]) -> int:
    """Number of samples in the batch (read from the first of ``modalities`` it holds)."""
    return len(first_input(batch, modalities))


def modality_presence(batch: Mapping[str, Any], modalities: Sequence[str]) -> dict[str, torch.Tensor]:
    """Per-sample presence of each modality: ``{m: (B,) bool}``.

    False for every sample when the batch lacks the modality's input, else the batch's
    ``"<m>_present"`` mask when it has one, else True. Raises ParameterError when a sample has
    no modality at all, or a presence mask has the wrong shape.
    """
    first = first_input(batch, modalities)
    size = len(first)
    device = first.device if isinstance(first, torch.Tensor) else None
    present: dict[str, torch.Tensor] = {}
    for modality in modalities:
        key = presence_key(modality)
        if batch.get(modality_keys(modality)[0]) is None:
            present[modality] = torch.zeros(size, dtype=torch.bool, device=device)
        elif batch.get(key) is not None:
            mask = torch.as_tensor(batch[key], device=device)
            if mask.shape != (size,):
                raise ParameterError(
                    f"{key} has shape {tuple(mask.shape)}: expected ({size},) bool, one flag per sample "
                    "(False = the modality is missing for that sample)"
                )
            present[modality] = mask.bool()
        else:
            present[modality] = torch.ones(size, dtype=torch.bool, device=device)
    check_some_present(present)
    return present


def check_some_present(present: Mapping[str, torch.Tensor]) -> None:
    """Raise ParameterError when a sample has none of the modalities (``present``: {m: (B,) bool})."""
    none = ~torch.stack(list(present.values()), dim=1).any(dim=1)
    if bool(none.any()):
        rows = none.nonzero().flatten().tolist()
        raise ParameterError(
            f"samples {rows[:10]}{'...' if len(rows) > 10 else ''} have no modality present "
            f"(of {list(present)}): every sample needs at least one"
        )
