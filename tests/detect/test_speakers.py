"""speaker_embedding: learns speakers (overfits), embeds unseen ones; fsdd-speakers through the
trainer and ``polysense evaluate`` (EER and minDCF between unseen real speakers)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from polysense.data.collate import collate
from polysense.errors import ParameterError
from polysense.evaluate.runner import evaluate_run
from polysense.models.registry import build_model
from polysense.train.config import load_config
from polysense.train.trainer import train

ENCODER = {"name": "speech_cnn", "sample_rate": 8000, "n_fft": 256, "hop_length": 80, "n_mels": 16,
           "channels": [4, 8], "dim": 16}


def voice(f0: float, k: int) -> torch.Tensor:
    """A buzz at pitch f0 with speaker-specific harmonics: a toy 'speaker'."""
    t = torch.arange(4000) / 8000
    g = torch.Generator().manual_seed(k)
    return sum(torch.sin(2 * math.pi * f0 * h * t + float(torch.rand(1, generator=g)) * 6) / h for h in range(1, 6)) * 0.1


def test_speaker_embedding_overfits_four_speakers_and_embeds_unseen_ones():
    torch.manual_seed(0)
    items = [{"id": f"{s}-{k}", "audio": voice(120 + 60 * s, 10 * s + k), "sample_rate": 8000, "label": s}
             for s in range(4) for k in range(3)]
    batch = collate(items)
    model = build_model({"name": "speaker_embedding", "encoder": ENCODER, "num_speakers": 4, "embed_dim": 16})
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(60):
        out = model(batch)
        first = float(out.loss.detach()) if first is None else first
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    model.eval()
    out = model(batch)
    assert float(out.loss.detach()) < 0.2 * first and float(out.metrics["accuracy"]) == 1.0
    unseen = collate([{**items[0], "label": -1}, {**items[5], "label": -1}])
    assert model(unseen).loss is None
    e = model.encode("audio", unseen)
    assert e.shape == (2, 16) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
    with pytest.raises(ParameterError, match="speaker label 7 is outside the model's num_speakers=4"):
        model(collate([{**items[0], "label": 7}]))


def test_fsdd_speakers_trains_and_reports_verification(fsdd_dir, tmp_path):
    overrides = [f"data.fsdd_folder={fsdd_dir}", "data.max_per_speaker=12", "data.synthetic_voices=0", "data.val_voices=0",
                 "data.val_fraction=0.25", "model.num_speakers=2", "model.encoder.channels=[4,8]",
                 "model.encoder.dim=16", "model.embed_dim=16", "train.epochs=2", "train.batch_size=8"]
    result = train(load_config("fsdd-speakers", overrides), tmp_path / "run", quiet=True)
    assert result.best_metric == "val/eer"  # the config selects on verification (here among held-out utterances)
    metrics = evaluate_run(tmp_path / "run")
    v = metrics["verification"]
    assert v["speakers"] == ["jackson", "theo"] and v["trials"] == 24 * 23 // 2
    # the same number from the run's own embeddings, scored independently (sklearn's ROC)
    from polysense.data.registry import build_data
    from polysense.train.run import load_run
    from tests.metrics.test_verification import reference_eer

    run = load_run(tmp_path / "run")
    test = build_data(run.config["data"], seed=0).test
    items = [test[i] for i in range(len(test))]
    with torch.no_grad():
        e = torch.nn.functional.normalize(run.model.encode("audio", collate(items)).double(), dim=1)
    i, j = np.triu_indices(len(items), k=1)
    same = np.array([items[a]["group"] == items[b]["group"] for a, b in zip(i, j)], dtype=int)
    assert v["eer"] == pytest.approx(reference_eer((e @ e.T).numpy()[i, j], same), abs=1e-6)
    # 12 recordings per speaker: pooled 3 and 5 per side (4 and 2 groups each), the same embeddings
    from polysense.metrics.verification import equal_error_rate, pooled_trials

    groups = [it["group"] for it in items]
    assert sorted(v["pooled"]) == ["3", "5"] and v["pooled"]["3"]["trials"] == 8 * 7 // 2
    for k in (3, 5):
        assert v["pooled"][str(k)]["eer"] == pytest.approx(equal_error_rate(*pooled_trials(e, groups, utterances=k)), abs=1e-6)
    assert "accuracy" not in metrics  # unseen speakers: no closed-set accuracy on test
    from polysense.evaluate.report import write_report

    text = write_report(tmp_path / "run").read_text()
    assert f"| 3 | 28 | {v['pooled']['3']['eer']:.4f} |" in text and f"| EER | {v['eer']:.4f} |" in text


def test_val_voices_choose_the_epoch_on_verification_among_unseen_voices(fsdd_dir, tmp_path):
    from polysense.data.registry import build_data
    from polysense.metrics.verification import equal_error_rate, trials

    config = {"name": "fsdd_speakers", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 6, "synthetic_voices": 5,
              "val_voices": 2}
    data = build_data(config, seed=0)
    val_speakers = {data.val[i]["group"] for i in range(len(data.val))}
    assert len(val_speakers) == 2 and not val_speakers & set(data.classes)  # never a training class
    assert {data.val[i]["label"] for i in range(len(data.val))} == {-1} and len(data.val) == 20
    assert len(data.classes) == 2 + 3  # nicolas, yweweler + the 3 voices kept for training
    with pytest.raises(ParameterError, match="val_voices=5 with synthetic_voices=5: hold out at least 2"):
        build_data({**config, "val_voices": 5}, seed=0)
    overrides = [f"data.fsdd_folder={fsdd_dir}", "data.max_per_speaker=6", "data.synthetic_voices=5", "data.val_voices=2",
                 "model.num_speakers=5", "model.encoder.channels=[4,8]", "model.encoder.dim=16", "model.embed_dim=16",
                 "train.epochs=2", "train.batch_size=8", "train.select_metric=eer", "train.select_mode=min"]
    result = train(load_config("fsdd-speakers", overrides), tmp_path / "run", quiet=True)
    assert result.best_metric == "val/eer"
    import json

    vals = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() if '"val"' in x]
    assert len(vals) == 2 and result.best_value == min(v["eer"] for v in vals)
    # the logged number is the EER of the best epoch's model on the validation voices, scored independently
    from polysense.train.run import load_run

    run = load_run(tmp_path / "run")
    items = [data.val[i] for i in range(len(data.val))]
    with torch.no_grad():
        e = run.model.encode("audio", collate(items))
    best = next(v for v in vals if v["epoch"] == result.best_epoch)
    assert best["eer"] == pytest.approx(equal_error_rate(*trials(e, [it["group"] for it in items])), abs=1e-6)
