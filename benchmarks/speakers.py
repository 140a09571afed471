"""Speaker verification on speakers never heard in training (issue 19).

Trials: every pair of recordings of the two held-out real FSDD speakers theo and jackson (1,000
recordings, 499,500 trials, about half of them same-speaker pairs). Systems, each scoring a pair by the cosine of its two embeddings:

- MFCC statistics (anchor): mean and standard deviation over time of 20 MFCCs (32 mel bands,
  32 ms / 10 ms), each dimension standardised with the training speakers' statistics;
- Whisper base's encoder, frozen (anchor, ``--whisper``): the mean over the real frames of each of its six
  blocks' states, concatenated, centred on the training speakers' mean;
- ``fsdd-speakers`` (speech_cnn pooled statistics → x-vector → AAM-softmax over nicolas, yweweler and
  100 espeak-ng voices), trained by the one trainer (epoch chosen on held-out utterances of the training
  speakers), ``--seeds`` seeds, mean ± std over seeds.

Reported: EER and normalised minDCF (p_target 0.01 and 0.05), :mod:`polysense.metrics.verification`.

Diarization (with ``--vad-run``, a trained ``fsdd-vad`` run): ``--scenes`` two-speaker ``fsdd_scenes``
recordings of ``--scene-minutes`` minutes (theo and jackson alternating at random, noise at 10 dB SNR);
the VAD's events (``detect_file``) labelled by clustering the first seed's speaker embeddings into two
speakers (``polysense detect --speakers RUN --num-speakers 2``); DER with its parts
(:mod:`polysense.metrics.diarization`), and the same with the reference segments (oracle VAD) to
separate the clustering's errors from the detector's.

Run: ``PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/speakers.py --seeds 0``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontend import write_section  # noqa: E402

from polysense.data.registry import build_data  # noqa: E402
from polysense.evaluate.runner import evaluate_run  # noqa: E402
from polysense.metrics.verification import equal_error_rate, min_dcf, trials  # noqa: E402
from polysense.signal import mfcc  # noqa: E402
from polysense.train.config import load_config  # noqa: E402
from polysense.train.trainer import train  # noqa: E402

RUNS = Path(os.environ.get("POLYSENSE_BENCH_RUNS", Path(tempfile.gettempdir()) / "polysense-speaker-runs"))
STATE = Path(__file__).with_name("speakers.json")


def mfcc_stats(audio: torch.Tensor) -> torch.Tensor:
    c = mfcc(audio.double(), sample_rate=8000, n_mfcc=20, n_fft=256, hop_length=80, n_mels=32)
    return torch.cat([c.mean(-1), c.std(-1)])


def scores_of(s: np.ndarray, same: np.ndarray) -> dict:
    return {"eer": equal_error_rate(s, same), "min_dcf_p0.01": min_dcf(s, same, p_target=0.01),
            "min_dcf_p0.05": min_dcf(s, same, p_target=0.05), "trials": int(len(s))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--fsdd", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"))
    parser.add_argument("--vad-run", help="a trained fsdd-vad run folder: also measure diarization")
    parser.add_argument("--whisper", action="store_true", help="also score the frozen Whisper encoder's pooled states")
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--scene-minutes", type=float, default=2.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report", action="store_true", help="only rewrite RESULTS.md from speakers.json")
    args = parser.parse_args()
    if args.report:
        return rewrite()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data = build_data({"name": "fsdd_speakers", "fsdd_folder": args.fsdd, "synthetic_voices": 100}, seed=0)
    # anchor: MFCC statistics standardised with the training speakers' statistics, cosine scores
    train_stats = torch.stack([mfcc_stats(data.train[i]["audio"]) for i in range(0, len(data.train), 3)])
    mean, std = train_stats.mean(0), train_stats.std(0).clamp_min(1e-8)
    test_items = [data.test[i] for i in range(len(data.test))]
    anchor = torch.stack([(mfcc_stats(it["audio"]) - mean) / std for it in test_items])
    results = {"mfcc": scores_of(*trials(anchor, [it["group"] for it in test_items])), "learned": [], "train_s": []}
    print("MFCC stats:", results["mfcc"], flush=True)
    if args.whisper:
        results["whisper"] = whisper_anchor(data, test_items)
        print("Whisper pooled:", results["whisper"], flush=True)
    for seed in args.seeds:
        out = RUNS / f"fsdd-speakers-seed{seed}"
        if not (out / "result.json").is_file():
            if out.exists():
                import shutil

                shutil.rmtree(out)
            overrides = [f"data.fsdd_folder={args.fsdd}", f"train.seed={seed}"]
            overrides += [f"train.epochs={args.epochs}"] if args.epochs else []
            start = time.perf_counter()
            train(load_config("fsdd-speakers", overrides), out, quiet=True)
            results["train_s"].append(time.perf_counter() - start)
        v = evaluate_run(out)["verification"]
        results["learned"].append({"seed": seed, **{k: v[k] for k in ("eer", "min_dcf_p0.01", "min_dcf_p0.05", "trials")}})
        print(f"seed {seed}:", results["learned"][-1], flush=True)
    if args.vad_run:
        results["diarization"] = diarization(args, RUNS / f"fsdd-speakers-seed{args.seeds[0]}")
        print("diarization:", results["diarization"], flush=True)
    results["meta"] = {"started": started, "load_1min": load, "seeds": args.seeds, "epochs": args.epochs, "machine": platform.machine(),
                       "torch": torch.__version__, "speakers": sorted({it["group"] for it in test_items})}
    print(json.dumps(results, indent=1))
    if not args.no_write:
        STATE.write_text(json.dumps(results, indent=1))
        write_section(report(results), "<!-- speakers:start -->", "<!-- speakers:end -->")


@torch.no_grad()
def whisper_anchor(data, test_items) -> dict:
    from polysense.data.collate import collate
    from polysense.models.batch import encode_required
    from polysense.models.registry import build

    encoder = build("encoder", {"name": "whisper_encoder", "sample_rate": 8000, "input": "real", "min_seconds": 1.0,
                                "pool_layers": [1, 2, 3, 4, 5, 6], "cache_rows": 0}).eval()

    def pooled(items):
        return torch.cat([encode_required(encoder, "audio", collate(items[i: i + 16])).pooled
                          for i in range(0, len(items), 16)]).double()

    centre = pooled([data.train[i] for i in range(0, len(data.train), 6)]).mean(0)
    embedded = pooled(test_items) - centre
    return scores_of(*trials(embedded, [it["group"] for it in test_items]))


def diarization(args, speaker_run: Path) -> dict:
    import soundfile as sf

    from polysense.detect.service import label_speakers_in_file
    from polysense.detect.stream import detect_file
    from polysense.metrics.diarization import diarization_error_rate
    from polysense.train.run import load_run

    data = build_data({"name": "fsdd_scenes", "fsdd_folder": args.fsdd, "labels": "speech", "num_scenes": 1,
                       "test_speakers": ["theo", "jackson"], "val_speakers": [], "val_scenes": 0,
                       "test_scenes": args.scenes, "test_scene_s": 60.0 * args.scene_minutes, "test_snr_db": 10.0,
                       "speakers_per_scene": 2, "in_memory": False}, seed=2000)
    vad = load_run(args.vad_run)
    folder = Path(tempfile.mkdtemp(prefix="polysense-diarization-"))
    totals = {"system": [0.0] * 4, "oracle": [0.0] * 4}  # missed, false alarm, confusion, total
    for i in range(args.scenes):
        audio, reference = data.test.scene(i)
        path = folder / f"scene{i}.wav"
        sf.write(path, audio.numpy(), 8000, subtype="FLOAT")
        found = detect_file(vad.model, path, classes=["speech"])
        for name, events in (("system", found), ("oracle", [e.__class__(e.onset_s, e.offset_s, "speech")
                                                           for e in reference])):
            labelled = label_speakers_in_file(path, events, speaker_run, num_speakers=2)
            s = diarization_error_rate(reference, labelled)
            for k, v in enumerate((s.missed_s, s.false_alarm_s, s.confusion_s, s.total_s)):
                totals[name][k] += v
    out = {}
    for name, (missed, fa, conf, total) in totals.items():
        out[name] = {"der": (missed + fa + conf) / total, "missed": missed / total, "false_alarm": fa / total,
                     "confusion": conf / total, "speech_s": total}
    return out


def report(r: dict) -> str:
    meta = r["meta"]

    def cell(key: str) -> str:
        values = np.array([x[key] for x in r["learned"]])
        return f"{values.mean():.4f} ± {values.std():.4f}" if values.size > 1 else f"{values.mean():.4f}"

    epochs_note = f", {meta['epochs']} epochs (`--epochs`; the config has 15)" if meta.get("epochs") else ""
    lines = ["<!-- speakers:start -->", "## Speaker verification on unseen speakers (`benchmarks/speakers.py`)", "",
             f"Trials: every pair of the {' and '.join(meta['speakers'])} recordings (both never heard in training), "
             f"{r['mfcc']['trials']} trials, cosine scores. `fsdd-speakers` trained by `polysense.train` on nicolas, yweweler "
             f"and 100 espeak-ng voices, seeds {meta['seeds']}"
             f"{epochs_note}. {meta['machine']}, torch {meta['torch']}, 2 cores shared "
             f"with other jobs; started {meta['started']}, 1-minute load {meta['load_1min']:.1f}. Goal (issue 19): EER ≤ 5 %.",
             "", "| system | EER | minDCF (p=0.01) | minDCF (p=0.05) |", "|---|---:|---:|---:|",
             f"| MFCC statistics + cosine (anchor) | {r['mfcc']['eer']:.4f} | {r['mfcc']['min_dcf_p0.01']:.4f} | "
             f"{r['mfcc']['min_dcf_p0.05']:.4f} |"]
    if r.get("whisper"):
        w = r["whisper"]
        lines.append(f"| Whisper base encoder, frozen: six blocks' pooled states, centred + cosine (anchor) | "
                     f"{w['eer']:.4f} | {w['min_dcf_p0.01']:.4f} | {w['min_dcf_p0.05']:.4f} |")
    if r["learned"]:
        lines.append(f"| polysense `fsdd-speakers` | {cell('eer')} | {cell('min_dcf_p0.01')} | {cell('min_dcf_p0.05')} |")
    if r["train_s"]:
        lines += ["", f"Training time per seed: {np.mean(r['train_s']) / 60:.1f} min."]
    if r.get("diarization"):
        d = r["diarization"]
        lines += ["", "### Who speaks when (diarization-lite)", "",
                  "Two-speaker `fsdd_scenes` recordings (theo and jackson, unseen, 10 dB SNR); segments from `fsdd-vad` "
                  "(or the reference segments: oracle VAD), labelled by clustering `fsdd-speakers` embeddings into two "
                  "speakers. Rates are shares of the reference speech time.", "",
                  "| segments | DER | missed | false alarm | confusion | speech (s) |", "|---|---:|---:|---:|---:|---:|"]
        for name, label in (("system", "`fsdd-vad`"), ("oracle", "reference (oracle VAD)")):
            x = d[name]
            lines.append(f"| {label} | {x['der']:.3f} | {x['missed']:.3f} | {x['false_alarm']:.3f} | "
                         f"{x['confusion']:.3f} | {x['speech_s']:.0f} |")
    if r["learned"]:
        eer = float(np.mean([x["eer"] for x in r["learned"]]))
        lines += ["", "### Goals (issue 19)", "",
                  f"- Verification EER ≤ 5 % among the held-out real speakers: **{'met' if eer <= 0.05 else 'not met'}**, "
                  f"{eer:.3f} (MFCC-statistics anchor {r['mfcc']['eer']:.3f}"
                  + (f", frozen Whisper anchor {r['whisper']['eer']:.3f}" if r.get("whisper") else "") + "). What limits it: every trial is two single digit words of ~0.4 s, where the word said weighs more "
                  "than the voice (all three systems, anchors included, stay above 30 % EER); two real training speakers; "
                  "the other 100 classes are espeak-ng voices, which the network tells apart by cues real voices do not "
                  "share, and the validation split (held-out utterances of the training speakers, closed set) reaches "
                  "100 % accuracy within three epochs, so it cannot choose an epoch that generalises to new voices. "
                  "A pretrained encoder (Whisper's) under the same head, or verification-based selection on held-out "
                  "voices, are the next things to try; neither was run. The Whisper-pooled anchor the issue names was "
                  + ("not run." if not r.get("whisper") else "measured above.")]
    if r.get("diarization"):
        d = r["diarization"]["system"]
        lines += [f"- Diarization error rate on two-speaker scenes reported with its parts: **met** (reported): DER "
                  f"{d['der']:.3f} = missed {d['missed']:.3f} + false alarm {d['false_alarm']:.3f} + confusion "
                  f"{d['confusion']:.3f}; the confusion comes from the embeddings above (near chance between the two "
                  "voices), not from the detector (oracle segments give the same confusion)."]
    lines += ["", "<!-- speakers:end -->"]
    return "\n".join(lines)


def rewrite() -> None:
    """Rewrite the RESULTS.md section from speakers.json (no measurement)."""
    write_section(report(json.loads(STATE.read_text())), "<!-- speakers:start -->", "<!-- speakers:end -->")


if __name__ == "__main__":
    main()
