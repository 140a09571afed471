"""Pretrained Whisper in polysense: digits by transcription and by a head on the frozen encoder,
audio-text CLIP with both towers pretrained, and speed against faster-whisper (issue 16).

    python benchmarks/pretrained.py                       # every part, writes its RESULTS.md section
    python benchmarks/pretrained.py --parts heads --seeds 0

Parts (leave-one-speaker-out over the four FSDD speakers; the validation speaker rotates with the
seed as in benchmarks/fsdd_digits.py):

- ``heads``: ``fsdd-digits-whisper`` trained by ``polysense.train`` per fold and seed, against MFCC
  statistics + RBF SVM (run here) and the from-scratch ``fsdd-digits`` (its table in RESULTS.md:
  20 CPU minutes a seed, not re-run). The frozen encoder's outputs are exact functions of the clip,
  so one encoder (and its cache) is shared by every run of this process.
- ``probe``: what the encoder's input and pooled blocks are worth (logistic regression on pooled
  states, three training speakers): the real length, padded to 1 s, padded to 3 s.
- ``transcribe``: digits read from transcripts without FSDD training: Whisper unrestricted (a digit
  word or numeral counts), Whisper restricted to the ten digit words, pocketsphinx with a digit
  grammar; every 10th clip of each speaker (50 each).
- ``clip``: ``fsdd-clip-whisper-minilm`` (test theo, validation jackson): retrieval and zero-shot.
- ``speed``: one thread: encoder seconds per clip at the real length vs padded to 30 s, and the
  real-time factor of transcribing 30 s of speech against faster-whisper float32 and int8.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fsdd_digits import SPEAKERS, WORDS, fold_overrides, fsdd_folder, pocketsphinx_anchor, svm_anchor, val_speaker  # noqa: E402
from frontend import write_section  # noqa: E402

START, END = "<!-- pretrained:start -->", "<!-- pretrained:end -->"
NUMERALS = {str(i): w for i, w in enumerate(WORDS)}


def mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{np.mean(values):.3f}" + (f" ± {np.std(values):.3f}" if len(values) > 1 else "")


def shared_whisper_encoder():
    """Every ``whisper_encoder`` this process builds with the same options is one module (and one
    cache): the frozen outputs are a fixed function of the clip, so the runs stay exact."""
    from polysense.models import registry

    built: dict[str, torch.nn.Module] = {}
    original = registry.build

    def build(kind, config):
        if kind == "encoder" and config.get("name") == "whisper_encoder" and not config.get("trainable_blocks"):
            key = json.dumps(config, sort_keys=True)
            if key not in built:
                built[key] = original(kind, config)
            return built[key]
        return original(kind, config)

    registry.build = build
    import polysense.models.encoders.base as base

    base.build = build


def part_heads(data, seeds: list[int], work: Path) -> tuple[list[str], dict]:
    from polysense.evaluate.runner import evaluate_run
    from polysense.train.config import load_config
    from polysense.train.trainer import train

    anchors = {"MFCC stats + RBF SVM": svm_anchor(data)}
    print(json.dumps(anchors), flush=True)
    shared_whisper_encoder()
    results: dict[int, dict[str, float]] = {}
    started = time.time()
    for seed in seeds:
        results[seed] = {}
        for test in SPEAKERS:
            val = val_speaker(test, seed)
            config = load_config("fsdd-digits-whisper", fold_overrides(test, val, seed, []))
            run = work / f"heads-{test}-{val}-{seed}"
            train(config, run, quiet=True)
            results[seed][test] = evaluate_run(run, split="test")["accuracy"]
            print(f"seed {seed} test {test} val {val}: {results[seed][test]:.3f} ({time.time() - started:.0f} s)", flush=True)
    minutes = (time.time() - started) / 60
    lines = [
        "### Digits with a head on the frozen Whisper encoder (`--parts heads`)", "",
        f"Leave-one-speaker-out, validation speaker rotating with the seed, seeds {seeds}; `fsdd-digits-whisper` "
        f"(linear head on the six blocks' pooled states, real-length input padded to 1 s) trained by `polysense.train`; "
        f"{minutes:.1f} min for all runs (one encoder pass per clip, shared by the runs). Goal: mean ≥ 0.98, every "
        "speaker ≥ 0.96.", "",
        "| system | " + " | ".join(SPEAKERS) + " | mean |", "|---|" + "---:|" * (len(SPEAKERS) + 1)]
    for name, acc in anchors.items():
        lines.append(f"| {name} | " + " | ".join(f"{acc[s]:.3f}" for s in SPEAKERS) + f" | {np.mean(list(acc.values())):.3f} |")
    lines.append("| polysense `fsdd-digits` from scratch (table above, 3 seeds, not re-run) | 0.740 ± 0.078 | "
                 "0.592 ± 0.078 | 0.833 ± 0.077 | 0.637 ± 0.033 | 0.701 ± 0.037 |")
    per = {s: [results[seed][s] for seed in seeds] for s in SPEAKERS}
    means = [np.mean([results[seed][s] for s in SPEAKERS]) for seed in seeds]
    lines.append("| polysense `fsdd-digits-whisper` (mean ± std over seeds) | "
                 + " | ".join(mean_std(per[s]) for s in SPEAKERS) + f" | {mean_std(means)} |")
    return lines, {"anchors": anchors, "heads": results}


def part_probe(data) -> tuple[list[str], dict]:
    import torch.nn.functional as F
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from polysense.models.whisper.features import trim_to_content, whisper_log_mel
    from polysense.models.whisper.weights import load_whisper

    model, _ = load_whisper()
    encoder = model.encoder
    out, lines = {}, ["### What the encoder's input and blocks are worth (`--parts probe`)", "",
                      "Logistic regression (C = 1, standardised) on pooled encoder states of the real audio, trained "
                      "on the three other speakers; per-speaker accuracy, one fit (deterministic).", "",
                      "| encoder input | pooled | " + " | ".join(SPEAKERS) + " | mean | s/clip |",
                      "|---|---|" + "---:|" * (len(SPEAKERS) + 2)]
    for label, pad in (("real length", 0), ("padded to 1 s", 100), ("padded to 3 s", 300)):
        feats, labels, speakers = [], [], []
        started = time.time()
        for speaker in SPEAKERS:
            for x, y in data[speaker]:
                m = trim_to_content(whisper_log_mel(x, sample_rate=8000))
                real = (m.shape[-1] + 1) // 2
                with torch.no_grad():
                    states, _, hidden = encoder(F.pad(m, (0, max(0, pad - m.shape[-1])))[None], return_hidden=True)
                pooled = [F.layer_norm(h[0, :real], (h.shape[-1],)).mean(0) for h in hidden[1:-1]] + [states[0, :real].mean(0)]
                feats.append(torch.stack(pooled).numpy())
                labels.append(y)
                speakers.append(speaker)
        seconds = (time.time() - started) / len(labels)
        X, y, s = np.stack(feats), np.array(labels), np.array(speakers)
        for pooled, Z in (("last block", X[:, -1]), ("six blocks concatenated", X.reshape(len(X), -1))):
            accs = {}
            for test in SPEAKERS:
                train = s != test
                clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=1.0)).fit(Z[train], y[train])
                accs[test] = float(clf.score(Z[~train], y[~train]))
            out[f"{label} / {pooled}"] = accs
            lines.append(f"| {label} | {pooled} | " + " | ".join(f"{accs[t]:.3f}" for t in SPEAKERS)
                         + f" | {np.mean(list(accs.values())):.3f} | {seconds:.3f} |")
            print(lines[-1], flush=True)
    return lines, out


def _digit_of(text: str) -> str | None:
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    words = [NUMERALS.get(w, w) for w in words]
    return words[0] if len(words) == 1 and words[0] in WORDS else None


def part_transcribe(data, stride: int) -> tuple[list[str], dict]:
    from polysense.models.whisper.decoding import DecodingOptions
    from polysense.recognize.transcribe import Transcriber

    subset = {s: data[s][::stride] for s in SPEAKERS}
    prompted = DecodingOptions(initial_prompt=" ".join(WORDS))
    systems = {
        "Whisper base, unrestricted": Transcriber(),
        "Whisper base, the digit words as prompt (--prompt)": Transcriber(options=prompted),
        "Whisper base, ten digit words (--words)": Transcriber(words=list(WORDS)),
        "Whisper base, ten digit words and the same prompt (--words --prompt)": Transcriber(words=list(WORDS), options=prompted),
    }
    out: dict[str, dict[str, float]] = {name: {} for name in systems}
    started = time.time()
    for speaker in SPEAKERS:
        for name, transcriber in systems.items():
            hits = sum(_digit_of(transcriber.transcribe(x, sample_rate=8000).text) == WORDS[y] for x, y in subset[speaker])
            out[name][speaker] = hits / len(subset[speaker])
        print(speaker, {k: v[speaker] for k, v in out.items()}, f"{time.time() - started:.0f} s", flush=True)
    sphinx = pocketsphinx_anchor(subset)
    if isinstance(sphinx, dict):
        out["pocketsphinx en-us + digit grammar"] = sphinx
    count = len(subset[SPEAKERS[0]])
    lines = ["### Digits by transcription, no FSDD training (`--parts transcribe`)", "",
             f"Every {stride}th clip of each speaker ({count} each, {count * len(SPEAKERS)} in all); a transcript "
             "counts when it is one digit word or numeral (punctuation and case ignored). Whisper greedy, "
             "float32, 30-s windows as faster-whisper. Goal for `--words`: mean ≥ 0.90 and above pocketsphinx on "
             "every speaker.", "",
             "| system | " + " | ".join(SPEAKERS) + " | mean |", "|---|" + "---:|" * (len(SPEAKERS) + 1)]
    for name, acc in out.items():
        lines.append(f"| {name} | " + " | ".join(f"{acc[s]:.3f}" for s in SPEAKERS) + f" | {np.mean(list(acc.values())):.3f} |")
    if not isinstance(sphinx, dict):
        lines += ["", f"pocketsphinx: {sphinx}"]
    return lines, out


def part_clip(work: Path) -> tuple[list[str], dict]:
    from polysense.evaluate.runner import evaluate_run
    from polysense.train.config import load_config
    from polysense.train.trainer import train

    shared_whisper_encoder()
    config = load_config("fsdd-clip-whisper-minilm", [f"data.fsdd_folder={fsdd_folder()}"])
    run = work / "clip-whisper-minilm"
    started = time.time()
    train(config, run, quiet=True)
    result = evaluate_run(run, split="test")
    minutes = (time.time() - started) / 60
    retrieval, zero = result.get("retrieval", {}), result.get("zero_shot", {}).get("audio", {}).get("accuracy")
    a2t, t2a = retrieval.get("audio_to_text", {}), retrieval.get("text_to_audio", {})
    lines = ["### Audio↔caption retrieval and zero-shot digits, both towers pretrained (`--parts clip`)", "",
             f"`fsdd-clip-whisper-minilm`, test speaker theo, validation jackson, seed 0, {minutes:.1f} min; the "
             "MiniLM row is the section above (audio CNN trained from scratch, 2 seeds). Goal: zero-shot ≥ 0.90.", "",
             "| audio tower | audio→text R@1 | audio→text R@5 | text→audio R@1 | text→audio mAP | zero-shot digits |",
             "|---|---:|---:|---:|---:|---:|",
             f"| frozen Whisper base encoder | {a2t.get('r@1', float('nan')):.3f} | {a2t.get('r@5', float('nan')):.3f} | "
             f"{t2a.get('r@1', float('nan')):.3f} | {t2a.get('map', float('nan')):.3f} | {zero:.3f} |",
             "| audio CNN from scratch (`fsdd-clip-minilm`, above) | 0.556 ± 0.107 | 0.921 ± 0.095 | 0.850 ± 0.071 | "
             "0.543 ± 0.056 | 0.513 ± 0.137 |"]
    return lines, {"retrieval": retrieval, "zero_shot": zero}


def part_speed(data, repeats: int) -> tuple[list[str], dict]:
    from faster_whisper import WhisperModel

    from polysense.models.registry import build
    from polysense.models.whisper.weights import find_whisper
    from polysense.recognize.transcribe import Transcriber
    from polysense.signal.resample import resample

    clips = [x for x, _ in data["theo"][:20]]
    timings = {}
    for mode in ("real", "padded"):
        encoder = build("encoder", {"name": "whisper_encoder", "sample_rate": 8000, "input": mode, "cache_rows": 0})
        with torch.no_grad():
            encoder(clips[0][None])
            started = time.perf_counter()
            for x in clips:
                encoder(x[None])
        timings[mode] = (time.perf_counter() - started) / len(clips)
    # 30 s of speech: jackson's digits in a seeded random order with 0.1-s pauses, at 16 kHz
    speech, pause = [], torch.zeros(1600)
    order = torch.randperm(len(data["jackson"]), generator=torch.Generator().manual_seed(0)).tolist()
    for x, _ in (data["jackson"][i] for i in order):
        speech += [resample(x, orig_sample_rate=8000, new_sample_rate=16000), pause]
        if sum(p.shape[0] for p in speech) >= 30 * 16000:
            break
    audio = torch.cat(speech)[: 30 * 16000 - 400]
    ours = Transcriber()
    files = find_whisper()
    folder = tempfile.mkdtemp(prefix="ct2-")
    with open(os.path.join(folder, "model.bin"), "wb") as out:
        for part in files.weights:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copy(files.folder / name, folder)

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times)

    texts = {}
    rtf = {"polysense float32": best(lambda: texts.__setitem__("polysense", ours.transcribe(audio).text)) / 30}
    for compute in ("float32", "int8"):
        model = WhisperModel(folder, device="cpu", compute_type=compute, cpu_threads=1)

        def run(model=model, compute=compute):
            segments, _ = model.transcribe(audio.numpy(), language="en", beam_size=1, temperature=0,
                                           without_timestamps=True, vad_filter=False, condition_on_previous_text=False)
            texts[compute] = " ".join(s.text.strip() for s in segments)

        rtf[f"faster-whisper {compute}"] = best(run) / 30
    shutil.rmtree(folder, ignore_errors=True)
    lines = ["### Speed, one thread (`--parts speed`)", "",
             f"Encoder on 20 FSDD clips (8 kHz, 0.3-0.6 s): real length (padded to 1 s) {timings['real'] * 1000:.0f} ms "
             f"per clip, padded to 30 s {timings['padded'] * 1000:.0f} ms per clip "
             f"({timings['padded'] / timings['real']:.0f}× slower).", "",
             f"Transcribing 30 s of speech (jackson's digits in a random order, 0.1-s pauses), greedy, best of {repeats}:", "",
             "| system | real-time factor | ratio to faster-whisper float32 |", "|---|---:|---:|"]
    for name, value in rtf.items():
        lines.append(f"| {name} | {value:.3f} | {value / rtf['faster-whisper float32']:.2f} |")
    lines += ["", f"Same text from polysense and faster-whisper float32: {texts.get('polysense') == texts.get('float32')} "
              f"({len(texts.get('polysense', '').split())} words)."]
    return lines, {"encoder_s_per_clip": timings, "rtf": rtf, "texts": texts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="heads,probe,transcribe,clip,speed", help="comma-separated; empty: only rewrite the table")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--stride", type=int, default=10, help="transcribe every n-th clip of each speaker")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=str(HERE / "pretrained.json"), help="numbers kept here; A,B merges B into A")
    parser.add_argument("--notes", default=None, help="a markdown file of observations kept under the tables")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from fsdd_lab import load_fsdd

    data = load_fsdd(fsdd_folder())
    # --json A,B: read the sections of both (e.g. parts run in two processes), write to A
    paths = [Path(p) for p in args.json.split(",")]
    sections = {}
    for path in paths:
        if path.is_file():
            sections.update(json.loads(path.read_text()).get("sections", {}))
    args.json = str(paths[0])
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for part in [p for p in args.parts.split(",") if p]:
            if part == "heads":
                lines, numbers = part_heads(data, [int(s) for s in args.seeds.split(",")], work)
            elif part == "probe":
                lines, numbers = part_probe(data)
            elif part == "transcribe":
                lines, numbers = part_transcribe(data, args.stride)
            elif part == "clip":
                lines, numbers = part_clip(work)
            elif part == "speed":
                lines, numbers = part_speed(data, args.repeats)
            else:
                raise SystemExit(f"unknown part {part!r}")
            sections[part] = {"lines": lines, "numbers": numbers, "load": load, "date": time.strftime("%Y-%m-%d")}
            print("\n".join(lines), flush=True)
            Path(args.json).write_text(json.dumps({"sections": sections}, indent=1))
    if args.notes:
        sections["notes"] = {"lines": Path(args.notes).read_text().rstrip().splitlines()}
        Path(args.json).write_text(json.dumps({"sections": sections}, indent=1))
    if args.no_write:
        return
    text = [START, "## Pretrained Whisper: digits, retrieval and speed (`benchmarks/pretrained.py`)", "",
            "Whisper base (CTranslate2 weights of the `pretrained` extra) inside polysense, float32, x86_64, "
            "torch 2.13.0+cpu, one thread. Each part says its date and the machine's 1-minute load when it started.", ""]
    for part in ("heads", "probe", "transcribe", "clip", "speed"):
        if part in sections:
            section = sections[part]
            text += section["lines"] + ["", f"({section['date']}, load {section['load']:.1f} at the start)", ""]
    if "notes" in sections:
        text += sections["notes"]["lines"] + [""]
    write_section("\n".join(text).rstrip() + "\n" + END, START, END)


if __name__ == "__main__":
    main()
