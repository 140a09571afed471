"""What ``polysense detect`` does, callable from Python: load a trained detector, find the events in
a recording, optionally name each with a clip classifier (two stages) or label who speaks, write
them (CSV, JSON) and the figure, never half-written (temporary file + rename)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from polysense._checks import check_positive_float
from polysense.data.events import Event, events_to_csv
from polysense.deploy.prediction import Predictor
from polysense.detect.diarize import label_speakers
from polysense.detect.figure import detection_figure
from polysense.detect.segments import event_waveforms
from polysense.detect.stream import DetectionStats, detect_file
from polysense.errors import ParameterError
from polysense.files import atomic_write_text
from polysense.train.run import load_run

__all__ = ["Detection", "classify_events", "detect_recording", "event_waveforms", "label_speakers_in_file",
           "load_detector", "load_event_classifier", "save_detection_figure", "save_events"]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
_PICTURE_COLUMNS = 3000


@dataclass
class Detection:
    """The events found in one recording, with the classes and what the pass held."""

    path: Path
    events: list[Event]
    classes: tuple[str, ...]
    stats: DetectionStats
    hop_s: float


def load_detector(run_dir: str | os.PathLike):
    """The run's model (a frame detector) and its class names; a clear error for another kind of run."""
    run = load_run(run_dir)
    if run.model.kind != "detector":
        name = run.config.get("model", {}).get("name", type(run.model).__name__)
        raise ParameterError(f"{run_dir}: the run holds a {name!r} model, which cannot detect events: give the run "
                             "folder of a frame detector (e.g. `polysense train fsdd-detect --out RUN`)")
    classes = run.classes or tuple(str(c) for c in range(run.model.num_classes))
    if len(classes) != run.model.num_classes:
        raise ParameterError(f"{run_dir}: run.json lists {len(classes)} classes for a model of {run.model.num_classes}: "
                             "retrain the run")
    return run.model, tuple(classes)


def label_speakers_in_file(path: str | os.PathLike, events: list[Event], speaker_run: str | os.PathLike, *,
                           num_speakers: int | None = None, distance_threshold: float = 0.5) -> list[Event]:
    """``events`` of the recording ``path`` labelled with who speaks (diarization-lite,
    :func:`polysense.detect.diarize.label_speakers`), reading only the events' samples from the file."""
    run = load_run(speaker_run)
    if run.model.kind != "speaker":
        name = run.config.get("model", {}).get("name", type(run.model).__name__)
        raise ParameterError(f"--speakers {speaker_run}: the run holds a {name!r} model, not speaker embeddings: give "
                             "the run folder of `polysense train fsdd-speakers --out RUN`")
    rate = int(run.sample_rate or run.model.sample_rate)
    pieces = event_waveforms(path, events, sample_rate=rate)
    return label_speakers(pieces, events, run.model, num_speakers=num_speakers, distance_threshold=distance_threshold)


def load_event_classifier(run_dir: str | os.PathLike, *, batch_size: int = 64) -> Predictor:
    """The clip classifier of ``run_dir`` served as ``polysense predict`` serves it, to name the class
    of detected events (:func:`classify_events`); a clear error for a run that does not classify."""
    predictor = Predictor(load_run(run_dir), batch_size=batch_size)
    kind = predictor.model.kind
    if predictor.kind != "classifier" or kind != "classifier":
        what = f"a {kind}" if kind != "classifier" else "vectors, not classes"
        raise ParameterError(f"--classify {run_dir}: the run's model gives {what}: give the run folder of a clip "
                             "classifier (e.g. `polysense train fsdd-digits --out RUN`)")
    return predictor


def classify_events(path: str | os.PathLike, events: list[Event], classifier: Predictor, *,
                    pad_s: float = 0.1) -> list[Event]:
    """``events`` of the recording ``path`` named by a clip classifier (detection in two stages, as
    ORCA-SPOT finds calls and a second network names their type): each event's samples, widened by
    ``pad_s`` seconds on each side (:func:`event_waveforms`), go through ``classifier``
    (:func:`load_event_classifier`; one forward per batch of events); the event takes the class of
    the highest probability ``p`` and the score ``score · p`` (the detector's confidence that a
    sound is there times the classifier's that it is this class). Times are unchanged."""
    pad_s = check_positive_float("pad_s", pad_s, allow_zero=True, what="seconds")
    if not events:
        return []
    pieces = event_waveforms(path, events, sample_rate=classifier.sample_rate, pad_s=pad_s)
    probabilities = classifier.predict_waveforms(pieces)
    scores, indices = probabilities.max(dim=1)
    return [replace(e, label=classifier.run.classes[int(k)], score=float(e.score) * float(p))
            for e, p, k in zip(events, scores, indices, strict=True)]


def _check_suffix(path: Path, allowed: tuple[str, ...], option: str) -> Path:
    if path.suffix.lower() not in allowed:
        raise ParameterError(f"{option}={str(path)!r} has suffix {path.suffix!r}: expected one of {', '.join(allowed)}")
    return path


def detect_recording(run_dir: str | os.PathLike, path: str | os.PathLike, *, threshold: float | None = None,
                     window_s: float = 30.0, context_s: float = 2.0, picture: bool = False) -> Detection:
    """The events of ``path`` found by the detector of ``run_dir`` (see :func:`detect_file`)."""
    model, classes = load_detector(run_dir)
    stats = DetectionStats()
    events = detect_file(model, path, classes=classes, threshold=threshold, window_s=window_s, context_s=context_s,
                         keep_picture_columns=_PICTURE_COLUMNS if picture else 0, stats=stats)
    return Detection(path=Path(path), events=events, classes=classes, stats=stats, hop_s=model.hop_s)


def save_events(events: list[Event], out: str | os.PathLike) -> Path:
    """Write the events as CSV (``.csv``) or a JSON list (``.json``), atomically."""
    out = _check_suffix(Path(out), (".csv", ".json"), "--output")
    text = events_to_csv(events) if out.suffix.lower() == ".csv" else json.dumps([e.as_dict() for e in events], indent=1)
    return atomic_write_text(out, text)


def save_detection_figure(detection: Detection, out: str | os.PathLike) -> Path:
    """The spectrogram with the events over it (:func:`~polysense.detect.figure.detection_figure`), atomically."""
    import tempfile

    out = _check_suffix(Path(out), FIGURE_SUFFIXES, "--plot")
    features = detection.stats.pooled_features
    if features is None:
        raise ParameterError("the detection kept no picture of the recording: call detect_recording(picture=True)")
    frames_per_column = max(1, -(-detection.stats.frames // features.shape[-1]))
    fig = detection_figure(features, detection.events, seconds_per_column=frames_per_column * detection.hop_s,
                           classes=detection.classes, title=f"{detection.path.name}: {len(detection.events)} events")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
