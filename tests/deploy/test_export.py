"""export_run: the ONNX file, run in onnxruntime by the test itself on inputs the export never saw,
gives PyTorch's outputs; a layer the exporter cannot express is named; nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.collate import pad_sequences
from polysense.deploy.export import ExportError, WaveformModel, export_run, export_waveform_model
from polysense.models.output import ClassifierOutput
from polysense.train.run import load_run

ort = pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed: pip install 'polysense[export]'")
runner = CliRunner()
TOLERANCE = 1e-4  # float32 graphs: FFT and sums in another order than PyTorch's


def _run_onnx(path, waveforms):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    padded, _, lengths = pad_sequences(waveforms)
    return session.run(None, {"waveform": padded.numpy(), "lengths": lengths.numpy()})[0], padded, lengths


@pytest.mark.parametrize("which", ["classifier_run", "clip_run"])
def test_onnx_matches_pytorch_on_new_batch_sizes_and_lengths(which, request, audio_folder, tmp_path):
    run_dir = request.getfixturevalue(which)
    report = export_run(run_dir, tmp_path / "model.onnx", check_files=[audio_folder])
    assert report.max_abs_difference <= TOLERANCE and report.checked_inputs == 4
    run = load_run(run_dir)
    kind = "embedder" if which == "clip_run" else "classifier"
    wrapper = WaveformModel(run.model, kind=kind, sample_rate=run.sample_rate).eval()
    generator = torch.Generator().manual_seed(3)
    waveforms = [0.2 * torch.randn(n, generator=generator) for n in (2345, 7000, 5001)]  # lengths never exported with
    got, padded, lengths = _run_onnx(tmp_path / "model.onnx", waveforms)
    with torch.no_grad():
        expected = wrapper(padded, lengths)
    np.testing.assert_allclose(got, expected.numpy(), atol=TOLERANCE, rtol=0)
    if kind == "classifier":
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)  # probabilities
        alone = _run_onnx(tmp_path / "model.onnx", waveforms[:1])[0]
        np.testing.assert_allclose(alone[0], got[0], atol=TOLERANCE)  # padding does not change an item


class _ReadsAValue(nn.Module):
    """A layer whose forward branches on a value read from a tensor: not expressible in a graph."""

    def forward(self, x):
        return x * 2 if float(x.abs().max()) > 0.5 else x


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = _ReadsAValue()
        self.head = nn.Linear(1, 3)

    def forward(self, batch):
        pooled = self.gate(batch["audio"]).mean(dim=-1, keepdim=True)
        return ClassifierOutput(logits=self.head(pooled))


def test_a_layer_that_cannot_be_exported_is_named_and_nothing_is_written(tmp_path):
    wrapper = WaveformModel(_Toy(), kind="classifier", sample_rate=8000)
    with pytest.raises(ExportError, match=r"layer gate \(_ReadsAValue\) at test_export.py:\d+: .*tensor operations"):
        export_waveform_model(wrapper, tmp_path / "toy.onnx", [torch.rand(800), torch.rand(900)])
    assert list(tmp_path.iterdir()) == []  # no model, no temporary file


def test_cli_export_json_and_bad_input(classifier_run, audio_folder, tmp_path):
    result = runner.invoke(app, ["export", str(classifier_run), "-o", str(tmp_path / "m.onnx"), "--check",
                                 str(audio_folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["output"] == "probabilities" and report["max_abs_difference"] <= TOLERANCE
    assert (tmp_path / "m.onnx").stat().st_size == report["bytes"]
    wrong = runner.invoke(app, ["export", str(classifier_run), "-o", str(tmp_path / "m.pt")])
    assert wrong.exit_code == 1 and "name the exported model .onnx" in wrong.output
    one = runner.invoke(app, ["export", str(classifier_run), "-o", str(tmp_path / "x.onnx"), "--check",
                              str(audio_folder / "a_tone.wav")])
    assert one.exit_code == 1 and "at least 2 readable audio inputs" in one.output
    assert not (tmp_path / "x.onnx").exists()
