"""What a model is: the declared contract every registered model keeps.

Every model registered under ``("model", name)`` is a :class:`Model`, checked when it is
registered (a class) or built (a builder function's result), so the trainer, the evaluator, the
index and the CLI read declarations instead of probing attributes:

- ``kind`` — what the model does, one of :data:`MODEL_KINDS`, and so what its ``forward`` returns
  (:mod:`polysense.models.output`):

  ====================  ======================================================================
  ``"classifier"``      :class:`~polysense.models.output.ClassifierOutput`, class scores ``logits``
  ``"embedder"``        :class:`~polysense.models.output.EmbeddingOutput`, ``embeddings`` and the
                        (B, B) ``similarity`` of the pair
  ``"matcher"``         :class:`~polysense.models.output.MatchOutput`, matched-or-not scores of pairs
  ``"enhancer"``        :class:`~polysense.models.output.EnhancementOutput`, the estimated waveforms
  ``"detector"``        frame logits and events (:class:`polysense.detect.model.DetectionOutput`)
  ``"recogniser"``      per-frame log-probabilities of units (:class:`polysense.models.ctc.model.CTCOutput`)
  ``"speaker"``         speaker logits in training; voices embedded by ``encode`` for verification
  ``"generator"``       :class:`~polysense.models.output.GenerationOutput`, generated items and features
  ====================  ======================================================================

- ``modalities`` — the modalities :meth:`Model.encode` embeds, ``()`` for a model that embeds none;
- ``shared_space`` — True when those modalities are embedded into **one** space (trained to make a
  pair's embeddings similar: CLIP, VSE++, ALBEF), so cross-modal retrieval between them means
  something; a classifier's per-modality features live in unrelated spaces;
- ``encode(modality, batch) -> (B, D)`` — unit-length embeddings of one modality;
- ``tokenizer`` — the text tokenizer the model reads ``input_ids`` from, or None;
- ``sample_rate`` — Hz of the audio the model takes (its own, or its audio encoder's), None when it
  takes no audio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from polysense.errors import ParameterError

__all__ = ["MODEL_KINDS", "Model", "check_model", "check_model_class", "encoder_sample_rate"]

#: The kinds of model (see the module docstring).
MODEL_KINDS = ("classifier", "embedder", "matcher", "enhancer", "detector", "recogniser", "speaker", "generator")


class Model(nn.Module):
    """Base class of every registered model: the declarations of the module docstring.

    A subclass sets the class attribute ``kind`` (and ``shared_space`` when it embeds into one
    space), sets ``modalities`` when it embeds and then overrides :meth:`encode`; ``tokenizer``
    and ``sample_rate`` default to None.
    """

    kind: ClassVar[str] = ""
    shared_space: ClassVar[bool] = False
    modalities: tuple[str, ...] = ()
    tokenizer: Any = None
    sample_rate: int | None = None

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:
        """(B, D) unit-length embeddings of ``modality`` in ``batch``; a model that embeds no
        modality (``modalities == ()``) refuses."""
        raise ParameterError(f"{type(self).__name__} (a {self.kind}) embeds no modality: encode needs a model "
                             "with modalities, e.g. a classifier or an embedding model")


def encoder_sample_rate(encoders: Mapping[str, nn.Module] | nn.ModuleDict, modality: str = "audio") -> int | None:
    """The sample rate (Hz) of the ``modality`` encoder among ``encoders`` (what a model composed
    of encoders declares as its ``sample_rate``); None without one."""
    return getattr(encoders[modality], "sample_rate", None) if modality in encoders else None


def check_model_class(cls: type, *, name: str) -> None:
    """Refuse a model class that is not a :class:`Model` of a known ``kind``."""
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ParameterError(f"model {name!r} ({cls!r}) is not a polysense.models.contract.Model: derive the class "
                             "from Model and declare its kind, modalities and shared_space")
    if cls.kind not in MODEL_KINDS:
        raise ParameterError(f"model {name!r} declares kind={cls.kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    if not isinstance(cls.shared_space, bool):
        raise ParameterError(f"model {name!r} declares shared_space={cls.shared_space!r}: expected True or False")


def check_model(model: Any, *, name: str) -> Any:
    """Return ``model`` when it keeps the contract (a :class:`Model` of a known kind whose
    ``modalities`` are a tuple of names, two or more when ``shared_space``); else ParameterError."""
    check_model_class(type(model), name=name)
    modalities = model.modalities
    if not isinstance(modalities, tuple) or not all(isinstance(m, str) for m in modalities):
        raise ParameterError(f"model {name!r} has modalities={modalities!r}: expected a tuple of modality names")
    if model.shared_space and len(modalities) < 2:
        raise ParameterError(f"model {name!r} declares shared_space but embeds {list(modalities)}: a shared space "
                             "needs two or more modalities")
    return model
