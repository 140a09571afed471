"""Tokenizer wrapper (train / save / load / word ids) and the from-scratch text transformer."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.encoders.text import (
    SPECIAL_TOKENS,
    TextTokenizer,
    TextTransformer,
    load_tokenizer,
    train_tokenizer,
)
from polysense.models.registry import build

CORPUS = [
    "a dog barks at the postman!",
    "the cat sleeps on the warm windowsill",
    "a bird sings in the morning",
    "the dog chases the cat around the garden",
    "unbelievably loud thunder rolls over the hills",
    "someone says the digit seven",
] * 3


@pytest.fixture(scope="module", params=["bpe", "wordpiece"])
def tokenizer(request) -> TextTokenizer:
    vocab_size = 320 if request.param == "bpe" else 120
    return train_tokenizer(CORPUS, vocab_size=vocab_size, model=request.param, max_length=16)


def test_special_tokens_and_vocabulary(tokenizer):
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id) == (0, 1, 2, 3, 4)
    assert 40 < tokenizer.vocab_size <= 320


def test_encode_adds_cls_sep_and_word_ids(tokenizer):
    encoding = tokenizer.encode("The dog barks!")
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert encoding.input_ids[0] == tokenizer.cls_id and encoding.input_ids[-1] == tokenizer.sep_id
    assert encoding.word_ids[0] == -1 and encoding.word_ids[-1] == -1
    # words: the, dog, barks, ! -> ids 0..3, non-decreasing, each word's pieces share its id
    inner = encoding.word_ids[1:-1].tolist()
    assert inner == sorted(inner) and set(inner) == {0, 1, 2, 3}
    assert encoding.mask.all()
    assert tokenizer.decode(encoding.input_ids) == "the dog barks!"


def test_wordpiece_word_ids_group_subword_pieces():
    wordpiece = train_tokenizer(CORPUS, vocab_size=120, model="wordpiece")
    encoding = wordpiece.encode("unbelievably thunderous")
    pieces, words = encoding.tokens[1:-1], encoding.word_ids[1:-1].tolist()
    assert len(pieces) > 2  # split into pieces
    for piece, word, previous in zip(pieces[1:], words[1:], words[:-1], strict=True):
        assert (word == previous) == piece.startswith("##")
    assert wordpiece.unk_id in wordpiece.encode("ζ").input_ids.tolist()  # unseen character


def test_bpe_is_byte_level_and_deterministic():
    first = train_tokenizer(CORPUS, vocab_size=300)
    second = train_tokenizer(CORPUS, vocab_size=300)
    assert first.tokenizer.get_vocab() == second.tokenizer.get_vocab()
    encoding = first.encode("Unbelievably, ζ-rays!")
    assert first.unk_id not in encoding.input_ids.tolist()  # any byte is in the vocabulary
    assert first.decode(encoding.input_ids) == "unbelievably, ζ-rays!"
    words = encoding.word_ids[1:-1].tolist()
    assert words == sorted(words) and words[-1] == 5  # unbelievably , ζ - rays !
    with pytest.raises(ParameterError, match="256 bytes"):
        train_tokenizer(CORPUS, vocab_size=100)


def test_batch_encode_pads_and_masks(tokenizer):
    batch = tokenizer.batch_encode(["a dog", "the cat sleeps on the windowsill"])
    lengths = [len(tokenizer.encode(t).input_ids) for t in ["a dog", "the cat sleeps on the windowsill"]]
    assert batch.input_ids.shape == (2, max(lengths))
    assert batch.mask.sum(1).tolist() == lengths
    assert (batch.input_ids[0, lengths[0] :] == tokenizer.pad_id).all()
    assert (batch.word_ids[0, lengths[0] :] == -1).all()
    assert set(batch.as_dict()) == {"input_ids", "text_mask", "word_ids"}
    assert tokenizer.batch_encode(["a dog"], pad_to=10).input_ids.shape == (1, 10)
    assert isinstance(tokenizer(["a dog"]).input_ids, torch.Tensor) and tokenizer("a dog").tokens[0] == "[CLS]"
    with pytest.raises(ParameterError, match="pad_to"):
        tokenizer.batch_encode(["the cat sleeps on the windowsill"], pad_to=3)
    with pytest.raises(ParameterError, match="list of str"):
        tokenizer.batch_encode("a dog")


def test_truncation_keeps_sep(tokenizer):
    long = " ".join(["dog"] * 50)
    encoding = tokenizer.encode(long)
    assert len(encoding.input_ids) == 16 and encoding.tokens[-1] == "[SEP]"
    tokenizer.set_max_length(None)
    assert len(tokenizer.encode(long).input_ids) == 52
    tokenizer.set_max_length(16)


def test_save_and_load_roundtrip(tokenizer, tmp_path):
    path = tokenizer.save(tmp_path / "tok" / "tokenizer.json")
    loaded = load_tokenizer(path, max_length=16)
    text = "the dog chases a bird in the garden"
    assert loaded.encode(text).input_ids.tolist() == tokenizer.encode(text).input_ids.tolist()
    assert loaded.encode(text).word_ids.tolist() == tokenizer.encode(text).word_ids.tolist()
    assert load_tokenizer(path.parent).vocab_size == tokenizer.vocab_size  # a folder works too


def test_tokenizer_pickles(tokenizer):
    import pickle

    clone = pickle.loads(pickle.dumps(tokenizer))  # DataLoader workers need this
    assert clone.encode("a dog").input_ids.tolist() == tokenizer.encode("a dog").input_ids.tolist()


def test_tokenizer_errors(tmp_path):
    with pytest.raises(ParameterError, match="model"):
        train_tokenizer(CORPUS, model="unigram")
    with pytest.raises(ParameterError, match="non-empty"):
        train_tokenizer([])
    with pytest.raises(ParameterError, match="iterable of str"):
        train_tokenizer("one string")
    with pytest.raises(ParameterError, match="does not exist"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ParameterError, match="cannot read"):
        load_tokenizer(tmp_path / "bad.json")
    with pytest.raises(ParameterError, match="tokenizers.Tokenizer"):
        TextTokenizer("vocab.txt")
    from tokenizers import Tokenizer, models

    with pytest.raises(ParameterError, match=r"special token\(s\) \[PAD\]"):
        TextTokenizer(Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]")))


# --------------------------------------------------------------------------- transformer


def _config(tokenizer, **overrides):
    return {"name": "text_transformer", "vocab_size": tokenizer.vocab_size, "dim": 16, "depth": 2, "heads": 2,
            "max_length": 16, "dropout": 0.1, **overrides}


def test_build_and_shapes(tokenizer):
    encoder = build("encoder", _config(tokenizer)).eval()
    assert isinstance(encoder, TextTransformer) and encoder.dim == 16
    batch = tokenizer.batch_encode(["a dog barks", "the cat sleeps on the warm windowsill"])
    out = encoder(batch.input_ids, batch.mask)
    assert isinstance(out, EncoderOutput)
    assert out.tokens.shape == (2, batch.input_ids.shape[1], 16) and out.pooled.shape == (2, 16)
    assert torch.equal(out.mask, batch.mask)
    torch.testing.assert_close(out.pooled, out.tokens[:, 0])
    # no mask given: derived from [PAD]
    torch.testing.assert_close(encoder(batch.input_ids).pooled, out.pooled)


def test_build_from_tokenizer_file(tokenizer, tmp_path):
    path = tokenizer.save(tmp_path / "tokenizer.json")
    encoder = build("encoder", {"name": "text_transformer", "tokenizer": str(path), "dim": 8, "depth": 1, "heads": 2})
    assert encoder.vocab_size == tokenizer.vocab_size and encoder.pad_id == tokenizer.pad_id


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_padding_and_batch_consistency(tokenizer, pool):
    encoder = build("encoder", _config(tokenizer, pool=pool)).eval()
    texts = ["a dog", "the dog chases the cat around the garden", "a bird sings"]
    batch = tokenizer.batch_encode(texts)
    pooled = encoder(batch.input_ids, batch.mask).pooled
    for i, text in enumerate(texts):
        alone = tokenizer.batch_encode([text])
        torch.testing.assert_close(encoder(alone.input_ids, alone.mask).pooled[0], pooled[i], atol=1e-5, rtol=1e-5)
    longer = tokenizer.batch_encode(texts, pad_to=16)
    torch.testing.assert_close(encoder(longer.input_ids, longer.mask).pooled, pooled, atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_parameter(tokenizer):
    encoder = build("encoder", _config(tokenizer, pool="mean")).train()
    batch = tokenizer.batch_encode(CORPUS[:4])
    out = encoder(batch.input_ids, batch.mask)
    (out.pooled.square().sum() + out.tokens.sum()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    # the [PAD] embedding row never learns
    assert encoder.token_embedding.weight.grad[tokenizer.pad_id].abs().sum() == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"vocab_size": None}, "vocab_size"),
        ({"heads": 3}, "divisible"),
        ({"pool": "max"}, "pool"),
        ({"pad_id": 10_000}, "pad_id"),
        ({"max_len": 5}, "unexpected keyword"),
    ],
)
def test_bad_configs_raise_parameter_error(tokenizer, overrides, message):
    with pytest.raises(ParameterError, match=message):
        build("encoder", _config(tokenizer, **overrides))


def test_bad_inputs(tokenizer):
    encoder = build("encoder", _config(tokenizer))
    with pytest.raises(ParameterError, match="vocabulary"):
        encoder(torch.tensor([[2, 5000, 3]]))
    with pytest.raises(ParameterError, match=r"\(batch, length\)"):
        encoder(torch.tensor([2, 5, 3]))
    with pytest.raises(ParameterError, match="max_length"):
        encoder(torch.full((1, 17), 5))
    with pytest.raises(ParameterError, match="mask has shape"):
        encoder(torch.tensor([[2, 5, 3]]), torch.ones(1, 4, dtype=torch.bool))


def test_encoder_with_a_linear_head_overfits_a_tiny_batch():
    torch.manual_seed(0)
    tokenizer = train_tokenizer(CORPUS, vocab_size=300, max_length=16)
    encoder = build("encoder", _config(tokenizer, dropout=0.0)).train()
    head = torch.nn.Linear(encoder.dim, 4)
    batch = tokenizer.batch_encode(CORPUS[:4])
    labels = torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(encoder(batch.input_ids, batch.mask).pooled), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
