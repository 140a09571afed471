"""``report.md`` of a run: its config, its metrics and the figures that show them.

Figures (``figures/`` in the run folder), each drawn from computed data:

- ``curves.png``: training loss per logged step and the validation metrics per epoch, with
  the selected (best) epoch marked;
- ``confusion.png``: the confusion matrix of the evaluated split (classifiers);
- ``similarity.png``: cosine similarities between the first items' embeddings of two
  modalities (embedding models);
- ``retrieval.png``: a few queries with their top results, each shown as its spectrogram or
  image, the correct ones marked;
- ``generation.png``: for a generator (``kind`` "generator", e.g. ``specgan``), one real clip
  of each class of the evaluated split over a generated one of the same class, in the generator's
  own spectrogram representation; one generated clip per class is written to ``samples/`` to listen to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from polysense.data.registry import DataSplits
from polysense.evaluate.runner import evaluate_run
from polysense.signal import log_mel_spectrogram
from polysense.train.run import RunFolder, run_data

__all__ = ["summary_lines", "write_report"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(metrics: list[dict[str, Any]], path: Path, *, best_epoch: int | None, select: str | None) -> Path | None:
    train = [m for m in metrics if m.get("split") == "train" and "loss" in m]
    val = [m for m in metrics if m.get("split") == "val"]
    if not train and not val:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    if train:
        left.plot([m["step"] for m in train], [m["loss"] for m in train], label="train loss (logged steps)")
    if val and "loss" in val[0]:
        left.plot([m["step"] for m in val], [m["loss"] for m in val], "o-", label="val loss (epochs)")
    left.set_xlabel("optimiser step")
    left.set_ylabel("loss")
    left.legend(fontsize=8)
    left.set_title("loss")
    shown = [k for k in ("accuracy", "macro_f1", "r1") if val and k in val[0]]
    bounded = bool(shown)  # these live in [0, 1]
    selected = (select or "").removeprefix("val/")
    if not shown and selected not in ("", "loss") and val and selected in val[0]:
        shown = [selected]  # the metric that chose the epoch (e.g. a denoiser's si_sdri in dB), on its own scale
    for key in shown:
        right.plot([m["epoch"] for m in val], [m[key] for m in val], "o-", label=f"val {key}")
    if best_epoch is not None and shown:
        right.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best epoch ({select})")
    right.set_xlabel("epoch")
    if bounded:
        right.set_ylim(0, 1.02)
    right.set_title("validation")
    if shown:
        right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_generation(run_dir: Path, split_data: Any, path: Path, samples: Path) -> tuple[Path, list[Path]] | None:
    """Real (top) and generated (bottom) normalised log-magnitude spectrograms per class, and one
    generated WAV per class in ``samples``; None when the run's model does not generate.
    ``split_data()`` gives the evaluated split's dataset (called only for a generator)."""
    import re

    from polysense.audio import save
    from polysense.data.takes import fixed_length
    from polysense.train.run import load_run

    from polysense.models.registry import builder
    from polysense.train.run import read_run_config

    if getattr(builder("model", read_run_config(run_dir)["model"]["name"]), "kind", None) != "generator":
        return None  # decided from the registered class: no second load of a model that does not generate
    run = load_run(run_dir)
    model = run.model
    if not run.classes:
        return None
    dataset = split_data()
    if dataset is None:
        return None
    real: dict[int, torch.Tensor] = {}
    for i in range(len(dataset)):
        item = dataset[i]
        real.setdefault(int(item["label"]), item["audio"])
        if len(real) == len(run.classes):
            break
    labels = sorted(real)
    with torch.no_grad():
        fake = model.sample(torch.tensor(labels), generator=torch.Generator().manual_seed(0))
        true = model.spectrogram(torch.stack([fixed_length(real[k].float(), model.clip_samples) for k in labels]))
        clips = model.generate(torch.tensor(labels), seed=0)
    plt = _plt()
    fig, axes = plt.subplots(2, len(labels), figsize=(1.6 * len(labels) + 1, 3.6), squeeze=False)
    for j, k in enumerate(labels):
        for row, values, what in ((0, true, "real"), (1, fake, "generated")):
            axes[row][j].imshow(values[j, 0].numpy(), origin="lower", aspect="auto", vmin=-1, vmax=1, cmap="magma")
            axes[row][j].set_title(f"{what} {str(run.classes[k])[:10]}", fontsize=8)
            axes[row][j].set_axis_off()
    fig.suptitle("normalised log-magnitude spectrograms (frequency up, time right)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    samples.mkdir(exist_ok=True)
    written = [save(samples / f"generated-{re.sub(r'[^A-Za-z0-9]+', '-', str(run.classes[k]))}.wav", clips[j].clamp(-1, 1),
                    int(model.sample_rate))
               for j, k in enumerate(labels)]
    return path, written


def plot_confusion(confusion: list[list[int]], classes: list[str] | None, path: Path, *, title: str) -> Path:
    plt = _plt()
    matrix = np.asarray(confusion)
    n = matrix.shape[0]
    size = min(9, 2.5 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(matrix, cmap="Blues")
    labels = [str(c)[:14] for c in (classes or range(n))]
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_similarity(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str], path: Path, *, count: int = 24) -> Path:
    plt = _plt()
    n = min(count, a.shape[0])
    similarity = (a[:n] @ b[:n].T).numpy()
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(similarity, cmap="viridis")
    ax.set_xlabel(f"{names[1]} item")
    ax.set_ylabel(f"{names[0]} item")
    ax.set_title(f"cosine similarity, first {n} items (diagonal = pairs)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _thumbnail(ax, item: dict[str, Any], modality: str, sample_rate: int | None) -> None:
    if modality == "audio" and item.get("audio") is not None:
        wave = torch.as_tensor(item["audio"]).float()
        rate = int(item.get("sample_rate") or sample_rate or 16000)
        spec = log_mel_spectrogram(wave, sample_rate=rate, n_fft=256, hop_length=64, n_mels=40)
        ax.imshow(spec.numpy(), origin="lower", aspect="auto", cmap="magma")
    elif modality == "image" and item.get("image") is not None:
        image = torch.as_tensor(item["image"]).float()
        image = (image - image.min()) / (image.max() - image.min() + 1e-9)
        ax.imshow(image.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def plot_retrieval(dataset: Any, found: Any, query: str, target: str, path: Path, *, sample_rate: int | None,
                   queries: int = 3, top: int = 4) -> Path | None:
    embeddings = found.cat_embeddings()
    if query not in embeddings or target not in embeddings or target == "text":
        return None
    plt = _plt()
    q, t = embeddings[query], embeddings[target]
    similarity = q @ t.T
    texts = found.texts
    picks = list(dict.fromkeys(range(0, q.shape[0], max(1, q.shape[0] // queries))))[:queries]
    fig, axes = plt.subplots(len(picks), top, figsize=(2.4 * top, 2.3 * len(picks)), squeeze=False)
    for row, i in enumerate(picks):
        ranked = similarity[i].argsort(descending=True)[:top].tolist()
        for col, j in enumerate(ranked):
            ax = axes[row][col]
            _thumbnail(ax, dataset[j], target, sample_rate)
            correct = bool(texts) and texts[j] == texts[i] if query == "text" else j == i
            ax.set_title(f"#{col + 1} {float(similarity[i, j]):.2f}{' ✓' if correct else ''}", fontsize=8,
                         color="green" if correct else "black")
        label = texts[i] if query == "text" and texts else found.ids[i]
        axes[row][0].set_ylabel("\n".join(label[k:k + 22] for k in range(0, min(len(label), 66), 22)), fontsize=7)
    fig.suptitle(f"{query} → {target}: top {top} results (✓ = a correct match)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def summary_lines(result: dict[str, Any]) -> list[str]:
    """Short human lines of an evaluation result (for the console)."""
    lines = [f"{result.get('split', '?')} split, {result.get('items', '?')} items"]
    for key in ("accuracy", "macro_f1", "loss"):
        if key in result:
            lines.append(f"  {key}: {result[key]:.4f}")
    if "fd" in result:
        lines.append(f"  Fréchet distance of generated to real features (fd): {result['fd']:.4f}")
    for group, value in (result.get("per_group") or {}).items():
        lines.append(f"  accuracy on {group}: {value:.4f}")
    for direction, values in (result.get("retrieval") or {}).items():
        lines.append(f"  {direction}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    for modality, values in (result.get("zero_shot") or {}).items():
        lines.append(f"  zero-shot {modality}: accuracy {values['accuracy']:.4f}")
    for condition, value in (result.get("robustness") or {}).items():
        lines.append(f"  robustness, {condition}: accuracy {value:.4f}")
    for key, value in (result.get("enhancement") or {}).items():
        if isinstance(value, (int, float)):
            lines.append(f"  {key}: {value:.3f}")
    if result.get("verification"):
        v = result["verification"]
        lines.append(f"  verification ({', '.join(v['speakers'])}; {v['trials']} trials): EER {v['eer']:.4f}, "
                     f"minDCF(0.01) {v['min_dcf_p0.01']:.4f}")
        for k, p in (v.get("pooled") or {}).items():
            lines.append(f"  verification, {k} recordings pooled per side ({p['trials']} trials): EER {p['eer']:.4f}, "
                         f"minDCF(0.01) {p['min_dcf_p0.01']:.4f}")
    detection = result.get("detection") or {}
    for kind, unit in (("event_based", "collar_s"), ("segment_based", "segment_s")):
        if kind in detection:
            d = detection[kind]
            lines.append(f"  {kind.replace('_', '-')} ({d[unit]:g} s): F1 {d['f_measure']:.3f}, error rate {d['error_rate']:.3f}")
    return lines


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A markdown table: the first column left-aligned, the others (numbers) right-aligned."""
    out = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def write_report(run_dir: str | Path, *, split: str = "test", data: Any = None) -> Path:
    """Evaluate the run on ``split``, write ``evaluation-<split>.json``, the figures and
    ``report.md``; return the report's path.

    ``data``: None for the run's own data (built here, once, for the evaluation and the figures),
    the run's data already built (the :class:`~polysense.data.registry.DataSplits` that training
    returned), or another data config / manifest (see :func:`evaluate_run`).
    """
    folder = RunFolder(run_dir)
    run_dir = folder.path
    config = folder.read_config()
    own = data is None or isinstance(data, DataSplits)
    if data is None:
        data = run_data(config)
    result = evaluate_run(run_dir, split=split, data=data, keep=True)
    found = result.pop("_predictions")
    folder.write_evaluation(split, result)
    info = folder.read_info()
    outcome = folder.read_result()
    figures = folder.figures_dir
    figures.mkdir(exist_ok=True)
    drawn: list[tuple[str, Path]] = []
    curves = plot_curves(folder.read_metrics(), figures / "curves.png",
                         best_epoch=outcome.get("best_epoch"), select=outcome.get("best_metric"))
    if curves:
        drawn.append(("Training curves", curves))
    if "confusion" in result:
        drawn.append(("Confusion matrix", plot_confusion(result["confusion"], result.get("classes"),
                                                         figures / "confusion.png",
                                                         title=f"{split}: accuracy {result['accuracy']:.3f}")))
    embeddings = found.cat_embeddings()
    if len(embeddings) >= 2 and result.get("retrieval"):
        names = tuple(sorted(embeddings))[:2]
        a, b = embeddings[names[0]], embeddings[names[1]]
        if a.shape == b.shape:
            drawn.append(("Similarity matrix", plot_similarity(a, b, names, figures / "similarity.png")))
        if "text" in embeddings:
            target = next((m for m in sorted(embeddings) if m != "text"), None)
            if target is not None:
                if own:
                    dataset = data.split(split)
                    path = plot_retrieval(dataset, found, "text", target, figures / "retrieval.png",
                                          sample_rate=info.get("sample_rate"))
                    if path:
                        drawn.append(("Retrieval examples", path))
    generation = plot_generation(run_dir, lambda: data.split(split) if own else None, figures / "generation.png",
                                 run_dir / "samples")
    if generation:
        drawn.append(("Generated vs real, per class", generation[0]))
    lines = [f"# Run report: {config.get('name', run_dir.name)}", ""]
    if config.get("description"):
        lines += [config["description"].strip(), ""]
    lines += [f"- data: {info.get('data', config['data'].get('name'))}",
              f"- model: `{config['model'].get('name')}`, {info.get('parameters', '?'):,} parameters "
              f"({info.get('trainable_parameters', '?'):,} trainable)" if isinstance(info.get("parameters"), int)
              else f"- model: `{config['model'].get('name')}`",
              f"- best epoch: {outcome.get('best_epoch')} by {outcome.get('best_metric')} = "
              f"{outcome.get('best_value') if outcome.get('best_value') is None else round(outcome['best_value'], 4)} "
              f"(chosen on the validation split); {outcome.get('epochs_run')} epochs, {outcome.get('steps')} steps, "
              f"{outcome.get('train_seconds', 0):.1f} s of training"
              + (", stopped early" if outcome.get("stopped_early") else ""),
              f"- evaluated on: the {split} split, {result.get('items')} items", ""]
    lines += ["## Metrics", ""]
    scalars = [(k, f"{result[k]:.4f}") for k in ("accuracy", "macro_f1", "loss") if k in result]
    if scalars:
        lines += [_table(scalars, ("metric", split)), ""]
    if result.get("per_group"):
        lines += ["### Accuracy per group", "", _table([(g, f"{v:.4f}") for g, v in result["per_group"].items()],
                                                        ("group", "accuracy")), ""]
    if result.get("robustness"):
        lines += ["### Robustness: accuracy with a modality removed", "",
                  _table([(c, f"{v:.4f}") for c, v in result["robustness"].items()], ("modalities", "accuracy")), ""]
    if result.get("retrieval"):
        lines += ["### Retrieval", "", "| direction | " + " | ".join(next(iter(result["retrieval"].values()))) + " |",
                  "|---|" + "---:|" * len(next(iter(result["retrieval"].values())))]
        for direction, values in result["retrieval"].items():
            lines.append(f"| {direction} | " + " | ".join(f"{v:.3f}" for v in values.values()) + " |")
        lines.append("")
    if result.get("zero_shot"):
        lines += ["### Zero-shot classification from class names", "",
                  _table([(m, f"{v['accuracy']:.4f}") for m, v in result["zero_shot"].items()], ("modality", "accuracy")),
                  ""]
    if result.get("enhancement"):
        lines += ["### Enhancement", "", _table([(k, f"{v:.3f}") for k, v in result["enhancement"].items()
                                                 if isinstance(v, (int, float))], ("metric", "value")), ""]
    if result.get("verification"):
        v = result["verification"]
        lines += ["### Speaker verification (unseen speakers)", "",
                  _table([("speakers", ", ".join(v["speakers"])), ("trials", str(v["trials"])), ("EER", f"{v['eer']:.4f}"),
                          ("minDCF (p=0.01)", f"{v['min_dcf_p0.01']:.4f}"), ("minDCF (p=0.05)", f"{v['min_dcf_p0.05']:.4f}")],
                         ("metric", split)), ""]
        if v.get("pooled"):
            lines += ["Recordings pooled per side of a trial (the mean of k unit-length embeddings of one speaker):", "",
                      _table([(k, str(p["trials"]), f"{p['eer']:.4f}", f"{p['min_dcf_p0.01']:.4f}")
                              for k, p in v["pooled"].items()], ("k", "trials", "EER", "minDCF (p=0.01)")), ""]
    if result.get("detection"):
        det = result["detection"]
        keys = ("f_measure", "precision", "recall", "error_rate", "substitution_rate", "deletion_rate", "insertion_rate")
        lines += ["### Detection", "", f"{det['recordings']} recordings, {det['seconds']:.0f} s.", "",
                  "| metric | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys),
                  f"| event-based ({det['event_based']['collar_s']:g} s collar) | "
                  + " | ".join(f"{det['event_based'][k]:.3f}" for k in keys) + " |",
                  f"| segment-based ({det['segment_based']['segment_s']:g} s) | "
                  + " | ".join(f"{det['segment_based'][k]:.3f}" for k in keys) + " |", ""]
    if generation:
        lines += ["### Generated clips to listen to", "", " ".join(f"[{p.stem}](samples/{p.name})" for p in generation[1]), ""]
    if drawn:
        lines += ["## Figures", ""]
        for title, path in drawn:
            lines += [f"### {title}", "", f"![{title}]({folder.FIGURES}/{path.name})", ""]
    lines += ["## Config", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    return folder.write_report("\n".join(lines))
