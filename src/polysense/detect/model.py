"""``frame_crnn``: a frame-level detector (CRNN) trained with frame targets.

Log-mel (the front end's one mel path: :class:`~polysense.signal.transforms.LogMelSpectrogram`,
``center=True`` with zero padding, no ``top_db`` so that :class:`~polysense.signal.StreamingLogMel`
gives the same frames block by block) → a per-band BatchNorm (a running normalisation: it does not
need the whole recording) → ``len(channels)`` blocks of 3×3 conv + BatchNorm + ReLU, each followed by
max-pooling over frequency only (time keeps the front end's hop) → a bidirectional GRU over time →
one logit per frame and class. With ``output="multilabel"`` probabilities are ``σ(logit)`` (classes
may overlap) and the loss the binary cross-entropy; with ``output="exclusive"`` (one sound at a time,
as words in speech) a background logit is added, probabilities are the classes' shares of the
softmax over background + classes, and the loss the cross-entropy against the frame's class (or
background). Rare events make the exclusive form much easier to learn: a sigmoid per class first
learns to say "absent" everywhere.

Frame targets come from the batch's ``events`` (per item, ``(onset_s, offset_s, class)`` as
:mod:`polysense.detect.scenes` gives them): frame ``k`` (centre ``k·hop/sr``) is a positive of
class ``c`` when an event of ``c`` covers its centre. The loss is the binary cross-entropy over the
frames inside each recording (padding frames left out), positives weighted by ``pos_weight``
(multilabel; in the exclusive form the classes are weighted ``pos_weight`` against background 1).

At evaluation (``model.eval()``) the forward pass also turns each item's probabilities into events
with the model's ``postprocess`` settings (:mod:`polysense.detect.postprocess`) and reports the
event-based F1 (200 ms collar) and the frame F1 of the batch as metrics, so the trainer can choose
the epoch on the validation split's ``event_f1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_float, check_positive_int, check_unit_interval
from polysense.data.events import Event
from polysense.detect.postprocess import PostProcessing, frames_to_events
from polysense.errors import ParameterError
from polysense.metrics.events import event_based_metrics
from polysense.models.contract import Model
from polysense.models.output import ModelOutput
from polysense.models.registry import register
from polysense.signal.streaming import StreamingLogMel
from polysense.signal.transforms import LogMelSpectrogram

__all__ = ["DetectionOutput", "FrameCRNN", "frame_targets"]


@dataclass
class DetectionOutput(ModelOutput):
    """A frame detector's output: ``frame_logits`` (B, frames, classes), ``frame_mask`` (B, frames)
    True on frames inside the recording, and at evaluation the ``events`` of each item."""

    frame_logits: torch.Tensor | None = None
    frame_mask: torch.Tensor | None = None
    events: list[list[Event]] | None = None


def frame_targets(events: Sequence[Sequence[tuple[float, float, int]]], *, frames: int, hop_s: float,
                  num_classes: int) -> torch.Tensor:
    """(B, frames, classes) 0/1 targets: frame k is positive for class c when an event of c covers k·hop_s."""
    out = torch.zeros(len(events), frames, num_classes)
    for b, item in enumerate(events):
        for onset, offset, c in item:
            if not 0 <= int(c) < num_classes:
                raise ParameterError(f"event class {c} is outside the model's {num_classes} classes: give the model "
                                     "num_classes equal to the data's classes")
            # frames whose centre k·hop lies in [onset, offset)
            first = max(0, int(torch.ceil(torch.tensor(onset / hop_s - 1e-9))))
            stop = min(frames, int(torch.ceil(torch.tensor(offset / hop_s - 1e-9))))
            if stop > first:
                out[b, first:stop, int(c)] = 1.0
    return out


def _block(c_in: int, c_out: int, pool: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.MaxPool2d((pool, 1)))


@register("model", "frame_crnn")
class FrameCRNN(Model):
    """Log-mel → conv blocks (frequency pooling) → BiGRU → per-frame logits (see the module docstring).

    Args:
        sample_rate: Hz of the audio it is given.
        num_classes: classes detected (1 for voice activity).
        n_fft, hop_length, n_mels, f_min_hz, f_max_hz: the log-mel front end (samples, Hz).
        channels: conv widths, one block each; each block halves the mel bands (``freq_pool``).
        rnn_hidden: GRU width per direction (0: no GRU, frames see only the convolutions' context).
        dropout: before the frame classifier.
        output: ``"multilabel"`` (a sigmoid per class) or ``"exclusive"`` (softmax with a background class).
        pos_weight: weight of positive frames in the loss (> 0).
        postprocess: :class:`~polysense.detect.postprocess.PostProcessing` settings for events.
        collar_s: onset/offset collar of the event F1 reported at evaluation.
    """

    kind = "detector"
    name = "frame_crnn"

    def __init__(self, *, sample_rate: int = 8000, num_classes: int = 1, n_fft: int = 256, hop_length: int = 80,
                 n_mels: int = 40, f_min_hz: float = 50.0, f_max_hz: float | None = None,
                 channels: Sequence[int] = (16, 32, 64), freq_pool: int = 2, rnn_hidden: int = 64,
                 dropout: float = 0.1, output: str = "multilabel", pos_weight: float = 1.0,
                 postprocess: Mapping[str, Any] | None = None,
                 collar_s: float = 0.2) -> None:
        super().__init__()
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.n_fft = check_positive_int("n_fft", n_fft)
        self.hop_length = check_positive_int("hop_length", hop_length)
        self.n_mels = check_positive_int("n_mels", n_mels)
        self.front = dict(n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels, f_min_hz=float(f_min_hz),
                          f_max_hz=f_max_hz, pad_mode="constant")
        self.logmel = LogMelSpectrogram(self.sample_rate, top_db=None, **self.front)
        self.norm = nn.BatchNorm1d(self.n_mels)
        channels = [check_positive_int(f"channels[{i}]", c) for i, c in enumerate(channels)]
        pool = check_positive_int("freq_pool", freq_pool)
        bands = self.n_mels
        blocks, c_prev = [], 1
        for c in channels:
            p = pool if bands >= pool else 1
            blocks.append(_block(c_prev, c, p))
            bands //= p
            c_prev = c
        self.convs = nn.Sequential(*blocks)
        width = c_prev * bands
        self.rnn_hidden = check_positive_int("rnn_hidden", rnn_hidden, minimum=0)
        if self.rnn_hidden:
            self.rnn = nn.GRU(width, self.rnn_hidden, batch_first=True, bidirectional=True)
            width = 2 * self.rnn_hidden
        rate = check_unit_interval("dropout", dropout, what="a dropout rate", include_one=False)
        self.dropout = nn.Dropout(rate)
        self.output = check_choice("output", output, ("multilabel", "exclusive"))
        self.classifier = nn.Linear(width, self.num_classes + (self.output == "exclusive"))
        self.pos_weight = check_positive_float("pos_weight", pos_weight, what="the weight of positive frames")
        self.postprocess = PostProcessing(**dict(postprocess or {}))
        self.collar_s = check_positive_float("collar_s", collar_s, what="seconds")

    # ---------------------------------------------------------------- timing
    @property
    def hop_s(self) -> float:
        """Seconds between frames."""
        return self.hop_length / self.sample_rate

    @property
    def min_samples(self) -> int:
        """The shortest recording served: one full analysis window."""
        return self.n_fft

    def stream(self) -> StreamingLogMel:
        """A streaming front end giving the same log-mel frames as :meth:`features`, block by block."""
        return StreamingLogMel(self.sample_rate, **self.front)

    # ---------------------------------------------------------------- the network
    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, n_mels, frames) of waveforms (B, T)."""
        if audio.shape[-1] < self.min_samples:
            raise ParameterError(
                f"the recording has {audio.shape[-1]} samples: the detector needs at least {self.min_samples} "
                f"({self.min_samples / self.sample_rate:.3f} s at {self.sample_rate} Hz, one analysis window); "
                "give a longer recording")
        return self.logmel(audio.float())

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-class probabilities (B, frames, classes) of frame logits (see ``output``)."""
        if self.output == "exclusive":
            return torch.softmax(logits.float(), dim=-1)[..., 1:]
        return torch.sigmoid(logits.float())

    def frame_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (B, frames, classes [+ 1 background first when exclusive]) of log-mel features (B, n_mels, frames)."""
        h = self.norm(features).unsqueeze(1)  # (B, 1, mels, frames)
        h = self.convs(h)
        b, c, f, t = h.shape
        h = h.reshape(b, c * f, t).transpose(1, 2)  # (B, frames, c·f)
        if self.rnn_hidden:
            h = self.rnn(h)[0]
        return self.classifier(self.dropout(h))

    def forward(self, batch: Mapping[str, Any]) -> DetectionOutput:
        audio = batch["audio"]
        logits = self.frame_logits(self.features(audio))
        frames = logits.shape[1]
        lengths = batch.get("audio_lengths")
        if lengths is None:
            lengths = torch.full((audio.shape[0],), audio.shape[-1], device=audio.device)
        centres = torch.arange(frames, device=audio.device) * self.hop_length
        mask = centres[None, :] < lengths[:, None]
        out = DetectionOutput(frame_logits=logits, frame_mask=mask)
        events = batch.get("events")
        if events is None:
            return out
        target = frame_targets(events, frames=frames, hop_s=self.hop_s, num_classes=self.num_classes).to(logits)
        valid = mask.to(logits.dtype)
        if self.output == "exclusive":
            # the frame's class: the last event class covering it (events do not overlap here), else background
            cls = torch.where(target.any(-1), target.argmax(-1) + 1, torch.zeros_like(target[..., 0], dtype=torch.long))
            weight = torch.full((self.num_classes + 1,), self.pos_weight, device=logits.device, dtype=logits.dtype)
            weight[0] = 1.0
            per_frame = F.cross_entropy(logits.transpose(1, 2), cls, weight=weight, reduction="none")
            out.loss = (per_frame * valid).sum() / valid.sum().clamp_min(1.0)
            out.losses["cross_entropy"] = out.loss
        else:
            weight = torch.tensor(self.pos_weight, device=logits.device, dtype=logits.dtype)
            per_frame = F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight, reduction="none")
            out.loss = (per_frame * valid[..., None]).sum() / (valid.sum() * self.num_classes).clamp_min(1.0)
            out.losses["bce"] = out.loss
        with torch.no_grad():
            predicted = (self.probabilities(logits) >= self.postprocess.threshold) & mask[..., None]
            positive = target.bool() & mask[..., None]
            tp = (predicted & positive).sum()
            out.metrics["frame_f1"] = 2 * tp / (predicted.sum() + positive.sum()).clamp_min(1)
            if not self.training:
                out.events = self.events_of(logits, mask)
                out.metrics["event_f1"] = torch.tensor(self._event_f1(events, out.events))
        return out

    # ---------------------------------------------------------------- events
    def events_of(self, logits: torch.Tensor, mask: torch.Tensor, *, classes: Sequence[str] | None = None,
                  settings: PostProcessing | None = None) -> list[list[Event]]:
        """Each item's events from its frame logits (only frames inside the recording)."""
        names = tuple(classes) if classes is not None else tuple(str(c) for c in range(self.num_classes))
        probs = self.probabilities(logits.detach()).cpu()
        keep = mask.cpu()
        return [frames_to_events(probs[b][keep[b]], classes=names, hop_s=self.hop_s,
                                 settings=settings or self.postprocess) for b in range(probs.shape[0])]

    def _event_f1(self, events: Sequence[Sequence[tuple[float, float, int]]], found: list[list[Event]]) -> float:
        reference = {str(b): [Event(on, off, str(int(c))) for on, off, c in item] for b, item in enumerate(events)}
        estimated = {str(b): item for b, item in enumerate(found)}
        return event_based_metrics(reference, estimated, t_collar=self.collar_s).f_measure
