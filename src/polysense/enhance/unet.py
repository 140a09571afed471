"""``mask_unet``: a spectrogram-mask U-Net denoiser (ORCA-CLEAN style), and ``mask_unet_separator``.

The noisy waveform's STFT ``X`` (polysense.signal.stft, Hann, ``n_fft``/``hop_length``) gives the
input features ``log(|X| + 1e-5)``, normalised per utterance (zero mean, unit variance over
time-frequency, so the model is gain-invariant). A 2-D U-Net (``len(channels)`` levels, each two
3×3 conv + GroupNorm + ReLU, stride-2 down-sampling in time and frequency, transposed-conv
up-sampling with skip connections) predicts one logit per bin; the mask ``M = σ(logit)`` multiplies
the complex STFT and the ISTFT returns the estimate::

    ŝ = ISTFT(M ⊙ X)

``mask="binary"`` thresholds ``M`` at 0.5 at evaluation (a binary mask, as ORCA-CLEAN's); training
keeps the soft mask so gradients flow.

Objectives (``loss``), with ``target`` the batch's ``target`` (clean speech, or for Noise2Noise an
independently noised copy):

- ``"si_sdr"``: −SI-SDR(ŝ, target) (waveform, scale-invariant);
- ``"stft_l2"``: ``mean |STFT(ŝ) − STFT(target)|² / mean |STFT(target)|²``. An L2 regression is what
  Noise2Noise needs: with target = s + n′ and n′ zero-mean and independent of the input, its
  minimiser is the same as with the clean target (Lehtinen et al. 2018);
- ``"irm"``: MSE between M and the ideal ratio mask of the target; ``"ibm"``: binary cross-entropy
  against the ideal binary mask of the target (mask-target training as ORCA-CLEAN does).

``rnn_hidden > 0`` adds a bidirectional GRU over time at the U-Net's bottleneck (utterance-long context).

``mask_unet_separator`` is the same U-Net with one mask per source, a softmax over the sources per
bin (the estimates add up to the mixture), trained with the permutation-invariant SI-SDR loss: see
:class:`MaskUNetSeparator`.

Batch keys: ``noisy`` (B, T); optional ``target`` (B, T), ``clean`` (B, T) (for metrics) and
``length`` (B,). Output: :class:`~polysense.models.output.EnhancementOutput` with ``estimate`` (B, T)
and ``metrics`` ``si_sdr`` / ``si_sdri`` (dB, against ``clean``) when ``clean`` is present.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_int
from polysense.enhance.classical import STFTConfig
from polysense.enhance.outputs import separation_output, valid_length_mask
from polysense.errors import ParameterError
from polysense.losses.separation import neg_si_sdr_loss, si_sdr
from polysense.models.contract import Model
from polysense.models.output import EnhancementOutput
from polysense.models.registry import register

__all__ = ["LOSSES", "MaskUNet", "MaskUNetSeparator"]

LOSSES = ("si_sdr", "stft_l2", "irm", "ibm")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    groups = 4 if c_out % 4 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.ReLU(inplace=True),
    )


class _MaskUNetBase(Model):
    """The U-Net shared by the denoiser and the separator: log-magnitude features in, ``outputs``
    mask logits per bin out. ``rnn_hidden > 0`` adds a bidirectional GRU over time at the
    bottleneck (per frame, all bottleneck channels × frequencies in): the convolutions see
    ~0.1 s around a bin, the GRU the whole utterance, which a separator needs to keep each voice
    on one output."""

    kind = "enhancer"

    def __init__(self, *, sample_rate: int, n_fft: int, hop_length: int, channels: Sequence[int],
                 outputs: int, rnn_hidden: int = 0) -> None:
        super().__init__()
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.stft = STFTConfig(n_fft=n_fft, hop_length=hop_length)
        channels = [check_positive_int(f"channels[{i}]", c) for i, c in enumerate(channels)]
        if not channels:
            raise ParameterError("channels is empty: give one width per U-Net level, e.g. [16, 32, 64]")
        self.rnn_hidden = check_positive_int("rnn_hidden", rnn_hidden, minimum=0)
        self.levels = len(channels)
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        c_prev = 1
        for i, c in enumerate(channels):
            self.enc.append(_block(c_prev, c))
            if i < self.levels - 1:
                self.down.append(nn.Conv2d(c, c, 2, stride=2))
            c_prev = c
        if self.rnn_hidden:
            m = 2 ** (self.levels - 1)
            bottleneck_bins = -(-(self.stft.n_fft // 2 + 1) // m)
            self.rnn = nn.GRU(channels[-1] * bottleneck_bins, self.rnn_hidden, batch_first=True, bidirectional=True)
            self.rnn_out = nn.Linear(2 * self.rnn_hidden, channels[-1] * bottleneck_bins)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(self.levels - 1, 0, -1):
            self.up.append(nn.ConvTranspose2d(channels[i], channels[i - 1], 2, stride=2))
            self.dec.append(_block(2 * channels[i - 1], channels[i - 1]))
        self.head = nn.Conv2d(channels[0], outputs, 1)

    @property
    def min_samples(self) -> int:
        """The shortest input the model serves: one full analysis window."""
        return self.stft.n_fft

    def _check_length(self, x: torch.Tensor) -> None:
        if x.shape[-1] < self.min_samples:
            raise ParameterError(
                f"the input has {x.shape[-1]} samples: {self.name} needs at least {self.min_samples} "
                f"({self.min_samples / self.sample_rate:.3f} s at {self.sample_rate} Hz, one analysis window); "
                "give longer audio (raise segment_s, or pad the file)")

    def mask_logits(self, X: torch.Tensor) -> torch.Tensor:
        """Mask logits (B, outputs, bins, frames) from the complex STFT (B, bins, frames)."""
        feats = torch.log(X.abs() + 1e-5)
        mean = feats.mean(dim=(-2, -1), keepdim=True)
        std = feats.std(dim=(-2, -1), keepdim=True).clamp_min(1e-5)
        h = ((feats - mean) / std).unsqueeze(1)
        bins, frames = h.shape[-2:]
        m = 2 ** (self.levels - 1)
        h = F.pad(h, (0, (-frames) % m, 0, (-bins) % m))
        skips = []
        for i, block in enumerate(self.enc):
            h = block(h)
            if i < self.levels - 1:
                skips.append(h)
                h = self.down[i](h)
        if self.rnn_hidden:
            b, c, f, t = h.shape
            seq = h.permute(0, 3, 1, 2).reshape(b, t, c * f)
            h = h + self.rnn_out(self.rnn(seq)[0]).reshape(b, t, c, f).permute(0, 2, 3, 1)
        for up, block in zip(self.up, self.dec):
            h = block(torch.cat([up(h), skips.pop()], dim=1))
        return self.head(h)[..., :bins, :frames]


@register("model", "mask_unet")
class MaskUNet(_MaskUNetBase):
    """Spectrogram-mask U-Net denoiser (see the module docstring)."""

    name = "mask_unet"

    def __init__(self, *, sample_rate: int = 8000, n_fft: int = 256, hop_length: int = 64,
                 channels: Sequence[int] = (16, 32, 64), mask: str = "ratio", loss: str = "si_sdr",
                 rnn_hidden: int = 0) -> None:
        super().__init__(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, channels=channels,
                         outputs=1, rnn_hidden=rnn_hidden)
        self.mask = check_choice("mask", mask, ("ratio", "binary"))
        self.loss_name = check_choice("loss", loss, LOSSES)

    def enhance(self, noisy: torch.Tensor) -> torch.Tensor:
        """Denoise waveforms (B, T) or (T,) at ``sample_rate``; same shape out."""
        one = noisy.ndim == 1
        y = self._denoise(noisy.unsqueeze(0) if one else noisy)[-1]
        return y[0] if one else y

    def _denoise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(STFT X, mask logits, mask, estimate ISTFT(mask ⊙ X)) of waveforms (B, T); binary at evaluation
        when ``mask="binary"``."""
        self._check_length(x)
        X = self.stft.analyse(x)
        logits = self.mask_logits(X)[:, 0]
        mask = torch.sigmoid(logits)
        if self.mask == "binary" and not self.training:
            mask = (mask > 0.5).to(mask.dtype)
        return X, logits, mask, self.stft.synthesise(mask * X, x.shape[-1])

    def forward(self, batch: Mapping[str, Any]) -> EnhancementOutput:
        noisy = batch["noisy"]
        X, logits, mask, estimate = self._denoise(noisy)
        valid = valid_length_mask(batch, estimate)
        if valid is not None:
            estimate = estimate * valid
        losses: dict[str, torch.Tensor] = {}
        loss = None
        target = batch.get("target", batch.get("clean"))
        if target is not None:
            loss = self._loss(estimate, target, X, logits, mask)
            losses[self.loss_name] = loss
        metrics: dict[str, torch.Tensor] = {}
        if batch.get("clean") is not None:
            with torch.no_grad():
                clean = batch["clean"]
                metrics["si_sdr"] = si_sdr(estimate, clean).mean()
                metrics["si_sdri"] = metrics["si_sdr"] - si_sdr(noisy, clean).mean()
        return EnhancementOutput(loss=loss, losses=losses, metrics=metrics, estimate=estimate)

    def _loss(self, estimate, target, X, logits, mask) -> torch.Tensor:
        if self.loss_name == "si_sdr":
            return neg_si_sdr_loss(estimate, target)
        T = self.stft.analyse(target)
        if self.loss_name == "stft_l2":
            E = self.stft.analyse(estimate)
            return (E - T).abs().square().mean() / T.abs().square().mean().clamp_min(1e-10)
        s2, n2 = T.abs().square(), (X - T).abs().square()
        if self.loss_name == "irm":
            irm = torch.sqrt(s2 / (s2 + n2).clamp_min(1e-20))
            return F.mse_loss(mask, irm)
        ibm = (s2 > n2).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, ibm)


@register("model", "mask_unet_separator")
class MaskUNetSeparator(_MaskUNetBase):
    """Spectrogram-mask U-Net separator: ``num_sources`` masks that share the mixture (a softmax over
    sources per bin, so the estimates add up to the mixture), each applied to the complex STFT::

        ŝ_s = ISTFT(M_s ⊙ X),   Σ_s M_s = 1

    trained with the permutation-invariant SI-SDR loss on the waveforms (uPIT: one assignment per
    utterance, so the model must keep each voice on one output; ``rnn_hidden`` gives it the
    utterance-long context that takes). Batch keys and output as :class:`ConvTasNet`'s.
    """

    name = "mask_unet_separator"

    def __init__(self, *, sample_rate: int = 8000, num_sources: int = 2, n_fft: int = 256, hop_length: int = 64,
                 channels: Sequence[int] = (16, 32, 64), rnn_hidden: int = 128) -> None:
        sources = check_positive_int("num_sources", num_sources, minimum=2)
        super().__init__(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, channels=channels,
                         outputs=sources, rnn_hidden=rnn_hidden)
        self.num_sources = sources

    def separate(self, mixture: torch.Tensor) -> torch.Tensor:
        """Sources (B, S, T) of mixtures (B, T) (or (S, T) of one (T,))."""
        one = mixture.ndim == 1
        x = mixture.unsqueeze(0) if one else mixture
        self._check_length(x)
        X = self.stft.analyse(x)
        masks = torch.softmax(self.mask_logits(X), dim=1)  # (B, S, bins, frames)
        y = self.stft.synthesise(masks * X.unsqueeze(1), x.shape[-1])
        return y[0] if one else y

    def forward(self, batch: Mapping[str, Any]) -> EnhancementOutput:
        return separation_output(self.separate(batch["mixture"]), batch)
