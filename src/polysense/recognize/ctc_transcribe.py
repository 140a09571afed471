"""Transcribe files with a trained CTC recogniser: acoustic model + language model + decoder.

``CTCTranscriber(run_dir)`` loads the run's :class:`~polysense.models.ctc.CTCRecognizer` (its best
weights) and its decoding settings (:class:`~polysense.models.ctc.DecoderConfig`, the model
config's ``decoder`` key), each overridable: ``beam``, ``lm`` (an ARPA file, or ``False`` for
none), ``alpha``, ``beta``, ``grammar``. With ``decoder.lm_order`` set and no LM given, the run's
own language model is used: ``RUN/lm.arpa``, trained the first time from the training split's
transcripts of the run's data config (:func:`run_language_model`) and written atomically.

Decoding: beam 1 without LM or grammar is greedy; otherwise
:func:`~polysense.recognize.ctc_beam.prefix_beam_search`. Word timestamps come from the forced
alignment of the decoded units to the CTC posteriors (:func:`~polysense.models.ctc.ctc_align`):
a word spans its units' first to last frame, times the output frame's duration.

The output is the Whisper path's :class:`~polysense.recognize.transcribe.Transcript` (one segment
for the file, with ``avg_logprob`` the hypothesis' CTC log-probability per frame and
``no_speech_prob`` the mean blank probability) plus ``words``. A file is decoded whole (the
recogniser's BiGRU sees it all at once: fine for utterances, minutes at most).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from polysense import audio
from polysense.errors import AudioError, ParameterError
from polysense.models.ctc import BLANK, CTCRecognizer, DecoderConfig, ctc_align, greedy_decode
from polysense.recognize.ctc_beam import Grammar, check_lm_vocabulary, prefix_beam_search
from polysense.recognize.ngram import NGramLM, read_arpa, train_ngram
from polysense.recognize.transcribe import Segment, Transcript, Word
from polysense.signal.resample import resample
from polysense.train.run import RunFolder, load_run, run_data

__all__ = ["LM_FILE", "CTCTranscriber", "run_language_model"]

LM_FILE = RunFolder.LANGUAGE_MODEL


def run_language_model(run_dir: str | os.PathLike, model: CTCRecognizer, config: dict) -> NGramLM | None:
    """The run's own n-gram LM (``RUN/lm.arpa``), trained on its training transcripts when first
    needed; None when the model's decoder settings ask for no LM."""
    order = model.decoder.lm_order
    if order is None:
        return None
    path = RunFolder(run_dir).language_model_path
    if path.is_file():
        return read_arpa(path)
    data = run_data(config)
    if not data.train_texts:
        raise ParameterError(f"run {run_dir}: decoder.lm_order is set but its training data has no transcripts to "
                             "train the language model on: give --lm LM.arpa, or set decoder.lm_order: null")
    lm = train_ngram(data.train_texts, order=order, vocabulary=model.vocabulary)
    lm.write_arpa(path)
    return lm


class CTCTranscriber:
    """A trained CTC recogniser with its decoder (module docstring).

    Args:
        run_dir: the ``--out`` folder of ``polysense train`` with a ``ctc_recognizer`` model.
        lm: an ARPA file or a loaded :class:`NGramLM`; None: the run's own (when its decoder has
            ``lm_order``); False: no LM.
        beam, alpha, beta: override the run's decoder settings.
        grammar: a closed grammar (default: the decoder's ``min_words``/``max_words``, when set).
    """

    def __init__(self, run_dir: str | os.PathLike, *, lm: str | os.PathLike | NGramLM | bool | None = None,
                 beam: int | None = None, alpha: float | None = None, beta: float | None = None,
                 grammar: Grammar | None = None) -> None:
        loaded = load_run(run_dir)
        if not isinstance(loaded.model, CTCRecognizer):
            raise ParameterError(f"run {run_dir} holds a {type(loaded.model).__name__}, not a CTC recogniser "
                                 "(model name ctc_recognizer): transcribe with Whisper by leaving out --run")
        self.run_dir = Path(run_dir)
        self.model = loaded.model
        self.table = self.model.table
        self.sample_rate = int(loaded.sample_rate or self.model.sample_rate or 16000)
        settings = self.model.decoder
        changes = {k: v for k, v in (("beam", beam), ("alpha", alpha), ("beta", beta)) if v is not None}
        self.settings: DecoderConfig = DecoderConfig.from_config({**settings.__dict__, **changes})
        if lm is None:
            self.lm = run_language_model(run_dir, self.model, loaded.config)
        elif lm is False:
            self.lm = None
        elif isinstance(lm, NGramLM):
            self.lm = lm
        else:
            self.lm = read_arpa(lm)
        if self.lm is not None:
            check_lm_vocabulary(self.lm, self.table)
        if grammar is None and (self.settings.min_words is not None or self.settings.max_words is not None):
            grammar = Grammar(min_words=self.settings.min_words or 0, max_words=self.settings.max_words)
        self.grammar = grammar

    def with_options(self, **changes) -> CTCTranscriber:
        """A shallow copy decoding with other settings (``lm``, ``grammar``, ``beam``, ``alpha``, ``beta``),
        sharing the model (for tuning on validation without reloading)."""
        copy = object.__new__(CTCTranscriber)
        copy.__dict__.update(self.__dict__)
        for key in ("lm", "grammar"):
            if key in changes:
                setattr(copy, key, changes.pop(key))
        copy.settings = replace(self.settings, **changes)
        return copy

    @torch.no_grad()
    def posteriors(self, waveform: torch.Tensor) -> tuple[torch.Tensor, float]:
        """((T, C) CTC log-probabilities, seconds per frame) of a mono waveform at the run's rate."""
        batch = {"audio": waveform[None].float(), "audio_mask": torch.ones(1, waveform.shape[-1], dtype=torch.bool),
                 "sample_rate": self.sample_rate}
        out = self.model(batch)
        n = int(out.lengths[0])
        return out.log_probs[0, :n], out.frame_seconds or waveform.shape[-1] / self.sample_rate / max(n, 1)

    def decode(self, log_probs: torch.Tensor) -> tuple[list[int], float]:
        """(unit ids, CTC log-probability or greedy path score) of one utterance's posteriors."""
        if self.settings.beam == 1 and self.lm is None and self.grammar is None:
            ids = greedy_decode(log_probs[None])[0]
            return ids, float(log_probs.max(dim=-1).values.sum())
        result = prefix_beam_search(log_probs, self.table, beam=self.settings.beam, lm=self.lm,
                                    alpha=self.settings.alpha, beta=self.settings.beta, grammar=self.grammar)
        return result.ids, result.acoustic

    def transcribe(self, waveform: torch.Tensor, *, sample_rate: float | None = None, name: str = "<waveform>") -> Transcript:
        """The transcript of a mono waveform (T,) at ``sample_rate`` (default: the run's)."""
        if waveform.ndim != 1:
            raise ParameterError(f"waveform has shape {tuple(waveform.shape)}: expected one channel (time,)")
        if waveform.numel() == 0:
            raise AudioError(f"{name} holds no audio samples: nothing to transcribe")
        if not bool(torch.isfinite(waveform).all()):
            raise AudioError(f"{name} holds NaN or infinite samples")
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            waveform = resample(waveform, orig_sample_rate=sample_rate, new_sample_rate=self.sample_rate)
        duration = waveform.shape[-1] / self.sample_rate
        log_probs, frame_s = self.posteriors(waveform)
        ids, acoustic = self.decode(log_probs)
        words: list[Word] = []
        if ids:
            spans = ctc_align(log_probs, ids)
            units = self.table.words(ids)
            for k, (word, first) in enumerate(units):
                last = (units[k + 1][1] if k + 1 < len(units) else len(ids)) - 1
                while last > first and self.table.units == "char" and ids[last] == self.table.space:
                    last -= 1
                words.append(Word(word, spans[first][0] * frame_s, min(duration, (spans[last][1] + 1) * frame_s)))
        text = " ".join(w.word for w in words)
        blank = float(log_probs[:, BLANK].exp().mean()) if log_probs.numel() else 1.0
        segments = [Segment(0.0, duration, text, acoustic / max(1, log_probs.shape[0]), blank)] if text else []
        return Transcript(file=name, text=text, segments=segments, duration=duration, words=words)

    def transcribe_file(self, path: str | os.PathLike) -> Transcript:
        """The transcript of an audio file (read whole, mixed to mono, resampled to the run's rate)."""
        path = Path(path)
        waveform, _ = audio.load(path, sample_rate=self.sample_rate, mono=True)
        return self.transcribe(waveform, name=str(path))
