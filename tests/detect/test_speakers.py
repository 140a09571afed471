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
    overrides = [f"data.fsdd_folder={fsdd_dir}", "data.max_per_speaker=12", "data.synthetic_voices=0",
                 "data.val_fraction=0.25", "model.num_speakers=2", "model.encoder.channels=[4,8]",
                 "model.encoder.dim=16", "model.embed_dim=16", "train.epochs=2", "train.batch_size=8"]
    result = train(load_config("fsdd-speakers", overrides), tmp_path / "run", quiet=True)
    assert result.best_metric == "val/accuracy"
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
