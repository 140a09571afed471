"""Your own sounds, measured: predict and export speed, the busy-machine slowdown, the README path.

    python benchmarks/deploy.py                       # every part; writes its RESULTS.md section
    python benchmarks/deploy.py --parts predict,onnx  # some parts (numbers kept in deploy.json)

Parts:

- ``predict``: clips per second of ``Predictor.predict_files`` on the 500 FSDD clips of theo (files
  read, resampled when needed, batched, the model on one thread) against ``evaluate_run`` on a
  manifest of the same files (the anchor: the evaluation path), for an ``fsdd-digits`` model (the
  architecture of the built-in config; its weights do not change the speed, so 1 epoch trains it).
- ``onnx``: the exported ONNX model in onnxruntime against PyTorch on the same decoded clips,
  batches of 64, one thread each; the largest difference of their probabilities.
- ``busy``: the demo (and its CLIP run alone) on an idle machine and with one other CPU-bound
  process, with the default threads (``polysense.threads``) and with PyTorch's own default (one
  thread per core, what every command did before ``--threads``).
- ``readme``: the README's "Your own sounds" commands, each a new process as a user runs them, on a
  generated folder of 200 sounds.

Mean ± std over ``--repeats`` runs; the 1-minute load average is recorded when each part starts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
START, END = "<!-- deploy:start -->", "<!-- deploy:end -->"
POLYSENSE = [sys.executable, "-m", "polysense"]


def mean_std(values) -> str:
    values = list(values)
    return f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}" if len(values) > 1 else f"{values[0]:.3g}"


def fsdd_folder() -> Path:
    from polysense.data.builtin import default_fsdd_folder

    folder = Path(os.environ.get("POLYSENSE_FSDD") or ROOT.parent / "shared" / "data" / "fsdd" / "recordings")
    return folder if folder.is_dir() else default_fsdd_folder()


def fsdd_run(work: Path) -> Path:
    """An ``fsdd-digits`` run (1 epoch, no synthetic voices: the architecture is what is timed)."""
    from polysense.train.config import load_config
    from polysense.train.trainer import train

    run = work / "fsdd-digits"
    config = load_config("fsdd-digits", ["train.epochs=1", "data.synthetic_voices=0",
                                         f"data.fsdd_folder={fsdd_folder()}"])
    train(config, run, quiet=True)
    return run


def test_files() -> list[Path]:
    return sorted(fsdd_folder().glob("*_theo_*.wav"))


def part_predict(work: Path, repeats: int) -> tuple[list[str], dict]:
    from polysense.deploy import Predictor
    from polysense.evaluate.runner import evaluate_run
    from polysense.train.run import load_run

    run_dir = fsdd_run(work)
    files = test_files()
    manifest = work / "theo.csv"  # the FSDD files lie outside its folder: allowed explicitly below
    manifest.write_text("audio,label,split\n" + "".join(f"{f},{int(f.name[0])},test\n" for f in files))
    predict_s, evaluate_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        result = Predictor(load_run(run_dir)).predict_files(files)
        predict_s.append(time.perf_counter() - start)
        assert len(result.items) == len(files)
        start = time.perf_counter()
        evaluated = evaluate_run(run_dir, data=str(manifest), allow_outside=True)
        evaluate_s.append(time.perf_counter() - start)
        assert evaluated["items"] == len(files)
    n = len(files)
    rates = [n / s for s in predict_s]
    anchor = [n / s for s in evaluate_s]
    lines = ["### `polysense predict` throughput (fsdd-digits model, one thread)", "",
             "| path | clips/s | s for 500 clips |", "|---|---:|---:|",
             f"| `Predictor.predict_files` (files in, labels out) | {mean_std(rates)} | {mean_std(predict_s)} |",
             f"| `evaluate_run` on a manifest of the same files (anchor) | {mean_std(anchor)} | {mean_std(evaluate_s)} |",
             "", f"Goal ≥ 200 clips/s: {'met' if statistics.mean(rates) >= 200 else 'NOT met'} "
                 f"({statistics.mean(rates) / statistics.mean(anchor):.2f}× the evaluation path)."]
    return lines, {"predict_clips_per_s": rates, "evaluate_clips_per_s": anchor}


def part_onnx(work: Path, repeats: int) -> tuple[list[str], dict]:
    import onnxruntime as ort

    from polysense import audio as audio_io
    from polysense.data.collate import pad_sequences
    from polysense.deploy.export import WaveformModel, export_run
    from polysense.train.run import load_run

    run_dir = work / "fsdd-digits" if (work / "fsdd-digits").is_dir() else fsdd_run(work)
    files = test_files()
    report = export_run(run_dir, work / "model.onnx", check_files=files[:16])
    run = load_run(run_dir)
    wrapper = WaveformModel(run.model, kind="classifier", sample_rate=run.sample_rate).eval()
    waveforms = [audio_io.load(f, sample_rate=run.sample_rate)[0] for f in files]
    batches = [pad_sequences(waveforms[i:i + 64]) for i in range(0, len(waveforms), 64)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(work / "model.onnx"), options, providers=["CPUExecutionProvider"])
    torch_s, onnx_s, worst = [], [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            expected = [wrapper(p, lengths) for p, _, lengths in batches]
        torch_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        got = [session.run(None, {"waveform": p.numpy(), "lengths": lengths.numpy()})[0] for p, _, lengths in batches]
        onnx_s.append(time.perf_counter() - start)
        worst = max(worst, max(float((torch.from_numpy(g) - e).abs().max()) for g, e in zip(got, expected, strict=True)))
    n = len(waveforms)
    lines = ["### Exported model: onnxruntime against PyTorch (fsdd-digits, 500 clips in batches of 64, one thread)", "",
             "| runtime | clips/s | largest difference of probabilities |", "|---|---:|---:|",
             f"| PyTorch (the run's model) | {mean_std(n / s for s in torch_s)} | reference |",
             f"| onnxruntime (`polysense export`) | {mean_std(n / s for s in onnx_s)} | {worst:.2g} |",
             "", f"Export check in the command: {report.max_abs_difference:.2g} on 16 clips (tolerance 1e-4). "
                 f"onnxruntime / PyTorch speed: {statistics.mean(torch_s) / statistics.mean(onnx_s):.2f}×."]
    return lines, {"torch_s": torch_s, "onnx_s": onnx_s, "max_difference": worst}


def _timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def part_busy(work: Path, repeats: int) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cores = len(os.sched_getaffinity(0))
    clip = POLYSENSE + ["train", "synthetic-clip", "--set", "data.num_samples=600", "--no-report", "--quiet"]
    demo = POLYSENSE + ["demo"]
    rows, numbers = [], {}
    for label, command in (("CLIP run of the demo", clip), ("the whole demo", demo)):
        for threads, name in ((None, "default (polysense.threads)"), (cores, f"{cores} (PyTorch's default, before)")):
            extra = [] if threads is None else ["--threads", str(threads)]
            times = {}
            for busy in (False, True):
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                try:
                    if hog is not None:
                        time.sleep(65)  # the load average sees the other process, as it would in use
                    runs = []
                    for r in range(repeats if label.startswith("CLIP") else 1):
                        out = work / f"busy-{len(numbers)}-{busy}-{r}"
                        runs.append(_timed(command + extra + ["--out", str(out)], env))
                    times[busy] = runs
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
            ratio = statistics.mean(times[True]) / statistics.mean(times[False])
            rows.append(f"| {label} | {name} | {mean_std(times[False])} | {mean_std(times[True])} | {ratio:.2f}× |")
            numbers[f"{label} {name}"] = times
    lines = [f"### Busy machine: one other CPU-bound process on the {cores}-core machine", "",
             "| job | threads | idle s | busy s | busy / idle |", "|---|---|---:|---:|---:|", *rows, "",
             "Goal: the demo at most 1.5× its idle time with one other CPU-bound process (before: the CLIP row 9×)."]
    return lines, numbers


def part_readme(work: Path) -> tuple[list[str], dict]:
    import shutil

    from polysense.data.synthetic import write_sound_folder

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- own-sounds:start -->(.*?)<!-- own-sounds:end -->", text, re.S).group(1)
    commands = [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("polysense ")]
    folder = work / "readme"
    write_sound_folder(folder / "my-sounds", num_files=200, sample_rate=8000, seed=0)
    (folder / "new-recordings").mkdir()
    for i, source in enumerate(sorted((folder / "my-sounds" / "chirp").glob("*.wav"))[:20]):
        shutil.copy(source, folder / "new-recordings" / ("unknown.wav" if i == 0 else f"clip{i}.wav"))
    env = dict(os.environ)
    rows, total = [], 0.0
    for args in commands:
        start = time.perf_counter()
        subprocess.run(POLYSENSE + args, check=True, cwd=folder, env=env, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        total += seconds
        rows.append(f"| `polysense {shlex.join(args)}` | {seconds:.1f} |")
    evaluated = json.loads(subprocess.run(POLYSENSE + ["evaluate", "runs/mine", "--data", "my-sounds/manifest.csv",
                                                       "--split", "test", "--json"], check=True, cwd=folder,
                                          capture_output=True, text=True).stdout)
    lines = ["### The README's \"Your own sounds\" path on a 200-file folder (each command a new process)", "",
             "| command | s |", "|---|---:|", *rows, f"| **total** | **{total:.1f}** |", "",
             f"Test accuracy of the trained model on held-out sites: {evaluated['accuracy']:.3f} "
             f"({evaluated['items']} clips, 3 classes). Goal under 3 minutes: {'met' if total < 180 else 'NOT met'}."]
    return lines, {"seconds": total, "accuracy": evaluated["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="predict,onnx,busy,readme")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=str(HERE / "deploy.json"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = Path(args.json)
    sections = json.loads(path.read_text()).get("sections", {}) if path.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for part in [p for p in args.parts.split(",") if p]:
            load = os.getloadavg()[0]
            if part == "predict":
                lines, numbers = part_predict(work, args.repeats)
            elif part == "onnx":
                lines, numbers = part_onnx(work, args.repeats)
            elif part == "busy":
                lines, numbers = part_busy(work, args.repeats)
            elif part == "readme":
                lines, numbers = part_readme(work)
            else:
                raise SystemExit(f"unknown part {part!r}")
            sections[part] = {"lines": lines, "numbers": numbers, "load": load, "date": time.strftime("%Y-%m-%d")}
            print("\n".join(lines), flush=True)
            path.write_text(json.dumps({"sections": sections}, indent=1))
    if args.no_write:
        return
    from frontend import write_section

    text = [START, "## Your own sounds: predict, export, threads (`benchmarks/deploy.py`)", "",
            "x86_64, torch 2.13.0+cpu, onnxruntime from the `export` extra. Each part says its date and the "
            "machine's 1-minute load when it started.", ""]
    for part in ("predict", "onnx", "busy", "readme"):
        if part in sections:
            section = sections[part]
            text += section["lines"] + ["", f"({section['date']}, load {section['load']:.1f} at the start)", ""]
    write_section("\n".join(text).rstrip() + "\n" + END, START, END)


if __name__ == "__main__":
    main()
