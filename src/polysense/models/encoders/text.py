"""Text encoders: a transformer trained from scratch (``"text_transformer"``); the pretrained
MiniLM is in :mod:`polysense.models.encoders.minilm`, the tokenizer in
:mod:`polysense.models.encoders.tokenizer`.
"""

from __future__ import annotations

import torch
from torch import nn

from polysense._checks import check_choice, check_positive_int
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
# The tokenizer names are re-exported for callers of the former all-in-one text module.
from polysense.models.encoders.tokenizer import (  # noqa: F401
    SPECIAL_TOKENS,
    TextBatch,
    TextEncoding,
    TextTokenizer,
    load_tokenizer,
    train_tokenizer,
)
from polysense.models.layers import (
    LearnedPositionalEmbedding,
    TransformerEncoder,
    check_dropout,
    check_mask,
    init_weights,
    masked_mean,
)
from polysense.models.registry import register

__all__ = ["TextTransformer", "check_ids"]


def check_ids(input_ids: torch.Tensor, mask: torch.Tensor | None, vocab_size: int, pad_id: int):
    """Validate (B, L) token ids against the vocabulary; returns the mask (default ``ids != pad_id``)."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2:
        shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise ParameterError(f"input_ids has shape {shape}: expected a (batch, length) LongTensor")
    if input_ids.dtype not in (torch.int64, torch.int32):
        raise ParameterError(f"input_ids has dtype {input_ids.dtype}: expected torch.long token ids")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab_size):
        raise ParameterError(
            f"input_ids holds ids in [{int(input_ids.min())}, {int(input_ids.max())}] but the vocabulary has "
            f"{vocab_size} entries: was the text tokenized with this encoder's tokenizer?"
        )
    mask = check_mask(mask, input_ids.shape)
    if mask is None:
        mask = input_ids != pad_id
    return mask


@register("encoder", "text_transformer")
class TextTransformer(nn.Module):
    """A transformer text encoder trained from scratch.

    Token embeddings + learned positions + dropout, then ``depth`` pre-norm blocks.

    Args:
        vocab_size: size of the token table (default with ``tokenizer``: its vocabulary size;
            given, at least that).
        tokenizer: path of a ``tokenizer.json``; sets ``vocab_size`` and ``pad_id`` from it and
            is exposed as :attr:`tokenizer` (the trainer writes the tokenizer it trained on the
            data's text to the run folder and passes its path here).
        dim, depth, heads, mlp_ratio, dropout, attention_dropout: the transformer.
        max_length: longest sequence accepted (size of the position table).
        pool: ``"cls"`` (the final state of the first token, [CLS]) or ``"mean"`` (masked mean).
        pad_id: the [PAD] id (mask derived from it when no mask is passed).

    ``forward(input_ids (B, L), mask (B, L) bool optional) -> EncoderOutput``.
    """

    def __init__(
        self,
        vocab_size: int | None = None,
        *,
        tokenizer: str | None = None,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        max_length: int = 128,
        pool: str = "cls",
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self._tokenizer: TextTokenizer | None = None
        if tokenizer is not None:
            self._tokenizer = load_tokenizer(tokenizer, max_length=max_length)
            # a tokenizer trained towards vocab_size may hold fewer tokens (a small corpus): the
            # table keeps the configured size then; a smaller table could not embed every id
            if vocab_size is not None and vocab_size < self._tokenizer.vocab_size:
                raise ParameterError(
                    f"vocab_size={vocab_size} is smaller than the tokenizer {str(tokenizer)!r} "
                    f"({self._tokenizer.vocab_size} tokens): leave vocab_size out, it follows from the tokenizer"
                )
            vocab_size = self._tokenizer.vocab_size if vocab_size is None else vocab_size
            pad_id = self._tokenizer.pad_id
        if vocab_size is None:
            raise ParameterError("text_transformer needs vocab_size (or tokenizer: the path of a tokenizer.json)")
        self.vocab_size = check_positive_int("vocab_size", vocab_size, minimum=2)
        self.dim = check_positive_int("dim", dim)
        self.max_length = check_positive_int("max_length", max_length)
        self.pool = check_choice("pool", pool, ("cls", "mean"))
        self.pad_id = check_positive_int("pad_id", pad_id, minimum=0)
        if self.pad_id >= self.vocab_size:
            raise ParameterError(f"pad_id={pad_id} is outside the vocabulary of vocab_size={vocab_size}")
        self.token_embedding = nn.Embedding(self.vocab_size, self.dim, padding_idx=self.pad_id)
        self.position_embedding = LearnedPositionalEmbedding(self.dim, self.max_length)
        self.drop = nn.Dropout(check_dropout("dropout", dropout))
        self.encoder = TransformerEncoder(
            self.dim, depth, heads, mlp_ratio=mlp_ratio, dropout=dropout, attention_dropout=attention_dropout
        )
        self.apply(init_weights)

    @property
    def tokenizer(self) -> TextTokenizer | None:
        """The tokenizer read from the ``tokenizer`` path (None when built from ``vocab_size``)."""
        return self._tokenizer

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token + position embeddings (B, L, dim), before the transformer."""
        return self.drop(self.position_embedding(self.token_embedding(input_ids)))

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        mask = check_ids(input_ids, mask, self.vocab_size, self.pad_id)
        tokens = self.encoder(self.embed(input_ids.long()), mask)
        pooled = tokens[:, 0] if self.pool == "cls" else masked_mean(tokens, mask)
        return EncoderOutput(tokens=tokens, mask=mask, pooled=pooled)
