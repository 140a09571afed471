"""Classical enhancement and oracle masks on the STFT (polysense.signal.stft / istft).

Every method is a real-valued gain ``G(k, m) ≥ 0`` on the noisy STFT ``X``, applied to the complex
values (the noisy phase is kept) and inverted with the ISTFT to the input's length::

    ŝ = ISTFT(G · X)

- :func:`spectral_subtraction` (Boll 1979; Berouti et al. 1979): power subtraction with
  over-subtraction α and a spectral floor β: ``|Ŝ|² = max(|X|² − α·N̂, β·|X|²)``,
  ``G = |Ŝ| / |X|``.
- :func:`wiener_filter`: ``G = ξ / (1 + ξ)`` with the a-priori SNR ξ from Ephraim & Malah's
  decision-directed rule ``ξ_m = a·|Ŝ_{m−1}|²/N̂ + (1 − a)·max(|X_m|²/N̂ − 1, 0)``, floored at ξ_min.
- The noise power spectrum ``N̂(k)`` of both is the mean of ``|X|²`` over the quietest
  ``noise_fraction`` of frames (by frame energy): speech pauses carry the noise alone.
- Oracles from the clean parts (upper bounds of mask-based methods): the ideal binary mask
  ``IBM = [|S| > |N|]`` (local criterion 0 dB) and the ideal ratio mask
  ``IRM = (|S|² / (|S|² + |N|²))^½`` with ``N = X − S`` (for separation: the other sources).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from polysense._checks import check_positive_float, check_positive_int, check_signal, check_unit_interval
from polysense.errors import ParameterError
from polysense.signal.stft import istft, stft

__all__ = ["STFTConfig", "apply_gain", "ideal_binary_mask", "ideal_ratio_mask", "noise_psd", "oracle_enhance",
           "spectral_subtraction", "wiener_filter"]


@dataclass(frozen=True)
class STFTConfig:
    """The analysis every enhancer here shares: Hann window of ``n_fft`` samples, hop ``hop_length``
    (defaults: 32 ms windows, 75 % overlap at 8 kHz)."""

    n_fft: int = 256
    hop_length: int = 64

    def __post_init__(self) -> None:
        check_positive_int("n_fft", self.n_fft, minimum=2)
        check_positive_int("hop_length", self.hop_length)
        if self.hop_length > self.n_fft:
            raise ParameterError(f"hop_length={self.hop_length} > n_fft={self.n_fft}: frames would leave gaps")

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < self.n_fft // 2 + 1:
            raise ParameterError(f"the signal has {x.shape[-1]} samples: shorter than half an analysis window "
                                 f"(n_fft={self.n_fft}); give at least {self.n_fft // 2 + 1} samples")
        return stft(x, n_fft=self.n_fft, hop_length=self.hop_length, window="hann")

    def synthesise(self, X: torch.Tensor, length: int) -> torch.Tensor:
        return istft(X, n_fft=self.n_fft, hop_length=self.hop_length, window="hann", length=length)


DEFAULT_STFT = STFTConfig()


def apply_gain(noisy: torch.Tensor, gain: torch.Tensor, *, config: STFTConfig = DEFAULT_STFT) -> torch.Tensor:
    """``ISTFT(gain · STFT(noisy))`` at ``noisy``'s length; gain (..., bins, frames)."""
    X = config.analyse(noisy)
    return config.synthesise(gain.to(X.real.dtype) * X, noisy.shape[-1])


def noise_psd(power: torch.Tensor, *, noise_fraction: float = 0.1) -> torch.Tensor:
    """Noise power spectrum (..., bins, 1): mean of the quietest ``noise_fraction`` of frames."""
    check_unit_interval("noise_fraction", noise_fraction, what="a share of frames")
    frames = power.shape[-1]
    count = max(1, int(round(noise_fraction * frames)))
    energy = power.sum(-2)  # (..., frames)
    quiet = energy.topk(count, dim=-1, largest=False).indices  # (..., count)
    picked = torch.gather(power, -1, quiet.unsqueeze(-2).expand(*power.shape[:-1], count))
    return picked.mean(-1, keepdim=True)


def spectral_subtraction(noisy: torch.Tensor, *, over_subtraction: float = 2.0, floor: float = 0.02,
                         noise_fraction: float = 0.1, config: STFTConfig = DEFAULT_STFT) -> torch.Tensor:
    """Power spectral subtraction (see the module docstring); noisy (..., T) → (..., T)."""
    noisy = check_signal("noisy", noisy)
    alpha = check_positive_float("over_subtraction", over_subtraction, what="α, multiples of the noise power")
    beta = check_unit_interval("floor", floor, what="β, the spectral floor as a share of |X|²")
    X = config.analyse(noisy)
    power = X.abs().square()
    n = noise_psd(power, noise_fraction=noise_fraction)
    clean_power = torch.maximum(power - alpha * n, beta * power)
    gain = torch.sqrt(clean_power / power.clamp_min(torch.finfo(power.dtype).tiny))
    return config.synthesise(gain * X, noisy.shape[-1])


def wiener_filter(noisy: torch.Tensor, *, smoothing: float = 0.98, min_prior_snr_db: float = -20.0,
                  noise_fraction: float = 0.1, config: STFTConfig = DEFAULT_STFT) -> torch.Tensor:
    """Wiener gain with the decision-directed a-priori SNR (see the module docstring)."""
    noisy = check_signal("noisy", noisy)
    a = check_unit_interval("smoothing", smoothing, what="the decision-directed weight a", include_one=False)
    xi_min = 10 ** (float(min_prior_snr_db) / 10)
    X = config.analyse(noisy)
    power = X.abs().square()
    n = noise_psd(power, noise_fraction=noise_fraction).clamp_min(torch.finfo(power.dtype).tiny)
    gamma = power / n  # a-posteriori SNR
    gains = torch.empty_like(gamma)
    prev = torch.zeros_like(gamma[..., 0])  # |Ŝ_{m−1}|² / N̂
    for m in range(gamma.shape[-1]):  # the recursion runs along time; frames are few (hop 8 ms)
        xi = (a * prev + (1 - a) * (gamma[..., m] - 1).clamp_min(0)).clamp_min(xi_min)
        g = xi / (1 + xi)
        gains[..., m] = g
        prev = g.square() * gamma[..., m]
    return config.synthesise(gains * X, noisy.shape[-1])


def _clean_and_noise(mixture: torch.Tensor, clean: torch.Tensor, config: STFTConfig):
    mixture = check_signal("mixture", mixture)
    clean = check_signal("clean", clean)
    if mixture.shape != clean.shape:
        raise ParameterError(f"mixture {tuple(mixture.shape)} and clean {tuple(clean.shape)} differ in shape")
    X = config.analyse(mixture)
    S = config.analyse(clean)
    return X, S, X - S


def ideal_binary_mask(mixture: torch.Tensor, clean: torch.Tensor, *, local_criterion_db: float = 0.0,
                      config: STFTConfig = DEFAULT_STFT) -> torch.Tensor:
    """IBM (..., bins, frames) in {0, 1}: 1 where ``|S|² > 10^(LC/10)·|N|²``."""
    _, S, N = _clean_and_noise(mixture, clean, config)
    return (S.abs().square() > 10 ** (local_criterion_db / 10) * N.abs().square()).to(S.real.dtype)


def ideal_ratio_mask(mixture: torch.Tensor, clean: torch.Tensor, *, config: STFTConfig = DEFAULT_STFT) -> torch.Tensor:
    """IRM (..., bins, frames) in [0, 1]: ``(|S|² / (|S|² + |N|²))^½`` (0 where both vanish)."""
    _, S, N = _clean_and_noise(mixture, clean, config)
    s2, n2 = S.abs().square(), N.abs().square()
    return torch.sqrt(s2 / (s2 + n2).clamp_min(torch.finfo(s2.dtype).tiny))


def oracle_enhance(mixture: torch.Tensor, clean: torch.Tensor, *, mask: str = "irm",
                   config: STFTConfig = DEFAULT_STFT) -> torch.Tensor:
    """The mixture filtered by the IBM (``mask="ibm"``) or IRM (``"irm"``) of ``clean``."""
    if mask == "ibm":
        gain = ideal_binary_mask(mixture, clean, config=config)
    elif mask == "irm":
        gain = ideal_ratio_mask(mixture, clean, config=config)
    else:
        raise ParameterError(f"mask={mask!r} is not supported: choose 'ibm' or 'irm'")
    return apply_gain(mixture, gain, config=config)
