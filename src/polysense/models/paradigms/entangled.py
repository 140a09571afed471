"""The skeleton shared by the entangled paradigms (ViLBERT, ViLT, ALBEF).

An entangled model pairs text with one "visual" modality, an image or an audio clip (audio
enters as spectrogram patches or frames, through an audio encoder), and lets the two interact
inside the model (co-attention, one joint transformer, cross-attention). This module holds what
the three share, so each paradigm file contains only its architecture and objectives:

- :class:`EntangledModel`: builds the text encoder and the visual encoder from nested configs
  (exactly one of ``image=`` / ``audio=``), reads a collated batch, masks text for MLM with the
  tokenizer's special ids, finds duplicate items (which no sampler may use as negatives), and
  embeds each modality with its unimodal tower (``encode``, what retrieval and search call).

``forward(batch)`` returns what the paradigm's ``kind`` promises: the weighted total ``loss``, each
objective's unweighted loss in ``losses`` and diagnostics in ``metrics``, and for a matcher (ViLT,
ViLBERT) the :class:`~polysense.models.output.MatchOutput` of the pairs it judged, for ALBEF (an
embedder) the :class:`~polysense.models.output.EmbeddingOutput` of its contrastive space.

A batch is the collated dict of :mod:`polysense.data`: ``"input_ids"`` + ``"text_mask"``
(+ ``"word_ids"`` from :class:`~polysense.models.encoders.tokenizer.TextTokenizer` for whole-word
masking), and ``"image"`` or ``"audio"`` + ``"audio_mask"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polysense._checks import check_unit_interval
from polysense.errors import ParameterError
from polysense.losses.masked import MaskedTokens, mask_tokens
from polysense.losses.matching import duplicate_mask
from polysense.models.batch import encode_required, modality_keys
from polysense.models.encoders.base import EncoderOutput, build_encoder, encoder_tokenizer
from polysense.models.encoders.tokenizer import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, load_tokenizer
from polysense.models.contract import Model, encoder_sample_rate
from polysense.models.output import MatchOutput, ModelOutput

__all__ = ["VISUAL_MODALITIES", "EntangledModel"]

#: The modalities that can pair with text in an entangled model.
VISUAL_MODALITIES = ("image", "audio")

#: Ids of the special tokens of a tokenizer made by ``train_tokenizer`` ([PAD]=0 ... [MASK]=4).
_DEFAULT_IDS = {token: index for index, token in enumerate(SPECIAL_TOKENS)}


def _weights(given: Mapping[str, float] | None, defaults: Mapping[str, float]) -> dict[str, float]:
    weights = dict(defaults)
    for name, value in (given or {}).items():
        if name not in defaults:
            raise ParameterError(
                f"loss_weights has an unknown objective {name!r}: choose among {', '.join(defaults)}"
            )
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"loss_weights[{name!r}]={value!r} is invalid: expected a number >= 0") from None
        if not value >= 0:
            raise ParameterError(f"loss_weights[{name!r}]={value!r} is invalid: expected a number >= 0")
        weights[name] = value
    return weights


class EntangledModel(Model):
    """Text encoder + one visual encoder, and the batch handling the entangled paradigms share.

    Args:
        text: config of the text encoder (e.g. ``{"name": "text_transformer", "vocab_size": 1000}``)
            or an encoder module with ``dim`` and ``vocab_size`` attributes.
        image: config (or module) of the image encoder, or
        audio: config (or module) of the audio encoder; exactly one of the two.
        mask_token_id: id of ``[MASK]`` (default 4, as ``train_tokenizer`` makes it).
        special_token_ids: ids never masked ([PAD], [CLS], [SEP], [MASK]; default 0, 2, 3, 4).
        tokenizer: path of a ``tokenizer.json`` to read both from instead (default: the text
            encoder's own tokenizer when it has one, e.g. MiniLM's or a ``text_transformer``
            built with ``tokenizer=``, else the ids ``train_tokenizer`` gives).
        mask_prob: probability to mask a token (or word) for MLM (BERT's 15 %).
        loss_weights: the weight of each objective in ``loss`` (defaults per paradigm).

    Attributes:
        modality: ``"image"`` or ``"audio"``.
        modalities: ``(modality, "text")``, the modalities :meth:`encode` embeds.
        tokenizer: the text tokenizer (None when the text encoder has none and no path was given).
        visual, text: the two encoders.
        visual_cls: 1 when the visual encoder puts a [CLS] token first (ViT, AST), else 0.
    """

    #: ViLT and ViLBERT judge whether a pair matches (ITM); their towers share no space.
    kind = "matcher"

    #: The objectives of the paradigm and their default weights (set by each subclass).
    DEFAULT_WEIGHTS: dict[str, float] = {}

    def __init__(
        self,
        *,
        text: Mapping[str, Any] | nn.Module | None,
        image: Mapping[str, Any] | nn.Module | None = None,
        audio: Mapping[str, Any] | nn.Module | None = None,
        mask_token_id: int | None = None,
        special_token_ids: Sequence[int] | None = None,
        tokenizer: str | None = None,
        mask_prob: float = 0.15,
        loss_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if text is None:
            raise ParameterError(f"{name} needs a text encoder: text={{'name': 'text_transformer', ...}}")
        given = {m: c for m, c in (("image", image), ("audio", audio)) if c is not None}
        if len(given) != 1:
            raise ParameterError(
                f"{name} pairs text with exactly one of {', '.join(VISUAL_MODALITIES)}, got "
                f"{sorted(given) or 'neither'}: give image={{'name': 'image_vit', ...}} or "
                "audio={'name': 'audio_spectrogram_transformer', ...}"
            )
        (self.modality, visual_config), = given.items()
        self.modalities = (self.modality, "text")
        self.visual = build_encoder(self.modality, visual_config)
        self.text = build_encoder("text", text)
        vocab_size = getattr(self.text, "vocab_size", None)
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ParameterError(
                f"the text encoder {type(self.text).__name__} has no integer attribute 'vocab_size' "
                "(masked language modelling predicts tokens of its vocabulary)"
            )
        self.vocab_size = vocab_size
        self.visual_cls = int(getattr(self.visual, "cls_token", None) is not None)
        self.mask_prob = check_unit_interval("mask_prob", mask_prob)
        self.mask_token_id, self.special_token_ids = self._special_ids(mask_token_id, special_token_ids, tokenizer)
        if not 0 <= self.mask_token_id < vocab_size:
            raise ParameterError(
                f"mask_token_id={self.mask_token_id} is outside the text encoder's vocabulary of {vocab_size} tokens"
            )
        self.loss_weights = _weights(loss_weights, self.DEFAULT_WEIGHTS)

    def _special_ids(
        self, mask_token_id: int | None, special_token_ids: Sequence[int] | None, tokenizer: str | None
    ) -> tuple[int, tuple[int, ...]]:
        if tokenizer is not None:
            if mask_token_id is not None or special_token_ids is not None:
                raise ParameterError("give either tokenizer= or mask_token_id/special_token_ids, not both")
            self._tokenizer = load_tokenizer(tokenizer)
        else:
            self._tokenizer = encoder_tokenizer(self.text)
        ids = _DEFAULT_IDS if self._tokenizer is None else self._tokenizer.special_ids
        mask_id = ids[MASK] if mask_token_id is None else mask_token_id
        specials = tuple(ids[t] for t in (PAD, CLS, SEP, MASK)) if special_token_ids is None else special_token_ids
        try:
            specials = tuple(int(i) for i in specials)
        except (TypeError, ValueError):
            raise ParameterError(f"special_token_ids={special_token_ids!r} is invalid: expected a list of ids") from None
        return int(mask_id), specials

    @property
    def sample_rate(self) -> int | None:
        """Hz of the audio encoder's input (None when the visual side is an image)."""
        return encoder_sample_rate({self.modality: self.visual})

    @property
    def tokenizer(self):
        """The text tokenizer: the one given by path, else the text encoder's (None if neither)."""
        return self._tokenizer

    # ------------------------------------------------------------------ embeddings
    def project(self, modality: str, pooled: Tensor) -> Tensor:
        """Map a tower's pooled output into the space :meth:`encode` returns (identity here;
        a paradigm with contrastive projections, e.g. ALBEF, applies them)."""
        return pooled

    def encode(self, modality: str, batch: Mapping[str, Any]) -> Tensor:
        """(B, D) unit-length embeddings of ``modality`` from its unimodal tower alone (pooled,
        through :meth:`project`): the text encoder for ``"text"``, the visual encoder otherwise."""
        if modality not in self.modalities:
            raise ParameterError(f"modality={modality!r} is not one of this model's {list(self.modalities)}")
        if modality == "text":
            pooled = self.encode_text(*self.text_inputs(batch)).pooled
        else:
            pooled = self.encode_visual(batch).pooled
        return F.normalize(self.project(modality, pooled), dim=-1)

    # ------------------------------------------------------------------ batch access
    def text_inputs(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """``(input_ids (B, L), text_mask (B, L) bool)``; the mask defaults to ``ids != pad_id``."""
        ids_key, mask_key = modality_keys("text")
        input_ids = batch.get(ids_key)
        if not isinstance(input_ids, Tensor) or input_ids.ndim != 2:
            raise ParameterError(
                f"the batch needs {ids_key!r}: a (batch, length) LongTensor of token ids (found keys {sorted(batch)})"
            )
        mask = batch.get(mask_key)
        if mask is None:
            mask = input_ids != getattr(self.text, "pad_id", _DEFAULT_IDS[PAD])
        return input_ids, mask.bool()

    def encode_text(self, input_ids: Tensor, mask: Tensor) -> EncoderOutput:
        return self.text(input_ids, mask)

    def encode_visual(self, batch: Mapping[str, Any], *, encoder: nn.Module | None = None) -> EncoderOutput:
        """The visual encoder's (or ``encoder``'s) output for the batch's image (or audio + audio_mask)."""
        return encode_required(self.visual if encoder is None else encoder, self.modality, batch)

    def batch_size(self, batch: Mapping[str, Any]) -> int:
        input_ids, _ = self.text_inputs(batch)
        visual = batch.get(modality_keys(self.modality)[0])
        if visual is not None and len(visual) != len(input_ids):
            raise ParameterError(
                f"the batch has {len(input_ids)} texts but {len(visual)} {self.modality} items: they must be paired"
            )
        return len(input_ids)

    def positives(self, batch: Mapping[str, Any]) -> Tensor:
        """(B, B) bool: True where item j is a positive for anchor i, i.e. j's text equals i's
        text or j's image (audio) equals i's (duplicates in the batch, and the diagonal)."""
        input_ids, mask = self.text_inputs(batch)
        visual_key, visual_mask_key = modality_keys(self.modality)
        same_text = duplicate_mask(input_ids.masked_fill(~mask, -1))
        visual = [batch[visual_key]] + ([batch[visual_mask_key]] if batch.get(visual_mask_key) is not None else [])
        return same_text | duplicate_mask(*visual)

    def content_mask(self, visual_mask: Tensor) -> Tensor:
        """(B, N) bool: the real visual tokens that are patches or frames (the [CLS] excluded)."""
        content = visual_mask.clone()
        content[:, : self.visual_cls] = False
        return content

    def maskable(self, input_ids: Tensor, mask: Tensor, word_ids: Tensor | None = None) -> Tensor:
        """(B, L) bool: real tokens that are not special tokens (and belong to a word, when given)."""
        specials = torch.tensor(self.special_token_ids, device=input_ids.device, dtype=input_ids.dtype)
        keep = mask & ~torch.isin(input_ids, specials)
        return keep if word_ids is None else keep & (word_ids >= 0)

    def mask_text(
        self, batch: Mapping[str, Any], *, whole_word: bool = False, generator: torch.Generator | None = None
    ) -> MaskedTokens:
        """BERT masking (15 %, 80/10/10) of the batch's text; whole words when asked and the
        batch has ``"word_ids"`` (token-level otherwise)."""
        input_ids, mask = self.text_inputs(batch)
        word_ids = batch.get("word_ids") if whole_word else None
        return mask_tokens(
            input_ids,
            mask_token_id=self.mask_token_id,
            vocab_size=self.vocab_size,
            maskable=self.maskable(input_ids, mask, word_ids),
            word_ids=word_ids,
            mask_prob=self.mask_prob,
            generator=generator,
        )

    def total(self, losses: Mapping[str, Tensor], metrics: Mapping[str, Tensor], *,
              output: type[ModelOutput] = MatchOutput, **fields: Any) -> ModelOutput:
        """The weighted sum of ``losses`` (weights from ``loss_weights``) with ``metrics`` detached,
        as an ``output`` (a matcher's :class:`~polysense.models.output.MatchOutput` by default)
        holding ``fields``."""
        loss = sum(self.loss_weights[name] * value for name, value in losses.items())
        return output(
            loss=loss, losses=dict(losses), metrics={k: torch.as_tensor(v).detach() for k, v in metrics.items()},
            **fields,
        )
