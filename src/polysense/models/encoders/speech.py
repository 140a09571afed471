"""A compact speech encoder for short words: ``speech_cnn``.

Built for isolated words of ~0.3-1 s (spoken digits) from few speakers, where a large model
memorises voices. The front end is :class:`~polysense.models.encoders.audio.LogMelFrontEnd`
(per-band CMVN by default, and the training-only perturbations it offers: speed, VTLP,
SpecAugment). Then::

    log-mel (B, 1, n_mels, frames)
      -> blocks of [conv3x3 - BatchNorm - ReLU] x convs_per_block - max-pool (2 in mel, time_pool in time)
      -> per frame: channels x remaining mel bins -> linear -> dim      (tokens, (B, frames', dim))
      -> optional bidirectional GRU over the tokens                     (word order)
      -> pooled statistics: [masked mean ; masked std] over real frames -> linear -> dim

Padding is ignored exactly as in :class:`~polysense.models.encoders.audio.AudioCNN`: the map is
re-masked after every block (ReLU output >= 0, so a max-pool over zeros is the real part's max),
the GRU runs over packed real lengths and the statistics use real frames only, so in eval mode a
padded item's pooled vector equals the item alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from polysense._checks import check_choice, check_positive_int
from polysense.errors import ParameterError
from polysense.models.encoders.audio import LogMelFrontEnd
from polysense.models.encoders.base import EncoderOutput
from polysense.models.layers import check_dropout, lengths_to_mask, masked_mean
from polysense.models.registry import register

__all__ = ["SpeechCNN"]


@register("encoder", "speech_cnn")
class SpeechCNN(nn.Module):
    """Compact CNN (+ optional BiGRU) with pooled statistics over a log-mel front end.

    Args:
        sample_rate, n_fft, hop_length, n_mels, f_min_hz, f_max_hz: the front end (defaults for
            8 kHz speech: 32 ms windows, 10 ms hop, 40 bands).
        frontend: further :class:`LogMelFrontEnd` options (``normalize`` defaults to ``"cmvn"``;
            ``speed_perturb``, ``vtlp_alpha``, ``spec_augment``, ``seed``).
        channels: output channels of each block. convs_per_block: conv layers per block.
        time_pool: pooling factor along time in each block (1 keeps every frame).
        rnn: ``"none"`` or ``"gru"`` (one bidirectional layer of width ``dim``/2 per direction).
        pool: ``"stats"`` (mean and standard deviation) or ``"mean"``.
        dim: width of the tokens and of the pooled vector. dropout: on tokens and pooled vector.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        n_fft: int = 256,
        hop_length: int = 80,
        n_mels: int = 40,
        f_min_hz: float = 20.0,
        f_max_hz: float | None = None,
        frontend: dict | None = None,
        channels: Sequence[int] = (32, 64, 128),
        convs_per_block: int = 1,
        time_pool: int = 2,
        rnn: str = "none",
        pool: str = "stats",
        dim: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        options = {"normalize": "cmvn", **dict(frontend or {})}
        self.frontend = LogMelFrontEnd(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                                       f_min_hz=f_min_hz, f_max_hz=f_max_hz, **options)
        self.sample_rate = self.frontend.sample_rate
        self.n_mels = self.frontend.n_mels
        if isinstance(channels, int) or not isinstance(channels, Sequence) or len(channels) == 0:
            raise ParameterError(f"channels={channels!r} is invalid: expected a non-empty list of channel counts")
        channels = [check_positive_int("channels[]", c) for c in channels]
        convs = check_positive_int("convs_per_block", convs_per_block)
        self.time_pool = check_positive_int("time_pool", time_pool)
        self.rnn_kind = check_choice("rnn", rnn, ("none", "gru"))
        self.pool_kind = check_choice("pool", pool, ("stats", "mean"))
        self.dim = check_positive_int("dim", dim)
        if self.rnn_kind == "gru" and self.dim % 2:
            raise ParameterError(f"dim={dim} must be even with rnn='gru' (dim/2 per direction)")
        self.blocks = nn.ModuleList()
        previous, mels = 1, self.n_mels
        for out in channels:
            layers: list[nn.Module] = []
            for _ in range(convs):
                layers += [nn.Conv2d(previous, out, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
                previous = out
            self.blocks.append(nn.Sequential(*layers))
            mels = (mels + 1) // 2
        self.pool = nn.MaxPool2d((2, self.time_pool), ceil_mode=True)
        self.proj = nn.Linear(previous * mels, self.dim)
        self.rnn = nn.GRU(self.dim, self.dim // 2, batch_first=True, bidirectional=True) if self.rnn_kind == "gru" else None
        self.out = nn.Linear((2 if self.pool_kind == "stats" else 1) * self.dim, self.dim)
        self.drop = nn.Dropout(check_dropout("dropout", dropout))

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        if not isinstance(audio, torch.Tensor) or audio.ndim != 2 or not audio.is_floating_point():
            raise ParameterError(f"audio must be a float waveform batch (batch, time), got {getattr(audio, 'shape', audio)}")
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.shape != audio.shape:
                raise ParameterError(f"mask must have the waveform's shape {tuple(audio.shape)} (True = real sample)")
            mask = mask.bool()
        features, frame_mask = self.frontend(audio, mask)
        x = features.unsqueeze(1)
        lengths = frame_mask.sum(-1)
        for block in self.blocks:
            x = block(x) * frame_mask[:, None, None, :].to(x.dtype)
            x = self.pool(x)
            lengths = (lengths + self.time_pool - 1) // self.time_pool
            frame_mask = lengths_to_mask(lengths, x.shape[-1])
        b, c, m, t = x.shape
        tokens = self.drop(torch.relu(self.proj(x.permute(0, 3, 1, 2).reshape(b, t, c * m))))
        if self.rnn is not None:
            packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths.clamp_min(1).cpu(), batch_first=True,
                                                       enforce_sorted=False)
            out, _ = self.rnn(packed)
            tokens, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
        tokens = tokens * frame_mask.unsqueeze(-1).to(tokens.dtype)
        mean = masked_mean(tokens, frame_mask)
        if self.pool_kind == "stats":
            var = masked_mean((tokens - mean[:, None]).square(), frame_mask)
            stats = torch.cat([mean, torch.sqrt(var + 1e-5)], dim=-1)
        else:
            stats = mean
        pooled = self.drop(self.out(stats))
        return EncoderOutput(tokens=tokens, mask=frame_mask, pooled=pooled)
