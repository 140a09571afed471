"""`polysense config new`: a commented starting config per task, sized from the manifest, that the
trainer's config loader accepts as written; tasks the data cannot serve are refused by name."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.folder import folder_manifest
from polysense.data.manifest import write_manifest
from polysense.data.synthetic import write_sound_folder
from polysense.errors import ParameterError
from polysense.models.registry import build_model
from polysense.train.config import load_config
from polysense.train.starter import starter_config

runner = CliRunner()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = write_sound_folder(tmp_path_factory.mktemp("own") / "sounds", num_files=24, sample_rate=16000, seed=1)
    return write_manifest(root / "manifest.csv", folder_manifest(root, captions=True, group=r"site\d+").manifest)


def test_classify_is_sized_from_the_manifest_and_builds(manifest):
    text = starter_config("classify", manifest)
    assert text.startswith("# sounds-classify: a starting config") and "# AdamW" in text
    config = load_config(yaml.safe_load(text))
    assert config.data["sample_rate"] == 16000 and config.model["num_classes"] == 3
    assert config.model["encoder"]["n_fft"] == 512 and config.model["encoder"]["hop_length"] == 160  # 32 ms, 10 ms
    assert config.train.epochs == 40 and config.train.batch_size == 8  # < 300 training rows
    model = build_model(config.model)
    assert model.modalities == ("audio",)


@pytest.mark.parametrize("task", ["retrieve", "denoise"])
def test_other_tasks_load(manifest, task):
    config = load_config(yaml.safe_load(starter_config(task, manifest)))
    assert config.model["name"] == {"retrieve": "clip", "denoise": "mask_unet"}[task]


def test_what_the_data_cannot_serve_is_refused(manifest, tmp_path):
    with pytest.raises(ParameterError, match=r"--task 'tag': choose one of classify, retrieve, denoise, detect"):
        starter_config("tag", manifest)
    plain = manifest.parent / "plain.csv"
    plain.write_text(f"audio,label\ntone/{sorted(p.name for p in (manifest.parent / 'tone').glob('*.wav'))[0]},tone\n")
    with pytest.raises(ParameterError, match="no split column"):
        starter_config("classify", plain)


def test_cli_writes_the_yaml_atomically_and_checks_the_suffix(manifest, tmp_path):
    out = tmp_path / "my.yaml"
    result = runner.invoke(app, ["config", "new", "--task", "classify", "--data", str(manifest), "-o", str(out)])
    assert result.exit_code == 0 and f"train it with `polysense train {out}" in result.output
    assert load_config(str(out)).model["num_classes"] == 3
    bad = runner.invoke(app, ["config", "new", "--task", "classify", "--data", str(manifest), "-o", str(tmp_path / "x.txt")])
    assert bad.exit_code == 1 and "name the config .yaml" in bad.output


def test_detect_from_an_annotation_manifest_trains(tmp_path):
    import numpy as np
    import soundfile as sf

    from polysense.train.trainer import train

    rng = np.random.default_rng(0)
    rows = ["file,onset,offset,label,split"]
    for i, split in enumerate(("train", "train", "val")):
        signal = 0.01 * rng.standard_normal(8000 * 3)
        t = np.arange(4000) / 8000
        signal[8000:12000] += 0.3 * np.sin(2 * np.pi * 600 * t)
        signal[16000:20000] += 0.3 * np.sign(np.sin(2 * np.pi * 90 * t))
        sf.write(tmp_path / f"rec{i}.wav", signal.astype("float32"), 8000)
        rows += [f"rec{i}.wav,1.0,1.5,whistle,{split}", f"rec{i}.wav,2.0,2.5,buzz,{split}"]
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n")
    text = starter_config("detect", tmp_path / "events.csv")
    config = load_config(yaml.safe_load(text))
    assert config.data["classes"] == ["buzz", "whistle"] and config.model["num_classes"] == 2
    assert config.model["output"] == "exclusive" and config.train.select_metric == "event_f1"
    result = train(load_config(yaml.safe_load(text), ["train.epochs=1"]), tmp_path / "run", quiet=True)
    assert result.best_metric == "val/event_f1"
