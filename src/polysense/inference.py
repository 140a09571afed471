"""One inference path: a model run over batches, its outputs collected once.

:func:`collect` is the only loop that runs a model over data to score it. It serves validation
during training (:func:`polysense.train.validation.validate`), ``polysense evaluate``
(:func:`polysense.evaluate.runner.evaluate_run`), the enhancement evaluator
(:func:`polysense.evaluate.enhancement.evaluate_enhancement`) and, through them, the demo and the
reports. It reads only the declared contract of :mod:`polysense.models.output`:

- every output's ``loss``, ``losses`` and ``metrics``, averaged over items (:func:`output_scalars`:
  ``loss``, ``loss_<part>``, ``<metric>``; a batch of B items weighs B);
- a :class:`~polysense.models.output.ClassifierOutput`'s class scores ``logits`` (B, C) where the
  batch has (B,) labels;
- with ``embed``, every modality of ``model.modalities`` through ``model.encode`` (B, D) (an
  :class:`~polysense.models.output.EmbeddingOutput`'s ``embeddings`` are ``encode``'s by contract,
  tests/models/test_contract.py: they are taken from the output instead of being computed twice);
- a :class:`~polysense.models.output.GenerationOutput`'s ``features`` of the generated and of the
  real items (B, D) each;
- with ``utterances``, an :class:`~polysense.models.output.EnhancementOutput`'s ``estimate`` per
  utterance against its reference and input (a separator's estimates matched to the sources by
  the permutation of best SI-SDR first).

What the numbers mean is decided once, in :mod:`polysense.metrics`: :func:`scored` turns a
collection into the metrics validation and evaluation both report.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from polysense.data.batches import Collator, epoch_batches
from polysense.errors import ParameterError
from polysense.losses.separation import pit_si_sdr_loss
from polysense.metrics.classification import classification_metrics
from polysense.metrics.generation import frechet_distance
from polysense.metrics.retrieval import DEFAULT_KS, retrieval_report
from polysense.metrics.verification import verification_report
from polysense.models.output import (
    ClassifierOutput,
    EmbeddingOutput,
    EnhancementOutput,
    GenerationOutput,
    ModelOutput,
)

__all__ = ["Collected", "batches_of", "collect", "output_scalars", "scalar", "scored", "to_device"]


def to_device(batch: Mapping[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The batch with every tensor (also inside dicts) on ``device``."""
    device = torch.device(device)

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to(device, non_blocking=True)
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    return {k: move(v) for k, v in batch.items()}


def scalar(value: Any) -> float:
    """A tensor's mean (or a number) as a Python float."""
    return float(value.detach().float().mean()) if isinstance(value, torch.Tensor) else float(value)


def output_scalars(out: ModelOutput) -> dict[str, float]:
    """One model output's numbers as floats: ``loss``, ``loss_<part>`` for each of ``losses``, and
    each of ``metrics`` under its own name (what training logs and validation and evaluation average
    over items)."""
    values = {}
    if out.loss is not None:
        values["loss"] = scalar(out.loss)
    values.update({f"loss_{k}": scalar(v) for k, v in out.losses.items()})
    values.update({k: scalar(v) for k, v in out.metrics.items()})
    return values


def batches_of(dataset: Any, *, tokenizer: Any = None, collate: Any = None, batch_size: int = 64):
    """The dataset's items in order, collated (and tokenized with ``tokenizer``) in batches."""
    from polysense.data.collate import collate as default_collate

    collator = Collator(collate or default_collate, tokenizer)
    for indices in epoch_batches(len(dataset), batch_size, seed=0, epoch=0, shuffle=False):
        yield collator([dataset[i] for i in indices])


@dataclass
class Collected:
    """What one pass over batches collected (see the module docstring).

    Attributes:
        count: items seen.
        scalars: item-weighted means of :func:`output_scalars`.
        ids, texts, groups: the batches' ``id``, ``text`` and ``group`` entries, in order.
        labels: the (B,) class labels of the batches that have them.
        scores: class scores, one (B, C) tensor per labelled batch of a classifier.
        embeddings: modality → one (B, D) tensor per batch, from ``model.encode``.
        utterances: (estimate, reference, input) 1-D float64 waveforms of each enhanced utterance
            (a separator: one per source), trimmed to the utterance's ``length``.
        generation: ``"generated"``/``"real"`` → one (B, D) float64 feature tensor per batch of a generator.
    """

    count: int = 0
    scalars: dict[str, float] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    scores: list[torch.Tensor] = field(default_factory=list)
    embeddings: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    utterances: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    generation: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    @property
    def enhancement(self) -> bool:
        """True when the model enhanced the batches (its outputs held estimates)."""
        return bool(self.utterances)

    def cat_logits(self) -> torch.Tensor | None:
        """(N, C) class scores of every labelled item, or None."""
        return torch.cat(self.scores) if self.scores else None

    def cat_embeddings(self) -> dict[str, torch.Tensor]:
        """modality → (N, D) embeddings."""
        return {m: torch.cat(v) for m, v in self.embeddings.items()}


def _utterances(estimate: torch.Tensor, batch: Mapping[str, Any]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(estimate, reference, input) per utterance of a denoiser's (``clean``/``noisy``) or a
    separator's (``sources``/``mixture``) batch, trimmed to ``length``."""
    lengths = batch.get("length")
    rows = []
    if "sources" in batch:
        references, mixture = batch["sources"], batch["mixture"]
        reordered = pit_si_sdr_loss(estimate.double(), references.double()).reordered
        for b in range(references.shape[0]):
            n = int(lengths[b]) if lengths is not None else references.shape[-1]
            for s in range(references.shape[1]):
                rows.append((reordered[b, s, :n], references[b, s, :n].double(), mixture[b, :n].double()))
    elif "clean" in batch:
        for b in range(estimate.shape[0]):
            n = int(lengths[b]) if lengths is not None else estimate.shape[-1]
            rows.append((estimate[b, :n].double(), batch["clean"][b, :n].double(), batch["noisy"][b, :n].double()))
    else:
        raise ParameterError(f"batch keys {sorted(batch)} hold no reference: give 'clean' (denoising) "
                             "or 'sources' (separation)")
    return rows


@torch.no_grad()
def collect(model: torch.nn.Module, batches: Iterable[Mapping[str, Any]], *, device: torch.device | str = "cpu",
            autocast: Callable[[], Any] | None = None, embed: bool = True, utterances: bool = False) -> Collected:
    """Run ``model`` (in eval mode, restored afterwards) over ``batches`` once and collect its outputs.

    Args:
        model: a registered model (:class:`~polysense.models.output.Model`) or any module whose
            ``forward(batch)`` returns a :class:`~polysense.models.output.ModelOutput`.
        batches: collated batch dicts (iterated once).
        device: where the batches go.
        autocast: a context factory around each forward pass (the trainer's precision).
        embed: also embed each of ``model.modalities`` with ``model.encode`` (a batch lacking a
            modality is skipped for it).
        utterances: also keep each enhanced utterance (an enhancer's estimates; anything else
            returning no estimate is a ParameterError).
    """
    autocast = autocast or contextlib.nullcontext
    modalities = model.modalities if embed else ()
    found = Collected()
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            batch = to_device(batch, device)
            with autocast():
                out = model(batch)
            size = len(batch.get("id") or []) or 1
            found.count += size
            for key, value in output_scalars(out).items():
                found.scalars[key] = found.scalars.get(key, 0.0) + value * size
            found.ids.extend(str(i) for i in batch.get("id") or [])
            found.texts.extend(batch.get("text") or [])
            found.groups.extend(str(g) for g in batch.get("group") or [])
            label = batch.get("label")
            labelled = isinstance(label, torch.Tensor) and label.ndim == 1
            if labelled:
                found.labels.extend(int(v) for v in label.cpu())
            if (labelled and isinstance(out, ClassifierOutput) and out.logits is not None and out.logits.ndim == 2
                    and out.logits.shape[0] == label.shape[0]):
                found.scores.append(out.logits.float().cpu())
            for modality in modalities:
                if isinstance(out, EmbeddingOutput) and modality in out.embeddings:
                    embedded = out.embeddings[modality]  # encode's embedding (the contract), already computed
                else:
                    try:
                        with autocast():
                            embedded = model.encode(modality, batch)
                    except ParameterError:
                        continue  # the batch lacks this modality
                found.embeddings.setdefault(modality, []).append(embedded.float().cpu())
            if isinstance(out, GenerationOutput):
                for key, value in out.features.items():
                    found.generation.setdefault(key, []).append(value.double().cpu())
            if utterances:
                if not isinstance(out, EnhancementOutput) or out.estimate is None:
                    raise ParameterError(f"{type(model).__name__} returned no 'estimate': enhancement needs a "
                                         "denoiser or separator (an EnhancementOutput), not a classifier or embedder")
                found.utterances.extend((e.cpu(), r.cpu(), x.cpu()) for e, r, x in _utterances(out.estimate, batch))
    finally:
        model.train(was_training)
    found.scalars = {k: v / max(found.count, 1) for k, v in found.scalars.items()}
    return found


def scored(found: Collected, *, num_classes: int | None = None, retrieval: bool = False,
           ks: tuple[int, ...] = DEFAULT_KS, verification: bool = False) -> dict[str, Any]:
    """The metrics of a collection, as validation and evaluation both report them:

    - the averaged scalars (``loss``, ``loss_<part>``, the model's metrics);
    - with class scores and labels: ``accuracy``, ``macro_f1``, ``confusion`` (and ``per_group``
      when every item has a group) of :func:`polysense.metrics.classification.classification_metrics`;
    - with ``retrieval`` and two or more embedded modalities: ``retrieval`` of
      :func:`polysense.metrics.retrieval.retrieval_report` (Recall@K for ``ks``, median rank, mAP);
    - with a generator's features of generated and real items: ``fd``, their Fréchet distance
      (:func:`polysense.metrics.generation.frechet_distance`, over every item of the pass);
    - with ``verification`` and one embedded modality over items of two or more groups (speakers),
      one of them with two items: ``verification`` of
      :func:`polysense.metrics.verification.verification_report` (EER and minDCF of every pair's
      cosine score, and of recordings pooled 3 and 5 per side; lower is better).
    """
    result: dict[str, Any] = dict(found.scalars)
    logits = found.cat_logits()
    if logits is not None and len(found.labels) == logits.shape[0]:
        groups = found.groups if len(found.groups) == len(found.labels) else None
        result.update(classification_metrics(logits, torch.tensor(found.labels),
                                             num_classes=num_classes or logits.shape[1], groups=groups))
    if {"generated", "real"} <= set(found.generation):
        result["fd"] = frechet_distance(torch.cat(found.generation["generated"]), torch.cat(found.generation["real"]))
    if verification:
        embedded = found.cat_embeddings()
        counts = Counter(found.groups)
        # both kinds of trial must exist: two speakers, one of them with two recordings
        if len(embedded) == 1 and len(counts) >= 2 and max(counts.values()) >= 2:
            (embeddings,) = embedded.values()
            if embeddings.shape[0] == len(found.groups):
                result["verification"] = verification_report(embeddings, found.groups)
    if retrieval:
        report = retrieval_report(found.cat_embeddings(), texts=found.texts, labels=found.labels, ks=ks)
        if report:
            result["retrieval"] = report
    return result
