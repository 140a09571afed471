"""The spectrogram of a graph traced for export (torch.export; the ONNX path of `polysense export`)
equals the eager front end for every length: the traced STFT is one strided convolution with the
windowed DFT as its kernel (polysense.signal._graph), checked here against the plain rfft path."""

from __future__ import annotations

import pytest
import torch

from polysense.signal.transforms import LogMelSpectrogram, Spectrogram


@pytest.mark.parametrize(("module", "atol"), [
    (Spectrogram(n_fft=256, hop_length=80, power=2.0), 1e-9),
    (LogMelSpectrogram(sample_rate=8000, n_fft=256, hop_length=80, win_length=200, n_mels=32), 1e-6),
])
def test_traced_spectrogram_equals_eager_for_lengths_it_was_not_traced_with(module, atol):
    example = torch.randn(2, 4000, dtype=torch.float64)
    traced = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO,
                                                                     1: torch.export.Dim.AUTO},)).module()
    generator = torch.Generator().manual_seed(0)
    for batch, length in ((1, 2345), (3, 8000), (2, 4000)):
        x = torch.randn(batch, length, dtype=torch.float64, generator=generator)
        expected, got = module(x), traced(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=atol * float(expected.abs().max()), rtol=0)
