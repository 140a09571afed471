"""Class-conditional generation of spoken digits, measured (issue 18).

The generators: runs of the ``fsdd-generate`` config or its variants (``--generator RUN [RUN ...]``,
trained beforehand with ``polysense train fsdd-generate --out RUN [--set ...]``; each one's wall
time is read from its ``metrics.jsonl``), measured side by side.
The judge: an independent digit classifier trained on real FSDD only (``--classifier RUN``, trained
here when the folder is absent): the ``fsdd-digits`` recipe (speech_cnn, CMVN log-mel, speed
perturbation, VTLP, SpecAugment) on the same by-take split as the generator (takes 10-49 train,
5-9 val), without espeak-ng voices, ``--classifier-epochs`` epochs (15, as fsdd-digits).

Sets, each of 200 clips of 6016 samples at 8 kHz (20 per digit; equal sizes keep the Fréchet
distances comparable):

- reference: the real held-out clips (takes 0-4 of every speaker), the ceiling of accuracy and IS;
- floor: other real clips of the same speakers (takes 5-9): the real-vs-real Fréchet distance;
- generated: 5 clips per (digit, speaker), one set per ``--seeds`` seed (mean ± std over seeds);
- voice (speaker-conditioned generators): a second judge, the same recipe with the speaker as the
  label, names the asked speaker of each generated clip (its accuracy on the real held-out clips
  beside it);
- real through Griffin-Lim: the reference's spectrograms (the generator's representation) inverted
  by the same Griffin-Lim: what the inversion alone costs;
- espeak-ng: the ten digits in 20 voices (:mod:`polysense.data.espeak`).

Measures (:mod:`polysense.evaluate.generated`): the classifier's accuracy by the label asked for,
its inception score, the Fréchet distance between the classifier's embeddings (``encode``: the
frozen encoder) of each set and the reference, and memorisation (median distance to the nearest
training clip, generated vs held-out).

Run: ``PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/synthesis.py --generator RUN [RUN ...]``;
``--report`` rewrites the RESULTS.md section from ``synthesis.json`` without measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontend import write_section  # noqa: E402

from polysense.data.registry import build_data  # noqa: E402
from polysense.data.takes import fixed_length  # noqa: E402
from polysense.evaluate.generated import ClipSet, evaluate_generated  # noqa: E402
from polysense.train.config import load_config  # noqa: E402
from polysense.train.run import load_run, read_run_info  # noqa: E402
from polysense.train.trainer import train  # noqa: E402

RUNS = Path(os.environ.get("POLYSENSE_BENCH_RUNS", Path(tempfile.gettempdir()) / "polysense-synthesis-runs"))
STATE = Path(__file__).with_name("synthesis.json")
START, END = "<!-- synthesis:start -->", "<!-- synthesis:end -->"


def clip_set(dataset, samples: int, key: str = "label") -> ClipSet:
    items = [dataset[i] for i in range(len(dataset))]
    return ClipSet([fixed_length(item["audio"], samples) for item in items], torch.tensor([int(item[key]) for item in items]))


def train_classifier(folder: Path, fsdd: str, epochs: int, *, speakers: int = 0) -> float:
    """The judge: the fsdd-digits recipe on the by-take split; of the speaker (``speakers`` classes) when > 0."""
    target = ["data.target=speaker", f"model.num_classes={speakers}"] if speakers else []
    config = load_config("fsdd-digits", ["data.name=fsdd_takes", f"data.fsdd_folder={fsdd}", "data.clip_samples=6016",
                                         f"train.epochs={epochs}", *target])
    started = time.perf_counter()
    train(config, folder, quiet=True)
    return time.perf_counter() - started


def generator_wall_s(run: Path) -> tuple[float, int, int | None]:
    """(seconds of training to the last validation, epochs validated, best epoch) from metrics.jsonl."""
    vals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"val"' in x]
    best = min(vals, key=lambda v: v["fd"]) if vals else None
    return (vals[-1]["seconds"] if vals else float("nan")), len(vals), (best["epoch"] if best else None)


def evaluate_generator(run_dir: Path, classifier, args, speaker_judge=None) -> dict:
    """The measures of one generator run over ``args.seeds`` (with the shared real and espeak-ng sets)."""
    generator = load_run(run_dir)
    model = generator.model
    samples = model.clip_samples
    data = build_data({"name": "fsdd_takes", "fsdd_folder": args.fsdd, "clip_samples": samples}, seed=0)
    reference, floor, training = (clip_set(d, samples) for d in (data.test, data.val, data.train))
    speakers = read_run_info(run_dir).get("speakers") or []
    comparisons = {}
    with torch.no_grad():
        spectrograms = model.spectrogram(torch.stack(reference.waveforms))
        comparisons["real_through_griffin_lim"] = ClipSet(list(model.to_audio(spectrograms, seed=0)), reference.labels)
    from polysense.data.espeak import default_tts_cache, espeak_available, generate_espeak_digits
    from polysense.data.fsdd import parse_fsdd_name

    if espeak_available():
        from polysense.audio import load as load_audio

        paths = generate_espeak_digits(default_tts_cache(), num_voices=args.espeak_voices, seed=0, sample_rate=8000)
        comparisons["espeak"] = ClipSet([fixed_length(load_audio(p, sample_rate=8000)[0], samples) for p in paths],
                                        torch.tensor([parse_fsdd_name(p).digit for p in paths]))
    per_seed = []
    for seed in args.seeds:
        labels = torch.arange(10).repeat_interleave(len(speakers) * args.per_cell)
        who = torch.arange(len(speakers)).repeat_interleave(args.per_cell).repeat(10) if speakers else None
        tick = time.perf_counter()
        waves = model.generate(labels, who, seed=seed)
        generate_s = time.perf_counter() - tick
        result = evaluate_generated(classifier, generated=ClipSet(list(waves), labels), reference=reference,
                                    floor=floor, training=training, comparisons=comparisons)
        result["generate_seconds"] = generate_s
        if speaker_judge is not None and who is not None:
            voices = evaluate_generated(speaker_judge, generated=ClipSet(list(waves), who),
                                        reference=clip_set(data.test, samples, key="speaker"))
            result["speaker"] = {"generated_accuracy": voices["generated"]["accuracy"],
                                 "reference_accuracy": voices["reference"]["accuracy"]}
        per_seed.append(result)
        print(run_dir, seed, json.dumps(result["generated"]), flush=True)
    wall_s, epochs, best = generator_wall_s(run_dir)
    curve = [json.loads(x)["fd"] for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"val"' in x]
    return {"meta": {"generator_train_s": wall_s, "generator_epochs": epochs, "generator_best_epoch": best,
                     "val_fd_by_epoch": curve,
                     "generator_config": generator.config["model"], "clips_per_set": len(reference.waveforms)},
            "per_seed": per_seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", type=Path, nargs="+",
                        help="trained fsdd-generate run folders (variants side by side)")
    parser.add_argument("--classifier", type=Path, default=RUNS / "classifier")
    parser.add_argument("--classifier-epochs", type=int, default=15)
    parser.add_argument("--speaker-classifier", type=Path, default=RUNS / "speaker-classifier",
                        help="the voice judge (the same recipe with the speaker as the label), trained when absent")
    parser.add_argument("--fsdd", default=os.environ.get("POLYSENSE_FSDD", "../shared/data/fsdd/recordings"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--per-cell", type=int, default=5, help="generated clips per (digit, speaker)")
    parser.add_argument("--espeak-voices", type=int, default=20)
    parser.add_argument("--report", action="store_true", help="only rewrite RESULTS.md from synthesis.json")
    args = parser.parse_args()
    if args.report:
        write_section(report(json.loads(STATE.read_text())), START, END)
        return
    if not args.generator:
        parser.error("give --generator RUN [RUN ...] (trained fsdd-generate runs), or --report")
    torch.set_num_threads(1)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_1min = os.getloadavg()[0]
    wall = time.perf_counter()
    classifier_s = None
    if not (args.classifier / "model.safetensors").is_file():
        classifier_s = train_classifier(args.classifier, args.fsdd, args.classifier_epochs)
    classifier = load_run(args.classifier)
    speaker_s = None
    if not (args.speaker_classifier / "model.safetensors").is_file():
        speaker_s = train_classifier(args.speaker_classifier, args.fsdd, args.classifier_epochs, speakers=4)
    speaker_judge = load_run(args.speaker_classifier)
    generators = {}
    for run_dir in args.generator:
        generators[str(run_dir)] = evaluate_generator(run_dir, classifier, args, speaker_judge)
    results = {"meta": {"started": started, "load_1min": load_1min, "machine": platform.machine(), "torch": torch.__version__,
                        "seeds": args.seeds, "classifier_train_s": classifier_s, "classifier": str(args.classifier),
                        "speaker_classifier": str(args.speaker_classifier), "speaker_classifier_train_s": speaker_s,
                        "wall_s": time.perf_counter() - wall},
               "generators": generators}
    STATE.write_text(json.dumps(results, indent=1, default=_unserialisable))
    write_section(report(results), START, END)


def _unserialisable(value: object) -> None:
    raise TypeError(f"not JSON: {value!r:.200}")


def _mean_std(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _variant(config: dict) -> str:
    """What distinguishes a generator run's model config from fsdd-generate's (its row's name)."""
    from polysense.train.config import load_config as load

    import inspect

    from polysense.models.registry import builder

    base = load("fsdd-generate").model
    defaults = {k: p.default for k, p in inspect.signature(builder("model", base["name"])).parameters.items()}
    full = {**{k: defaults.get(k) for k in base}, **config}  # a key the run's config lacks had its default
    changed = {k: v for k, v in full.items() if base.get(k) != v and k not in ("sample_rate",)}
    return "fsdd-generate" + (" with " + ", ".join(f"{k}={v}" for k, v in changed.items()) if changed else "")


def report(r: dict) -> str:
    meta = r["meta"]
    generators = r["generators"]
    first_run = next(iter(generators.values()))
    first = first_run["per_seed"][0]
    rows = [("real held-out (reference, ceiling)", "reference"), ("real, other takes (floor)", "floor"),
            ("real through Griffin-Lim (inversion only)", "real_through_griffin_lim"), ("espeak-ng, 20 voices", "espeak")]
    espeak_fd = first.get("espeak", {}).get("fd")
    yes = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
    lines = [START, "## Class-conditional digit generation (`benchmarks/synthesis.py`)", "",
             "Generators: runs of `fsdd-generate` (specgan) and variants, each trained by `polysense train` for at most 30 "
             "minutes of wall time on this shared CPU (a run still going at 30 minutes was stopped there; the best epoch "
             "by val fd is the one measured). Judge: an independent "
             "classifier (fsdd-digits recipe on the by-take split, real data only, 15 epochs"
             f"{', trained here in %.1f min' % (meta['classifier_train_s'] / 60) if meta['classifier_train_s'] else ''}). "
             f"{first_run['meta']['clips_per_set']} clips per set; generated sets over seeds {meta['seeds']} (mean ± std "
             "over the generation seeds; one training run each). Fréchet distance between the classifier's "
             "`encode('audio')` embeddings (unit length) and the reference set's. "
             f"{meta['machine']}, torch {meta['torch']}, 2 cores shared with other jobs; started {meta['started']}, "
             f"1-minute load {meta['load_1min']:.1f}; {meta['wall_s'] / 60:.1f} min for this evaluation.", "",
             "| set | classifier accuracy | inception score | Fréchet distance to reference |", "|---|---|---|---|"]
    for title, key in rows:
        if key in first:
            m = first[key]
            lines.append(f"| {title} | {m['accuracy']:.3f} | {m['inception_score']:.2f} | {m['fd']:.4f} |")
    goals = []
    for run in generators.values():
        runs, gm = run["per_seed"], run["meta"]
        gen = {k: [x["generated"][k] for x in runs] for k in ("accuracy", "inception_score", "fd")}
        ratio = {k: [x["ratios"][k] for x in runs] for k in ("accuracy", "inception_score")}
        name = _variant(gm["generator_config"])
        lines.append(f"| **generated**: {name} ({gm['generator_epochs']} epochs in {gm['generator_train_s'] / 60:.1f} min, "
                     f"best {gm['generator_best_epoch']}) | {_mean_std(gen['accuracy'])} | "
                     f"{_mean_std(gen['inception_score'], 2)} | {_mean_std(gen['fd'], 4)} |")
        mem = [x["memorisation"] for x in runs]
        voice = [x["speaker"] for x in runs if "speaker" in x]
        if voice:
            goals += ["", f"{name}: voice, the speaker judge (the same recipe trained on the four real speakers) names "
                      f"the asked speaker for {_mean_std([v['generated_accuracy'] for v in voice])} of the generated "
                      f"clips vs {voice[0]['reference_accuracy']:.3f} of the real held-out clips."]
        goals += ["", f"{name}: memorisation, median distance to the nearest training clip, generated "
                  f"{_mean_std([m['generated_median_nearest_train'] for m in mem])} vs real held-out "
                  f"{mem[0]['reference_median_nearest_train']:.3f}. Goals (issue 18):",
                  f"- accuracy on generated ≥ 0.90 × real: {_mean_std(ratio['accuracy'])} × real, "
                  f"{yes(statistics.mean(ratio['accuracy']) >= 0.90)};",
                  f"- inception score ≥ 0.75 × real: {_mean_std(ratio['inception_score'])} × real, "
                  f"{yes(statistics.mean(ratio['inception_score']) >= 0.75)};",
                  f"- Fréchet distance below espeak-ng's ({espeak_fd:.4f}): "
                  f"{yes(statistics.mean(gen['fd']) < espeak_fd)};" if espeak_fd is not None else
                  "- Fréchet distance below espeak-ng's: espeak-ng not installed, not measured;",
                  f"- trains within 30 min on this CPU: {gm['generator_train_s'] / 60:.1f} min, "
                  f"{yes(gm['generator_train_s'] <= 1800)}."]
    lines += goals
    curves = {_variant(run["meta"]["generator_config"]): run["meta"].get("val_fd_by_epoch") for run in generators.values()}
    if len(curves) > 1 and all(curves.values()):
        common = min(len(c) for c in curves.values())
        lines += ["", f"The machine's load differed between the runs (the epochs each reached in its 30 minutes differ); "
                  f"at equal epochs, the best val fd (log-mel statistics, the selection metric) in the first {common}: "
                  + ", ".join(f"{name} {min(c[:common]):.2f}" for name, c in curves.items()) + "."]
    gl = first["real_through_griffin_lim"]
    lines += ["", "Reading the table: a generated clip that copied a training clip would sit far below the held-out "
              "clips' memorisation distance; above it, the clips copy nothing and lie off the real clips' manifold. "
              "The judge is trained with label smoothing 0.1 and heavy augmentation, so even real clips get soft "
              "probabilities and an inception score well below 10 (SC09's 9.18 came from a sharper classifier); the "
              "ratios to the real row are what the goals compare. Griffin-Lim alone gives "
              f"{gl['accuracy'] / first['reference']['accuracy']:.2f} × the real clips' accuracy and "
              f"{gl['inception_score'] / first['reference']['inception_score']:.2f} × their inception score: most of "
              "the gap is the generator's, not the inversion's. Not built: a WaveGAN-style waveform generator, a "
              "diffusion model. Augmentation of fsdd-digits with generated clips: the next section.", END]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
