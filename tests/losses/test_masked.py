"""Masked modelling (polysense.losses.masked): BERT's 15 % / 80-10-10 masking, whole-word
masking, masked-feature corruption, and the losses against their formulas.

Statistical tests use a seeded generator and >= 30 000 picked tokens, so a tolerance of 0.01 on a
proportion is more than 4 standard deviations (sqrt(0.8*0.2/30000) = 0.0023).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from polysense.errors import ParameterError
from polysense.losses.masked import (
    IGNORE_INDEX,
    MaskedFeatureRegressionLoss,
    MaskedLanguageModelingLoss,
    mask_features,
    mask_tokens,
    masked_feature_loss,
    mlm_loss,
)

VOCAB, MASK_ID = 1000, 4


def _ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(5, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_mask_tokens_80_10_10_proportions():
    ids = _ids(400, 500)
    out = mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, generator=torch.Generator().manual_seed(1))
    picked = out.picked
    assert picked.float().mean().item() == pytest.approx(0.15, abs=0.005)
    n = picked.sum().item()
    assert n > 25_000
    became_mask = (out.input_ids == MASK_ID) & picked
    unchanged = (out.input_ids == ids) & picked
    random = picked & ~became_mask & ~unchanged
    # a random replacement hits [MASK] or the original with probability 1/VOCAB each
    assert became_mask.sum().item() / n == pytest.approx(0.8 + 0.1 / VOCAB, abs=0.01)
    assert unchanged.sum().item() / n == pytest.approx(0.1 + 0.1 / VOCAB, abs=0.01)
    assert random.sum().item() / n == pytest.approx(0.1 * (1 - 2 / VOCAB), abs=0.01)
    # tokens not picked are untouched; labels hold the originals exactly where picked
    assert torch.equal(out.input_ids[~picked], ids[~picked])
    assert torch.equal(out.labels[picked], ids[picked])
    assert (out.labels[~picked] == IGNORE_INDEX).all()
    # random replacements are spread over the vocabulary
    assert out.input_ids[random].unique().numel() > 0.9 * min(VOCAB, random.sum().item()) * 0.5


def test_mask_tokens_is_reproducible_and_respects_maskable():
    ids = _ids(8, 20)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False  # [CLS]
    maskable[:, 15:] = False  # [SEP] + padding
    a = mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, maskable=maskable,
                    mask_prob=0.5, generator=torch.Generator().manual_seed(7))
    b = mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, maskable=maskable,
                    mask_prob=0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.labels, b.labels)
    assert not a.picked[~maskable].any()
    assert torch.equal(a.input_ids[~maskable], ids[~maskable])
    assert a.picked.any()


def test_whole_word_masking_masks_all_sub_tokens_together():
    batch, length = 300, 40
    gen = torch.Generator().manual_seed(2)
    # words of 1-4 sub-tokens; position 0 is [CLS] (word id -1), the tail is padding (-1)
    word_ids = torch.full((batch, length), -1)
    for b in range(batch):
        position, word = 1, 0
        limit = int(torch.randint(10, length, (1,), generator=gen))
        while position < limit:
            size = int(torch.randint(1, 5, (1,), generator=gen))
            word_ids[b, position : min(position + size, limit)] = word
            position, word = position + size, word + 1
    ids = _ids(batch, length)
    out = mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, word_ids=word_ids,
                      generator=torch.Generator().manual_seed(3))
    picked_words = picked_total = 0
    for b in range(batch):
        for w in word_ids[b].unique().tolist():
            if w < 0:
                continue
            flags = out.picked[b][word_ids[b] == w]
            assert flags.all() or not flags.any(), f"word {w} of row {b} partly masked"
            picked_words += int(flags.all())
            picked_total += 1
    assert not out.picked[word_ids < 0].any()
    # words, not tokens, are picked with probability 0.15
    assert picked_words / picked_total == pytest.approx(0.15, abs=0.015)
    # within picked words, each token is [MASK] with probability 0.8
    assert (out.input_ids[out.picked] == MASK_ID).float().mean().item() == pytest.approx(0.8, abs=0.02)


def test_mlm_loss_equals_cross_entropy_over_picked_positions():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=gen, dtype=torch.float64)
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[0, 1], labels[1, 3], labels[1, 4] = 3, 6, 0
    out = mlm_loss(logits, labels)
    log_p = logits.log_softmax(-1)
    expected = -(log_p[0, 1, 3] + log_p[1, 3, 6] + log_p[1, 4, 0]) / 3
    assert float(out.loss) == pytest.approx(float(expected), abs=1e-12)
    assert out.num_picked == 3
    hits = [logits[0, 1].argmax() == 3, logits[1, 3].argmax() == 6, logits[1, 4].argmax() == 0]
    assert float(out.accuracy) == pytest.approx(sum(map(bool, hits)) / 3)


def test_mlm_loss_without_picked_tokens_is_zero_not_nan():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    out = mlm_loss(logits, torch.full((2, 3), IGNORE_INDEX))
    assert float(out.loss.detach()) == 0.0 and out.num_picked == 0
    out.loss.backward()
    assert logits.grad is not None


def test_mlm_module_uses_its_head():
    module = MaskedLanguageModelingLoss(8, VOCAB)
    tokens = torch.randn(2, 4, 8)
    labels = torch.tensor([[1, IGNORE_INDEX, 2, IGNORE_INDEX], [IGNORE_INDEX, 5, IGNORE_INDEX, IGNORE_INDEX]])
    out = module(tokens, labels)
    logits = module.head(tokens)
    assert out.loss.item() == pytest.approx(F.cross_entropy(logits[labels != -100], labels[labels != -100]).item())


def test_mask_features_proportions_and_replacement():
    features = torch.randn(200, 300, 4, generator=torch.Generator().manual_seed(0)) + 5.0
    out = mask_features(features, generator=torch.Generator().manual_seed(1))
    picked = out.picked
    assert picked.float().mean().item() == pytest.approx(0.15, abs=0.005)
    zeroed = (out.features == 0).all(-1)
    assert not zeroed[~picked].any()
    assert zeroed[picked].float().mean().item() == pytest.approx(0.9, abs=0.01)
    kept = picked & ~zeroed
    assert torch.equal(out.features[kept], features[kept])
    assert torch.equal(out.features[~picked], features[~picked])
    # a learned mask vector as the replacement, and the maskable argument
    vector = torch.arange(4.0)
    maskable = torch.zeros(200, 300, dtype=torch.bool)
    maskable[:, 1:] = True
    out = mask_features(features, maskable=maskable, mask_value=vector, mask_prob=1.0, replace_prob=1.0)
    assert not out.picked[:, 0].any() and out.picked[:, 1:].all()
    assert torch.equal(out.features[:, 1:], vector.expand(200, 299, 4))


def test_masked_feature_loss_formula():
    gen = torch.Generator().manual_seed(0)
    prediction, target = torch.randn(2, 4, 3, generator=gen), torch.randn(2, 4, 3, generator=gen)
    picked = torch.tensor([[True, False, False, True], [False, False, True, False]])
    out = masked_feature_loss(prediction, target, picked)
    diffs = [(prediction[b, t] - target[b, t]).pow(2).mean() for b, t in [(0, 0), (0, 3), (1, 2)]]
    assert float(out.loss) == pytest.approx(float(sum(diffs) / 3), rel=1e-6)
    assert out.num_picked == 3
    none = masked_feature_loss(prediction, target, torch.zeros_like(picked))
    assert float(none.loss) == 0.0 and none.num_picked == 0
    module = MaskedFeatureRegressionLoss(3, 3)
    assert module(prediction, target, picked).num_picked == 3


def test_errors_name_the_argument():
    ids = _ids(2, 5)
    with pytest.raises(ParameterError, match="mask_prob"):
        mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, mask_prob=1.5)
    with pytest.raises(ParameterError, match="exceeds 1"):
        mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, replace_prob=0.8, random_prob=0.3)
    with pytest.raises(ParameterError, match="mask_token_id"):
        mask_tokens(ids, mask_token_id=VOCAB, vocab_size=VOCAB)
    with pytest.raises(ParameterError, match="input_ids"):
        mask_tokens(ids.float(), mask_token_id=MASK_ID, vocab_size=VOCAB)
    with pytest.raises(ParameterError, match="word_ids"):
        mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, word_ids=torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ParameterError, match="maskable"):
        mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, maskable=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ParameterError, match="features"):
        mask_features(torch.randn(2, 3))
    with pytest.raises(ParameterError, match="logits"):
        mlm_loss(torch.randn(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ParameterError, match="prediction"):
        masked_feature_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 5), torch.ones(2, 3, dtype=torch.bool))
