"""Denoising and two-speaker separation on FSDD, speaker-independent (issue 11).

Denoising (``--part denoise``): leave-one-speaker-out over FSDD's 4 speakers: train on three, test on
the fourth, rotating. Per fold, two ``mask_unet`` models are trained from scratch with the same
architecture, loss (``stft_l2``), steps and seed: one on clean targets, one on Noise2Noise targets
(an independently noised copy of the same utterance). Test mixtures: ``--test-utterances`` of the
held-out speaker per (noise type, input SNR ∈ {−5, 0, 5} dB), the same mixtures for every method:
spectral subtraction, Wiener (decision-directed), the two U-Nets and the IRM oracle. Reported: mean
± std over folds of the per-fold mean SI-SDR improvement, STOI and PESQ (narrowband, 8 kHz).
No selection is made on the test speaker: the weights after the last step are tested.

Downstream: an MFCC (20 coefficients, mean and std over time) + logistic-regression digit classifier
trained on the clean utterances of the training speakers; its accuracy on the test speaker's
utterances clean, at 0 dB (all noise types), and denoised by the clean-target U-Net.

Separation (``--part separate``): ``conv_tasnet`` trained with PIT SI-SDR on pairs of the two
training speakers, tested on pairs of the two held-out ones, against the IBM and IRM oracles
(per source, from the true sources).

Longer training (``--part long``): one clean-target U-Net on one fold for ``--long-steps`` steps with
``--long-loss`` / ``--long-channels``, SI-SDRi at 0 dB per noise type (no perceptual metrics): how far
the small runs above are from converged, and what the ``fsdd-denoise`` config (si_sdr, [16, 32, 64]) reaches.

Speed (``--part speed``): ``polysense.enhance.blockwise.denoise_file`` on a 10-minute 8 kHz file
with one intra-op thread; × real time = audio seconds / wall seconds, best of ``--repeats``.

The training loop here is a plain Adam loop over random training items (the engine's trainer was
not on main when this was written); the model, data and objective are the registered ones.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/enhancement.py --part all``; per-fold results
accumulate in ``benchmarks/enhancement.json`` (``--report`` rewrites the tables from it).
"""

from __future__ import annotations

import argparse
import json
import math
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

from polysense.enhance.classical import oracle_enhance, spectral_subtraction, wiener_filter  # noqa: E402
from polysense.enhance.mixtures import NoisyMixtures, SpeakerPairs, collate_mixtures, load_utterances  # noqa: E402
from polysense.enhance.noise import NOISE_TYPES  # noqa: E402
from polysense.evaluate.enhancement import concatenated_stoi, utterance_metrics  # noqa: E402
from polysense.models.registry import build_model  # noqa: E402

SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")
SNRS = (-5.0, 0.0, 5.0)
STATE = Path(__file__).with_name("enhancement.json")
UNET = {"name": "mask_unet", "channels": [8, 16, 32], "loss": "stft_l2"}
TASNET = {"name": "conv_tasnet", "enc_channels": 64, "bottleneck": 64, "hidden": 96, "blocks": 6, "repeats": 2}


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict, part: str, key: str | None, value) -> None:
    """Merge one result into the file (parts may run in separate processes) and into ``state``."""
    current = load_state()
    for target in (current, state):
        if key is None:
            target[part] = value
        else:
            target.setdefault(part, {})[key] = value
    STATE.write_text(json.dumps(current, indent=1))


def fit(model: torch.nn.Module, dataset, *, steps: int, batch_size: int, lr: float, seed: int,
        budget_s: float | None = None) -> list[float]:
    """Adam + one-cycle schedule over random items; stops early (schedule cut short) past ``budget_s``."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    losses = []
    t0 = time.time()
    for step in range(steps):
        if budget_s is not None and time.time() - t0 > budget_s:
            print(f"  time budget reached after {step} steps", flush=True)
            break
        idx = torch.randint(len(dataset), (batch_size,), generator=gen).tolist()
        out = model(collate_mixtures([dataset[i] for i in idx]))
        if budget_s is not None:  # cosine decay over the time budget (steps are not known in advance)
            frac = min((time.time() - t0) / budget_s, 1.0)
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if budget_s is None:
            sched.step()
        losses.append(float(out.loss.detach()))
        if step % 50 == 0:
            print(f"  step {step} loss {np.mean(losses[-50:]):.3f}", flush=True)
    model.eval()
    return losses


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
    result: dict = {"test_speaker": test_speaker, "train_speakers": train_spk, "methods": {}}
    models = {}
    for name, n2n in (("unet_clean", False), ("unet_n2n", True)):
        print(f"[{test_speaker}] training {name}", flush=True)
        torch.manual_seed(args.seed)
        model = build_model(dict(UNET))
        data = NoisyMixtures(train_utts, sample_rate=8000, split="train", seed=args.seed, snr_db=(-5.0, 5.0),
                             segment_s=args.segment, n2n=n2n, repeats=1000, babble_pool=train_utts)
        t0 = time.time()
        losses = fit(model, data, steps=args.steps, batch_size=args.batch, lr=args.lr, seed=args.seed)
        result[f"{name}_train_s"] = time.time() - t0
        result[f"{name}_final_loss"] = float(np.mean(losses[-50:]))
        models[name] = model
    methods = {
        "spectral_subtraction": lambda x, c: spectral_subtraction(x),
        "wiener": lambda x, c: wiener_filter(x),
        "unet_clean": lambda x, c: models["unet_clean"].enhance(x),
        "unet_n2n": lambda x, c: models["unet_n2n"].enhance(x),
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
                    # STOI over the condition's utterances joined: one digit is too short for STOI alone
                    "stoi": concatenated_stoi(*joined[m], sample_rate=8000),
                }
            print(f"[{test_speaker}] {kind} {snr:+g} dB: " + ", ".join(
                f"{m} {per[m][f'{kind}@{snr:g}']['si_sdri']:.1f}" for m in methods), flush=True)
    result["methods"] = per
    # downstream digit classification
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


def long_run(test_speaker: str, args) -> dict:
    """One clean-target U-Net trained ``--long-steps`` steps: how SI-SDRi at 0 dB grows with training."""
    parts = load_utterances(test_speakers=(test_speaker,), val_fraction=0.1)
    rng = np.random.default_rng(0)
    test_utts = [parts["test"][i] for i in sorted(rng.choice(len(parts["test"]), args.test_utterances, replace=False))]
    torch.manual_seed(args.seed)
    config = {**UNET, "loss": args.long_loss, "channels": [int(c) for c in args.long_channels.split(",")]}
    model = build_model(dict(config))
    data = NoisyMixtures(parts["train"], sample_rate=8000, split="train", seed=args.seed, snr_db=(-5.0, 5.0),
                         segment_s=args.segment, repeats=1000, babble_pool=parts["train"])
    print(f"[long {test_speaker}] training {config} for {args.long_steps} steps", flush=True)
    t0 = time.time()
    fit(model, data, steps=args.long_steps, batch_size=args.batch, lr=args.lr, seed=args.seed)
    train_s = time.time() - t0
    per = {}
    for kind in NOISE_TYPES:
        test = NoisyMixtures(test_utts, sample_rate=8000, split="test", seed=args.seed + 1, noise_types=(kind,),
                             snr_db=0.0, segment_s=None, babble_pool=parts["train"] + parts["test"])
        with torch.no_grad():
            per[kind] = float(np.mean([utterance_metrics(model.enhance(it["noisy"]), it["clean"], it["noisy"],
                                                         sample_rate=8000, perceptual=False)["si_sdri"]
                                       for it in (test[i] for i in range(len(test)))]))
    out = {"test_speaker": test_speaker, "steps": args.long_steps, "train_s": train_s, "si_sdri_0db": per,
           "model": config,
           "mean": float(np.mean(list(per.values())))}
    print(f"[long] {out}", flush=True)
    return out


def separate_fold(test_speakers: tuple[str, str], args) -> dict:
    parts = load_utterances(test_speakers=test_speakers, val_fraction=0.1)
    torch.manual_seed(args.seed)
    model = build_model(dict(TASNET))
    data = SpeakerPairs(parts["train"], sample_rate=8000, split="train", seed=args.seed, level_db=(0.0, 5.0),
                        segment_s=args.segment, repeats=1000, same_speaker_p=args.same_speaker_p)
    t0 = time.time()
    print(f"[sep {test_speakers}] training conv_tasnet", flush=True)
    losses = fit(model, data, steps=args.sep_steps, batch_size=args.batch, lr=args.sep_lr, seed=args.seed,
                 budget_s=args.sep_minutes * 60)
    train_s = time.time() - t0
    test = SpeakerPairs(parts["test"], sample_rate=8000, split="test", seed=args.seed + 1, level_db=(0.0, 5.0),
                        segment_s=None)
    rng = np.random.default_rng(0)
    idx = sorted(rng.choice(len(test), args.sep_test, replace=False))
    rows: dict[str, list] = {"conv_tasnet": [], "ibm_oracle": [], "irm_oracle": []}
    joined: dict[str, tuple[list, list]] = {m: ([], []) for m in rows}
    from polysense.losses.separation import pit_si_sdr_loss

    for i in idx:
        item = test[int(i)]
        mix, src = item["mixture"], item["sources"]
        with torch.no_grad():
            est = pit_si_sdr_loss(model.separate(mix).unsqueeze(0).double(), src.unsqueeze(0).double()).reordered[0]
        for s in range(2):
            rows["conv_tasnet"].append(utterance_metrics(est[s], src[s], mix, sample_rate=8000))
            joined["conv_tasnet"][0].append(est[s])
            joined["conv_tasnet"][1].append(src[s])
            for mask in ("ibm", "irm"):
                oracle = oracle_enhance(mix, src[s], mask=mask)
                rows[f"{mask}_oracle"].append(utterance_metrics(oracle, src[s], mix, sample_rate=8000))
                joined[f"{mask}_oracle"][0].append(oracle)
                joined[f"{mask}_oracle"][1].append(src[s])
    out = {"test_speakers": list(test_speakers), "train_s": train_s, "same_speaker_p": args.same_speaker_p, "final_loss": float(np.mean(losses[-50:])), "steps": len(losses),
           "methods": {m: {**{k: float(np.mean([row[k] for row in r if k in row])) for k in ("si_sdri", "pesq")},
                           "stoi": concatenated_stoi(*joined[m], sample_rate=8000)} for m, r in rows.items()}}
    print(f"[sep] {out}", flush=True)
    return out


def speed(args) -> dict:
    from polysense.audio import save
    from polysense.enhance.blockwise import denoise_file

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(dict(UNET)).eval()
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
    return {"audio_s": seconds, "wall_s": min(times), "x_realtime": seconds / min(times), "repeats": args.repeats}


def _ms(values: list[float], fmt: str = "{:.2f}") -> str:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or not np.isfinite(arr).all():
        return "n/a"
    return f"{fmt.format(arr.mean())} ± {fmt.format(arr.std())}"


def report(state: dict, args) -> None:
    """The tables; each part is described by the settings it ran with (``config_<part>``), or, for
    results recorded without them, by this invocation's arguments."""
    fallback = {k: getattr(args, k) for k in ("steps", "batch", "lr", "sep_steps", "sep_lr", "sep_test", "sep_minutes",
                                               "segment", "test_utterances", "seed", "long_steps")}
    folds = state.get("denoise", {})
    state = {**state, "config": state.get("config_denoise", fallback)}
    env = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {os.cpu_count()} cores (shared)"
    lines = ["<!-- enhancement:start -->", "## Enhancement: denoising and separation on FSDD (`benchmarks/enhancement.py`)", ""]
    if folds:
        f0 = next(iter(folds.values()))
        lines += [f"Leave-one-speaker-out over {len(folds)} fold(s) (test speaker: {', '.join(folds)}); "
                  f"per fold {state['config']['test_utterances']} test utterances × {len(NOISE_TYPES)} noise types × "
                  f"3 SNRs. U-Nets: `{UNET}`, {state['config']['steps']} Adam steps of batch "
                  f"{state['config']['batch']} ({state['config']['segment']}-s segments, noise types mixed, SNR U[−5, 5] dB), ~"
                  f"{f0.get('unet_clean_train_s', 0) / 60:.0f} min each on the shared CPU. Mean ± std over folds. {env}.",
                  ""]
        methods = ("spectral_subtraction", "wiener", "unet_clean", "unet_n2n", "irm_oracle")
        for metric, title in (("si_sdri", "SI-SDR improvement (dB)"), ("stoi", "STOI"), ("pesq", "PESQ (NB)")):
            lines += [f"**{title}**, averaged over noise types:", "",
                      "| method | −5 dB | 0 dB | 5 dB |", "|---|---|---|---|"]
            rows = (["input"] if metric != "si_sdri" else []) + list(methods)
            for m in rows:
                cells = []
                for snr in SNRS:
                    per_fold = [np.mean([f["methods"][m][f"{k}@{snr:g}"][metric] for k in NOISE_TYPES]) for f in folds.values()]
                    cells.append(_ms(per_fold))
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += ["**SI-SDR improvement (dB) at 0 dB input, per noise type**:", "",
                  "| method | " + " | ".join(NOISE_TYPES) + " |", "|---|" + "---|" * len(NOISE_TYPES)]
        for m in methods:
            lines.append(f"| {m} | " + " | ".join(
                _ms([f["methods"][m][f"{k}@0"]["si_sdri"] for f in folds.values()], "{:.1f}") for k in NOISE_TYPES) + " |")
        lines.append("")
        clean0 = [np.mean([f["methods"]["unet_clean"][f"{k}@0"]["si_sdri"] for k in NOISE_TYPES]) for f in folds.values()]
        n2n0 = [np.mean([f["methods"]["unet_n2n"][f"{k}@0"]["si_sdri"] for k in NOISE_TYPES]) for f in folds.values()]
        def avg(m: str, snr: float) -> float:
            return float(np.mean([[f["methods"][m][f"{k}@{snr:g}"]["si_sdri"] for k in NOISE_TYPES] for f in folds.values()]))

        above = all(min(avg("unet_clean", v), avg("unet_n2n", v)) > max(avg("spectral_subtraction", v), avg("wiener", v))
                    for v in SNRS)
        per_type = sum(
            min(np.mean([f["methods"][u][f"{k}@0"]["si_sdri"] for f in folds.values()]) for u in ("unet_clean", "unet_n2n"))
            > max(np.mean([f["methods"][c][f"{k}@0"]["si_sdri"] for f in folds.values()]) for c in ("spectral_subtraction", "wiener"))
            for k in NOISE_TYPES)
        lines += [f"Goals at 0 dB input: U-Net (clean targets) {_ms(clean0)} dB SI-SDRi (goal ≥ 10); "
                  f"Noise2Noise − clean = {_ms(np.subtract(n2n0, clean0))} dB (goal within 1 dB). Both U-Nets above both "
                  f"classical baselines in SI-SDRi averaged over noise types at every input SNR: {'yes' if above else 'no'}; "
                  f"per noise type at 0 dB: {per_type} of {len(NOISE_TYPES)}.", ""]
        for key, lr_ in state.get("long", {}).items():
            spk = lr_["test_speaker"]
            model = lr_.get("model", UNET)
            same = folds.get(spk)
            short = (f"; the {state['config']['steps']}-step model of the same fold: "
                     f"{np.mean([same['methods']['unet_clean'][f'{k}@0']['si_sdri'] for k in NOISE_TYPES]):.2f} dB"
                     if same else "")
            lines += [f"Longer training (fold {spk}, clean targets, `{model['loss']}` loss, channels {model['channels']}, "
                      f"{lr_['steps']} steps, "
                      f"{lr_['train_s'] / 60:.0f} min): {lr_['mean']:.2f} dB SI-SDRi at 0 dB averaged over noise types "
                      f"({', '.join(f'{k} {v:.1f}' for k, v in lr_['si_sdri_0db'].items())}){short}.", ""]
        lines += ["**Downstream digit accuracy** (MFCC + logistic regression trained on clean training speakers; "
                  "0 dB = every noise type):", "", "| input | accuracy |", "|---|---|"]
        for k in ("clean", "noisy_0db", "denoised_0db"):
            lines.append(f"| {k} | {_ms([f['downstream'][k] for f in folds.values()], '{:.3f}')} |")
        lines.append("")
    sep = state.get("separate", {})
    state["config"] = state.get("config_separate", fallback)
    if sep:
        s0 = next(iter(sep.values()))
        lines += [f"**Separation** of two unseen speakers ({s0['test_speakers'][0]} + {s0['test_speakers'][1]}; "
                  f"trained on the other two): `{TASNET}`, batch {state['config']['batch']} "
                  f"({state['config']['segment']}-s segments), trained for a {state['config']['sep_minutes']:g}-min "
                  f"time budget on the shared CPU; {state['config']['sep_test']} test mixtures (the same for every row), "
                  "level difference U[0, 5] dB; one fold, so no ± over folds. Anchor: Conv-TasNet 14.7 dB SI-SNRi on "
                  "Libri2Mix 8 kHz (GPU, hundreds of hours); goal here ≥ 10 dB.", "",
                  "| method | training pairs | steps | SI-SDRi (dB) | STOI (joined) | PESQ |", "|---|---|---|---|---|---|"]
        for f in sep.values():
            p = f.get("same_speaker_p", 0.0)
            pairs = "different speakers" if p == 0 else f"{p:.0%} same-speaker"
            row = f["methods"]["conv_tasnet"]
            lines.append(f"| conv_tasnet | {pairs} | {f.get('steps', '?')} | {row['si_sdri']:.2f} | {row['stoi']:.3f} | "
                         f"{row['pesq']:.2f} |")
        for m in ("ibm_oracle", "irm_oracle"):
            row = s0["methods"][m]
            lines.append(f"| {m} | – | – | {row['si_sdri']:.2f} | {row['stoi']:.3f} | {row['pesq']:.2f} |")
        lines.append("")
    sp = state.get("speed")
    if sp:
        lines += [f"**Speed**: `denoise_file` (mask_unet {UNET['channels']}, blockwise overlap-add) on a "
                  f"{sp['audio_s'] / 60:.0f}-minute 8 kHz file, one thread on the shared machine (other jobs running): "
                  f"{sp['x_realtime']:.0f}× real time "
                  f"({sp['wall_s']:.1f} s, best of {sp['repeats']}).", ""]
    lines.append("<!-- enhancement:end -->")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(text, "<!-- enhancement:start -->", "<!-- enhancement:end -->")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("denoise", "separate", "speed", "long", "all"), default="all")
    parser.add_argument("--long-steps", type=int, default=1400)
    parser.add_argument("--long-fold", default="theo")
    parser.add_argument("--long-loss", default="stft_l2")
    parser.add_argument("--long-channels", default="8,16,32")
    parser.add_argument("--folds", default=",".join(SPEAKERS), help="test speakers of the denoising folds")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--sep-steps", type=int, default=1500)
    parser.add_argument("--sep-lr", type=float, default=2e-3)
    parser.add_argument("--sep-test", type=int, default=100)
    parser.add_argument("--sep-minutes", type=float, default=20.0, help="training time budget of the separator")
    parser.add_argument("--segment", type=float, default=0.5, help="training segment length (s)")
    parser.add_argument("--sep-folds", default="theo+yweweler")
    parser.add_argument("--same-speaker-p", type=float, default=0.0,
                        help="share of same-speaker training pairs (result key gets '|same=P')")
    parser.add_argument("--test-utterances", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="only rewrite the tables from enhancement.json")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    state = load_state()
    if not args.report:
        used = {k: getattr(args, k) for k in ("steps", "batch", "lr", "sep_steps", "sep_lr", "sep_test", "sep_minutes",
                                              "segment", "test_utterances", "seed", "long_steps")}
        for part in (("denoise", "separate") if args.part == "all" else (args.part,)):
            save_state(state, f"config_{part}", None, used)
        if args.part in ("denoise", "all"):
            for spk in args.folds.split(","):
                save_state(state, "denoise", spk, denoise_fold(spk, args))
                report(state, args)
        if args.part in ("separate", "all"):
            for pair in args.sep_folds.split(","):
                a, b = pair.split("+")
                key = pair if args.same_speaker_p == 0 else f"{pair}|same={args.same_speaker_p:g}"
                save_state(state, "separate", key, separate_fold((a, b), args))
                report(state, args)
        if args.part == "long":
            key = args.long_fold
            if (args.long_loss, args.long_channels) != ("stft_l2", "8,16,32"):
                key = f"{key}|{args.long_loss}|{args.long_channels}"
            save_state(state, "long", key, long_run(args.long_fold, args))
        if args.part in ("speed", "all"):
            save_state(state, "speed", None, speed(args))
    report(load_state(), args)


if __name__ == "__main__":
    main()
