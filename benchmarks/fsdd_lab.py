"""Experiment loop for the FSDD unseen-speaker study (hand loop over the library's model code).

Used to run the ablation while the trainer was not yet on main; `fsdd_digits.py` is the benchmark.
Each run: test speaker T, validation speaker V (epoch chosen on V), training on the other
FSDD speakers (+ espeak-ng voices when asked). Writes one JSON line per run to --log.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from torch import nn

from polysense.data.collate import collate
from polysense.models.registry import build

SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")


def load_fsdd(folder: str) -> dict[str, list[tuple[torch.Tensor, int]]]:
    data: dict[str, list] = {s: [] for s in SPEAKERS}
    for p in sorted(Path(folder).glob("*.wav")):
        digit, speaker, _ = p.stem.split("_")
        x, sr = sf.read(p, dtype="float32")
        assert sr == 8000
        data[speaker].append((torch.from_numpy(x), int(digit)))
    if not all(data.values()):
        raise SystemExit(f"{folder}: FSDD recordings of {SPEAKERS} not found; set POLYSENSE_FSDD to their folder")
    return data


def load_tts(folder: str | None, max_voices: int | None = None) -> list[tuple[torch.Tensor, int]]:
    if not folder:
        return []
    from polysense.data.espeak import read_espeak_folder

    return read_espeak_folder(folder, max_voices=max_voices)


def batches(items, batch_size, generator=None, shuffle=False):
    """Batches of similar lengths (less padding: FSDD runs from 0.14 to 2.3 s), in random order when shuffling."""
    lengths = torch.tensor([len(x) for x, _ in items], dtype=torch.float64)
    if shuffle:  # jitter the sort so batches differ between epochs
        lengths = lengths * (1 + 0.3 * torch.rand(len(items), generator=generator, dtype=torch.float64))
    order = torch.argsort(lengths, stable=True).tolist()
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]
    for idx in chunks:
        chunk = [items[j] for j in idx]
        b = collate([{"audio": x, "sample_rate": 8000, "label": y} for x, y in chunk])
        yield b["audio"], b["audio_mask"], b["label"]


class Net(nn.Module):
    def __init__(self, encoder_cfg):
        super().__init__()
        self.encoder = build("encoder", copy.deepcopy(encoder_cfg))
        self.head = nn.Linear(self.encoder.dim, 10)

    def forward(self, audio, mask):
        return self.head(self.encoder(audio, mask).pooled)


@torch.no_grad()
def predict(model, items):
    model.eval()
    out, order = [], []
    lengths = torch.tensor([len(x) for x, _ in items])
    for a, m, _ in batches(items, 128):
        out.append(F.softmax(model(a, m), -1))
    probs = torch.cat(out)
    result = torch.empty_like(probs)
    result[torch.argsort(lengths.double(), stable=True)] = probs  # back to the items' order
    return result


def train_one(cfg, train_items, val_items, test_items, seed):
    torch.manual_seed(seed)
    enc = copy.deepcopy(cfg["encoder"])
    enc.setdefault("frontend", {})
    if isinstance(enc["frontend"], dict):
        enc["frontend"] = {**enc["frontend"], "seed": seed}
    model = Net(enc)
    epochs = cfg.get("epochs", 30)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.get("lr", 3e-3), weight_decay=cfg.get("weight_decay", 1e-2))
    steps = epochs * ((len(train_items) + cfg.get("batch_size", 64) - 1) // cfg.get("batch_size", 64))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.get("lr", 3e-3), total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    yv = torch.tensor([y for _, y in val_items])
    best = (-1.0, None, -1)
    patience = cfg.get("patience", 1000)
    for epoch in range(epochs):
        model.train()
        for a, m, y in batches(train_items, cfg.get("batch_size", 64), g, shuffle=True):
            loss = F.cross_entropy(model(a, m), y, label_smoothing=cfg.get("label_smoothing", 0.0))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        pv = predict(model, val_items)
        acc = float((pv.argmax(-1) == yv).float().mean())
        if acc > best[0]:
            best = (acc, copy.deepcopy(model.state_dict()), epoch)
        elif epoch - best[2] >= patience:
            break
    model.load_state_dict(best[1])
    return predict(model, test_items), best[0], best[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="JSON of {encoder:..., epochs, lr, ...}")
    ap.add_argument("--name", required=True)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--tests", default=",".join(SPEAKERS))
    ap.add_argument("--inner", default="all", help="'all' val speakers per test speaker, or 'one'")
    ap.add_argument("--tts", default=None)
    ap.add_argument("--tts-voices", type=int, default=None)
    ap.add_argument("--val-tts", type=int, default=0,
                    help="validate on this many held-out espeak voices (after --tts-voices) and train on all 3 "
                         "non-test FSDD speakers instead of holding one out")
    ap.add_argument("--log", default="benchmarks/fsdd_lab.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = json.loads(args.config)
    data = load_fsdd(os.environ.get("POLYSENSE_FSDD", "/work/shared/data/fsdd/recordings"))
    tts = load_tts(args.tts, args.tts_voices)
    val_tts = []
    if args.val_tts:
        val_tts = load_tts(args.tts, args.tts_voices + args.val_tts)[len(tts):]
    for seed in [int(s) for s in args.seeds.split(",")]:
        for test in args.tests.split(","):
            others = [s for s in SPEAKERS if s != test]
            vals = others if args.inner == "all" else [others[(SPEAKERS.index(test) + seed) % 3]]
            if args.val_tts:
                vals = ["tts"]
            yt = torch.tensor([y for _, y in data[test]])
            probs, singles = [], []
            for val in vals:
                train_items = [it for s in others if s != val for it in data[s]] + tts
                t0 = time.time()
                if val == "tts":
                    train_items = [it for s in others for it in data[s]] + tts
                p, vacc, ep = train_one(cfg, train_items, val_tts if val == "tts" else data[val], data[test], seed)
                acc = float((p.argmax(-1) == yt).float().mean())
                singles.append(acc)
                probs.append(p)
                print(f"{args.name} seed={seed} test={test} val={val} val_acc={vacc:.3f} epoch={ep} "
                      f"test_acc={acc:.3f} ({time.time() - t0:.0f}s)", flush=True)
            ens = float((torch.stack(probs).mean(0).argmax(-1) == yt).float().mean())
            rec = dict(name=args.name, seed=seed, test=test, vals=vals, singles=singles, ensemble=ens,
                       config=cfg, tts=args.tts, tts_voices=args.tts_voices)
            with open(args.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print(f"{args.name} seed={seed} test={test} single={np.mean(singles):.3f} ensemble={ens:.3f}", flush=True)


if __name__ == "__main__":
    main()
