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

from polysense._checks import check_choice, check_positive_float, check_positive_int, check_sample_rate
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.encoders.tower_cache import TowerCache
from polysense.models.layers import check_mask, lengths_to_mask, masked_mean
from polysense.models.registry import register
from polysense.models.whisper.features import SAMPLE_RATE, content_frames, trim_to_content, whisper_log_mel
from polysense.models.whisper.weights import load_whisper
from polysense.signal.resample import expected_length

__all__ = ["WhisperAudioEncoder"]

INPUTS = ("real", "padded")


@register("encoder", "whisper_encoder")
class WhisperAudioEncoder(nn.Module):
    """Whisper's encoder over raw waveforms (module docstring).

    Args:
        sample_rate: rate of the waveforms given to ``forward`` (Hz); resampled to 16 kHz.
        weights: model folder or file (None: ``$POLYSENSE_WHISPER``, the packaged base model, the caches).
        trainable_blocks: fine-tune this many of the last encoder blocks (0 = frozen).
        input: ``"real"`` or ``"padded"`` (module docstring).
        min_seconds: with ``input="real"``, features shorter than this are zero-padded to it (the
            encoder then attends to a little of the silence it always saw in training; tokens and
            pooling still cover the real audio only). 0 disables.
        pool_layers: blocks whose states are pooled, 1-based (the last = the encoder's output,
            after its final LayerNorm; earlier ones through a LayerNorm without weights), their
            means concatenated: ``dim = 512 · len(pool_layers)`` for base. Default: the last only.
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
        min_seconds: float = 1.0,
        pool_layers: list[int] | None = None,
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
        depth = len(self.encoder.blocks)
        self.min_frames = round(100 * check_positive_float("min_seconds", min_seconds, allow_zero=True))
        layers = [depth] if pool_layers is None else list(pool_layers)
        if not layers or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= depth for k in layers):
            raise ParameterError(f"pool_layers={pool_layers!r} is invalid: expected a list of block numbers 1 to {depth}")
        self.pool_layers = layers
        self.dim = model.dims.n_audio_state * len(layers)
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

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # new weights make every cached output stale; the same weights again (a run's best epoch
        # restored, a frozen tower reloaded) keep them
        if self.cache is not None and len(self.cache):
            current = self.state_dict()
            same = all(torch.equal(state_dict.get(prefix + key, torch.empty(0)), value) for key, value in current.items())
            if not same:
                self.cache.clear()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def tokens_for(self, num_samples: int) -> int:
        """Encoder positions of the real audio of a clip of ``num_samples`` input samples."""
        n16 = expected_length(num_samples, orig_sample_rate=self.sample_rate, new_sample_rate=SAMPLE_RATE)
        return (content_frames(n16, self.encoder.max_frames) + 1) // 2

    def _features(self, waveform: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features (B, n_mels, width), frame mask of what the encoder sees, real token counts (B,))."""
        items = [trim_to_content(whisper_log_mel(waveform[i, : max(1, n)], sample_rate=self.sample_rate,
                                                 n_mels=self.dims.n_mels), self.encoder.max_frames)
                 for i, n in enumerate(lengths)]
        # the encoder sees zero-padded features up to its input length (30 s, or at least
        # min_seconds): every item alone would be padded the same, so a batch equals its items
        floor = self.encoder.max_frames if self.input == "padded" else min(self.min_frames, self.encoder.max_frames)
        seen = torch.tensor([max(f.shape[-1], floor) for f in items], device=waveform.device)
        width = int(seen.max())
        batch = torch.stack([F.pad(f, (0, width - f.shape[-1])) for f in items])
        real = torch.tensor([(f.shape[-1] + 1) // 2 for f in items], device=waveform.device)
        return batch, lengths_to_mask(seen, width), real

    def _encode(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(token states of the real audio, pooled, token mask)."""
        features, frame_mask, real = self._features(waveform, mask.sum(dim=1).tolist())
        states, _, hidden = self.encoder(features.to(self.encoder.conv1.weight.dtype), frame_mask, return_hidden=True)
        width = int(real.max())
        token_mask = lengths_to_mask(real, width)
        depth = len(self.encoder.blocks)
        pooled = [masked_mean(states[:, :width] if k == depth else F.layer_norm(hidden[k][:, :width], (states.shape[-1],)),
                              token_mask) for k in self.pool_layers]
        pooled = torch.cat(pooled, dim=-1)
        states = states[:, :width] * token_mask[..., None].to(states.dtype)
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return states, pooled, token_mask

    def _run(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the tower as TowerCache calls it; the cache derives the mask from tokens_for
        states, pooled, _ = self._encode(waveform, mask)
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
        states, pooled, token_mask = self._encode(waveform, mask)
        return EncoderOutput(tokens=states, mask=token_mask, pooled=pooled)
