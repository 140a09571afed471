"""A conditional spectrogram GAN in the SpecGAN line (Donahue et al. 2019), inverted by Griffin-Lim.

Representation. A clip of ``clip_samples = hop_length · (frames − 1)`` samples (cropped or
zero-padded), peak-normalised to ``peak`` (|x|max = peak, full scale 1), becomes its STFT
magnitude |X| (front end: :class:`polysense.signal.transforms.Spectrogram`, Hann window of
``n_fft`` samples, hop ``hop_length``, centred) without the Nyquist bin: F = n_fft/2 bins × T =
``frames`` frames, then the fixed map to [−1, 1]

    s = clamp(2 · (ln(|X| + ε) − ln ε) / (ln m − ln ε) − 1, −1, 1),   ε = ``magnitude_floor``,
    m = peak · n_fft / 4 (the magnitude of a full-band sine of amplitude ``peak`` under Hann: about
    the loudest bin speech reaches).

Audio from s: |X| = exp((s + 1)/2 · (ln m − ln ε) + ln ε) − ε, the Nyquist bin set to 0, and
:func:`polysense.signal.stft.griffin_lim` (``griffin_lim_iters`` iterations, seeded), peak-normalised.

Generator G(z, y, v): z ~ N(0, I) of ``latent_dim``, the label's embedding (and the speaker's,
when ``num_speakers`` > 0) concatenated, a linear layer to (c₀, F/2^L, T/2^L), then L blocks of
nearest ×2 upsampling, 3×3 convolution, BatchNorm (with ``conditional_norm``: its scale and shift
computed from the condition) and ReLU (SpecGAN's transposed 5×5 convolutions
are replaced by upsample + convolution, which leaves no checkerboard), a last 3×3 convolution and tanh.

Discriminator D: L stride-2 4×4 convolutions with spectral normalisation and LeakyReLU(0.2), a
sum over the map giving h, then the projection discriminator's score (Miyato & Koyama 2018)
``d = w·h + ⟨e_y, h⟩ (+ ⟨e_v, h⟩)`` and auxiliary classifiers of the digit (and the speaker) on
h (AC-GAN, Odena et al. 2017).

Losses (hinge, as in SAGAN/BigGAN), with λ = ``class_weight`` and CE the cross-entropy:

    L_D = E[max(0, 1 − d(x, y))] + E[max(0, 1 + d(G(z, y), y))] + λ·CE(D_cls(x), y)
    L_G = −E[d(G(z, y), y)] + λ·CE(D_cls(G(z, y)), y)

(+ the same speaker terms). Training alternates them (``training_steps()``: discriminator, then
generator, each with its own Adam and the TTUR learning rates ``lr_discriminator`` /
``lr_generator``); the fake items of a batch are asked for with the batch's own labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from polysense._checks import check_positive_int
from polysense.errors import ParameterError
from polysense.models.contract import Model
from polysense.models.output import GenerationOutput, TrainingStep
from polysense.models.registry import register

__all__ = ["SpecGAN"]


class _ConditionalNorm(nn.Module):
    """BatchNorm without its own affine map, then a per-item one from the condition c:
    ``y = (1 + γ(c)) · BN(x) + β(c)`` with γ, β linear in c (conditional batch norm, de Vries et al. 2017)."""

    def __init__(self, channels: int, conditions: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.affine = nn.Linear(conditions, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.affine(condition)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class _Generator(nn.Module):
    def __init__(self, *, latent_dim: int, conditions: int, channels: Sequence[int], bins: int, frames: int,
                 conditional_norm: bool = False) -> None:
        super().__init__()
        levels = len(channels)
        self.shape0 = (channels[0], bins >> levels, frames >> levels)
        self.project = nn.Linear(latent_dim + conditions, math.prod(self.shape0))

        def norm(width: int) -> nn.Module:
            return _ConditionalNorm(width, conditions) if conditional_norm else nn.BatchNorm2d(width)

        self.norm0 = norm(channels[0])
        blocks = []
        for i in range(levels):
            out = channels[min(i + 1, levels - 1)]
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels[i], out, 3, padding=1),
                       norm(out), nn.ReLU()]
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(channels[-1], 1, 3, padding=1)

    def forward(self, code: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        def apply(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return layer(x, condition) if isinstance(layer, _ConditionalNorm) else layer(x)

        h = F.relu(apply(self.norm0, self.project(code).view(-1, *self.shape0)))
        for layer in self.blocks:
            h = apply(layer, h)
        return torch.tanh(self.out(h))  # (B, 1, F, T)


class _Discriminator(nn.Module):
    def __init__(self, *, channels: Sequence[int], num_classes: int, num_speakers: int) -> None:
        super().__init__()
        layers, previous = [], 1
        for width in channels:
            layers += [spectral_norm(nn.Conv2d(previous, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.score = spectral_norm(nn.Linear(previous, 1))
        self.label_projection = spectral_norm(nn.Embedding(num_classes, previous))
        self.classify = nn.Linear(previous, num_classes)
        self.speaker_projection = spectral_norm(nn.Embedding(num_speakers, previous)) if num_speakers else None
        self.classify_speaker = nn.Linear(previous, num_speakers) if num_speakers else None

    def forward(self, s: torch.Tensor, label: torch.Tensor,
                speaker: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = self.features(s).sum(dim=(2, 3))  # (B, C)
        d = self.score(h).squeeze(-1) + (self.label_projection(label) * h).sum(-1)
        speaker_logits = None
        if self.speaker_projection is not None and speaker is not None:
            d = d + (self.speaker_projection(speaker) * h).sum(-1)
            speaker_logits = self.classify_speaker(h)
        return d, self.classify(h), speaker_logits


@register("model", "specgan")
class SpecGAN(Model):
    """Conditional spectrogram GAN (see the module docstring for the representation and losses).

    Args:
        sample_rate: Hz of the clips (filled from the data by the trainer).
        num_classes: labels the generator is conditioned on (the run's classes).
        num_speakers: speakers it is conditioned on (0: the label only); batches then carry
            ``speaker`` (B,) indices.
        n_fft, hop_length, frames: STFT size and hop (samples) and the number of frames; n_fft/2
            and ``frames`` must be divisible by 2^len(channels).
        latent_dim, embed_dim: sizes of z and of each condition's embedding.
        channels: generator widths from the smallest map up; ``discriminator_channels`` from the
            input down.
        class_weight: λ of the auxiliary classification terms.
        lr_generator, lr_discriminator, betas: the two steps' Adam settings (weight decay 0).
        magnitude_floor, peak: ε and the peak level of the representation.
        feature_mels: mel bands of the validation features (per-band mean and standard deviation
            over time of ln(mel + 1e-5), 2·feature_mels numbers per clip).
        griffin_lim_iters: Griffin-Lim iterations of :meth:`generate`.
        conditional_norm: the generator's BatchNorms take their scale and shift from the
            condition (label and speaker embeddings) instead of learning one for all.
    """

    kind = "generator"

    def __init__(self, *, sample_rate: int = 8000, num_classes: int = 10, num_speakers: int = 0, n_fft: int = 256,
                 hop_length: int = 64, frames: int = 96, latent_dim: int = 64, embed_dim: int = 32,
                 channels: Sequence[int] = (128, 64, 32, 16), discriminator_channels: Sequence[int] = (16, 32, 64, 128),
                 class_weight: float = 1.0, lr_generator: float = 2e-4, lr_discriminator: float = 2e-4,
                 betas: Sequence[float] = (0.5, 0.9), magnitude_floor: float = 1e-3, peak: float = 0.5,
                 feature_mels: int = 32, griffin_lim_iters: int = 32, conditional_norm: bool = False) -> None:
        super().__init__()
        from polysense.signal.filterbanks import mel_filterbank
        from polysense.signal.transforms import Spectrogram

        self.num_classes = check_positive_int("num_classes", num_classes, minimum=2)
        self.num_speakers = check_positive_int("num_speakers", num_speakers, minimum=0)
        n_fft = check_positive_int("n_fft", n_fft, minimum=8)
        self.frames = check_positive_int("frames", frames, minimum=2)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        channels, discriminator_channels = [int(c) for c in channels], [int(c) for c in discriminator_channels]
        if not channels or not discriminator_channels:
            raise ParameterError("channels and discriminator_channels must each list at least one width")
        scale = 2 ** len(channels)
        if (n_fft // 2) % scale or self.frames % scale:
            raise ParameterError(f"n_fft/2={n_fft // 2} bins and frames={frames} must be divisible by 2^len(channels)"
                                 f"={scale}: choose n_fft, frames or fewer channels accordingly")
        if not (math.isfinite(magnitude_floor) and magnitude_floor > 0 and 0 < peak <= 1):
            raise ParameterError(f"magnitude_floor={magnitude_floor} must be > 0 and peak={peak} in (0, 1]")
        self.sample_rate = int(sample_rate)
        self.n_fft, self.hop_length = n_fft, check_positive_int("hop_length", hop_length)
        self.clip_samples = self.hop_length * (self.frames - 1)
        self.peak, self.class_weight = float(peak), float(class_weight)
        self.log_floor = math.log(magnitude_floor)
        self.log_top = math.log(peak * n_fft / 4)
        self.griffin_lim_iters = check_positive_int("griffin_lim_iters", griffin_lim_iters)
        self.lr_generator, self.lr_discriminator, self.betas = float(lr_generator), float(lr_discriminator), tuple(betas)
        self.spectrogram_transform = Spectrogram(n_fft=n_fft, hop_length=self.hop_length, power=1.0)
        self.register_buffer("feature_bank", mel_filterbank(sample_rate=self.sample_rate, n_fft=n_fft,
                                                            n_mels=check_positive_int("feature_mels", feature_mels)),
                             persistent=False)
        embed_dim = check_positive_int("embed_dim", embed_dim)
        self.label_embedding = nn.Embedding(self.num_classes, embed_dim)
        self.speaker_embedding = nn.Embedding(self.num_speakers, embed_dim) if self.num_speakers else None
        self.generator = _Generator(latent_dim=self.latent_dim, conditions=embed_dim * (1 + bool(self.num_speakers)),
                                    channels=channels, bins=n_fft // 2, frames=self.frames,
                                    conditional_norm=bool(conditional_norm))
        self.discriminator = _Discriminator(channels=discriminator_channels, num_classes=self.num_classes,
                                            num_speakers=self.num_speakers)

    # -- the representation ---------------------------------------------------------------
    def spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, T) waveforms → (B, 1, n_fft/2, frames) normalised log-magnitudes in [−1, 1]."""
        x = F.pad(waveform[..., : self.clip_samples], (0, max(0, self.clip_samples - waveform.shape[-1])))
        x = self.peak * x / x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
        magnitude = self.spectrogram_transform(x)[..., :-1, : self.frames]
        log = torch.log(magnitude + math.exp(self.log_floor))
        return (2 * (log - self.log_floor) / (self.log_top - self.log_floor) - 1).clamp(-1, 1).unsqueeze(1)

    def magnitude(self, s: torch.Tensor) -> torch.Tensor:
        """Normalised (B, 1, F, T) → |X| (B, n_fft/2 + 1, T) with a zero Nyquist bin."""
        log = (s.squeeze(1) + 1) / 2 * (self.log_top - self.log_floor) + self.log_floor
        magnitude = (torch.exp(log) - math.exp(self.log_floor)).clamp_min(0)
        return F.pad(magnitude, (0, 0, 0, 1))

    def features(self, s: torch.Tensor) -> torch.Tensor:
        """Per-clip (B, 2·feature_mels): mean and standard deviation over time of ln(mel(|X|) + 1e-5)."""
        mel = torch.log(torch.einsum("mf,bft->bmt", self.feature_bank.to(s.dtype), self.magnitude(s)) + 1e-5)
        return torch.cat([mel.mean(-1), mel.std(-1)], dim=-1)

    def to_audio(self, s: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """Normalised spectrograms → (B, clip_samples) waveforms by Griffin-Lim, peak-normalised."""
        from polysense.signal.stft import griffin_lim

        y = griffin_lim(self.magnitude(s).double(), n_iter=self.griffin_lim_iters, n_fft=self.n_fft,
                        hop_length=self.hop_length, length=self.clip_samples, seed=seed).float()
        return self.peak * y / y.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)

    # -- generation -----------------------------------------------------------------------------
    def _check_conditions(self, label: torch.Tensor, speaker: torch.Tensor | None) -> None:
        if label.numel() and (int(label.min()) < 0 or int(label.max()) >= self.num_classes):
            raise ParameterError(f"labels must be in 0..{self.num_classes - 1}, got {sorted(set(label.tolist()))}")
        if speaker is not None and self.num_speakers and speaker.numel() and (
                int(speaker.min()) < 0 or int(speaker.max()) >= self.num_speakers):
            raise ParameterError(f"speakers must be in 0..{self.num_speakers - 1}, got {sorted(set(speaker.tolist()))}")

    def sample(self, label: torch.Tensor, speaker: torch.Tensor | None = None,
               *, generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z, y, v) for z ~ N(0, I) drawn from ``generator`` (the global one when None):
        (B, 1, F, T) normalised spectrograms. Without a speaker, a speaker-conditioned model
        draws one uniformly for each item (from the same generator)."""
        self._check_conditions(label, speaker)
        z = torch.randn(label.shape[0], self.latent_dim, generator=generator, device=label.device)
        condition = [self.label_embedding(label)]
        if self.speaker_embedding is not None:
            if speaker is None:
                speaker = torch.randint(self.num_speakers, label.shape, generator=generator, device=label.device)
            condition.append(self.speaker_embedding(speaker))
        condition = torch.cat(condition, dim=-1)
        return self.generator(torch.cat([z, condition], dim=-1), condition)

    @torch.no_grad()
    def generate(self, label: torch.Tensor, speaker: torch.Tensor | None = None, *, seed: int = 0) -> torch.Tensor:
        """(B, clip_samples) waveforms at ``sample_rate`` for the labels (and speakers) asked for;
        the same seed gives the same sounds."""
        generator = torch.Generator().manual_seed(int(seed))
        return self.to_audio(self.sample(label, speaker, generator=generator), seed=seed)

    # -- training -----------------------------------------------------------------------------
    def training_steps(self) -> list[TrainingStep]:
        """The discriminator's step, then the generator's (with the condition embeddings)."""
        generator = [*self.generator.parameters(), *self.label_embedding.parameters(),
                     *(self.speaker_embedding.parameters() if self.speaker_embedding is not None else ())]
        optim = {"betas": self.betas, "weight_decay": 0.0}
        return [TrainingStep("discriminator", tuple(self.discriminator.parameters()),
                             optim={**optim, "lr": self.lr_discriminator}),
                TrainingStep("generator", tuple(generator), optim={**optim, "lr": self.lr_generator})]

    def _class_loss(self, logits: torch.Tensor, label: torch.Tensor, speaker_logits: torch.Tensor | None,
                    speaker: torch.Tensor | None) -> torch.Tensor:
        loss = F.cross_entropy(logits, label)
        if speaker_logits is not None:
            loss = loss + F.cross_entropy(speaker_logits, speaker)
        return loss

    def forward(self, batch: Mapping[str, Any], step: str | None = None) -> GenerationOutput:
        """``step="discriminator"``: L_D (fakes without gradient); ``"generator"``: L_G; None
        (validation): both, their sum as ``loss``, and the features of real and generated items."""
        if step not in (None, "discriminator", "generator"):
            raise ParameterError(f"step={step!r} is not a training step of specgan: discriminator or generator")
        label = batch.get("label")
        if not isinstance(label, torch.Tensor):
            return GenerationOutput()
        speaker = batch.get("speaker") if self.num_speakers else None
        if self.num_speakers and not isinstance(speaker, torch.Tensor):
            raise ParameterError("this specgan is conditioned on speakers: the batches must carry 'speaker' indices "
                                 "(data fsdd_takes), or set num_speakers: 0")
        self._check_conditions(label, speaker)
        real = self.spectrogram(batch["audio"])
        losses: dict[str, torch.Tensor] = {}
        metrics: dict[str, torch.Tensor] = {}
        out = GenerationOutput()
        if step in (None, "discriminator"):
            # validation (eval mode) asks with the same z every time, so epochs compare on equal terms
            fixed = None if self.training else torch.Generator(device=label.device).manual_seed(0)
            with torch.set_grad_enabled(step is None and torch.is_grad_enabled()):
                fake = self.sample(label, speaker, generator=fixed)
            d_real, logits, speaker_logits = self.discriminator(real, label, speaker)
            d_fake, _, _ = self.discriminator(fake.detach(), label, speaker)
            losses["d_real"] = F.relu(1 - d_real).mean()
            losses["d_fake"] = F.relu(1 + d_fake).mean()
            losses["d_class"] = self._class_loss(logits, label, speaker_logits, speaker)
            metrics["d_class_accuracy"] = (logits.argmax(-1) == label).float().mean().detach()
            out.loss = losses["d_real"] + losses["d_fake"] + self.class_weight * losses["d_class"]
        if step in (None, "generator"):
            fake = self.sample(label, speaker) if step == "generator" else fake
            d_fake, logits, speaker_logits = self.discriminator(fake, label, speaker)
            losses["g_adversarial"] = -d_fake.mean()
            losses["g_class"] = self._class_loss(logits, label, speaker_logits, speaker)
            metrics["g_class_accuracy"] = (logits.argmax(-1) == label).float().mean().detach()
            g_loss = losses["g_adversarial"] + self.class_weight * losses["g_class"]
            out.loss = g_loss if out.loss is None else out.loss + g_loss
        if step is None:
            out.generated = fake.detach()
            out.features = {"generated": self.features(fake.detach()), "real": self.features(real)}
        out.losses, out.metrics = losses, metrics
        return out
