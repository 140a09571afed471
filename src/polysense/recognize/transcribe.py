"""Transcribe files with Whisper: 30-second windows, a transcript and segments per file.

A file is read block by block at 16 kHz (:func:`polysense.audio.blocks`, a streaming resampler),
so memory is bounded by one 30-s window whatever the file's length. Each window is one segment:
its features (:func:`~polysense.models.whisper.features.whisper_log_mel`, the last frame dropped
as faster-whisper does, zero-padded to 3000 frames), the encoder, then
:func:`~polysense.models.whisper.decoding.decode`. A window judged silent (no-speech rule) gives
no segment. Segment times are the window's bounds in the file (decoding runs without Whisper's
timestamp tokens; a word cut by a window boundary may be lost or split).

Differences from faster-whisper, on purpose: the ``max − 8`` clamp of the features is taken per
window (bounded memory) rather than over the whole file, and there is no temperature fallback or
conditioning on the previous window's text (a window is decoded on its own, deterministically).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from polysense.audio import blocks
from polysense.data.manifest import check_split_name, read_manifest
from polysense.errors import AudioError, ParameterError, PolysenseError
from polysense.metrics.transcription import error_rates_by_group
from polysense.models.whisper.decoding import DecodingOptions, WordConstraint, decode
from polysense.models.whisper.features import SAMPLE_RATE, pad_features, trim_to_content, whisper_log_mel
from polysense.models.whisper.model import Whisper
from polysense.models.whisper.tokenizer import WhisperTokenizer
from polysense.models.whisper.weights import WhisperFiles, find_whisper, load_whisper
from polysense.signal.resample import resample
from polysense.signal.streaming import stream_windows, window_spans

__all__ = ["ManifestTranscripts", "Segment", "Transcriber", "Transcript", "Word", "read_words", "transcribe_manifest"]

WINDOW_S = 30


@dataclass
class Segment:
    """One window's text: ``start`` / ``end`` in seconds from the file's start."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass
class Word:
    """One recognised word and where it was heard (seconds from the file's start)."""

    word: str
    start: float
    end: float


@dataclass
class Transcript:
    """A file's transcript: the segments' texts joined by spaces; ``words`` with their times when the
    recogniser aligns them (a CTC recogniser does; Whisper's path leaves it empty)."""

    file: str
    text: str
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {"file": self.file, "text": self.text, "duration": round(self.duration, 3),
               "segments": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(s).items()}
                            for s in self.segments]}
        if self.words:
            out["words"] = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in self.words]
        return out


def read_words(words: str | os.PathLike) -> list[str]:
    """``--words``: a file with one word or phrase a line (``#`` starts a comment), or a comma-separated list."""
    path = Path(words)
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise ParameterError(f"--words file {str(path)!r} is not UTF-8 text: give one word or phrase a line") from None
        return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]
    text = str(words)
    if ("/" in text or text.endswith(".txt")) and "," not in text:
        raise ParameterError(f"--words {text!r} looks like a file but does not exist: give a word file or 'one,two,three'")
    return text.split(",")


class Transcriber:
    """Whisper loaded once, transcribing files or waveforms.

    Args:
        weights: a model folder or file (see :func:`~polysense.models.whisper.weights.find_whisper`;
            None: ``$POLYSENSE_WHISPER``, an installed package, the caches).
        options: :class:`~polysense.models.whisper.decoding.DecodingOptions` (greedy by default).
        words: restrict transcripts to these words or phrases (a closed vocabulary), or None.
        max_words: with ``words``, at most this many words per window (None: any).
        tokenizer: a ``tokenizer.json`` (default: the one beside the weights, else the packaged model's).
    """

    def __init__(
        self,
        weights: str | os.PathLike | WhisperFiles | None = None,
        *,
        options: DecodingOptions | None = None,
        words: Sequence[str] | None = None,
        max_words: int | None = None,
        tokenizer: str | os.PathLike | None = None,
    ) -> None:
        self.model, self.files = load_whisper(weights)
        self.model.requires_grad_(False)
        self.tokenizer = WhisperTokenizer(self._tokenizer_path(tokenizer))
        self.options = options or DecodingOptions()
        self.constraint = None if words is None else WordConstraint(self.tokenizer, words, max_words=max_words)

    def _tokenizer_path(self, tokenizer) -> Path:
        if tokenizer is not None:
            return Path(tokenizer)
        if self.files.folder is not None and (self.files.folder / "tokenizer.json").is_file():
            return self.files.folder / "tokenizer.json"
        try:  # an OpenAI .pt carries no tokenizer: the multilingual one is shared by every size but large-v3
            packaged = find_whisper(None) if self.files.layout == "openai" else None
        except ParameterError:
            packaged = None
        if packaged is not None and packaged.folder is not None and (packaged.folder / "tokenizer.json").is_file():
            return packaged.folder / "tokenizer.json"
        raise ParameterError(
            f"no tokenizer.json beside the Whisper weights {self.files.describe()!r}: pass --tokenizer PATH "
            "(the tokenizer.json of the same model)"
        )

    @property
    def window_samples(self) -> int:
        return WINDOW_S * SAMPLE_RATE

    @torch.no_grad()
    def transcribe_window(self, window: torch.Tensor) -> tuple[str, float, float, bool]:
        """(text, avg_logprob, no_speech_prob, silent) of one window of at most 30 s at 16 kHz."""
        features = whisper_log_mel(window, n_mels=self.model.dims.n_mels)
        content = trim_to_content(features, self.model.encoder.max_frames)
        audio, _ = self.model.encoder(pad_features(content, self.model.encoder.max_frames)[None])
        result = decode(self.model, self.tokenizer, audio, options=self.options, constraint=self.constraint)[0]
        return result.text, result.avg_logprob, result.no_speech_prob, result.no_speech

    def transcribe(self, waveform: torch.Tensor, *, sample_rate: float = SAMPLE_RATE, name: str = "<waveform>") -> Transcript:
        """The transcript of a mono waveform (T,) at ``sample_rate``."""
        if waveform.ndim != 1:
            raise ParameterError(f"waveform has shape {tuple(waveform.shape)}: expected one channel (time,)")
        if sample_rate != SAMPLE_RATE:
            waveform = resample(waveform, orig_sample_rate=sample_rate, new_sample_rate=SAMPLE_RATE)
        spans = window_spans([waveform.shape[0]], window=self.window_samples, hop=self.window_samples, tail="rest")
        return self._run((waveform[start:end] for start, end in spans), name)

    def transcribe_file(self, path: str | os.PathLike) -> Transcript:
        """The transcript of an audio file of any length (read in 30-s windows, memory bounded)."""
        path = Path(path)
        stream = blocks(path, block_size=SAMPLE_RATE * 5, sample_rate=SAMPLE_RATE)
        windows = stream_windows(stream, window=self.window_samples, hop=self.window_samples, tail="rest")
        return self._run((window for _, window in windows), str(path))

    def _run(self, windows: Iterator[torch.Tensor], name: str) -> Transcript:
        segments, start = [], 0.0
        for window in windows:
            if window.numel() == 0:
                continue
            end = start + window.shape[-1] / SAMPLE_RATE
            if not bool(torch.isfinite(window).all()):
                raise AudioError(f"{name}: samples {start:.1f}-{end:.1f} s hold NaN or infinite values")
            text, avg_logprob, no_speech_prob, silent = self.transcribe_window(window)
            if not silent and text:
                segments.append(Segment(start, end, text, avg_logprob, no_speech_prob))
            start = end
        if start == 0.0:
            raise AudioError(f"{name} holds no audio samples: nothing to transcribe")
        return Transcript(file=name, text=" ".join(s.text for s in segments), segments=segments, duration=start)


@dataclass
class ManifestTranscripts:
    """Transcripts of a manifest's rows against their ``text`` column: per row, the rates per
    group (:func:`~polysense.metrics.transcription.error_rates_by_group`), and the rows skipped
    with the reason (a file that cannot be read, a row without text)."""

    rows: list[dict]
    error_rates: dict[str, dict[str, float]]
    skipped: list[dict]

    def to_dict(self) -> dict:
        return {"rows": self.rows, "error_rates": self.error_rates, "skipped": self.skipped}


def transcribe_manifest(transcriber: Any, manifest: str | os.PathLike, *, split: str | None = None) -> ManifestTranscripts:
    """Transcribe the audio of every row (of ``split``, when given) with ``transcriber`` (Whisper's
    :class:`Transcriber` or :class:`~polysense.recognize.ctc_transcribe.CTCTranscriber`: anything
    with ``transcribe_file``) and score it against the row's
    ``text`` (the reference transcript) with WER and CER, overall and per ``group``.

    One unreadable file does not stop the run: it is listed in ``skipped`` with the reason.
    """
    split = check_split_name(split)
    table = read_manifest(manifest)
    if "audio" not in table.modalities or "text" not in table.columns:
        raise ParameterError(f"{manifest}: the manifest needs an audio column and a text column (the reference transcripts)")
    rows, skipped = [], []
    for row in table:
        if split is not None and row.split != split:
            continue
        if row.audio is None or not row.text:
            skipped.append({"id": row.id, "reason": "no audio" if row.audio is None else "no reference text"})
            continue
        try:
            transcript = transcriber.transcribe_file(table.open_path(row, row.audio))
        except PolysenseError as error:
            skipped.append({"id": row.id, "reason": str(error)})
            continue
        rows.append({"id": row.id, "group": row.group or "all", "reference": row.text, "text": transcript.text})
    if not rows:
        where = f" of split {split!r}" if split else ""
        raise ParameterError(f"{manifest}: no row{where} could be transcribed ({len(skipped)} skipped): nothing to score")
    rates = error_rates_by_group([r["reference"] for r in rows], [r["text"] for r in rows], [r["group"] for r in rows])
    return ManifestTranscripts(rows=rows, error_rates=rates, skipped=skipped)
