"""ViLT (even, entangled): one transformer over text tokens and linearly projected patches.

Kim et al. 2021, "ViLT: Vision-and-Language Transformer Without Convolution or Region
Supervision". Both embedders are light (VE = TE < MI): word embeddings for the text and a
linear projection of flattened patches for the image (or for the log-mel spectrogram, for
audio); each token gets a modality-type embedding (0 = text, 1 = visual) and one transformer
runs over the concatenation, so the modalities interact from the first layer on.

The embedders are the project's encoders built with ``depth: 0`` (``text_transformer``: token
+ position embeddings, ``image_vit`` / ``audio_spectrogram_transformer``: patch projection,
[CLS] and positions; each followed by its LayerNorm). Deeper encoders work too, but then the
model is no longer ViLT's "light embedders".

Objectives (each step runs the transformer twice, as ViLT does):

- **ITM**: each pair's image is replaced by a random other one with probability 0.5 (never a
  duplicate of the true partner); a pooler (Linear + tanh) over the first text token and a
  linear head classify matched vs not (:mod:`polysense.losses.matching`).
- **WPA**: word-patch alignment by optimal transport (IPOT, cosine cost) between the fused
  word tokens and patch tokens, ``(sum over matched - sum over unmatched) / batch``, weighted
  0.1 (:mod:`polysense.losses.ot`).
- **MLM** with whole-word masking (15 % of the words, 80/10/10 per token) on the fused text
  tokens, with the true images (:mod:`polysense.losses.masked`).

Config::

    {"name": "vilt", "depth": 4, "heads": 4,
     "image": {"name": "image_vit", "depth": 0, "dim": 128, "image_size": 32, "patch_size": 8},
     "text": {"name": "text_transformer", "depth": 0, "dim": 128, "vocab_size": 1000}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from polysense._checks import check_positive_float, check_positive_int, check_unit_interval
from polysense.losses.masked import MaskedLanguageModelingLoss
from polysense.losses.matching import ImageTextMatchingLoss, random_matching_pairs
from polysense.losses.ot import WordPatchAlignmentLoss
from polysense.models.layers import TransformerEncoder
from polysense.models.output import MatchOutput
from polysense.models.paradigms.entangled import EntangledModel
from polysense.models.registry import register

__all__ = ["ViLT"]


def _to_width(in_dim: int, dim: int) -> nn.Module:
    return nn.Identity() if in_dim == dim else nn.Linear(in_dim, dim)


@register("model", "vilt")
class ViLT(EntangledModel):
    """ViLT over text and images (or audio spectrogram patches).

    Args:
        text, image, audio, mask_token_id, special_token_ids, tokenizer, mask_prob, loss_weights:
            see :class:`~polysense.models.paradigms.entangled.EntangledModel`; objectives
            ``"itm"`` (weight 1), ``"mlm"`` (1), ``"wpa"`` (0.1).
        dim: width of the joint transformer (default: the text encoder's); embedders of
            another width are linearly projected to it.
        depth, heads, mlp_ratio, dropout, attention_dropout: the joint transformer.
        whole_word_masking: mask whole words (needs ``"word_ids"`` in the batch; token-level
            masking otherwise).
        itm_negative_prob: probability that a pair's image is swapped for a negative.
        ot_beta, ot_iterations: IPOT settings of the word-patch alignment.

    ``forward(batch) -> MatchOutput`` (the ITM scores of the pairs it judged); ``match_logits(batch)`` scores given pairs.
    """

    DEFAULT_WEIGHTS = {"itm": 1.0, "mlm": 1.0, "wpa": 0.1}

    def __init__(
        self,
        *,
        text: Mapping[str, Any] | nn.Module | None = None,
        image: Mapping[str, Any] | nn.Module | None = None,
        audio: Mapping[str, Any] | nn.Module | None = None,
        dim: int | None = None,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        whole_word_masking: bool = True,
        itm_negative_prob: float = 0.5,
        ot_beta: float = 0.5,
        ot_iterations: int = 50,
        mask_token_id: int | None = None,
        special_token_ids: Sequence[int] | None = None,
        tokenizer: str | None = None,
        mask_prob: float = 0.15,
        loss_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(
            text=text, image=image, audio=audio, mask_token_id=mask_token_id,
            special_token_ids=special_token_ids, tokenizer=tokenizer, mask_prob=mask_prob,
            loss_weights=loss_weights,
        )
        self.dim = self.text.dim if dim is None else check_positive_int("dim", dim)
        self.whole_word_masking = bool(whole_word_masking)
        self.itm_negative_prob = check_unit_interval("itm_negative_prob", itm_negative_prob)
        self.text_proj = _to_width(self.text.dim, self.dim)
        self.visual_proj = _to_width(self.visual.dim, self.dim)
        self.type_embedding = nn.Embedding(2, self.dim)
        nn.init.trunc_normal_(self.type_embedding.weight, std=0.02, a=-0.04, b=0.04)
        self.transformer = TransformerEncoder(
            self.dim, check_positive_int("depth", depth, what="layers of the joint transformer"), heads,
            mlp_ratio=check_positive_float("mlp_ratio", mlp_ratio), dropout=dropout,
            attention_dropout=attention_dropout,
        )
        self.pooler = nn.Sequential(nn.Linear(self.dim, self.dim), nn.Tanh())
        self.itm = ImageTextMatchingLoss(self.dim)
        self.mlm = MaskedLanguageModelingLoss(self.dim, self.vocab_size)
        self.wpa = WordPatchAlignmentLoss(beta=ot_beta, iterations=ot_iterations)

    def fuse(
        self, text_tokens: Tensor, text_mask: Tensor, visual_tokens: Tensor, visual_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Run the joint transformer; returns its (text part (B, L, dim), visual part (B, N, dim))."""
        text_tokens = self.text_proj(text_tokens) + self.type_embedding.weight[0]
        visual_tokens = self.visual_proj(visual_tokens) + self.type_embedding.weight[1]
        fused = self.transformer(
            torch.cat([text_tokens, visual_tokens], dim=1), torch.cat([text_mask, visual_mask], dim=1)
        )
        length = text_tokens.shape[1]
        return fused[:, :length], fused[:, length:]

    def match_logits(self, batch: Mapping[str, Any]) -> Tensor:
        """(B, 2) matched-or-not logits of the batch's pairs as given (index 1 = matched)."""
        input_ids, text_mask = self.text_inputs(batch)
        visual = self.encode_visual(batch)
        text_part, _ = self.fuse(self.encode_text(input_ids, text_mask).tokens, text_mask, visual.tokens, visual.mask)
        return self.itm.head(self.pooler(text_part[:, 0]))

    def forward(self, batch: Mapping[str, Any]) -> MatchOutput:
        batch_size = self.batch_size(batch)
        input_ids, text_mask = self.text_inputs(batch)
        visual = self.encode_visual(batch)

        # ITM with random negatives, and WPA on the same fused pairs
        partner, labels = random_matching_pairs(
            batch_size, negative_prob=self.itm_negative_prob, positive_mask=self.positives(batch)
        )
        visual_mask = visual.mask[partner]
        text_part, visual_part = self.fuse(
            self.encode_text(input_ids, text_mask).tokens, text_mask, visual.tokens[partner], visual_mask
        )
        itm = self.itm(self.pooler(text_part[:, 0]), labels)
        word_mask = self.maskable(input_ids, text_mask, batch.get("word_ids"))
        patch_mask = self.content_mask(visual_mask)
        usable = word_mask.any(dim=1) & patch_mask.any(dim=1)  # a caption of specials only has no words
        if bool(usable.any()):
            wpa = self.wpa(
                text_part[usable], visual_part[usable], matched=labels[usable].bool(),
                text_mask=word_mask[usable], patch_mask=patch_mask[usable],
            ).loss
        else:
            wpa = text_part.sum() * 0.0

        # MLM (whole-word) with the true partners
        masked = self.mask_text(batch, whole_word=self.whole_word_masking)
        text_masked, _ = self.fuse(
            self.encode_text(masked.input_ids, text_mask).tokens, text_mask, visual.tokens, visual.mask
        )
        mlm = self.mlm(text_masked, masked.labels)
        return self.total(
            {"itm": itm.loss, "mlm": mlm.loss, "wpa": wpa},
            {"itm_accuracy": itm.accuracy, "mlm_accuracy": mlm.accuracy},
            match_logits=itm.logits.detach(), match_labels=itm.labels,
        )
