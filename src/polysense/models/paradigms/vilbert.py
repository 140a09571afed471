"""ViLBERT (uneven, entangled): two streams joined by co-attention transformer layers.

Lu et al. 2019, "ViLBERT: Pretraining Task-Agnostic Visiolinguistic Representations for
Vision-and-Language Tasks". A heavy visual encoder (the paper's Faster R-CNN; here any image or
audio encoder of the project, e.g. ``image_vit`` or ``audio_spectrogram_transformer``) yields
region (patch, frame) features; they are embedded (Linear + LayerNorm) into the visual stream.
The text encoder is the text stream. The streams then pass ``co_depth`` co-attentional layers
(:class:`~polysense.models.attention.CoAttentionEncoder`): in each, the queries of one stream
attend to the keys and values of the other, followed by a self-attention block per stream, so
the two keep their own widths and depths and interact only through co-attention (VE > MI > TE).

Objectives (one pass per step, as in the paper):

- **Alignment prediction** (ITM): half of the pairs get a random other image (never a
  duplicate of the true one); the pooled streams are multiplied element-wise and classified
  matched or not. Text: the [CLS] output; visual: the mean of the visual stream (the paper's
  IMG token stands for the mean of the region features; a [CLS] output varies too little
  between items at initialisation and trains far slower). Each passes Linear + tanh (the
  paper's visual pooler uses ReLU, which also trains slower at small widths).
- **Masked multi-modal modelling**, on matched pairs only: masked language modelling (15 %,
  80/10/10) on the text stream, and masked region modelling: 15 % of the visual features are
  picked, 90 % of those zeroed (10 % kept), and the visual stream regresses the original
  feature (UNITER's MRFR; the paper's variant predicts detector classes, which a patch encoder
  does not have). The regression target is the visual encoder's output, detached.

Config::

    {"name": "vilbert", "co_depth": 2, "heads": 4,
     "image": {"name": "image_vit", "depth": 4, "dim": 128, "image_size": 32, "patch_size": 8},
     "text": {"name": "text_transformer", "depth": 2, "dim": 96, "vocab_size": 1000}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from polysense._checks import check_positive_int, check_unit_interval
from polysense.losses.masked import (
    IGNORE_INDEX,
    MaskedFeatureRegressionLoss,
    MaskedLanguageModelingLoss,
    mask_features,
)
from polysense.losses.matching import ITMHead, itm_loss, random_matching_pairs
from polysense.models.attention import CoAttentionEncoder
from polysense.models.layers import masked_mean
from polysense.models.output import MatchOutput
from polysense.models.paradigms.entangled import EntangledModel
from polysense.models.registry import register

__all__ = ["ViLBERT"]


@register("model", "vilbert")
class ViLBERT(EntangledModel):
    """ViLBERT over text and images (or audio).

    Args:
        text, image, audio, mask_token_id, special_token_ids, tokenizer, mask_prob, loss_weights:
            see :class:`~polysense.models.paradigms.entangled.EntangledModel`; objectives
            ``"itm"``, ``"mlm"`` and ``"mrm"`` (masked region modelling), each weight 1.
        visual_dim: width of the visual stream (default: the visual encoder's).
        co_depth: number of co-attentional layers.
        heads: attention heads (must divide both stream widths).
        mlp_ratio, dropout, attention_dropout: of the co-attention and stream blocks.
        pooled_dim: width of the pooled vectors whose product is classified (default: the
            text encoder's width).
        region_mask_prob: probability to pick a visual token for masked region modelling.
        itm_negative_prob: probability that a pair's image is swapped for a negative.

    ``forward(batch) -> MatchOutput`` (the ITM scores of the pairs it judged); ``match_logits(batch)`` scores given pairs.
    """

    DEFAULT_WEIGHTS = {"itm": 1.0, "mlm": 1.0, "mrm": 1.0}

    def __init__(
        self,
        *,
        text: Mapping[str, Any] | nn.Module | None = None,
        image: Mapping[str, Any] | nn.Module | None = None,
        audio: Mapping[str, Any] | nn.Module | None = None,
        visual_dim: int | None = None,
        co_depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        pooled_dim: int | None = None,
        region_mask_prob: float = 0.15,
        itm_negative_prob: float = 0.5,
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
        visual_dim = self.visual.dim if visual_dim is None else check_positive_int("visual_dim", visual_dim)
        pooled_dim = self.text.dim if pooled_dim is None else check_positive_int("pooled_dim", pooled_dim)
        self.region_mask_prob = check_unit_interval("region_mask_prob", region_mask_prob)
        self.itm_negative_prob = check_unit_interval("itm_negative_prob", itm_negative_prob)
        self.visual_embed = nn.Sequential(nn.Linear(self.visual.dim, visual_dim), nn.LayerNorm(visual_dim))
        self.co_attention = CoAttentionEncoder(
            visual_dim, self.text.dim, co_depth, heads,
            mlp_ratio=mlp_ratio, dropout=dropout, attention_dropout=attention_dropout,
        )
        self.text_pooler = nn.Sequential(nn.Linear(self.text.dim, pooled_dim), nn.Tanh())
        self.visual_pooler = nn.Sequential(nn.Linear(visual_dim, pooled_dim), nn.Tanh())
        self.itm_head = ITMHead(pooled_dim)
        self.mlm = MaskedLanguageModelingLoss(self.text.dim, self.vocab_size)
        self.mrm = MaskedFeatureRegressionLoss(visual_dim, self.visual.dim)

    def streams(
        self, visual_features: Tensor, visual_mask: Tensor, text_tokens: Tensor, text_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Embed the visual features and run the co-attention layers: (visual stream, text stream)."""
        return self.co_attention(self.visual_embed(visual_features), text_tokens, visual_mask, text_mask)

    def _match(self, visual_stream: Tensor, visual_mask: Tensor, text_stream: Tensor) -> Tensor:
        pooled_visual = masked_mean(visual_stream, visual_mask)
        return self.itm_head(self.text_pooler(text_stream[:, 0]) * self.visual_pooler(pooled_visual))

    def match_logits(self, batch: Mapping[str, Any]) -> Tensor:
        """(B, 2) alignment logits of the batch's pairs as given (index 1 = matched)."""
        input_ids, text_mask = self.text_inputs(batch)
        visual = self.encode_visual(batch)
        text_tokens = self.encode_text(input_ids, text_mask).tokens
        visual_stream, text_stream = self.streams(visual.tokens, visual.mask, text_tokens, text_mask)
        return self._match(visual_stream, visual.mask, text_stream)

    def forward(self, batch: Mapping[str, Any]) -> MatchOutput:
        batch_size = self.batch_size(batch)
        input_ids, text_mask = self.text_inputs(batch)
        visual = self.encode_visual(batch)

        partner, labels = random_matching_pairs(
            batch_size, negative_prob=self.itm_negative_prob, positive_mask=self.positives(batch)
        )
        features, visual_mask = visual.tokens[partner], visual.mask[partner]
        regions = mask_features(features, maskable=self.content_mask(visual_mask), mask_prob=self.region_mask_prob)
        masked_text = self.mask_text(batch)
        text_tokens = self.encode_text(masked_text.input_ids, text_mask).tokens
        visual_stream, text_stream = self.streams(regions.features, visual_mask, text_tokens, text_mask)

        itm = itm_loss(self._match(visual_stream, visual_mask, text_stream), labels)
        matched = labels.bool()
        # a caption does not describe a swapped image: masked modelling on matched pairs only
        mlm = self.mlm(text_stream, masked_text.labels.masked_fill(~matched[:, None], IGNORE_INDEX))
        mrm = self.mrm(visual_stream, features.detach(), regions.picked & matched[:, None])
        return self.total(
            {"itm": itm.loss, "mlm": mlm.loss, "mrm": mrm.loss},
            {"itm_accuracy": itm.accuracy, "mlm_accuracy": mlm.accuracy},
            match_logits=itm.logits.detach(), match_labels=itm.labels,
        )
