"""Whisper's byte-level BPE tokenizer (``tokenizer.json``) and its special tokens.

The special tokens are looked up by name in the file (multilingual models: ``<|endoftext|>`` 50257,
``<|startoftranscript|>`` 50258, languages from 50259, ``<|translate|>``, ``<|transcribe|>``,
``<|startoflm|>``, ``<|startofprev|>``, ``<|nospeech|>``, ``<|notimestamps|>``, then 1501 timestamps
``<|0.00|>`` … ``<|30.00|>``), never assumed. Byte-level BPE spells any text, so every word a user
gives has a token sequence.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tokenizers import Tokenizer

from polysense.errors import ParameterError

__all__ = ["WhisperTokenizer"]


class WhisperTokenizer:
    """Encode and decode Whisper tokens; the special-token ids as attributes.

    Args:
        path: ``tokenizer.json`` of a Whisper model (Hugging Face's format, also shipped beside
            CTranslate2 conversions).
        suppress: token ids never generated in text (the model's ``suppress_ids`` /
            ``suppress_tokens``); read from ``config.json`` / ``generation_config.json`` beside it
            when not given.
    """

    def __init__(self, path: str | os.PathLike, *, suppress: list[int] | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise ParameterError(f"Whisper tokenizer {str(path)!r} does not exist: give the model folder's tokenizer.json")
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # noqa: BLE001  (tokenizers raises a bare Exception for a bad file)
            raise ParameterError(f"Whisper tokenizer {str(path)!r} cannot be read ({error})") from None
        self.path = path

        def special(name: str, required: bool = True) -> int | None:
            token = self._tokenizer.token_to_id(name)
            if token is None and required:
                raise ParameterError(f"Whisper tokenizer {str(path)!r} lacks the special token {name}: is it Whisper's?")
            return token

        self.eot = special("<|endoftext|>")
        self.sot = special("<|startoftranscript|>")
        self.transcribe = special("<|transcribe|>")
        self.translate = special("<|translate|>")
        self.sot_prev = special("<|startofprev|>")
        self.sot_lm = special("<|startoflm|>")
        self.no_timestamps = special("<|notimestamps|>")
        self.no_speech = special("<|nospeech|>", required=False) or special("<|nocaptions|>")
        self.timestamp_begin = special("<|0.00|>")
        self.english = special("<|en|>", required=False)  # absent from the English-only models
        self.vocab_size = self._tokenizer.get_vocab_size()
        self.space = self._tokenizer.token_to_id("Ġ")
        if suppress is None:
            suppress, begin = _suppressed_from_configs(path.parent)
        else:
            begin = None
        self.suppress = list(suppress or [])
        self.suppress_begin = list(begin) if begin else [t for t in (self.space, self.eot) if t is not None]

    def prompt(self, *, language: str | None = "en", timestamps: bool = False) -> list[int]:
        """``<|startoftranscript|> <|lang|> <|transcribe|> [<|notimestamps|>]`` (language None: English-only models)."""
        tokens = [self.sot]
        if language is not None and self.english is not None:
            lang = self._tokenizer.token_to_id(f"<|{language}|>")
            if lang is None:
                raise ParameterError(f"language={language!r} is not one of the model's languages (e.g. 'en', 'de')")
            tokens += [lang, self.transcribe]
        if not timestamps:
            tokens.append(self.no_timestamps)
        return tokens

    def encode(self, text: str) -> list[int]:
        """The text's BPE tokens (no special tokens)."""
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, tokens: list[int]) -> str:
        """The text of ``tokens``; special and timestamp tokens are left out."""
        return self._tokenizer.decode([t for t in tokens if t < self.eot], skip_special_tokens=True)


def _suppressed_from_configs(folder: Path) -> tuple[list[int] | None, list[int] | None]:
    for name, key, begin_key in (("config.json", "suppress_ids", "suppress_ids_begin"),
                                 ("generation_config.json", "suppress_tokens", "begin_suppress_tokens")):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if key in data:
                return list(data[key]), data.get(begin_key)
    return None, None
