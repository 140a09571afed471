"""The text tokenizer (Hugging Face ``tokenizers``): trained on a data set's text or read from a
``tokenizer.json``.

:func:`train_tokenizer` trains a byte-level BPE (or WordPiece) tokenizer on a dataset's text;
:func:`load_tokenizer` reads a ``tokenizer.json``. Both return a :class:`TextTokenizer`, whose
:meth:`~TextTokenizer.batch_encode` gives padded ``input_ids``, the mask and per-token word ids
(for whole-word masking). Special tokens: ``[PAD] [UNK] [CLS] [SEP] [MASK]``; every sequence is
``[CLS] ... [SEP]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from polysense._checks import check_choice, check_positive_int
from polysense.errors import ParameterError

__all__ = [
    "CLS",
    "MASK",
    "PAD",
    "SEP",
    "SPECIAL_TOKENS",
    "UNK",
    "TextBatch",
    "TextEncoding",
    "TextTokenizer",
    "load_tokenizer",
    "train_tokenizer",
]

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)


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
