"""Frame energy and the classical energy-based voice activity detector.

Frame ``m`` covers samples ``[m·H, m·H + L)`` (``frame``'s layout, no padding), its level is

    E[m] = 10·log10( mean_n x[m·H + n]² + ε )   (dB, ε = 1e-10)

The energy detector calls a frame active when its level passes an adaptive threshold: the noise
floor (the ``floor_quantile`` quantile of the frame levels of the signal given, e.g. its 10 % quietest
frames) plus ``margin_db``. It is the baseline every learned voice activity detector has to beat: it
has no idea of what speech sounds like, only that it is louder than the background.
"""

from __future__ import annotations

import torch

from polysense._checks import check_positive_float, check_positive_int, check_unit_interval
from polysense.signal.stft import frame

__all__ = ["energy_activity", "frame_energy_db"]

_EPS = 1e-10


def frame_energy_db(x: torch.Tensor, *, frame_length: int, hop_length: int) -> torch.Tensor:
    """Mean-square level of each frame in dB, (..., frames) for x (..., time); see the module formula."""
    frames = frame(x, frame_length=frame_length, hop_length=hop_length)
    return 10.0 * torch.log10(frames.square().mean(-1) + _EPS)


def energy_activity(x: torch.Tensor, *, frame_length: int, hop_length: int, margin_db: float = 6.0,
                    floor_quantile: float = 0.1) -> torch.Tensor:
    """Boolean activity (..., frames): frame level above the noise floor + ``margin_db``.

    Args:
        x: (..., time) signal.
        frame_length, hop_length: samples per frame and between frames.
        margin_db: dB above the floor a frame must reach (≥ 0).
        floor_quantile: which quantile of the frame levels is the noise floor, in [0, 1).
    """
    check_positive_int("frame_length", frame_length, what="samples per frame")
    check_positive_int("hop_length", hop_length, what="samples between frames")
    margin = check_positive_float("margin_db", margin_db, allow_zero=True, what="dB above the noise floor")
    q = check_unit_interval("floor_quantile", floor_quantile, what="a quantile of the frame levels", include_one=False)
    level = frame_energy_db(x, frame_length=frame_length, hop_length=hop_length)
    floor = torch.quantile(level.double(), q, dim=-1, keepdim=True)
    return level.double() > floor + margin
