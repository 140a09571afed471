"""A CTC recogniser (``"ctc_recognizer"``): any audio encoder's frame tokens → (BiGRU) → units + blank.

The acoustic model ``P(A|W)`` of the lecture's formula, trained on transcripts without alignments
(:func:`polysense.losses.ctc_loss`). Composition, like every polysense model::

    waveform (B, T) + audio_mask ──encoder──> tokens (B, T', D) + mask (B, T')
        ──[BiGRU, hidden per direction]──> linear ──> log_softmax (B, T', 1 + units)

The encoder is any registered audio encoder that returns frame tokens and their mask:
``speech_cnn`` with ``rnn: gru`` (log-mel via :mod:`polysense.signal`, conv front + BiGRU: from
scratch), or ``whisper_encoder`` (frozen pretrained states every 20 ms). Units are the words of
``vocabulary`` or their characters (:class:`~polysense.models.ctc.units.UnitTable`); id 0 is the blank.

``forward(batch) -> CTCOutput``: ``log_probs``, ``lengths`` (real frames) and ``frame_seconds``
(the duration of one output frame, from the batch's sample rate and the ratio of input samples
to output frames); with transcripts in ``batch["text"]``, ``loss = losses["ctc"]`` (mean over
items of the per-label loss) and ``metrics["wer"]``, the greedy decoding's word error rate of the
batch (word edit distance / reference words), which validation averages over batches and the
trainer can select on (``select_metric: wer, select_mode: min``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_int
from polysense.data.fsdd import DIGIT_WORDS
from polysense.errors import ParameterError
from polysense.losses.ctc import ctc_loss
from polysense.models.batch import encode_required
from polysense.models.ctc.decoding import greedy_decode
from polysense.models.ctc.units import BLANK, UnitTable
from polysense.models.encoders.base import build_encoder
from polysense.models.layers import check_dropout
from polysense.models.contract import Model, encoder_sample_rate
from polysense.models.output import ModelOutput
from polysense.models.registry import register

__all__ = ["CTCOutput", "CTCRecognizer", "DecoderConfig", "word_edit_distance"]


@dataclass(frozen=True)
class DecoderConfig:
    """How a trained recogniser decodes by default (``polysense transcribe --run`` and the benchmark
    read it from the model config's ``decoder`` key; command-line options override it).

    Attributes:
        beam: prefix beam width (1 and no LM or grammar: greedy decoding).
        lm_order: order of the word n-gram LM trained on the training transcripts when the run is
            first used (saved as ``lm.arpa`` in the run folder); None: no LM.
        alpha: LM weight. beta: word insertion bonus (both tuned on validation, see benchmarks/asr.py).
        min_words, max_words: a closed grammar's word count (None: unconstrained).
    """

    beam: int = 8
    lm_order: int | None = None
    alpha: float = 0.5
    beta: float = 0.0
    min_words: int | None = None
    max_words: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> DecoderConfig:
        config = dict(config or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ParameterError(f"unknown decoder key(s) {unknown}: accepted keys are {', '.join(sorted(known))}")
        made = cls(**config)
        check_positive_int("decoder.beam", made.beam)
        if made.lm_order is not None:
            check_positive_int("decoder.lm_order", made.lm_order)
        for name in ("alpha", "beta"):
            value = getattr(made, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
                raise ParameterError(f"decoder.{name}={value!r} is invalid: expected a finite number")
        return made


@dataclass
class CTCOutput(ModelOutput):
    """A CTC recogniser's output: ``log_probs`` (B, T', C), ``lengths`` (B,) real frames, ``frame_seconds``."""

    log_probs: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    frame_seconds: float | None = None


def word_edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two word lists (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, start=1):
        current = [i]
        for j, h in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


@register("model", "ctc_recognizer")
class CTCRecognizer(Model):
    """Encoder → optional BiGRU → linear CTC head over word or character units (module docstring).

    Args:
        encoder: audio encoder config (or module) whose output has frame ``tokens`` and ``mask``.
        vocabulary: the words the recogniser can write (default: the ten digit words).
        units: ``"word"`` (one unit per word) or ``"char"`` (letters and the space).
        hidden: width per direction of a BiGRU over the encoder's tokens (0: none, a linear head).
        decoder: the default decoding settings (:class:`DecoderConfig`), used by inference only.
        dropout: on the tokens before the head.
        modality: the batch's audio modality. text_key: the batch key of the transcripts.
    """

    kind = "recogniser"

    def __init__(self, *, encoder: Mapping[str, Any] | nn.Module, vocabulary: Sequence[str] = DIGIT_WORDS,
                 units: str = "word", hidden: int = 0, dropout: float = 0.1, modality: str = "audio",
                 text_key: str = "text", decoder: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.decoder = DecoderConfig.from_config(decoder)
        self.table = UnitTable(vocabulary, units=units)
        self.vocabulary, self.units = self.table.vocabulary, self.table.units
        self.modality, self.modalities, self.text_key = modality, (modality,), text_key
        self.encoders = nn.ModuleDict({modality: build_encoder(modality, encoder)})
        dim = self.encoders[modality].dim
        self.hidden = check_positive_int("hidden", hidden, minimum=0)
        self.rnn = nn.GRU(dim, self.hidden, batch_first=True, bidirectional=True) if self.hidden else None
        self.drop = nn.Dropout(check_dropout("dropout", dropout))
        self.head = nn.Linear(2 * self.hidden if self.hidden else dim, len(self.table))

    @property
    def encoder(self) -> nn.Module:
        return self.encoders[self.modality]

    @property
    def sample_rate(self) -> int | None:
        """Hz of the audio the encoder takes (None when it takes any rate)."""
        return encoder_sample_rate(self.encoders, self.modality)

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:
        """(B, encoder dim) L2-normalised pooled features of the audio encoder (what an index embeds)."""
        if modality not in self.modalities:
            raise ParameterError(f"modality={modality!r} is not one of this model's {list(self.modalities)}")
        return F.normalize(encode_required(self.encoder, modality, batch).pooled, dim=-1)

    def targets(self, texts: Sequence[str], device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) padded unit ids of transcripts and their (B,) lengths (ParameterError on a unit outside the table)."""
        encoded = [self.table.encode(t) for t in texts]
        lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long, device=device)
        padded = torch.zeros(len(encoded), max(1, int(lengths.max()) if encoded else 1), dtype=torch.long, device=device)
        for i, e in enumerate(encoded):
            padded[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        return padded, lengths

    def forward(self, batch: Mapping[str, Any]) -> CTCOutput:
        features = encode_required(self.encoder, self.modality, batch)
        tokens, mask = features.tokens, features.mask
        lengths = mask.sum(dim=1)
        if self.rnn is not None:
            packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths.clamp_min(1).cpu(), batch_first=True,
                                                       enforce_sorted=False)
            out, _ = self.rnn(packed)
            tokens, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=mask.shape[1])
        log_probs = self.head(self.drop(tokens)).float().log_softmax(dim=-1)
        frame_seconds = self._frame_seconds(batch, lengths)
        texts = batch.get(self.text_key)
        if texts is None:
            return CTCOutput(log_probs=log_probs, lengths=lengths, frame_seconds=frame_seconds)
        if isinstance(texts, str):
            raise ParameterError(f"batch[{self.text_key!r}] is one string: expected a list of transcripts")
        targets, target_lengths = self.targets(texts, device=log_probs.device)
        loss = ctc_loss(log_probs, targets, lengths, target_lengths, blank=BLANK)
        hypotheses = [self.table.decode(ids) for ids in greedy_decode(log_probs.detach(), lengths)]
        words = sum(len(self.table.split(t)) for t in texts)
        errors = sum(word_edit_distance(self.table.split(r), h.split()) for r, h in zip(texts, hypotheses))
        wer = torch.tensor(errors / max(words, 1))
        return CTCOutput(loss=loss, losses={"ctc": loss}, metrics={"wer": wer}, log_probs=log_probs, lengths=lengths,
                         frame_seconds=frame_seconds)

    def _frame_seconds(self, batch: Mapping[str, Any], lengths: torch.Tensor) -> float | None:
        rate = batch.get("sample_rate")
        mask = batch.get("audio_mask")
        if rate is None or mask is None or int(lengths.max()) == 0:
            return None
        samples = mask.sum(dim=1).double()
        frames = lengths.double().clamp_min(1)
        return float((samples / frames).mean()) / float(rate)
