"""Audio encoders: a CNN over log-mel spectrograms and an audio spectrogram transformer (AST).

Both hold the acoustic front end (:class:`LogMelFrontEnd`, built on
:class:`polysense.signal.transforms.LogMelSpectrogram`) as a sub-module, so
raw waveforms go in: ``forward(waveform (B, T), mask (B, T) bool)``. They also accept
precomputed log-mel features ``(B, n_mels, frames)`` with a frame mask ``(B, frames)``
(``input="log_mel"`` builds no front end at all).

Padding is ignored exactly: the waveform mask becomes a frame mask computed from each item's
valid length (``1 + length // hop_length`` frames, as ``center=True`` framing gives), padded
frames are zeroed after the per-utterance normalisation (whose statistics use real frames
only), the CNN re-masks after every block, and the transformer never attends to padding. So
in eval mode an item's pooled output is the same whether or not it is padded (test: 1e-5).
"""

from __future__ import annotations

import dataclasses

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_float, check_positive_int, check_sample_rate
from polysense.data.augment import spec_augment as apply_spec_augment
from polysense.data.augment import speed_perturb_batch
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.layers import (
    PatchEmbed,
    TransformerEncoder,
    check_dropout,
    init_weights,
    lengths_to_mask,
    masked_mean,
)
from polysense.models.registry import register
from polysense.signal.normalization import cmvn, sliding_cmvn
from polysense.signal.perturb import vtlp_mel_filterbank
from polysense.signal.stft import apply_plan
from polysense.signal.transforms import LogMelSpectrogram

__all__ = ["AudioCNN", "AudioSpectrogramTransformer", "LogMelFrontEnd", "normalize_features"]

INPUTS = ("waveform", "log_mel")
NORMALIZATIONS = ("utterance", "none")


def normalize_features(
    features: torch.Tensor, frame_mask: torch.Tensor, *, mode: str = "utterance", eps: float = 1e-5
) -> torch.Tensor:
    """Normalise log-mel features (B, n_mels, frames) and zero the padded frames.

    ``"utterance"``: subtract each item's mean and divide by its standard deviation, both taken
    over its real frames (all mel bins); ``"none"``: leave the values. Padded frames become 0
    either way, which is what zero padding of a shorter input gives.
    """
    weights = frame_mask.to(features.dtype).unsqueeze(1)  # (B, 1, frames)
    if mode == "utterance":
        count = (weights.sum(dim=(1, 2)) * features.shape[1]).clamp_min(1.0)
        mean = (features * weights).sum(dim=(1, 2)) / count
        centered = features - mean[:, None, None]
        var = (centered.square() * weights).sum(dim=(1, 2)) / count
        features = centered / torch.sqrt(var + eps)[:, None, None]
    return features * weights


FRONTEND_NORMALIZATIONS = ("none", "cmvn", "sliding_cmvn")


def _range(name: str, value, lo_ok: float, hi_ok: float) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is invalid: expected [low, high] or null") from None
    if not (lo_ok <= lo <= hi <= hi_ok):
        raise ParameterError(f"{name}={value!r} is invalid: expected {lo_ok} <= low <= high <= {hi_ok}")
    return lo, hi


class LogMelFrontEnd(nn.Module):
    """Waveform (B, T) + mask (B, T) -> log-mel features (B, n_mels, frames) + frame mask.

    ``polysense.signal.transforms.LogMelSpectrogram`` (power mel spectrogram in dB, ``center=True``,
    no ``top_db`` clipping so no item's features depend on its loudest frame elsewhere).
    Samples past each item's valid length are zeroed and ``n_fft // 2`` zeros are appended, so the
    frames of a padded item equal those of the same item alone, whatever padding mode the STFT
    uses at the edges.

    Options (all off by default; the three random ones act in training mode only, so evaluation
    sees the plain features):

    * ``normalize``: ``"none"``, ``"cmvn"`` (per-band mean and variance over the item's real
      frames, :func:`polysense.signal.normalization.cmvn`) or ``"sliding_cmvn"`` (statistics over
      ``cmvn_window_frames`` frames around each frame, for long audio).
    * ``speed_perturb``: ``[low, high]``: each item's waveform is played ``s ~ U[low, high]`` times
      faster (:func:`polysense.data.augment.speed_perturb_batch`), before the STFT.
    * ``vtlp_alpha``: ``[low, high]``: each item's mel bank is read on a frequency axis warped by
      ``α ~ U[low, high]`` (:func:`polysense.signal.perturb.vtlp_mel_filterbank`).
    * ``spec_augment``: options of :func:`polysense.data.augment.spec_augment` (mask counts and
      widths in bins/frames), applied after the normalisation; masks are filled with the item's
      mean (0 after CMVN) unless ``mask_value`` says otherwise.
    * ``seed``: seeds the generator of these draws (None: ``torch.initial_seed()``).
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 400,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 64,
        f_min_hz: float = 0.0,
        f_max_hz: float | None = None,
        window: str = "hann",
        normalize: str = "none",
        cmvn_window_frames: int = 301,
        speed_perturb: Sequence[float] | None = None,
        vtlp_alpha: Sequence[float] | None = None,
        spec_augment: dict | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()

        self.sample_rate = int(check_sample_rate(sample_rate, integer=True))
        self.n_fft = check_positive_int("n_fft", n_fft, minimum=2)
        self.hop_length = check_positive_int("hop_length", hop_length)
        self.n_mels = check_positive_int("n_mels", n_mels)
        if f_max_hz is not None and f_max_hz > self.sample_rate / 2:
            raise ParameterError(
                f"f_max_hz={f_max_hz} exceeds the Nyquist frequency {self.sample_rate / 2} Hz of sample_rate={sample_rate}"
            )
        self.log_mel = LogMelSpectrogram(
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=win_length,
            window=window,
            center=True,
            n_mels=self.n_mels,
            f_min_hz=f_min_hz,
            f_max_hz=f_max_hz,
            power=2.0,
            top_db=None,
        )
        self.normalize = check_choice("normalize", normalize, FRONTEND_NORMALIZATIONS)
        self.cmvn_window_frames = check_positive_int("cmvn_window_frames", cmvn_window_frames)
        self.speed_perturb = _range("speed_perturb", speed_perturb, 0.5, 2.0)
        self.vtlp_alpha = _range("vtlp_alpha", vtlp_alpha, 0.5, 2.0)
        if spec_augment is not None and not isinstance(spec_augment, dict):
            raise ParameterError(f"spec_augment={spec_augment!r} is invalid: expected a mapping of spec_augment options or null")
        self.spec_augment = dict(spec_augment) if spec_augment else None
        if self.spec_augment is not None:
            accepted = {"freq_masks", "freq_mask_param", "time_masks", "time_mask_param", "max_time_fraction", "mask_value"}
            unknown = sorted(set(self.spec_augment) - accepted)
            if unknown:
                raise ParameterError(f"spec_augment has unknown key(s) {unknown}: accepted keys are {sorted(accepted)}")
            apply_spec_augment(torch.zeros(1, self.n_mels, 4), **self.spec_augment)  # validates the values now, not mid-training
        # None: torch.initial_seed(), the seed the trainer gave torch, so its runs are reproducible;
        # read, not drawn, so building a front end leaves the global random stream (initialisation) alone
        self.generator = torch.Generator()
        self.generator.manual_seed(torch.initial_seed() if seed is None else int(seed))

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames of real audio for valid lengths (samples): the centred STFT's frame count of each item
        alone, ``1 + (n + 2⌊N/2⌋ − N) // H`` (0 for empty), in tensor arithmetic so an exported graph
        keeps it (tested equal to :func:`polysense.signal.plan.frame_times` for every length)."""
        counts = 1 + torch.div(lengths + 2 * (self.n_fft // 2) - self.n_fft, self.hop_length, rounding_mode="floor")
        return torch.where(lengths > 0, counts.clamp(min=0), torch.zeros_like(lengths))

    def _warped_log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Log-mel (dB) with a VTLP-warped bank per item (same STFT, floor and reference as log_mel)."""
        lo, hi = self.vtlp_alpha
        alpha = lo + (hi - lo) * torch.rand(waveform.shape[0], generator=self.generator, dtype=torch.float64)
        lm = self.log_mel
        bank = vtlp_mel_filterbank(
            alpha=alpha, sample_rate=lm.sample_rate, n_fft=lm.n_fft, n_mels=lm.n_mels, f_min_hz=lm.f_min_hz,
            f_max_hz=lm.f_max_hz, mel_scale=lm.mel_scale, norm=lm.norm, dtype=waveform.dtype, device=waveform.device,
        )
        # the log-mel plan's own STFT (window buffer included), without its mel product and dB
        stft_plan = dataclasses.replace(lm.plan, window=lm.window, power=2.0, mel_bank=None, db=None)
        power = apply_plan(waveform, stft_plan)
        return lm.plan.db(torch.matmul(bank, power))  # the plain path's dB (reference, floor, top_db)

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and self.speed_perturb is not None:
            waveform, mask = speed_perturb_batch(
                waveform, sample_rate=self.sample_rate, mask=mask, min_factor=self.speed_perturb[0],
                max_factor=self.speed_perturb[1], generator=self.generator,
            )
        if mask is None:
            lengths = torch.full((waveform.shape[0],), waveform.shape[-1], dtype=torch.long, device=waveform.device)
        else:
            waveform = waveform * mask.to(waveform.dtype)
            lengths = mask.sum(dim=-1)
        waveform = F.pad(waveform, (0, self.n_fft // 2))
        if self.training and self.vtlp_alpha is not None:
            features = self._warped_log_mel(waveform)
        else:
            features = self.log_mel(waveform)
        frames = features.shape[-1]
        frame_mask = lengths_to_mask(self.num_frames(lengths).clamp_max(frames), frames)
        if self.normalize == "cmvn":
            features = cmvn(features, mask=frame_mask)
        elif self.normalize == "sliding_cmvn":
            features = sliding_cmvn(features, mask=frame_mask, window_frames=self.cmvn_window_frames, variance=True)
        if self.training and self.spec_augment is not None:
            features = apply_spec_augment(features, mask=frame_mask, generator=self.generator, **self.spec_augment)
        return features, frame_mask


class _AudioInput(nn.Module):
    """Shared input handling: waveform or precomputed features -> normalised features + frame mask."""

    def _setup_input(self, input: str, normalize: str, n_mels: int, frontend_kwargs: dict,
                     frontend: dict | None = None) -> None:
        self.input = check_choice("input", input, INPUTS)
        self.normalize = check_choice("normalize", normalize, NORMALIZATIONS)
        self.n_mels = check_positive_int("n_mels", n_mels)
        extra = dict(frontend or {})
        clash = sorted(set(extra) & (set(frontend_kwargs) | {"n_mels"}))
        if clash:
            raise ParameterError(f"frontend options {clash} are the encoder's own arguments: set them on the encoder")
        self.frontend = LogMelFrontEnd(n_mels=n_mels, **frontend_kwargs, **extra) if self.input == "waveform" else None

    def _setup_rate(self, sample_rate: int, resample: bool) -> None:
        """The rate contract read by :func:`polysense.models.batch.encode_modality`: a waveform
        batch at another ``"sample_rate"`` is an error, or resampled to ``sample_rate`` when
        ``resample``."""
        self.sample_rate = int(check_sample_rate(sample_rate, integer=True))
        self.resample = bool(resample)

    def features(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised log-mel (B, n_mels, frames) with padded frames zeroed, frame mask (B, frames))."""
        if not isinstance(audio, torch.Tensor) or not audio.is_floating_point():
            raise ParameterError("audio must be a float tensor: waveform (B, T) or log-mel features (B, n_mels, frames)")
        if mask is not None and (not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (audio.shape[0], audio.shape[-1])):
            got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ParameterError(
                f"mask has shape {got}: expected {(audio.shape[0], audio.shape[-1])} (batch, time), True = real"
            )
        if mask is not None:
            mask = mask.bool()
        if audio.ndim == 2:
            if self.frontend is None:
                raise ParameterError(
                    f"got a waveform of shape {tuple(audio.shape)} but this encoder was built with input='log_mel': "
                    "pass (batch, n_mels, frames) features or build it with input='waveform'"
                )
            features, frame_mask = self.frontend(audio, mask)
        elif audio.ndim == 3:
            if audio.shape[1] != self.n_mels:
                raise ParameterError(
                    f"features have shape {tuple(audio.shape)}: expected (batch, n_mels={self.n_mels}, frames)"
                )
            features = audio
            frame_mask = mask if mask is not None else torch.ones(
                audio.shape[0], audio.shape[-1], dtype=torch.bool, device=audio.device
            )
        else:
            raise ParameterError(
                f"audio has shape {tuple(audio.shape)}: expected a waveform (batch, time) or "
                f"log-mel features (batch, {self.n_mels}, frames)"
            )
        return normalize_features(features, frame_mask, mode=self.normalize), frame_mask


def _frontend_kwargs(sample_rate, n_fft, hop_length, win_length, f_min_hz, f_max_hz) -> dict:
    return dict(
        sample_rate=sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        f_min_hz=f_min_hz,
        f_max_hz=f_max_hz,
    )


@register("encoder", "audio_cnn")
class AudioCNN(_AudioInput):
    """A CNN over log-mel spectrograms.

    Blocks of conv3x3 - BatchNorm - ReLU - (re-mask) - max-pool 2x2 over (mel, frame); the last
    map is averaged over mel bins and each remaining time step becomes a token (linear map to
    ``dim``); pooled = masked mean of the tokens.

    Args:
        sample_rate, n_fft, hop_length, win_length, n_mels, f_min_hz, f_max_hz: the front end.
        resample: resample waveform batches whose ``"sample_rate"`` differs from ``sample_rate``
            (soxr) instead of raising (see :func:`polysense.models.batch.encode_modality`).
        input: ``"waveform"`` (front end inside) or ``"log_mel"`` (features given).
        normalize: ``"utterance"`` (per-item mean/std over real frames) or ``"none"`` (use it
            with ``frontend: {normalize: cmvn}``).
        frontend: further :class:`LogMelFrontEnd` options (CMVN, VTLP, speed perturbation,
            SpecAugment), e.g. ``{"normalize": "cmvn", "vtlp_alpha": [0.9, 1.1]}``.
        channels: output channels of each block.
        dim: token width.
        dropout: dropout on the tokens.

    ``forward(audio, mask=None) -> EncoderOutput``; each block halves the frames (rounding up).
    Padding invariance is exact in eval mode (in training, BatchNorm statistics see the zeros).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        *,
        resample: bool = False,
        n_fft: int = 400,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 64,
        f_min_hz: float = 0.0,
        f_max_hz: float | None = None,
        input: str = "waveform",
        normalize: str = "utterance",
        frontend: dict | None = None,
        channels: Sequence[int] = (32, 64, 128),
        dim: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self._setup_input(
            input, normalize, n_mels, _frontend_kwargs(sample_rate, n_fft, hop_length, win_length, f_min_hz, f_max_hz),
            frontend,
        )
        self._setup_rate(sample_rate, resample)
        if isinstance(channels, int) or not isinstance(channels, Sequence) or len(channels) == 0:
            raise ParameterError(f"channels={channels!r} is invalid: expected a non-empty list of channel counts")
        channels = [check_positive_int("channels[]", c) for c in channels]
        self.dim = check_positive_int("dim", dim)
        self.blocks = nn.ModuleList()
        previous = 1
        for out in channels:
            self.blocks.append(
                nn.Sequential(
                    nn.Conv2d(previous, out, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(),
                )
            )
            previous = out
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.proj = nn.Linear(previous, self.dim)
        self.drop = nn.Dropout(check_dropout("dropout", dropout))

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        features, frame_mask = self.features(audio, mask)
        x = features.unsqueeze(1)  # (B, 1, n_mels, frames)
        lengths = frame_mask.sum(dim=-1)
        for block in self.blocks:
            x = block(x) * frame_mask[:, None, None, :].to(x.dtype)  # padded frames back to 0 (ReLU >= 0)
            x = self.pool(x)  # max with zeros = max of the real part
            lengths = (lengths + 1) // 2
            frame_mask = lengths_to_mask(lengths, x.shape[-1])
        tokens = self.drop(self.proj(x.mean(dim=2).transpose(1, 2)))  # (B, frames', dim)
        tokens = tokens * frame_mask.unsqueeze(-1).to(tokens.dtype)
        return EncoderOutput(tokens=tokens, mask=frame_mask, pooled=masked_mean(tokens, frame_mask))


@register("encoder", "audio_spectrogram_transformer")
class AudioSpectrogramTransformer(_AudioInput):
    """AST: the log-mel spectrogram cut into patches, each linearly projected (as ViT), with a
    [CLS] token, learned frequency and time position embeddings, and a transformer.

    Args:
        sample_rate, n_fft, hop_length, win_length, n_mels, f_min_hz, f_max_hz: the front end.
        resample: resample waveform batches whose ``"sample_rate"`` differs from ``sample_rate``
            (soxr) instead of raising (see :func:`polysense.models.batch.encode_modality`).
        input, normalize: as :class:`AudioCNN`.
        patch_size: (mel bins, frames) per patch (or one int for both).
        patch_stride: step between patches (default: ``patch_size``, no overlap; AST used 10
            for 16-wide patches).
        max_frames: longest input in frames (sets the time position table).
        dim, depth, heads, mlp_ratio, dropout, attention_dropout: the transformer.
        pool: ``"cls"`` or ``"mean"`` (masked mean of the patch tokens).

    Tokens: (B, 1 + time_patches * freq_patches, dim), the [CLS] token first, then patches in
    time order (all frequency patches of the first time step, then the next), so padding is a
    suffix. A patch is real when it is needed to cover the item's real frames.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        *,
        resample: bool = False,
        n_fft: int = 400,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 64,
        f_min_hz: float = 0.0,
        f_max_hz: float | None = None,
        input: str = "waveform",
        normalize: str = "utterance",
        frontend: dict | None = None,
        patch_size: int | Sequence[int] = 16,
        patch_stride: int | Sequence[int] | None = None,
        max_frames: int = 1024,
        dim: int = 192,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        pool: str = "cls",
    ) -> None:
        super().__init__()
        self._setup_input(
            input, normalize, n_mels, _frontend_kwargs(sample_rate, n_fft, hop_length, win_length, f_min_hz, f_max_hz),
            frontend,
        )
        self._setup_rate(sample_rate, resample)
        self.dim = check_positive_int("dim", dim)
        self.max_frames = check_positive_int("max_frames", max_frames)
        self.pool = check_choice("pool", pool, ("cls", "mean"))
        check_positive_float("mlp_ratio", mlp_ratio)
        self.patch_embed = PatchEmbed(1, patch_size, self.dim, stride=patch_stride)
        (pf, pt), (sf, st) = self.patch_embed.patch_size, self.patch_embed.stride
        if pf > self.n_mels:
            raise ParameterError(f"patch_size={patch_size!r} is taller than n_mels={self.n_mels}: use smaller patches")
        self.freq_patches = PatchEmbed.patches_along(self.n_mels, pf, sf)
        self.max_time_patches = PatchEmbed.patches_along(self.max_frames, pt, st)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.dim))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, self.dim))
        self.freq_pos = nn.Parameter(torch.zeros(self.freq_patches, self.dim))
        self.time_pos = nn.Parameter(torch.zeros(self.max_time_patches, self.dim))
        self.drop = nn.Dropout(check_dropout("dropout", dropout))
        self.encoder = TransformerEncoder(
            self.dim, depth, heads, mlp_ratio=mlp_ratio, dropout=dropout, attention_dropout=attention_dropout
        )
        self.apply(init_weights)
        for table in (self.cls_token, self.cls_pos, self.freq_pos, self.time_pos):
            nn.init.trunc_normal_(table, std=0.02, a=-0.04, b=0.04)

    def time_patches(self, frames: torch.Tensor) -> torch.Tensor:
        """Time patches needed to cover ``frames`` real frames (0 for none)."""
        pt, st = self.patch_embed.patch_size[1], self.patch_embed.stride[1]
        needed = 1 + torch.div((frames - pt).clamp_min(0) + st - 1, st, rounding_mode="floor")
        return torch.where(frames > 0, needed, torch.zeros_like(needed))

    def embed(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The transformer's input: ([CLS] + patch tokens + positions, token mask)."""
        features, frame_mask = self.features(audio, mask)
        frames = features.shape[-1]
        if frames > self.max_frames:
            raise ParameterError(
                f"input has {frames} frames but max_frames={self.max_frames}: raise max_frames or crop the audio"
            )
        patches, (gf, gt) = self.patch_embed(features.unsqueeze(1))
        b = patches.shape[0]
        patches = patches.reshape(b, gf, gt, self.dim)
        patches = patches + self.freq_pos[None, :, None, :] + self.time_pos[None, None, :gt, :]
        patches = patches.transpose(1, 2).reshape(b, gt * gf, self.dim)  # time-major
        time_mask = lengths_to_mask(self.time_patches(frame_mask.sum(dim=-1)).clamp_max(gt), gt)
        patch_mask = time_mask.repeat_interleave(gf, dim=1)
        cls = (self.cls_token + self.cls_pos).expand(b, -1, -1)
        tokens = torch.cat([cls, patches], dim=1)
        token_mask = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=tokens.device), patch_mask], dim=1)
        return self.drop(tokens), token_mask

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        tokens, token_mask = self.embed(audio, mask)
        tokens = self.encoder(tokens, token_mask)
        if self.pool == "cls":
            pooled = tokens[:, 0]
        else:
            pooled = masked_mean(tokens[:, 1:], token_mask[:, 1:])
        return EncoderOutput(tokens=tokens, mask=token_mask, pooled=pooled)
