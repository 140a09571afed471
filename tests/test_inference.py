"""The one inference path: validation during training and ``polysense evaluate`` of the same run on
the same split report the same numbers (a classifier, an embedding model and an enhancer), and
what it collects matches the model's outputs taken by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from polysense.evaluate.runner import evaluate_run
from polysense.inference import collect, scored
from polysense.models.registry import build_model
from polysense.train.config import load_config
from polysense.train.trainer import train
from tests.train.helpers import tiny_clip, tiny_fusion, with_

EVAL_BATCH = 16


def _validated_and_evaluated(config: dict, run: Path) -> tuple[dict, dict]:
    """The last validation entry of metrics.jsonl after one epoch, and evaluate_run on val."""
    config = with_(config, train={"epochs": 1, "eval_batch_size": EVAL_BATCH})
    train(load_config(config), run, quiet=True)
    entries = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validated = [e for e in entries if e["split"] == "val"][-1]
    return validated, evaluate_run(run, split="val", batch_size=EVAL_BATCH)


def test_a_classifier_validates_as_it_evaluates(tmp_path):
    validated, evaluated = _validated_and_evaluated(tiny_fusion(), tmp_path / "run")
    for name in ("loss", "loss_cross_entropy", "accuracy", "macro_f1"):
        assert validated[name] == pytest.approx(evaluated[name], rel=1e-6, abs=1e-9), name


def test_an_embedding_model_validates_as_it_evaluates(tmp_path):
    validated, evaluated = _validated_and_evaluated(tiny_clip(), tmp_path / "run")
    retrieval = evaluated["retrieval"]
    assert validated["loss"] == pytest.approx(evaluated["loss"], rel=1e-6)
    assert validated["audio_to_text_r1"] == pytest.approx(retrieval["audio_to_text"]["r@1"], abs=1e-12)
    assert validated["text_to_audio_r1"] == pytest.approx(retrieval["text_to_audio"]["r@1"], abs=1e-12)
    mean = 0.5 * (retrieval["audio_to_text"]["r@1"] + retrieval["text_to_audio"]["r@1"])
    assert validated["r1"] == pytest.approx(mean, abs=1e-12)


def test_an_enhancer_validates_as_it_evaluates(fsdd_dir, tmp_path):
    config = load_config("fsdd-denoise", [f"data.fsdd_folder={fsdd_dir}", "data.max_per_speaker=4", "data.repeats=1",
                                          "data.val_fraction=0.25", "train.max_batches_per_epoch=1",
                                          "train.batch_size=4", "model.channels=[4,8]"]).to_dict()
    validated, evaluated = _validated_and_evaluated(config, tmp_path / "run")
    for name in ("loss", "si_sdr", "si_sdri"):
        assert validated[name] == pytest.approx(evaluated[name], rel=1e-6, abs=1e-9), name
    # evaluation adds the per-utterance metrics of the same single pass
    assert evaluated["enhancement"]["count"] == evaluated["items"]


def test_a_generator_validates_as_it_evaluates(tmp_path):
    """A generator's fd (Fréchet distance of generated to real features over the split) is the same
    number at validation and in ``polysense evaluate``; it chose the epoch."""
    config = {"name": "tiny-gan", "data": {"name": "synthetic", "num_samples": 48, "sample_rate": 8000, "task": "both"},
              "model": {"name": "specgan", "num_classes": 2, "n_fft": 64, "hop_length": 32, "frames": 16, "latent_dim": 8,
                        "embed_dim": 4, "channels": [8, 4], "discriminator_channels": [4, 8], "feature_mels": 8,
                        "griffin_lim_iters": 2},
              "train": {"batch_size": 8, "max_batches_per_epoch": 2, "select_metric": "fd", "select_mode": "min"}}
    validated, evaluated = _validated_and_evaluated(config, tmp_path / "run")
    assert validated["fd"] > 0 and validated["fd"] == pytest.approx(evaluated["fd"], rel=1e-9)
    assert validated["loss_g_adversarial"] == pytest.approx(evaluated["loss_g_adversarial"], rel=1e-6)
    assert json.loads((tmp_path / "run" / "result.json").read_text())["best_metric"] == "val/fd"
    from polysense.evaluate.report import summary_lines

    assert f"(fd): {evaluated['fd']:.4f}" in "\n".join(summary_lines(evaluated))  # what `polysense evaluate` prints


def test_albef_gets_recall_at_validation(tmp_path):
    """ALBEF embeds into one space (shared_space): validation reports R@1 and selects on it."""
    config = tiny_clip()
    towers = {m: config["model"][m] for m in ("audio", "text")}
    config["model"] = {"name": "albef", "embed_dim": 8, "heads": 2, "fusion_depth": 1, "queue_size": 0, **towers}
    validated, evaluated = _validated_and_evaluated(config, tmp_path / "run")
    assert validated["audio_to_text_r1"] == pytest.approx(evaluated["retrieval"]["audio_to_text"]["r@1"], abs=1e-12)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["best_metric"] == "val/r1"


def test_collect_gathers_what_the_model_gives_batch_by_batch():
    from tests.models.test_contract import CONFIGS, _batch

    torch.manual_seed(0)
    model = build_model(CONFIGS["clip"]).eval()
    batches = [_batch(6), _batch(4)]
    for i, batch in enumerate(batches):
        batch["id"] = [f"{i}-{k}" for k in range(len(batch["label"]))]
    found = collect(model, batches)
    assert found.count == 10 and found.ids[6] == "1-0"
    with torch.no_grad():
        outs = [model(b) for b in batches]
        expected_loss = (6 * float(outs[0].loss) + 4 * float(outs[1].loss)) / 10  # item-weighted mean
        expected_audio = torch.cat([model.encode("audio", b) for b in batches])
    assert found.scalars["loss"] == pytest.approx(expected_loss, rel=1e-6)
    torch.testing.assert_close(found.cat_embeddings()["audio"], expected_audio)
    assert found.cat_logits() is None  # a similarity matrix is not class scores
    assert set(scored(found, retrieval=True)["retrieval"]) == {"audio_to_text", "text_to_audio"}
