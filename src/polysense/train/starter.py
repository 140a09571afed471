"""A commented starting config for a user's manifest and task (``polysense config new``).

The config is chosen from what the manifest holds, never from its test rows' labels:

- the **sample rate** most of its audio files have (their headers are read; the others are
  resampled on loading), and the front end's window (~32 ms FFT) and hop (10 ms) at that rate;
- the **classes** (their count sizes the head);
- the **schedule** from the number of training rows: small data gets more epochs and a smaller
  batch (``epochs = 40`` under 300 rows, 20 under 3,000, else 10; ``batch = clamp(rows/8, 8, 64)``),
  and early stopping on the validation split when there is one;
- the **model** per task: ``classify`` a compact speech CNN with CMVN and SpecAugment (the
  ``fsdd-digits`` recipe) for audio, an image CNN for images, late fusion for both;
  ``retrieve`` audio-text CLIP with the pretrained MiniLM text tower (the ``fsdd-clip-minilm``
  recipe); ``denoise`` the spectrogram-mask U-Net (the ``fsdd-denoise`` recipe) on the manifest's
  clean audio mixed with the built-in noises; ``detect`` (from an annotation manifest
  ``file,onset,offset,label,split``) the ``fsdd-detect`` CRNN, exclusive or multi-label by whether
  the annotated events of different labels overlap.

The YAML text is what :func:`polysense.train.config.load_config` reads; every section carries a
comment saying why it is what it is.
"""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from polysense import audio as audio_io
from polysense.data.events import read_annotations
from polysense.data.manifest import read_manifest
from polysense.errors import AudioError, ParameterError

__all__ = ["TASKS", "starter_config"]

TASKS = ("classify", "retrieve", "denoise", "detect")
_PROBE_FILES = 200  # headers read to find the sample rate and durations


def starter_config(task: str, manifest: str | os.PathLike, *, name: str | None = None) -> str:
    """The commented YAML of a starting config for ``task`` on ``manifest`` (module docstring)."""
    if task not in TASKS:
        raise ParameterError(f"--task {task!r}: choose one of {', '.join(TASKS)}")
    if task == "detect":  # an annotation manifest (file, onset, offset, label), not a sample manifest
        return _detect(str(manifest), name)
    table = read_manifest(manifest)
    path = str(manifest)
    train_rows = [r for r in table.rows if r.split in (None, "train")]
    has_val = any(r.split == "val" for r in table.rows)
    if not table.has_splits:
        raise ParameterError(f"{path}: the manifest has no split column; make one with `polysense data split` or "
                             "`polysense data folder --split ...`")
    if not train_rows:
        raise ParameterError(f"{path}: the manifest has no train rows to train on")
    rate, seconds = _audio_stats(table) if "audio" in table.columns else (None, None)
    stem = Path(path).stem if Path(path).stem != "manifest" else Path(path).resolve().parent.name
    name = name or f"{stem}-{task}"
    epochs = 40 if len(train_rows) < 300 else 20 if len(train_rows) < 3000 else 10
    batch = int(min(64, max(8, len(train_rows) // 8)))
    train: dict[str, Any] = {"epochs": epochs, "batch_size": batch, "seed": 0}
    if has_val:
        train["patience"] = max(5, epochs // 4)
    header = [f"# {name}: a starting config written by `polysense config new --task {task}` for {path}",
              f"# ({len(table)} rows, {len(train_rows)} for training"
              + (f", audio at {rate} Hz, median {seconds:.2f} s" if rate else "") + ").",
              "# Train it: polysense train THIS.yaml --out RUN   (edit freely: `polysense config show NAME --resolved`",
              "# lists every key of a built-in config with its default)."]
    if task == "classify":
        config, notes = _classify(table, path, rate, train)
    elif task == "retrieve":
        config, notes = _retrieve(table, path, rate, train)
    else:
        config, notes = _denoise(table, path, rate, train)
    config = {"name": name, "description": notes.pop("description"), **config}
    return "\n".join(header) + "\n" + _commented(config, notes)


def _audio_stats(table) -> tuple[int, float]:
    rates, durations = Counter(), []
    for row in table.rows[:_PROBE_FILES]:
        if row.audio is None:
            continue
        try:
            info = audio_io.info(row.audio)
        except AudioError:
            continue  # `polysense data check` reports it; the config does not depend on one file
        rates[info.sample_rate] += 1
        durations.append(info.duration_s)
    if not rates:
        raise ParameterError(f"{table.path}: none of the first {_PROBE_FILES} audio files can be read; "
                             "run `polysense data check` on the manifest")
    return rates.most_common(1)[0][0], statistics.median(durations)


def _front_end(rate: int) -> dict[str, Any]:
    n_fft = 2 ** max(6, round(math.log2(0.032 * rate)))  # ~32 ms analysis window
    return {"sample_rate": rate, "n_fft": n_fft, "hop_length": max(1, round(0.010 * rate)),
            "n_mels": 32 if rate <= 8000 else 64}


def _classify(table, path, rate, train) -> tuple[dict, dict]:
    if "label" not in table.columns:
        raise ParameterError(f"{path}: classifying needs a label column (class names or ids)")
    classes = table.class_names()
    data = {"name": "manifest", "path": path, "sample_rate": rate}
    speech = {"name": "speech_cnn", **_front_end(rate or 16000), "channels": [16, 32, 64], "dim": 128, "dropout": 0.1,
              "frontend": {"normalize": "cmvn", "spec_augment": {"freq_masks": 2, "freq_mask_param": 5, "time_masks": 2,
                                                                 "time_mask_param": 5, "max_time_fraction": 0.15}}}
    image = {"name": "image_cnn", "channels": [16, 32], "dim": 64}
    if "audio" in table.columns and "image" in table.columns:
        model = {"name": "late_fusion", "num_classes": len(classes), "encoders": {"audio": speech, "image": image}}
        kind = "late fusion of a speech CNN (audio) and an image CNN"
    elif "audio" in table.columns:
        model = {"name": "classifier", "modality": "audio", "num_classes": len(classes), "label_smoothing": 0.1,
                 "encoder": speech}
        kind = "a compact CNN on per-band CMVN log-mel features with SpecAugment (the fsdd-digits recipe)"
    elif "image" in table.columns:
        model = {"name": "classifier", "modality": "image", "num_classes": len(classes), "encoder": image}
        kind = "a small image CNN"
    else:
        raise ParameterError(f"{path}: classifying needs an audio or image column")
    config = {"data": data, "model": model, "optim": {"lr": 0.003, "weight_decay": 0.01},
              "schedule": {"name": "cosine", "warmup_fraction": 0.1}, "train": train,
              "evaluate": {"retrieval": False, "zero_shot": False}}
    notes = {"description": f"Classify {len(classes)} classes ({', '.join(classes[:8])}{' ...' if len(classes) > 8 else ''}) "
                            f"with {kind}.",
             "data": "your manifest (its path as given, relative to the folder you run polysense from); files at "
                     "other rates are resampled to sample_rate",
             "model": f"{kind}; num_classes = the manifest's {len(classes)} classes",
             "optim": "AdamW; lr 3e-3 suits these small models",
             "schedule": "cosine decay after a 10 % warm-up",
             "train": "epochs and batch from the training rows" + ("; patience stops when validation stops improving"
                                                                   if "patience" in train else ""),
             "evaluate": "classification metrics only (no text tower here)"}
    return config, notes


def _retrieve(table, path, rate, train) -> tuple[dict, dict]:
    if "text" not in table.columns or "audio" not in table.columns:
        raise ParameterError(f"{path}: retrieval needs audio and text (captions) columns; "
                             "`polysense data folder --captions` reads a .txt beside each file")
    front = _front_end(rate)
    model = {"name": "clip", "embed_dim": 128, "positives": "text",
             "audio": {"name": "audio_cnn", "channels": [16, 32, 64], "dim": 128, "n_fft": front["n_fft"],
                       "hop_length": front["hop_length"], "n_mels": front["n_mels"], "sample_rate": rate},
             "text": {"name": "minilm", "freeze": True}}
    config = {"data": {"name": "manifest", "path": path, "sample_rate": rate}, "model": model,
              "optim": {"lr": 0.001}, "train": train}
    notes = {"description": "Audio-text retrieval (CLIP) with the pretrained MiniLM text tower (frozen, offline) and "
                            "an audio CNN (the fsdd-clip-minilm recipe).",
             "data": "your manifest (its path as given, relative to the folder you run polysense from)",
             "model": "CLIP: audio CNN + frozen MiniLM, 128-d shared space; clips with the same caption are positives",
             "optim": "AdamW", "train": "epochs and batch from the training rows"}
    return config, notes


def _denoise(table, path, rate, train) -> tuple[dict, dict]:
    if "audio" not in table.columns or "group" not in table.columns:
        raise ParameterError(f"{path}: denoising needs clean audio with a group (speaker) column, so that test "
                             "speakers stay unheard; `polysense data folder --group REGEX` writes one")
    front = _front_end(rate)
    config = {"data": {"name": "fsdd_mixtures", "manifest": path, "sample_rate": rate,
                       "noise_types": ["white", "pink", "brown", "babble", "hum", "clicks", "bursts"],
                       "snr_db": [-5.0, 5.0], "test_snr_db": 0.0, "segment_s": 0.5, "repeats": 4},
              "model": {"name": "mask_unet", "sample_rate": rate, "n_fft": front["n_fft"],
                        "hop_length": max(1, front["n_fft"] // 4), "channels": [16, 32, 64], "mask": "ratio",
                        "loss": "si_sdr"},
              "optim": {"lr": 0.003, "weight_decay": 0.0},
              "train": {**train, "batch_size": min(train["batch_size"], 16), "select_metric": "si_sdri",
                        "select_mode": "max"}}
    notes = {"description": "Denoise: a spectrogram-mask U-Net (ORCA-CLEAN style, the fsdd-denoise recipe) on your "
                            "clean audio mixed with seven built-in noises at -5..5 dB SNR.",
             "data": "your clean audio mixed with built-in noises; split and group (speaker) columns from the manifest",
             "model": "mask U-Net on the STFT, ratio mask, SI-SDR loss",
             "optim": "AdamW", "train": "the epoch is chosen on validation SI-SDR improvement"}
    return config, notes


def _detect(path: str, name: str | None) -> str:
    files = read_annotations(path)
    classes = sorted({e.label for f in files for e in f.events})
    train = [f for f in files if f.split == "train"]
    if not train or not classes:
        raise ParameterError(f"{path}: detection needs annotated recordings with split=train and at least one labelled "
                             "event (columns file,onset,offset,label,split)")
    rates = Counter(audio_io.info(f.path).sample_rate for f in files[:_PROBE_FILES])
    rate = rates.most_common(1)[0][0]
    # one sound at a time (a softmax with a background class) unless events of two labels overlap
    overlap = any(a.label != b.label and a.offset_s > b.onset_s
                  for f in files for a, b in zip(f.events, f.events[1:], strict=False))
    front = _front_end(rate)
    events = sum(len(f.events) for f in train)
    epochs = 40 if events < 500 else 20 if events < 5000 else 10
    config = {"data": {"name": "fsdd_scenes", "annotations": path, "classes": classes, "sample_rate": rate},
              "model": {"name": "frame_crnn", "sample_rate": rate, "num_classes": len(classes), "n_fft": front["n_fft"],
                        "hop_length": max(1, round(0.020 * rate)), "n_mels": 40, "channels": [16, 32, 32],
                        "rnn_hidden": 64, "dropout": 0.2, "output": "multilabel" if overlap else "exclusive",
                        "postprocess": {"threshold": 0.5, "low_threshold": 0.3, "median_frames": 5,
                                        "min_duration_s": 0.1, "min_gap_s": 0.05}},
              "optim": {"lr": 0.003, "weight_decay": 0.01},
              "train": {"epochs": epochs, "batch_size": 8, "seed": 0}}
    if any(f.split == "val" for f in files):
        config["train"].update(select_metric="event_f1", select_mode="max")
    name = name or f"{Path(path).stem}-detect"
    notes = {"data": "your annotation manifest (file,onset,offset,label,split; its path as given, relative to the "
                     "folder you run polysense from)",
             "model": "a CRNN over log-mel frames (20 ms), one "
                      + ("sigmoid per class (your events of different labels overlap)" if overlap
                         else "softmax over background + your classes (one sound at a time)")
                      + "; events by hysteresis, median filtering and minimum duration/gap (the fsdd-detect recipe)",
             "optim": "AdamW", "train": "epochs from the training events"
                                        + ("; the epoch with the best validation event F1" if "select_metric" in config["train"] else "")}
    config = {"name": name, "description": f"Detect {len(classes)} kind(s) of sound ({', '.join(classes[:8])}) in "
                                           "long recordings with the fsdd-detect CRNN.", **config}
    header = [f"# {name}: a starting config written by `polysense config new --task detect` for {path}",
              f"# ({len(files)} recordings, {len(train)} for training with {events} events, audio at {rate} Hz).",
              "# Train it: polysense train THIS.yaml --out RUN; then: polysense detect RUN LONG.wav"]
    return "\n".join(header) + "\n" + _commented(config, notes)


def _commented(config: dict[str, Any], notes: dict[str, str]) -> str:
    blocks = []
    for key, value in config.items():
        text = yaml.safe_dump({key: value}, sort_keys=False, width=100)
        blocks.append((f"# {notes[key]}\n" if key in notes else "") + text)
    return "\n".join(blocks)
