"""Tiny synthetic utterances (tone bursts named like FSDD files) for fast scene tests."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.enhance.mixtures import Utterance

SR = 8000


def tone_word(digit: int, speaker: str, k: int = 0, *, seconds: float = 0.3) -> Utterance:
    """A Hann-gated tone whose frequency encodes the digit (300 + 150·digit Hz), with 50 ms of silence around."""
    n = int(seconds * SR)
    t = torch.arange(n, dtype=torch.float64) / SR
    word = torch.sin(2 * math.pi * (300 + 150 * digit) * t) * torch.hann_window(n, periodic=False, dtype=torch.float64)
    pad = torch.zeros(int(0.05 * SR), dtype=torch.float64)
    return Utterance(id=f"{digit}_{speaker}_{k}", speaker=speaker, audio=torch.cat([pad, word, pad]).float())


@pytest.fixture
def tone_words() -> list[Utterance]:
    return [tone_word(d, s, k) for s in ("ann", "bob") for d in range(10) for k in range(2)]
