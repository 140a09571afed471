"""Decoding Whisper: greedy and beam search, token suppression, no-speech detection, and a closed
vocabulary as the language-model side of ``P(W|A) ∝ P(A|W) P(W)``.

Each step scores the next token with the decoder (key/value caches, so a step costs one token),
then filters the logits as OpenAI's and faster-whisper's decoders do:

* the model's ``suppress`` list and every special token except ``<|endoftext|>`` are never
  generated (no timestamps: the prompt ends with ``<|notimestamps|>``);
* ``suppress_blank``: at the first step, a blank (``Ġ``) and ``<|endoftext|>`` are not allowed;
* :class:`WordConstraint` (optional): only tokens that continue a sequence of allowed words.

``avg_logprob = Σ log p(token) / (tokens + 1)`` over the generated tokens and the final
``<|endoftext|>`` (faster-whisper's definition); ``no_speech_prob`` is ``p(<|nospeech|>)`` after
``<|startoftranscript|>``. A window is reported as silent when ``no_speech_prob >
no_speech_threshold`` and ``avg_logprob < log_prob_threshold`` (0.6 and -1.0, faster-whisper's
defaults).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from polysense._checks import check_positive_float, check_positive_int
from polysense.errors import ParameterError
from polysense.models.whisper.model import Whisper
from polysense.models.whisper.tokenizer import WhisperTokenizer

__all__ = ["DecodingOptions", "DecodingResult", "WordConstraint", "decode", "parse_words"]

PUNCTUATION = (".", ",", "?", "!")


@dataclass(frozen=True)
class DecodingOptions:
    """How to decode. ``beam_size`` 1 is greedy; ``length_penalty`` divides a finished beam's
    summed log-probability by ``length ** length_penalty``. ``initial_prompt``: text given to the
    decoder as the previous window's (``<|startofprev|> text`` before ``<|startoftranscript|>``,
    faster-whisper's ``initial_prompt``): words and spelling the transcript tends to follow."""

    beam_size: int = 1
    length_penalty: float = 1.0
    language: str | None = "en"
    suppress_blank: bool = True
    max_new_tokens: int | None = None
    no_speech_threshold: float | None = 0.6
    log_prob_threshold: float | None = -1.0
    initial_prompt: str | None = None

    def __post_init__(self) -> None:
        check_positive_int("beam_size", self.beam_size)
        check_positive_float("length_penalty", self.length_penalty, allow_zero=True)
        if self.max_new_tokens is not None:
            check_positive_int("max_new_tokens", self.max_new_tokens)


@dataclass
class DecodingResult:
    """One window's transcript: its tokens (no prompt, no ``<|endoftext|>``), text and scores."""

    tokens: list[int]
    text: str
    avg_logprob: float
    no_speech_prob: float
    no_speech: bool


def parse_words(words: str | Sequence[str]) -> list[str]:
    """A word list from a comma-separated string or a sequence; blanks and duplicates dropped.

    Raises a :class:`ParameterError` for an empty list or an entry with a control character
    (byte-level BPE spells any other text).
    """
    items = words.split(",") if isinstance(words, str) else list(words)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ParameterError(f"word {item!r} is not text")
        item = " ".join(item.split())
        if any(ord(c) < 32 for c in item):
            raise ParameterError(f"word {item!r} contains a control character: give plain words or phrases")
        if item and item.lower() not in {w.lower() for w in out}:
            out.append(item)
    if not out:
        raise ParameterError("the word list is empty: give at least one word or phrase (one a line, or comma-separated)")
    return out


class WordConstraint:
    """A closed vocabulary: transcripts are one or more of the given words or phrases, separated by
    spaces, each optionally followed by punctuation, then ``<|endoftext|>``.

    Each word is allowed in the spellings Whisper writes (``" seven"``, ``" Seven"``, and without
    the leading space at the start), each a token sequence in a trie; at every step only the
    tokens that continue some allowed sequence keep their score (a uniform prior over the
    vocabulary, zero elsewhere: pocketsphinx's JSGF grammar in spirit). ``max_words`` bounds the
    count (None: any).
    """

    def __init__(self, tokenizer: WhisperTokenizer, words: Sequence[str], *, max_words: int | None = None) -> None:
        self.words = parse_words(words)
        self.tokenizer = tokenizer
        self.max_words = None if max_words is None else check_positive_int("max_words", max_words)
        self._first = self._trie(first=True)
        self._next = self._trie(first=False)
        self._punctuation = {t[0] for p in PUNCTUATION if len(t := tokenizer.encode(p)) == 1}

    def _trie(self, *, first: bool) -> dict:
        root: dict = {}
        for word in self.words:
            variants = {" " + word, " " + word[:1].upper() + word[1:], " " + word.lower()}
            if first:
                variants |= {v[1:] for v in variants}
            for text in variants:
                node = root
                for token in self.tokenizer.encode(text):
                    node = node.setdefault(token, {})
                node[None] = True  # a word ends here
        return root

    def start(self) -> tuple:
        """The state before any token: (trie node, words done, after punctuation)."""
        return (self._first, 0, False)

    def allowed(self, state: tuple) -> list[int]:
        """The tokens that may come next in ``state``."""
        node, done, after_punctuation = state
        more = self.max_words is None
        if after_punctuation:
            more = more or done < self.max_words
            return [self.tokenizer.eot] + ([t for t in self._next if t is not None] if more else [])
        tokens = [t for t in node if t is not None]
        if None in node:  # a word may end here
            more = more or done + 1 < self.max_words
            tokens += [self.tokenizer.eot, *self._punctuation]
            if more:
                tokens += [t for t in self._next if t is not None]
        return tokens

    def advance(self, state: tuple, token: int) -> tuple:
        """The state after ``token`` (one of :meth:`allowed`)."""
        node, done, _ = state
        if token in node:  # the word goes on
            return (node[token], done, False)
        if None in node:  # a word ended here: punctuation, or the next word's first token
            done += 1
            if token in self._punctuation:
                return (self._next, done, True)
        return (self._next[token], done, False)  # the next word (also after punctuation)


def _suppressed(tokenizer: WhisperTokenizer, vocab: int, device) -> torch.Tensor:
    mask = torch.zeros(vocab, dtype=torch.bool, device=device)
    mask[[t for t in tokenizer.suppress if 0 <= t < vocab]] = True
    mask[tokenizer.eot + 1 :] = True  # every special and timestamp token
    return mask


def _filter(logits: torch.Tensor, step: int, tokenizer, suppress, options, constraint, states) -> torch.Tensor:
    logits = logits.masked_fill(suppress, float("-inf"))
    if step == 0 and options.suppress_blank:
        logits[:, tokenizer.suppress_begin] = float("-inf")
    if constraint is not None:
        keep = torch.zeros_like(logits, dtype=torch.bool)
        for row, state in enumerate(states):
            keep[row, constraint.allowed(state)] = True
        logits = logits.masked_fill(~keep, float("-inf"))
    return logits


def _repeat(items: list, index: torch.Tensor) -> list:
    return [(k.index_select(0, index), v.index_select(0, index)) for k, v in items]


@torch.no_grad()
def decode(
    model: Whisper,
    tokenizer: WhisperTokenizer,
    audio: torch.Tensor,
    audio_mask: torch.Tensor | None = None,
    options: DecodingOptions = DecodingOptions(),
    constraint: WordConstraint | None = None,
) -> list[DecodingResult]:
    """Transcripts of encoder states ``audio`` (B, T, D) (one window each)."""
    if model.dims.n_vocab != tokenizer.vocab_size:
        raise ParameterError(
            f"the tokenizer {str(tokenizer.path)!r} has {tokenizer.vocab_size} tokens but the model {model.dims.n_vocab}: "
            "use the tokenizer of the same model"
        )
    prompt = tokenizer.prompt(language=options.language)
    if options.initial_prompt and options.initial_prompt.strip():
        # at most half the context, its end kept (OpenAI's and faster-whisper's rule)
        previous = tokenizer.encode(" " + options.initial_prompt.strip())[-(model.dims.n_text_ctx // 2 - 1):]
        prompt = [tokenizer.sot_prev, *previous, *prompt]
    budget = model.dims.n_text_ctx - len(prompt)
    max_new = budget if options.max_new_tokens is None else min(budget, options.max_new_tokens)
    suppress = _suppressed(tokenizer, model.dims.n_vocab, audio.device)
    results = []
    for b in range(audio.shape[0]):
        item = audio[b : b + 1]
        mask = None if audio_mask is None else audio_mask[b : b + 1]
        results.append(_decode_one(model, tokenizer, item, mask, prompt, max_new, suppress, options, constraint))
    return results


def _decode_one(model, tokenizer, audio, audio_mask, prompt, max_new, suppress, options, constraint) -> DecodingResult:
    decoder = model.decoder
    cross = decoder.cross_keys(audio)
    tokens = torch.tensor([prompt], device=audio.device)
    logits, cache = decoder(tokens, cross, audio_mask)
    no_speech_prob = float(logits[0, prompt.index(tokenizer.sot)].float().softmax(-1)[tokenizer.no_speech])
    logits = logits[:, -1]
    width = options.beam_size
    # live hypotheses: generated tokens, summed log-probability, constraint state
    live: list[tuple[list[int], float, tuple | None]] = [([], 0.0, constraint.start() if constraint else None)]
    finished: list[tuple[list[int], float]] = []
    for step in range(max_new):
        states = [h[2] for h in live]
        scores = _filter(logits, step, tokenizer, suppress, options, constraint, states).float().log_softmax(-1)
        total = scores + torch.tensor([h[1] for h in live], device=scores.device)[:, None]
        # OpenAI's beam step: each hypothesis offers its best width + 1 tokens; in order of score,
        # an <|endoftext|> finishes a hypothesis, any other token extends one, until width are live
        top = total.topk(min(width + 1, total.shape[1]), dim=-1)
        offers = sorted(((v, r, t) for r, (vs, ts) in enumerate(zip(top.values.tolist(), top.indices.tolist()))
                         for v, t in zip(vs, ts) if v != float("-inf")), key=lambda o: -o[0])
        candidates, newly = [], []
        for value, row, token in offers:
            if token == tokenizer.eot:
                newly.append((live[row][0], value))
            else:
                state = constraint.advance(live[row][2], token) if constraint else None
                candidates.append((row, token, value, state))
                if len(candidates) == width:
                    break
        finished += newly[: max(0, width - len(finished))]
        if len(finished) >= width or not candidates:
            break
        rows = torch.tensor([c[0] for c in candidates], device=audio.device)
        live = [(live[r][0] + [t], v, s) for r, t, v, s in candidates]
        cache = _repeat(cache, rows)
        if len(cross[0][0]) != len(rows):
            cross = _repeat(cross, torch.zeros(len(rows), dtype=torch.long, device=audio.device))
        step_tokens = torch.tensor([[c[1] for c in candidates]], device=audio.device).T
        logits, cache = decoder(step_tokens, cross, None if audio_mask is None else audio_mask.expand(len(rows), -1), cache)
        logits = logits[:, -1]
    if not finished:  # ran out of tokens: the best live hypothesis, unfinished
        finished = [(h[0], h[1]) for h in live]
    # CTranslate2 normalises by the tokens before <|endoftext|>
    best, summed = max(finished, key=lambda f: f[1] / max(1, len(f[0])) ** options.length_penalty)
    avg_logprob = summed / (len(best) + 1)
    text = tokenizer.decode(best).strip()
    silent = (options.no_speech_threshold is not None and no_speech_prob > options.no_speech_threshold
              and options.log_prob_threshold is not None and avg_logprob < options.log_prob_threshold)
    return DecodingResult(tokens=best, text=text, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob, no_speech=silent)
