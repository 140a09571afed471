"""Zero-shot classification with a contrastive (CLIP-style) model: classes named in words.

Each class name is put into several prompt templates (``"the sound of {}."``), each prompt is
embedded by the text side of the model and L2-normalised, the embeddings of a class are
averaged and the average is re-normalised (Radford et al. 2021, prompt ensembling). An item
(audio clip or image) is assigned the class whose text embedding has the highest cosine
similarity with its own embedding::

    w_c = normalize( mean_t normalize(f_text(template_t(name_c))) )
    logits = s · normalize(f_item(x)) Wᵀ,  prediction = argmax_c logits_c

The text side is any callable from a list of strings to a (n, D) tensor, so the classifier
knows nothing of tokenizers or models; :func:`text_embedder` builds one from a model with
``encode(modality, batch)`` and its ``tokenizer``, and :func:`zero_shot_classifier` does the
whole set-up from a model. The templates default to the classified modality's
(:data:`TEMPLATES`), not the bare class name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_float, check_positive_int
from polysense.errors import ParameterError

#: Prompt templates per modality of the items being classified; ``{}`` is the class name.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "audio": ("{}", "the sound of {}.", "a recording of {}.", "someone saying {}.", "audio of {}."),
    "image": ("{}", "a photo of {}.", "a picture of {}.", "an image of {}.", "a drawing of {}."),
}

TextEmbedder = Callable[[list[str]], torch.Tensor]


def default_templates(modality: str) -> tuple[str, ...]:
    """The prompt templates for items of ``modality`` (:data:`TEMPLATES`)."""
    if modality not in TEMPLATES:
        raise ParameterError(
            f"no default prompt templates for modality={modality!r} (known: {', '.join(TEMPLATES)}): "
            "pass templates=[...] with '{}' where the class name goes"
        )
    return TEMPLATES[modality]


@torch.no_grad()
def class_embeddings(
    class_names: Sequence[str],
    *,
    embed_text: TextEmbedder,
    templates: Sequence[str] = ("{}",),
) -> torch.Tensor:
    """One unit-length text embedding per class, averaged over the prompt templates.

    Args:
        class_names: the classes in label order (index ``c`` is label ``c``).
        embed_text: maps a list of strings to their (n, D) embeddings.
        templates: prompt templates, each containing ``{}`` once (replaced by the class name).

    Returns:
        (classes, D) tensor with rows of unit L2 norm (computed without gradients).
    """
    names = _check_names(class_names)
    templates = _check_templates(templates)
    rows = []
    for name in names:
        prompts = [template.format(name) for template in templates]
        embeddings = embed_text(prompts)
        if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2 or embeddings.shape[0] != len(prompts):
            shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
            raise ParameterError(
                f"embed_text returned {shape} for {len(prompts)} prompts: expected a ({len(prompts)}, dim) tensor"
            )
        rows.append(F.normalize(F.normalize(embeddings, dim=-1).mean(dim=0), dim=-1))
    return torch.stack(rows)


class ZeroShotClassifier(nn.Module):
    """Classifies embeddings by cosine similarity with per-class text embeddings.

    Args:
        class_weights: (classes, D) class embeddings (normalised here), e.g. from
            :func:`class_embeddings`; kept as a buffer so ``.to(device)`` moves it.
        class_names: the names of the classes, in order (optional, for reports).
        logit_scale: multiplies the cosine similarities (the model's inverse temperature);
            it changes the logits' softmax, never the predictions.

    ``forward(embeddings (N, D)) -> logits (N, classes)``.
    """

    def __init__(
        self, class_weights: torch.Tensor, *, class_names: Sequence[str] | None = None, logit_scale: float = 1.0
    ) -> None:
        super().__init__()
        if not isinstance(class_weights, torch.Tensor) or class_weights.ndim != 2 or class_weights.shape[0] == 0:
            raise ParameterError("class_weights must be a (classes, dim) tensor with at least one class")
        self.register_buffer("class_weights", F.normalize(class_weights.detach().float(), dim=-1))
        if class_names is not None:
            class_names = _check_names(class_names)
            if len(class_names) != class_weights.shape[0]:
                raise ParameterError(
                    f"{len(class_names)} class_names for {class_weights.shape[0]} class_weights rows: expected one each"
                )
        self.class_names = class_names
        self.logit_scale = check_positive_float("logit_scale", logit_scale)

    @classmethod
    def from_class_names(
        cls,
        class_names: Sequence[str],
        *,
        embed_text: TextEmbedder,
        modality: str | None = None,
        templates: Sequence[str] | None = None,
        logit_scale: float = 1.0,
    ) -> ZeroShotClassifier:
        """Build the classifier by embedding every class name in every template (default: the
        templates of ``modality``, the modality of the items to classify)."""
        if templates is None:
            if modality is None:
                raise ParameterError("give modality= (for its default prompt templates) or templates=[...]")
            templates = default_templates(modality)
        weights = class_embeddings(class_names, embed_text=embed_text, templates=templates)
        return cls(weights, class_names=class_names, logit_scale=logit_scale)

    @property
    def num_classes(self) -> int:
        return self.class_weights.shape[0]

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2 or embeddings.shape[1] != self.class_weights.shape[1]:
            shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
            raise ParameterError(
                f"embeddings must be a (batch, {self.class_weights.shape[1]}) tensor (the class embeddings' width), got {shape}"
            )
        weights = self.class_weights.to(embeddings.dtype)
        return self.logit_scale * F.normalize(embeddings, dim=-1) @ weights.T

    def predict(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(N,) index of the most similar class."""
        return self(embeddings).argmax(dim=-1)

    def accuracy(self, embeddings: torch.Tensor, labels: torch.Tensor, *, top_k: Sequence[int] = (1,)) -> dict[int, float]:
        """``{k: fraction of items whose label is among the k most similar classes}``."""
        logits = self(embeddings)
        labels = torch.as_tensor(labels, device=logits.device).long()
        if labels.shape != (logits.shape[0],):
            raise ParameterError(f"labels has shape {tuple(labels.shape)}, expected ({logits.shape[0]},)")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ParameterError(f"labels must lie in [0, {self.num_classes}), the class indices")
        result = {}
        for k in top_k:
            k = check_positive_int("top_k[]", k)
            best = logits.topk(min(k, self.num_classes), dim=-1).indices
            result[k] = float((best == labels[:, None]).any(dim=-1).double().mean())
        return result


def text_embedder(model: nn.Module, tokenizer=None, *, modality: str = "text", batch_size: int = 256) -> TextEmbedder:
    """A :data:`TextEmbedder` from a model with ``encode(modality, batch)`` and a tokenizer
    (default: the model's ``tokenizer``).

    The tokenizer's ``batch_encode(texts).as_dict()`` (see
    :class:`polysense.models.encoders.tokenizer.TextTokenizer`) gives the batch; it is moved to the
    model's device, and prompts are embedded ``batch_size`` at a time.
    """
    if modality not in model.modalities:
        raise ParameterError(f"model {type(model).__name__} embeds {list(model.modalities)}, not {modality!r}")
    tokenizer = model.tokenizer if tokenizer is None else tokenizer
    if tokenizer is None:
        raise ParameterError(
            f"model {type(model).__name__} has no tokenizer (its text encoder was built from vocab_size alone): "
            "build it with the tokenizer it was trained with (text encoder option tokenizer=PATH) or pass tokenizer="
        )
    batch_size = check_positive_int("batch_size", batch_size)

    def embed(texts: list[str]) -> torch.Tensor:
        device = next(model.parameters()).device
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer.batch_encode(list(texts[start : start + batch_size])).as_dict()
            chunks.append(model.encode(modality, {k: v.to(device) for k, v in batch.items()}))
        return torch.cat(chunks)

    return embed


def zero_shot_classifier(
    model: nn.Module,
    class_names: Sequence[str],
    *,
    modality: str,
    templates: Sequence[str] | None = None,
    tokenizer=None,
    batch_size: int = 256,
) -> ZeroShotClassifier:
    """A zero-shot classifier of ``modality`` items from a model that embeds text and ``modality``.

    Class names go into ``templates`` (default: :data:`TEMPLATES` of ``modality``), are tokenized
    with the model's tokenizer and embedded with ``model.encode("text", ...)``; the model's
    ``logit_scale`` (when it has one) scales the logits. Classify ``model.encode(modality, batch)``.
    """
    modalities = model.modalities
    for needed in ("text", modality):
        if needed not in modalities:
            raise ParameterError(
                f"model {type(model).__name__} embeds {list(modalities)}: zero-shot {modality} classification "
                f"needs both 'text' and {modality!r}"
            )
    scale = getattr(model, "logit_scale", 1.0)
    scale = float(torch.as_tensor(scale() if callable(scale) else scale).detach())
    return ZeroShotClassifier.from_class_names(
        class_names,
        embed_text=text_embedder(model, tokenizer, batch_size=batch_size),
        modality=modality,
        templates=templates,
        logit_scale=scale,
    )


def _check_names(class_names: Sequence[str]) -> list[str]:
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or len(class_names) == 0:
        raise ParameterError(f"class_names must be a non-empty list of str, got {class_names!r}")
    names = list(class_names)
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise ParameterError(f"class_names[{i}]={name!r} is invalid: expected a non-empty str")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ParameterError(f"class_names has duplicates {duplicates}: each class needs its own name")
    return names


def _check_templates(templates: Sequence[str]) -> list[str]:
    if isinstance(templates, str) or not isinstance(templates, Sequence) or len(templates) == 0:
        raise ParameterError(f"templates must be a non-empty list of str with '{{}}', got {templates!r}")
    for i, template in enumerate(templates):
        if not isinstance(template, str) or template.count("{}") != 1 or any(c in template.replace("{}", "") for c in "{}"):
            raise ParameterError(
                f"templates[{i}]={template!r} is invalid: expected a str with exactly one '{{}}' "
                "(where the class name goes) and no other braces"
            )
    return list(templates)
