"""Whisper's pretrained encoder as an audio tower (``"whisper_encoder"``), loaded offline.

``forward(waveform (B, T), mask (B, T)) -> EncoderOutput``: each item's real samples are
resampled to 16 kHz, turned into Whisper's log-mel features
(:func:`~polysense.models.whisper.features.whisper_log_mel`) and run through the encoder
(:class:`~polysense.models.whisper.model.WhisperEncoder`, the weights of
:func:`~polysense.models.whisper.weights.find_whisper`). ``tokens`` are the encoder states of the
real audio (20 ms each), ``pooled`` their masked mean.

``input`` decides what the encoder sees:

* ``"real"`` (default): the item's own frames only, batched with a mask (no attention to
  padding): a 0.5-s word costs 25 encoder positions, not 1500;
* ``"padded"``: the reference's input, the features zero-padded to 30 s; the states of the real
  audio are still the only ones returned and pooled (pooling over the padding loses most of the
  speech: measured in the issue, 0.45 vs 0.92-0.97 for one-speaker transfer).

RESULTS.md (benchmarks/pretrained.py) measures the two against each other. Recordings longer
than 30 s are cut to their first 30 s (the encoder's context).

Frozen (the default: ``trainable_blocks=0``) the tower is a fixed function of the waveform, and
its outputs are cached per distinct clip (:class:`~polysense.models.encoders.tower_cache.TowerCache`),
so an epoch after the first costs no encoder time. ``trainable_blocks=k`` fine-tunes the last k
blocks and the final LayerNorm (the cache is then off).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_int, check_sample_rate
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.encoders.tower_cache import TowerCache
from polysense.models.layers import check_mask, masked_mean
from polysense.models.registry import register
from polysense.models.whisper.features import SAMPLE_RATE, whisper_log_mel
from polysense.models.whisper.weights import load_whisper
from polysense.signal.resample import expected_length

__all__ = ["WhisperAudioEncoder"]

INPUTS = ("real", "padded")


def _content_frames(num_samples_16k: int, max_frames: int) -> int:
    # feature frames the reference transcribes (n // 160; the last frame of n // 160 + 1 dropped)
    return max(1, min(max_frames, num_samples_16k // 160))


@register("encoder", "whisper_encoder")
class WhisperAudioEncoder(nn.Module):
    """Whisper's encoder over raw waveforms (module docstring).

    Args:
        sample_rate: rate of the waveforms given to ``forward`` (Hz); resampled to 16 kHz.
        weights: model folder or file (None: ``$POLYSENSE_WHISPER``, the packaged base model, the caches).
        trainable_blocks: fine-tune this many of the last encoder blocks (0 = frozen).
        input: ``"real"`` or ``"padded"`` (module docstring).
        normalize: L2-normalise ``pooled``.
        cache_rows: clips whose outputs are kept while frozen (0: no cache).
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        *,
        weights: str | None = None,
        trainable_blocks: int = 0,
        input: str = "real",  # noqa: A002  (the config key)
        normalize: bool = False,
        cache_rows: int = 8192,
    ) -> None:
        super().__init__()
        self.sample_rate = int(check_sample_rate(sample_rate, integer=True))
        self.input = check_choice("input", input, INPUTS)
        self.normalize = bool(normalize)
        model, files = load_whisper(os.path.expanduser(weights) if weights else None)
        self.weights = files.describe()
        self.encoder = model.encoder  # the decoder is not kept
        self.dims = model.dims
        self.dim = model.dims.n_audio_state
        depth = len(self.encoder.blocks)
        self.trainable_blocks = check_positive_int("trainable_blocks", trainable_blocks, minimum=0)
        if self.trainable_blocks > depth:
            raise ParameterError(
                f"trainable_blocks={trainable_blocks} exceeds the {depth} blocks of this Whisper encoder "
                f"({model.dims.name}): choose 0 to {depth}"
            )
        self.encoder.requires_grad_(False)
        if self.trainable_blocks:
            for block in self.encoder.blocks[depth - self.trainable_blocks :]:
                block.requires_grad_(True)
            self.encoder.transformer.norm.requires_grad_(True)
        cache_rows = check_positive_int("cache_rows", cache_rows, minimum=0, what="cached clips")
        self.cache = TowerCache(cache_rows) if cache_rows else None

    @property
    def frozen(self) -> bool:
        return not any(p.requires_grad for p in self.encoder.parameters())

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        if self.cache is not None:
            self.cache.clear()  # new weights: every cached output is stale
        super()._load_from_state_dict(*args, **kwargs)

    def tokens_for(self, num_samples: int) -> int:
        """Encoder positions of the real audio of a clip of ``num_samples`` input samples."""
        n16 = expected_length(num_samples, orig_sample_rate=self.sample_rate, new_sample_rate=SAMPLE_RATE)
        return (_content_frames(n16, self.encoder.max_frames) + 1) // 2

    def _features(self, waveform: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        items = []
        for i, n in enumerate(lengths):
            features = whisper_log_mel(waveform[i, : max(1, n)], sample_rate=self.sample_rate, n_mels=self.dims.n_mels)
            items.append(features[:, : _content_frames((features.shape[-1] - 1) * 160, self.encoder.max_frames)])
        width = self.encoder.max_frames if self.input == "padded" else max(f.shape[-1] for f in items)
        batch = torch.stack([F.pad(f, (0, width - f.shape[-1])) for f in items])
        if self.input == "padded":  # the reference sees the zero-padded features, all of them
            frame_mask = torch.ones(batch.shape[0], width, dtype=torch.bool, device=batch.device)
        else:
            counts = torch.tensor([f.shape[-1] for f in items], device=batch.device)
            frame_mask = torch.arange(width, device=batch.device)[None] < counts[:, None]
        real = torch.tensor([(f.shape[-1] + 1) // 2 for f in items], device=batch.device)
        return batch, frame_mask, real

    def _run(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = mask.sum(dim=1).tolist()
        features, frame_mask, real = self._features(waveform, lengths)
        states, _ = self.encoder(features.to(self.encoder.conv1.weight.dtype), frame_mask)
        width = int(real.max())
        states = states[:, :width]
        token_mask = torch.arange(width, device=states.device)[None] < real[:, None]
        states = states * token_mask[..., None].to(states.dtype)
        pooled = masked_mean(states, token_mask)
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return states, pooled

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        if waveform.ndim != 2:
            raise ParameterError(f"waveform has shape {tuple(waveform.shape)}: expected (batch, samples)")
        if mask is None:
            mask = torch.ones_like(waveform, dtype=torch.bool)
        mask = check_mask(mask, waveform.shape)
        if self.frozen and self.cache is not None:
            with torch.no_grad():
                return self.cache(self._run, waveform, mask, dtype=self.encoder.conv1.weight.dtype,
                                  token_count=self.tokens_for)
        states, pooled = self._run(waveform, mask)
        token_mask = torch.arange(states.shape[1], device=states.device)[None] < torch.tensor(
            [self.tokens_for(int(n)) for n in mask.sum(dim=1).tolist()], device=states.device)[:, None]
        return EncoderOutput(tokens=states, mask=token_mask, pooled=pooled)
