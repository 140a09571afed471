"""Whole-word masking end to end: ManifestDataset with the real TextTokenizer, collate, mask_tokens.

The word ids a batch carries must be the tokenizer's own (checked against ``batch_encode``, which
pads independently of :func:`~polysense.data.collate.collate`), and masking with them must pick
every subword piece of a word or none of them.
"""

from __future__ import annotations

import torch

from polysense.data.collate import collate
from polysense.data.dataset import ManifestDataset
from polysense.losses.masked import mask_tokens
from polysense.models.encoders.text import train_tokenizer
from tests.data.manifest_helpers import write_jsonl

CAPTIONS = [
    "a dog barks at the windowsill",
    "unbelievably loud thunderstorms tonight",
    "the cat sleeps",
    "children laughing near a waterfall",
]


def test_batches_carry_word_ids_that_mask_whole_words(tmp_path):
    # a small WordPiece vocabulary, so that long words are split into several pieces
    tokenizer = train_tokenizer(CAPTIONS, vocab_size=60, model="wordpiece", max_length=None)
    rows = [{"id": f"c{i}", "text": text, "label": i} for i, text in enumerate(CAPTIONS)]
    dataset = ManifestDataset(write_jsonl(tmp_path / "captions.jsonl", rows), tokenizer=tokenizer)
    batch = collate([dataset[i] for i in range(len(dataset))], pad_id=tokenizer.pad_id)

    reference = tokenizer.batch_encode(CAPTIONS)
    assert torch.equal(batch["input_ids"], reference.input_ids)
    assert torch.equal(batch["text_mask"], reference.mask)
    assert torch.equal(batch["word_ids"], reference.word_ids)  # -1 on [CLS], [SEP] and padding
    for row, text in enumerate(CAPTIONS):  # each word id collects exactly that word's pieces
        words = batch["word_ids"][row]
        pieces = [tokenizer.decode(batch["input_ids"][row][words == w]) for w in range(len(text.split()))]
        assert pieces == text.split()
    counts = torch.stack([(batch["word_ids"] == w).sum(1) for w in range(6)], dim=1)
    assert int(counts.max()) > 1  # some word has several pieces, so token-level masking would split it

    maskable = batch["text_mask"] & (batch["word_ids"] >= 0)
    split_words = 0
    for seed in range(20):
        token_level = mask_tokens(batch["input_ids"], mask_token_id=tokenizer.mask_id, vocab_size=tokenizer.vocab_size,
                                  maskable=maskable, mask_prob=0.5, generator=torch.Generator().manual_seed(seed))
        out = mask_tokens(batch["input_ids"], mask_token_id=tokenizer.mask_id, vocab_size=tokenizer.vocab_size,
                          maskable=maskable, word_ids=batch["word_ids"], mask_prob=0.5,
                          generator=torch.Generator().manual_seed(seed))
        assert not out.picked[batch["word_ids"] < 0].any()
        for row in range(len(CAPTIONS)):
            for w in batch["word_ids"][row][batch["word_ids"][row] >= 0].unique().tolist():
                flags = out.picked[row][batch["word_ids"][row] == w]
                assert bool(flags.all()) or not bool(flags.any()), (seed, row, w)
                partial = token_level.picked[row][batch["word_ids"][row] == w]
                split_words += bool(partial.any()) and not bool(partial.all())
    assert split_words > 0  # the check above can fail: token-level masking does split words
