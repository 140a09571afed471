"""Blockwise overlap-add (exact for an identity model, sources kept in order across windows), the
denoise / separate commands (input rate kept, any length) and their errors, explain denoising, and
evaluate_enhancement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.enhance.blockwise import overlap_add
from polysense.errors import ParameterError
from polysense.evaluate.enhancement import evaluate_enhancement
from polysense.models.registry import build_model

from .conftest import SR, make_run, noisy_batch

runner = CliRunner()
CLASSIFIER = {"name": "early_fusion", "num_classes": 2,
              "encoders": {"audio": {"name": "audio_cnn", "sample_rate": SR, "channels": [4], "dim": 8, "n_fft": 256,
                                     "hop_length": 128, "n_mels": 16},
                           "image": {"name": "image_cnn", "channels": [4], "dim": 8}}}


def _blocks(x: torch.Tensor, size: int):
    for i in range(0, x.numel(), size):
        yield x[i : i + size]


@pytest.mark.parametrize(("length", "read"), [(10_000, 777), (4_000, 4_000), (2_400, 1000), (1_000, 5000)])
def test_overlap_add_of_identity_returns_the_input(length, read):
    x = torch.randn(length, dtype=torch.float64)
    out = torch.cat(list(overlap_add(_blocks(x, read), lambda w: w, block_samples=1600, overlap_samples=400)))
    torch.testing.assert_close(out, x, atol=1e-12, rtol=0)


def test_overlap_add_keeps_sources_in_order_when_windows_swap_them():
    t = torch.arange(12_000, dtype=torch.float64)
    s1, s2 = torch.sin(0.05 * t), torch.sign(torch.sin(0.011 * t))
    calls = {"n": 0}

    def separator(window: torch.Tensor) -> torch.Tensor:
        # a "model" that knows the sources but returns them in alternating order per window
        start = calls["start"]
        calls["start"] += 1600 - 400
        calls["n"] += 1
        pair = torch.stack([s1[start : start + window.numel()], s2[start : start + window.numel()]])
        return pair.flip(0) if calls["n"] % 2 else pair

    calls["start"] = 0
    mix = s1 + s2
    out = torch.cat(list(overlap_add(_blocks(mix, 1000), separator, block_samples=1600, overlap_samples=400,
                                     align_sources=True)), dim=-1)
    assert calls["n"] > 3
    first = out if torch.allclose(out[0], s2) else out.flip(0)
    torch.testing.assert_close(first, torch.stack([s2, s1]), atol=1e-12, rtol=0)


def test_denoise_command_keeps_rate_and_length(unet_run: Path, tmp_path: Path):
    rng = np.random.default_rng(0)
    noisy = (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32)
    sf.write(tmp_path / "in.wav", noisy, 16000)
    result = runner.invoke(app, ["denoise", str(unet_run), str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"),
                                 "--block-s", "1.0", "--overlap-s", "0.25"])
    assert result.exit_code == 0, result.output
    info = sf.info(tmp_path / "out.wav")
    assert info.samplerate == 16000 and info.frames == noisy.size
    # short files are served too (padded to one window inside, trimmed after)
    sf.write(tmp_path / "short.wav", noisy[:300], 16000)
    assert runner.invoke(app, ["denoise", str(unet_run), str(tmp_path / "short.wav"), "-o",
                               str(tmp_path / "s.wav")]).exit_code == 0
    assert sf.info(tmp_path / "s.wav").frames == 300


@pytest.mark.parametrize("cfg", [
    {"name": "conv_tasnet", "enc_channels": 8, "bottleneck": 8, "hidden": 8, "blocks": 2, "repeats": 1},
    {"name": "mask_unet_separator", "channels": [4, 8], "rnn_hidden": 4},
])
def test_separate_command_writes_two_sources(tmp_path: Path, cfg: dict):
    run = make_run(tmp_path / "sep", cfg)
    sf.write(tmp_path / "mix.wav", (0.1 * np.random.default_rng(1).standard_normal(SR * 2)).astype(np.float32), SR)
    result = runner.invoke(app, ["separate", str(run), str(tmp_path / "mix.wav"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for name in ("source1.wav", "source2.wav"):
        assert sf.info(tmp_path / "out" / name).frames == SR * 2


def test_command_errors_name_what_to_change(unet_run: Path, tmp_path: Path):
    classifier = make_run(tmp_path / "clf", CLASSIFIER)
    sf.write(tmp_path / "in.wav", np.zeros(SR, dtype=np.float32), SR)
    result = runner.invoke(app, ["denoise", str(classifier), str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav")])
    assert result.exit_code == 1 and "cannot denoise" in result.output and "fsdd-denoise" in result.output
    result = runner.invoke(app, ["separate", str(unet_run), str(tmp_path / "in.wav"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "conv_tasnet" in result.output
    sf.write(tmp_path / "fast.wav", np.zeros(1000, dtype=np.float32), 96000)
    result = runner.invoke(app, ["denoise", str(unet_run), str(tmp_path / "fast.wav"), "-o", str(tmp_path / "o.wav")])
    assert result.exit_code == 1 and "96000 Hz" in result.output and "resample" in result.output
    assert "Traceback" not in result.output


def test_explain_denoising_draws_a_figure(tmp_path: Path):
    result = runner.invoke(app, ["explain", "denoising", "-o", str(tmp_path / "d.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_evaluate_enhancement_reports_the_metrics_of_the_model():
    class Identity(torch.nn.Module):
        def forward(self, batch):
            from polysense.models.output import EnhancementOutput

            return EnhancementOutput(estimate=batch["noisy"])

    batch = noisy_batch(2, snr_db=5.0)
    items = [{"noisy": batch["noisy"][i], "clean": batch["clean"][i], "target": batch["clean"][i],
              "sample_rate": SR} for i in range(2)]
    out = evaluate_enhancement(Identity(), items, sample_rate=SR)
    assert out["count"] == 2 and out["si_sdri"] == pytest.approx(0.0, abs=1e-9)
    assert out["snri"] == pytest.approx(0.0, abs=1e-9)
    # reference: the pesq package itself (narrowband P.862 at 8 kHz) on each (clean, noisy) pair
    from pesq import pesq as reference_pesq

    expected = np.mean([reference_pesq(SR, batch["clean"][i].double().numpy(), batch["noisy"][i].double().numpy(), "nb")
                        for i in range(2)])
    assert out["pesq"] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ParameterError, match="estimate"):
        evaluate_enhancement(build_model(dict(CLASSIFIER)), [{"audio": batch["noisy"][0], "noisy": batch["noisy"][0],
                                                             "clean": batch["clean"][0], "sample_rate": SR}],
            sample_rate=SR, collate=lambda items: {"audio": torch.stack([i["audio"] for i in items]),
                                                  "audio_mask": torch.ones(1, items[0]["audio"].numel(), dtype=torch.bool),
                                                  "sample_rate": SR, "noisy": items[0]["noisy"][None],
                                                  "clean": items[0]["clean"][None]})
