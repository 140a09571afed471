"""ALBEF (align before fuse): contrastive alignment, then cross-attention fusion.

Li et al. 2021, "Align before Fuse: Vision and Language Representation Learning with Momentum
Distillation". A visual encoder (image or audio) and a text encoder produce unimodal
embeddings that are *aligned* by a contrastive loss before a fusion encoder (text
self-attention + cross-attention to the visual tokens,
:class:`~polysense.models.attention.CrossAttentionBlock`) combines them.

Objectives:

- **ITC** (image-text contrastive), MoCo style: the [CLS] vectors of both encoders, projected
  and L2-normalised, are queries; the keys are the features of *momentum encoders* (EMA copies,
  ``theta_m <- 0.995 theta_m + 0.005 theta``, no gradient) of the global batch, plus a FIFO
  queue of the last ``queue_size`` momentum features as extra negatives. Targets are
  ``alpha * softmax(s * sim_momentum) + (1 - alpha) * one_hot`` (momentum distillation), with
  ``alpha`` ramped linearly from 0 to its final value (0.4) over ``alpha_warmup_steps``
  training steps (the paper: the first epoch). Loss: the mean of both directions of
  :func:`polysense.losses.info_nce`, with a learned temperature (initial 0.07).
- **ITM** with hard negatives: for each image one text, and for each text one image, drawn
  from the batch with probability ``softmax`` of the ITC similarities with the positives
  (the diagonal and duplicate captions/images) zeroed; the fused [CLS] of the B positive and
  2B negative pairs is classified matched or not.
- **MLM** (15 %, 80/10/10) on the fused representation of the masked text with the true image.

Not included: the paper's momentum distillation of the MLM targets (the momentum model here
covers the unimodal encoders and projections, which ITC needs).

Config::

    {"name": "albef", "embed_dim": 64, "fusion_depth": 2, "queue_size": 1024,
     "image": {"name": "image_vit", "depth": 4, "dim": 128, "image_size": 32, "patch_size": 8},
     "text": {"name": "text_transformer", "depth": 2, "dim": 128, "vocab_size": 1000}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polysense._checks import check_positive_float, check_positive_int, check_unit_interval
from polysense.losses.contrastive import MAX_LOGIT_SCALE, LogitScale, info_nce
from polysense.losses.distributed import gather_with_grad, process_layout
from polysense.losses.masked import MaskedLanguageModelingLoss
from polysense.losses.matching import ImageTextMatchingLoss, sample_hard_negatives
from polysense.models.attention import CrossAttentionBlock
from polysense.models.heads import ProjectionHead
from polysense.models.momentum import FeatureQueue, alpha_ramp, ema_update, momentum_copy
from polysense.models.output import EmbeddingOutput
from polysense.models.paradigms.entangled import EntangledModel
from polysense.models.registry import register

__all__ = ["ALBEF"]


@register("model", "albef")
class ALBEF(EntangledModel):
    """ALBEF over text and images (or audio).

    Args:
        text, image, audio, mask_token_id, special_token_ids, tokenizer, mask_prob, loss_weights:
            see :class:`~polysense.models.paradigms.entangled.EntangledModel`; objectives
            ``"itc"``, ``"itm"`` and ``"mlm"``, each weight 1.
        embed_dim: width of the contrastive space.
        fusion_depth, heads, mlp_ratio, dropout, attention_dropout: the fusion encoder.
        momentum: EMA coefficient of the momentum encoders (0.995).
        queue_size: momentum features kept per modality as extra negatives (0: no queue).
        alpha: final weight of the momentum (soft) targets (0.4; 0 switches distillation off).
        alpha_warmup_steps: training steps over which alpha ramps up from 0.
        temperature: initial ITC temperature (0.07), learned when ``learn_temperature``;
            the logit scale 1/temperature never exceeds ``max_logit_scale``.

    ``forward(batch) -> EmbeddingOutput`` (in training mode it also updates the momentum
    encoders, the queues and the step count); ``match_logits(batch)`` scores given pairs;
    ``encode(modality, batch)`` / ``embed(batch)`` give the unit-length unimodal (ITC)
    embeddings for retrieval.
    """

    kind = "embedder"
    #: the modalities' embeddings are trained to be comparable (cross-modal retrieval)
    shared_space = True

    DEFAULT_WEIGHTS = {"itc": 1.0, "itm": 1.0, "mlm": 1.0}

    step: Tensor

    def __init__(
        self,
        *,
        text: Mapping[str, Any] | nn.Module | None = None,
        image: Mapping[str, Any] | nn.Module | None = None,
        audio: Mapping[str, Any] | nn.Module | None = None,
        embed_dim: int = 256,
        fusion_depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        momentum: float = 0.995,
        queue_size: int = 4096,
        alpha: float = 0.4,
        alpha_warmup_steps: int = 1000,
        temperature: float = 0.07,
        learn_temperature: bool = True,
        max_logit_scale: float = MAX_LOGIT_SCALE,
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
        self.embed_dim = check_positive_int("embed_dim", embed_dim, what="width of the contrastive space")
        self.momentum = check_unit_interval("momentum", momentum, what="an EMA momentum (ALBEF uses 0.995)")
        self.alpha_final = check_unit_interval("alpha", alpha)
        self.alpha_warmup_steps = check_positive_int("alpha_warmup_steps", alpha_warmup_steps)
        queue_size = check_positive_int("queue_size", queue_size, minimum=0, what="queued momentum features")
        self.visual_proj = ProjectionHead(self.visual.dim, self.embed_dim, normalize=True)
        self.text_proj = ProjectionHead(self.text.dim, self.embed_dim, normalize=True)
        self.logit_scale = LogitScale(
            1.0 / check_positive_float("temperature", temperature), max_scale=max_logit_scale,
            learnable=learn_temperature,
        )
        self.fusion = nn.ModuleList(
            CrossAttentionBlock(
                self.text.dim, self.visual.dim, heads, mlp_ratio=mlp_ratio, dropout=dropout,
                attention_dropout=attention_dropout,
            )
            for _ in range(check_positive_int("fusion_depth", fusion_depth, what="cross-attention layers"))
        )
        self.fusion_norm = nn.LayerNorm(self.text.dim)
        self.itm = ImageTextMatchingLoss(self.text.dim)
        self.mlm = MaskedLanguageModelingLoss(self.text.dim, self.vocab_size)
        # momentum twins of the unimodal parts: frozen, updated by EMA only
        self.momentum_model = nn.ModuleDict(
            {name: momentum_copy(getattr(self, name)) for name in ("visual", "visual_proj", "text", "text_proj")}
        )
        self.visual_queue = FeatureQueue(size=queue_size, dim=self.embed_dim) if queue_size else None
        self.text_queue = FeatureQueue(size=queue_size, dim=self.embed_dim) if queue_size else None
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ parts
    @property
    def alpha(self) -> float:
        """The current distillation weight: ramps from 0 to ``alpha`` over the warm-up steps."""
        return alpha_ramp(int(self.step), final=self.alpha_final, warmup_steps=self.alpha_warmup_steps)

    @torch.no_grad()
    def momentum_update(self) -> None:
        """One EMA step of every momentum twin towards its online module."""
        for name, twin in self.momentum_model.items():
            ema_update(twin, getattr(self, name), momentum=self.momentum)

    def fuse(self, text_tokens: Tensor, text_mask: Tensor, visual_tokens: Tensor, visual_mask: Tensor) -> Tensor:
        """The fusion encoder: text tokens attend to themselves and to the visual tokens."""
        for block in self.fusion:
            text_tokens = block(text_tokens, visual_tokens, text_mask, visual_mask)
        return self.fusion_norm(text_tokens)

    def project(self, modality: str, pooled: Tensor) -> Tensor:
        """The ITC projection of ``modality`` (so :meth:`encode` gives the contrastive space)."""
        return (self.text_proj if modality == "text" else self.visual_proj)(pooled)

    def embed(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Unit-length unimodal embeddings ``{modality: (B, E), "text": (B, E)}`` (for retrieval)."""
        return {m: self.encode(m, batch) for m in self.modalities}

    def match_logits(self, batch: Mapping[str, Any]) -> Tensor:
        """(B, 2) ITM logits of the batch's pairs as given (index 1 = matched)."""
        input_ids, text_mask = self.text_inputs(batch)
        visual = self.encode_visual(batch)
        text_tokens = self.encode_text(input_ids, text_mask).tokens
        return self.itm.head(self.fuse(text_tokens, text_mask, visual.tokens, visual.mask)[:, 0])

    @staticmethod
    def _queued(queue: FeatureQueue | None, like: Tensor) -> Tensor:
        return like.new_zeros(0, like.shape[1]) if queue is None else queue.features().to(like.dtype)

    # ------------------------------------------------------------------ objectives
    def forward(self, batch: Mapping[str, Any]) -> EmbeddingOutput:
        batch_size = self.batch_size(batch)
        input_ids, text_mask = self.text_inputs(batch)
        visual = self.encode_visual(batch)
        text = self.encode_text(input_ids, text_mask)
        visual_feat = self.visual_proj(visual.pooled)
        text_feat = self.text_proj(text.pooled)
        alpha = self.alpha if self.training else self.alpha_final

        # ITC against momentum keys (global batch + queue), with momentum soft targets
        layout = process_layout(batch_size)
        with torch.no_grad():
            if self.training:
                self.momentum_update()
            twin = self.momentum_model
            visual_m = twin["visual_proj"](self.encode_visual(batch, encoder=twin["visual"]).pooled)
            text_m = twin["text_proj"](twin["text"](input_ids, text_mask).pooled)
            visual_m_all = gather_with_grad(visual_m, layout=layout)
            text_m_all = gather_with_grad(text_m, layout=layout)
            visual_queue, text_queue = self._queued(self.visual_queue, visual_m), self._queued(self.text_queue, text_m)
            scale = self.logit_scale().detach()
            columns = layout.global_size + visual_queue.shape[0]
            one_hot = F.one_hot(torch.arange(batch_size, device=visual_m.device) + layout.offset, columns)
            one_hot = one_hot.to(visual_m.dtype)
            sim_i2t = scale * visual_m @ torch.cat([text_m_all, text_queue]).T
            sim_t2i = scale * text_m @ torch.cat([visual_m_all, visual_queue]).T
            targets_i2t = alpha * sim_i2t.softmax(dim=1) + (1 - alpha) * one_hot
            targets_t2i = alpha * sim_t2i.softmax(dim=1) + (1 - alpha) * one_hot
        common = dict(logit_scale=self.logit_scale(), normalize=False, layout=layout)
        i2t = info_nce(visual_feat, text_m_all, targets=targets_i2t, extra_keys=text_queue, **common)
        t2i = info_nce(text_feat, visual_m_all, targets=targets_t2i, extra_keys=visual_queue, **common)
        itc = (i2t.loss + t2i.loss) / 2

        # ITM: the positives, one hard negative text per image and one hard negative image per text
        local = slice(layout.offset, layout.offset + batch_size)
        positives = self.positives(batch)
        negative_text = sample_hard_negatives(i2t.logits[:, local].detach(), positive_mask=positives)
        negative_visual = sample_hard_negatives(t2i.logits[:, local].detach(), positive_mask=positives.T)
        fused = self.fuse(
            torch.cat([text.tokens, text.tokens, text.tokens[negative_text]]),
            torch.cat([text_mask, text_mask, text_mask[negative_text]]),
            torch.cat([visual.tokens, visual.tokens[negative_visual], visual.tokens]),
            torch.cat([visual.mask, visual.mask[negative_visual], visual.mask]),
        )
        labels = torch.cat([torch.ones(batch_size), torch.zeros(2 * batch_size)]).long().to(fused.device)
        itm = self.itm(fused[:, 0], labels)

        # MLM on the fused representation of the masked text with the true image
        masked = self.mask_text(batch)
        masked_tokens = self.encode_text(masked.input_ids, text_mask).tokens
        mlm = self.mlm(self.fuse(masked_tokens, text_mask, visual.tokens, visual.mask), masked.labels)

        if self.training:
            if self.visual_queue is not None:
                self.visual_queue.enqueue(visual_m_all)
                self.text_queue.enqueue(text_m_all)
            self.step += 1
        return self.total(
            {"itc": itc, "itm": itm.loss, "mlm": mlm.loss},
            {
                "itm_accuracy": itm.accuracy,
                "mlm_accuracy": mlm.accuracy,
                "alpha": torch.tensor(alpha),
                "logit_scale": scale,
            },
            output=EmbeddingOutput,
            embeddings={self.modality: visual_feat, "text": text_feat},
            similarity=self.logit_scale() * visual_feat @ text_feat.T,
        )
