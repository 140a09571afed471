"""Denoising and two-speaker separation on FSDD, speaker-independent (issue 11), trained by polysense.train.

Every learned model is a built-in config trained by the one trainer (``polysense.train.train``:
AdamW, warm-up + cosine, validation on held-out utterances of the *training* speakers each epoch,
the best validation epoch kept); the benchmark only overrides the fold (test speakers), the seed and
the number of epochs. Nothing is selected on a test speaker.

Denoising (``--part denoise``): leave-one-speaker-out over FSDD's 4 speakers: train on three, test on
the fourth, rotating. Per fold, three U-Nets of one architecture are trained from scratch:

- ``unet_clean``: ``fsdd-denoise`` as shipped (clean targets, SI-SDR loss);
- ``unet_clean_l2``: the same with the STFT L2 loss (``model.loss=stft_l2``): the clean-target twin
  of Noise2Noise, same objective, so the comparison isolates the targets;
- ``unet_n2n``: ``fsdd-denoise-n2n`` (Noise2Noise targets, STFT L2 loss).

Test mixtures: ``--test-utterances`` of the held-out speaker per (noise type, input SNR ∈ {−5, 0,
5} dB), the same mixtures for every method: spectral subtraction, Wiener (decision-directed), the
U-Nets and the IRM oracle. Reported: mean ± std over folds of the per-fold mean SI-SDR improvement,
STOI (the condition's utterances joined: one digit is too short for STOI) and PESQ (narrowband).

Downstream: an MFCC (20 coefficients, mean and std over time) + logistic-regression digit classifier
trained on the clean utterances of the training speakers; its accuracy on the test speaker's
utterances clean, at 0 dB (all noise types), and denoised by ``unet_clean``.

Separation (``--part separate``): ``fsdd-separate`` (``mask_unet_separator``, PIT SI-SDR, the two
training speakers plus espeak-ng voices) trained on jackson + nicolas, tested on pairs of the unseen
theo + yweweler (``--sep-test`` mixtures, level difference U[0, 5] dB), against the IBM and IRM
oracles computed from the true sources.

Speed (``--part speed``): ``polysense.enhance.blockwise.denoise_file`` with the trained
``fsdd-denoise`` architecture on a 10-minute 8 kHz file with one intra-op thread; × real time =
audio seconds / wall seconds, best of ``--repeats``.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/enhancement.py --part denoise --folds theo``
(folds may run in parallel processes: ``--threads 1`` each); results accumulate per fold in
``benchmarks/enhancement.json``, ``--report`` rewrites the tables from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontend import write_section  # noqa: E402

from polysense.enhance.classical import oracle_enhance, spectral_subtraction, wiener_filter  # noqa: E402
from polysense.enhance.mixtures import NoisyMixtures, SpeakerPairs, load_utterances  # noqa: E402
from polysense.enhance.noise import NOISE_TYPES  # noqa: E402
from polysense.metrics.enhancement import concatenated_stoi, utterance_metrics  # noqa: E402
from polysense.losses.separation import pit_si_sdr_loss  # noqa: E402
from polysense.train.config import load_config  # noqa: E402
from polysense.train.run import load_run  # noqa: E402
from polysense.train.trainer import train  # noqa: E402

SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")
SNRS = (-5.0, 0.0, 5.0)
STATE = Path(__file__).with_name("enhancement.json")
RUNS = Path(os.environ.get("POLYSENSE_BENCH_RUNS", Path(tempfile.gettempdir()) / "polysense-enhancement-runs"))
#: model name -> (built-in config, overrides): one architecture, three objectives / targets
DENOISERS = {
    "unet_clean": ("fsdd-denoise", []),
    "unet_clean_l2": ("fsdd-denoise", ["model.loss=stft_l2"]),
    "unet_n2n": ("fsdd-denoise-n2n", []),
}


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(part: str, key: str | None, value) -> None:
    """Merge one result into the file (parts and folds may run in separate processes)."""
    current = load_state()
    if key is None:
        current[part] = value
    else:
        current.setdefault(part, {})[key] = value
    STATE.write_text(json.dumps(current, indent=1))


def train_config(name: str, overrides: list[str], run_dir: Path) -> tuple[torch.nn.Module, dict]:
    """Train a built-in config with the trainer into ``run_dir`` (fresh); the best-epoch model and what it took."""
    config = load_config(name, overrides)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    t0 = time.time()
    result = train(config, run_dir, quiet=True)
    info = {"config": name, "overrides": overrides, "train_s": time.time() - t0, "steps": result.steps,
            "epochs": result.epochs_run, "best_epoch": result.best_epoch, "best_metric": result.best_metric,
            "best_value": result.best_value, "model": config.model, "data": config.data,
            "val_curve": [round(float(h.get("si_sdri", float("nan"))), 3) for h in result.history]}
    print(f"  trained {name} {overrides}: {info['steps']} steps, {info['train_s'] / 60:.1f} min, "
          f"best epoch {info['best_epoch']} ({info['best_metric']} {info['best_value']:.2f})", flush=True)
    model = load_run(run_dir).model.eval()
    return model, info


def mfcc_features(waves: list[torch.Tensor]) -> np.ndarray:
    from polysense.signal.spectrogram import mfcc

    rows = []
    for w in waves:
        c = mfcc(w.double(), sample_rate=8000, n_mfcc=20, n_fft=256, hop_length=64, n_mels=40)
        rows.append(torch.cat([c.mean(-1), c.std(-1)]).numpy())
    return np.stack(rows)


def digit(utt_id: str) -> int:
    return int(utt_id.split("_")[0])


def denoise_fold(test_speaker: str, args) -> dict:
    train_spk = [s for s in SPEAKERS if s != test_speaker]
    parts = load_utterances(test_speakers=(test_speaker,), val_fraction=0.1)
    train_utts = parts["train"]
    rng = np.random.default_rng(0)
    test_utts = [parts["test"][i] for i in sorted(rng.choice(len(parts["test"]), args.test_utterances, replace=False))]
    pool = parts["train"] + parts["test"]
    result: dict = {"test_speaker": test_speaker, "train_speakers": train_spk, "methods": {}, "training": {}}
    models = {}
    for name, (config, extra) in DENOISERS.items():
        print(f"[{test_speaker}] training {name}", flush=True)
        overrides = [f"data.test_speakers=[{test_speaker}]", f"train.seed={args.seed}", f"train.epochs={args.epochs}",
                     *extra, *args.set]
        models[name], result["training"][name] = train_config(config, overrides, RUNS / f"{name}-{test_speaker}")
    methods = {
        "spectral_subtraction": lambda x, c: spectral_subtraction(x),
        "wiener": lambda x, c: wiener_filter(x),
        **{name: (lambda x, c, m=model: m.enhance(x)) for name, model in models.items()},
        "irm_oracle": lambda x, c: oracle_enhance(x, c, mask="irm"),
    }
    per: dict = {}
    noisy0: list[torch.Tensor] = []
    denoised0: list[torch.Tensor] = []
    ids0: list[str] = []
    for kind in NOISE_TYPES:
        for snr in SNRS:
            data = NoisyMixtures(test_utts, sample_rate=8000, split="test", seed=args.seed + 1, noise_types=(kind,),
                                 snr_db=snr, segment_s=None, babble_pool=pool)
            rows: dict[str, list] = {m: [] for m in methods}
            rows["input"] = []
            joined: dict[str, tuple[list, list]] = {m: ([], []) for m in rows}
            for i in range(len(data)):
                item = data[i]
                x, c = item["noisy"], item["clean"]
                rows["input"].append(utterance_metrics(x, c, x, sample_rate=8000, perceptual=True))
                joined["input"][0].append(x)
                joined["input"][1].append(c)
                with torch.no_grad():
                    for m, fn in methods.items():
                        est = fn(x, c)
                        rows[m].append(utterance_metrics(est, c, x, sample_rate=8000, perceptual=True))
                        joined[m][0].append(est)
                        joined[m][1].append(c)
                        if m == "unet_clean" and snr == 0.0:
                            denoised0.append(est)
                if snr == 0.0:
                    noisy0.append(x)
                    ids0.append(item["id"])
            for m, r in rows.items():
                per.setdefault(m, {})[f"{kind}@{snr:g}"] = {
                    **{k: float(np.mean([row[k] for row in r if k in row])) for k in ("si_sdri", "snri", "pesq")},
                    "stoi": concatenated_stoi(*joined[m], sample_rate=8000),
                }
            print(f"[{test_speaker}] {kind} {snr:+g} dB: " + ", ".join(
                f"{m} {per[m][f'{kind}@{snr:g}']['si_sdri']:.1f}" for m in methods), flush=True)
    result["methods"] = per
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(mfcc_features([u.audio for u in train_utts]), [digit(u.id) for u in train_utts])
    labels = [digit(i) for i in ids0]
    clean_labels = [digit(u.id) for u in test_utts]
    result["downstream"] = {
        "clean": float(np.mean(clf.predict(mfcc_features([u.audio for u in test_utts])) == clean_labels)),
        "noisy_0db": float(np.mean(clf.predict(mfcc_features(noisy0)) == labels)),
        "denoised_0db": float(np.mean(clf.predict(mfcc_features(denoised0)) == labels)),
    }
    print(f"[{test_speaker}] downstream {result['downstream']}", flush=True)
    return result


def separate_fold(test_speakers: tuple[str, str], args) -> dict:
    overrides = [f"data.test_speakers=[{test_speakers[0]},{test_speakers[1]}]", f"train.seed={args.seed}",
                 *args.sep_set]
    if args.sep_epochs:
        overrides.append(f"train.epochs={args.sep_epochs}")
    print(f"[sep {test_speakers}] training fsdd-separate {overrides}", flush=True)
    model, info = train_config("fsdd-separate", overrides, RUNS / f"separate-{'+'.join(test_speakers)}")
    parts = load_utterances(test_speakers=test_speakers, val_fraction=0.1)
    test = SpeakerPairs(parts["test"], sample_rate=8000, split="test", seed=args.seed + 1, level_db=(0.0, 5.0),
                        segment_s=None)
    rng = np.random.default_rng(0)
    idx = sorted(rng.choice(len(test), args.sep_test, replace=False))
    name = info["model"]["name"]
    rows: dict[str, list] = {name: [], "ibm_oracle": [], "irm_oracle": []}
    joined: dict[str, tuple[list, list]] = {m: ([], []) for m in rows}
    for i in idx:
        item = test[int(i)]
        mix, src = item["mixture"], item["sources"]
        with torch.no_grad():
            est = pit_si_sdr_loss(model.separate(mix).unsqueeze(0).double(), src.unsqueeze(0).double()).reordered[0]
        for s in range(2):
            rows[name].append(utterance_metrics(est[s], src[s], mix, sample_rate=8000))
            joined[name][0].append(est[s])
            joined[name][1].append(src[s])
            for mask in ("ibm", "irm"):
                oracle = oracle_enhance(mix, src[s], mask=mask)
                rows[f"{mask}_oracle"].append(utterance_metrics(oracle, src[s], mix, sample_rate=8000))
                joined[f"{mask}_oracle"][0].append(oracle)
                joined[f"{mask}_oracle"][1].append(src[s])
    out = {"test_speakers": list(test_speakers), "training": info, "model": name, "test_mixtures": len(idx),
           "methods": {m: {**{k: float(np.mean([row[k] for row in r if k in row])) for k in ("si_sdri", "pesq")},
                           "si_sdri_std": float(np.std([row["si_sdri"] for row in r])),
                           "stoi": concatenated_stoi(*joined[m], sample_rate=8000)} for m, r in rows.items()}}
    print(f"[sep] {json.dumps(out['methods'])}", flush=True)
    return out


def speed(args) -> dict:
    from polysense.audio import save
    from polysense.enhance.blockwise import denoise_file
    from polysense.models.registry import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model_config = dict(load_config("fsdd-denoise").model)
    model = build_model(dict(model_config)).eval()  # speed does not depend on the weights
    rng = np.random.default_rng(0)
    seconds = 600
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "long.wav"
        save(src, torch.from_numpy(0.1 * rng.standard_normal(seconds * 8000)).float(), 8000)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            denoise_file(model, src, Path(tmp) / "out.wav", sample_rate=8000)
            times.append(time.perf_counter() - t0)
    return {"audio_s": seconds, "wall_s": min(times), "x_realtime": seconds / min(times), "repeats": args.repeats,
            "model": model_config, "load": os.getloadavg()[1]}


# ----------------------------------------------------------------------------- report
def _ms(values, fmt: str = "{:.2f}") -> str:
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0 or not np.isfinite(arr).all():
        return "n/a"
    return f"{fmt.format(arr.mean())} ± {fmt.format(arr.std())}"


def _avg(folds: dict, method: str, snr: float, metric: str = "si_sdri") -> list[float]:
    """Per fold: the mean of ``metric`` over noise types at input ``snr``."""
    def value(f: dict, k: str) -> float:
        v = f["methods"][method][f"{k}@{snr:g}"][metric]
        return float("nan") if v is None else v  # STOI of too little audio

    return [float(np.mean([value(f, k) for k in NOISE_TYPES])) for f in folds.values()]


def report(state: dict, args) -> str:
    env = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {os.cpu_count()} cores"
    lines = ["<!-- enhancement:start -->", "## Enhancement: denoising and separation on FSDD (`benchmarks/enhancement.py`)",
             ""]
    folds = state.get("denoise", {})
    if folds:
        f0 = next(iter(folds.values()))
        tr = f0["training"]
        lines += [
            f"Leave-one-speaker-out over {len(folds)} fold(s) (test speaker: {', '.join(folds)}); per fold "
            f"{state.get('config', {}).get('test_utterances', '?')} test utterances × {len(NOISE_TYPES)} noise types × 3 SNRs, "
            "the same mixtures for every method. Each U-Net is a built-in config trained by `polysense.train` "
            f"(best validation epoch on held-out utterances of the training speakers; never the test speaker): "
            f"`unet_clean` = `fsdd-denoise` (SI-SDR loss), `unet_clean_l2` = the same with `model.loss=stft_l2`, "
            f"`unet_n2n` = `fsdd-denoise-n2n` (Noise2Noise targets, STFT L2); model `{tr['unet_clean']['model']}`, "
            f"{tr['unet_clean']['steps']} steps of batch 8 ({tr['unet_clean']['epochs']} epochs), "
            f"{np.mean([f['training']['unet_clean']['train_s'] for f in folds.values()]) / 60:.0f} min per model "
            f"(mean over folds). Mean ± std over folds. {env}.", ""]
        methods = ("spectral_subtraction", "wiener", *DENOISERS, "irm_oracle")
        for metric, title in (("si_sdri", "SI-SDR improvement (dB)"), ("stoi", "STOI"), ("pesq", "PESQ (NB)")):
            lines += [f"**{title}**, averaged over noise types:", "", "| method | −5 dB | 0 dB | 5 dB |", "|---|---|---|---|"]
            for m in (["input"] if metric != "si_sdri" else []) + list(methods):
                lines.append(f"| {m} | " + " | ".join(_ms(_avg(folds, m, snr, metric)) for snr in SNRS) + " |")
            lines.append("")
        lines += ["**SI-SDR improvement (dB) at 0 dB input, per noise type**:", "",
                  "| method | " + " | ".join(NOISE_TYPES) + " |", "|---|" + "---|" * len(NOISE_TYPES)]
        for m in methods:
            lines.append(f"| {m} | " + " | ".join(
                _ms([f["methods"][m][f"{k}@0"]["si_sdri"] for f in folds.values()], "{:.1f}") for k in NOISE_TYPES) + " |")
        lines.append("")
        clean0, l20, n2n0 = _avg(folds, "unet_clean", 0.0), _avg(folds, "unet_clean_l2", 0.0), _avg(folds, "unet_n2n", 0.0)

        def mean(m: str, snr: float) -> float:
            return float(np.mean(_avg(folds, m, snr)))

        learned = list(DENOISERS)
        above = all(min(mean(u, v) for u in learned) > max(mean("spectral_subtraction", v), mean("wiener", v))
                    for v in SNRS)
        per_type = sum(
            min(np.mean([f["methods"][u][f"{k}@0"]["si_sdri"] for f in folds.values()]) for u in learned)
            > max(np.mean([f["methods"][c][f"{k}@0"]["si_sdri"] for f in folds.values()])
                  for c in ("spectral_subtraction", "wiener"))
            for k in NOISE_TYPES)
        lines += [f"Goals at 0 dB input: `unet_clean` {_ms(clean0)} dB SI-SDRi averaged over noise types (goal ≥ 10: "
                  f"{'met' if np.mean(clean0) >= 10 else 'not met'}); Noise2Noise − its clean-target twin "
                  f"(`unet_n2n` − `unet_clean_l2`, same loss) = {_ms(np.subtract(n2n0, l20))} dB (goal within 1 dB: "
                  f"{'met' if abs(np.mean(np.subtract(n2n0, l20))) <= 1 else 'not met'}). Every learned model above both "
                  f"classical baselines, averaged over noise types, at every input SNR: {'yes' if above else 'no'}; "
                  f"per noise type at 0 dB: {per_type} of {len(NOISE_TYPES)}.", ""]
        curves = "; ".join(f"{spk}: " + ", ".join(f"{v:.1f}" for v in f["training"]["unet_clean"]["val_curve"])
                           for spk, f in folds.items())
        lines += [f"Validation SI-SDRi of `unet_clean` per epoch (training speakers' held-out utterances, "
                  f"random −5…5 dB): {curves}.", ""]
        lines += ["**Downstream digit accuracy** (MFCC + logistic regression trained on clean training speakers; "
                  "0 dB = every noise type; denoised by `unet_clean`):", "", "| input | accuracy |", "|---|---|"]
        for k in ("clean", "noisy_0db", "denoised_0db"):
            lines.append(f"| {k} | {_ms([f['downstream'][k] for f in folds.values()], '{:.3f}')} |")
        lines.append("")
    for key, s in state.get("separate", {}).items():
        tr = s["training"]
        voices = tr.get("data", {}).get("synthetic_voices")
        extra = f" plus {voices} espeak-ng voices" if voices else ""
        lines += [f"**Separation** of two unseen speakers ({' + '.join(s['test_speakers'])}; trained on the other "
                  f"two{extra}): `fsdd-separate` "
                  f"{' '.join(tr['overrides'][1:])} (model `{tr['model']}`), trained by `polysense.train` for "
                  f"{tr['steps']} steps in {tr['train_s'] / 60:.1f} min on this CPU (best validation epoch "
                  f"{tr['best_epoch']} of {tr['epochs']}); {s['test_mixtures']} test mixtures of whole utterances (the "
                  "same for every row), level difference U[0, 5] dB; one fold, so ± is over mixtures' sources, not "
                  "folds. Anchor: Conv-TasNet 14.7 dB SI-SNRi on Libri2Mix 8 kHz (GPU, hundreds of hours); "
                  "goal here ≥ 10 dB in under 20 min of CPU training.", "",
                  "| method | SI-SDRi (dB) | STOI (joined) | PESQ |", "|---|---|---|---|"]
        for m, row in s["methods"].items():
            lines.append(f"| {m} | {row['si_sdri']:.2f} ± {row['si_sdri_std']:.2f} | {row['stoi']:.3f} | "
                         f"{row['pesq']:.2f} |")
        lines += ["", "Validation SI-SDRi per epoch (held-out pairs of the training speakers): "
                  + ", ".join(f"{v:.1f}" for v in tr["val_curve"]) + ".", ""]
    seps = state.get("separate", {})
    base = next((s for k, s in seps.items() if "|" not in k), None)
    plain = next((s for k, s in seps.items() if "data.synthetic_voices=0" in k), None)
    if base and plain:
        name = base["model"]
        lines += [f"Synthetic voices, ablated: without the espeak-ng voices the separator reaches "
                  f"{max(plain['training']['val_curve']):.1f} dB on held-out pairs of its two training speakers but "
                  f"{plain['methods'][name]['si_sdri']:.2f} dB on the unseen pair; with them "
                  f"{max(base['training']['val_curve']):.1f} and {base['methods'][name]['si_sdri']:.2f} dB. Two real "
                  "speakers teach which voice is which, not how to separate voices (the ablation ran with 2 threads "
                  "and nothing else, hence its shorter time).", ""]
    sp = state.get("speed")
    if sp:
        lines += [f"**Speed**: `denoise_file` (the `fsdd-denoise` U-Net, blockwise overlap-add, 4-s windows) on a "
                  f"{sp['audio_s'] / 60:.0f}-minute 8 kHz file, one thread (load average {sp.get('load', 0):.1f}): "
                  f"{sp['x_realtime']:.0f}× real time ({sp['wall_s']:.1f} s, best of {sp['repeats']}).", ""]
    lines.append("<!-- enhancement:end -->")
    text = "\n".join(lines)
    if not args.no_write:
        write_section(text, "<!-- enhancement:start -->", "<!-- enhancement:end -->")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("denoise", "separate", "speed", "all"), default="all")
    parser.add_argument("--folds", default=",".join(SPEAKERS), help="test speakers of the denoising folds")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs of each U-Net (the config's 4 by default)")
    parser.add_argument("--set", action="append", default=[], help="extra config override for the U-Nets")
    parser.add_argument("--sep-folds", default="theo+yweweler")
    parser.add_argument("--sep-epochs", type=int, default=0, help="separator epochs (0: the config's)")
    parser.add_argument("--sep-set", action="append", default=[], help="extra config override for the separator")
    parser.add_argument("--sep-test", type=int, default=100)
    parser.add_argument("--test-utterances", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="only rewrite the tables from enhancement.json")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.report:
        save_state("config", None, {"test_utterances": args.test_utterances, "epochs": args.epochs, "seed": args.seed})
        if args.part in ("denoise", "all"):
            for spk in args.folds.split(","):
                save_state("denoise", spk, denoise_fold(spk, args))
        if args.part in ("separate", "all"):
            for pair in args.sep_folds.split(","):
                a, b = pair.split("+")
                key = pair + (f"|{' '.join(args.sep_set)}" if args.sep_set else "")  # ablations beside the config's run
                save_state("separate", key, separate_fold((a, b), args))
        if args.part in ("speed", "all"):
            save_state("speed", None, speed(args))
    print(report(load_state(), args))


if __name__ == "__main__":
    main()
