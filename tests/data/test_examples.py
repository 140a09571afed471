"""The built-in example sound: what the A/D path promises (rate, length, 16-bit levels, the tones it holds)."""

from __future__ import annotations

import numpy as np
import torch

from polysense.data.examples import example_sound, fade, vowel


def test_example_sound_is_a_quantized_16_khz_signal_with_its_tones():
    x, sr = example_sound()
    assert sr == 16000 and x.shape == (32000,) and x.dtype == torch.float32
    levels = x.double().numpy() * 2**15  # 16-bit PCM: Δ = 2/2^16
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
    first = x[4000:12000].double().numpy()  # 0.25-0.75 s: tone, octave and the chirp, no vowel yet
    spectrum = np.abs(np.fft.rfft(first * np.hanning(first.size)))
    freqs = np.fft.rfftfreq(first.size, 1 / sr)
    assert freqs[spectrum.argmax()] == 440.0  # the loudest component is the 440 Hz tone
    # the 10 kHz tone lies above the 8 kHz Nyquist: the anti-aliasing filter removed it instead of
    # letting it fold to 6 kHz (the chirp stays below 2.4 kHz in this half second)
    band = (freqs > 5900) & (freqs < 6100)
    assert spectrum[band].max() < 1e-3 * spectrum.max()


def test_vowel_and_fade():
    v = vowel(16000, 0.5)
    assert v.shape == (8000,) and float(v.abs().max()) == 0.5
    f = fade(100, 10)
    assert f[0] == 0 and f[50] == 1 and f[-1] == 0 and bool((f <= 1).all())
