"""Masked modelling: BERT-style token masking (80/10/10, whole-word) and masked-feature regression.

Masked language modelling (MLM, Devlin et al. 2019) picks each maskable token with probability
``mask_prob`` (15 %); a picked token is replaced by ``[MASK]`` with probability ``replace_prob``
(80 %), by a uniformly random token with probability ``random_prob`` (10 %), and left as it is
otherwise (10 %); the model predicts the original token at the picked positions only. With
*whole-word masking* (used by ViLT) the words are picked, not the tokens: all sub-word tokens of
a picked word are masked together, and the 80/10/10 choice is then made per token (as in BERT's
``create_pretraining_data.py`` and Hugging Face's whole-word collator).

Masked region modelling (ViLBERT's masked multi-modal objective, UNITER's MRFR) is the same idea
on continuous features: 15 % of the visual (or audio) tokens are picked; 90 % of those are
replaced (zeroed, or by a learned mask vector) and 10 % kept; the model regresses the original
feature at the picked positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polysense._checks import check_positive_int, check_unit_interval
from polysense.errors import ParameterError

IGNORE_INDEX = -100


@dataclass
class MaskedTokens:
    """Result of :func:`mask_tokens`.

    Attributes:
        input_ids: (batch, length) corrupted ids to feed the model.
        labels: (batch, length) the original id where a token was picked, ``ignore_index`` elsewhere.
        picked: (batch, length) bool, True where a token was picked (masked, randomised or kept).
    """

    input_ids: Tensor
    labels: Tensor
    picked: Tensor


@dataclass
class MaskedFeatures:
    """Result of :func:`mask_features`.

    Attributes:
        features: (batch, tokens, dim) corrupted features.
        picked: (batch, tokens) bool, True where a token was picked (replaced or kept).
    """

    features: Tensor
    picked: Tensor


@dataclass
class MaskedLossOutput:
    """Typed output of the masked-modelling losses.

    Attributes:
        loss: scalar loss averaged over the picked positions (0, still differentiable, if none).
        accuracy: scalar, share of picked tokens predicted right (MLM); NaN for regression.
        num_picked: number of positions the loss was averaged over.
    """

    loss: Tensor
    accuracy: Tensor
    num_picked: int


def _rand(shape: tuple[int, ...], *, device: torch.device, generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, device=device, generator=generator)


def mask_tokens(
    input_ids: Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    maskable: Tensor | None = None,
    word_ids: Tensor | None = None,
    mask_prob: float = 0.15,
    replace_prob: float = 0.8,
    random_prob: float = 0.1,
    generator: torch.Generator | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> MaskedTokens:
    """Corrupt token ids for masked language modelling (token-level or whole-word).

    Args:
        input_ids: (batch, length) integer token ids.
        mask_token_id: id of the ``[MASK]`` token.
        vocab_size: random replacements are drawn uniformly from ``[0, vocab_size)``.
        maskable: (batch, length) bool, True where a token may be picked; pass the text mask
            with special tokens ([CLS], [SEP], padding) set False. None: every token.
        word_ids: (batch, length) integer index of the word each token belongs to, negative for
            tokens outside any word (special tokens, padding). Given, whole words are picked
            with probability ``mask_prob`` and all their tokens masked together.
        mask_prob: probability to pick a token (or a word).
        replace_prob: probability that a picked token becomes ``[MASK]``.
        random_prob: probability that a picked token becomes a random token; the rest,
            ``1 - replace_prob - random_prob``, stays unchanged.
        generator: torch random generator (on ``input_ids``' device) for reproducible masks.
        ignore_index: label value at positions not picked (cross-entropy's ``ignore_index``).

    Returns:
        :class:`MaskedTokens`.

    Example:
        >>> ids = torch.randint(5, 100, (4, 12))
        >>> m = mask_tokens(ids, mask_token_id=4, vocab_size=100)
        >>> loss = F.cross_entropy(logits.flatten(0, 1), m.labels.flatten(), ignore_index=-100)
    """
    if input_ids.ndim != 2 or input_ids.is_floating_point() or input_ids.is_complex():
        raise ParameterError(
            f"input_ids has shape {tuple(input_ids.shape)} and dtype {input_ids.dtype}: "
            "expected integer ids of shape (batch, length)"
        )
    vocab_size = check_positive_int("vocab_size", vocab_size, what="size of the token vocabulary")
    if not 0 <= int(mask_token_id) < vocab_size:
        raise ParameterError(f"mask_token_id={mask_token_id!r} is invalid: expected an id in [0, {vocab_size})")
    mask_prob = check_unit_interval("mask_prob", mask_prob)
    replace_prob = check_unit_interval("replace_prob", replace_prob)
    random_prob = check_unit_interval("random_prob", random_prob)
    if replace_prob + random_prob > 1.0 + 1e-12:
        raise ParameterError(
            f"replace_prob + random_prob = {replace_prob + random_prob} exceeds 1: the share kept "
            "unchanged is 1 - replace_prob - random_prob"
        )
    shape, device = tuple(input_ids.shape), input_ids.device
    if maskable is None:
        maskable = torch.ones(shape, dtype=torch.bool, device=device)
    elif maskable.shape != input_ids.shape:
        raise ParameterError(f"maskable has shape {tuple(maskable.shape)}: expected {shape} like input_ids")
    maskable = maskable.bool()

    if word_ids is None:
        picked = _rand(shape, device=device, generator=generator) < mask_prob
    else:
        if word_ids.shape != input_ids.shape or word_ids.is_floating_point():
            raise ParameterError(
                f"word_ids has shape {tuple(word_ids.shape)} and dtype {word_ids.dtype}: expected "
                f"integer word indices of shape {shape} (negative for special tokens)"
            )
        in_word = word_ids >= 0
        num_words = int(word_ids.max().item()) + 1 if bool(in_word.any()) else 1
        word_picked = _rand((shape[0], num_words), device=device, generator=generator) < mask_prob
        picked = word_picked.gather(1, word_ids.clamp_min(0).long()) & in_word
    picked &= maskable

    choice = _rand(shape, device=device, generator=generator)
    to_mask = picked & (choice < replace_prob)
    to_random = picked & (choice >= replace_prob) & (choice < replace_prob + random_prob)
    random_ids = torch.randint(0, vocab_size, shape, device=device, generator=generator, dtype=input_ids.dtype)

    corrupted = torch.where(to_mask, torch.full_like(input_ids, int(mask_token_id)), input_ids)
    corrupted = torch.where(to_random, random_ids, corrupted)
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, ignore_index))
    return MaskedTokens(input_ids=corrupted, labels=labels, picked=picked)


def mask_features(
    features: Tensor,
    *,
    maskable: Tensor | None = None,
    mask_prob: float = 0.15,
    replace_prob: float = 0.9,
    mask_value: Tensor | float = 0.0,
    generator: torch.Generator | None = None,
) -> MaskedFeatures:
    """Corrupt continuous tokens (regions, patches, frames) for masked feature modelling.

    Each maskable token is picked with probability ``mask_prob``; a picked token is replaced by
    ``mask_value`` with probability ``replace_prob`` (ViLBERT: zeroed 90 % of the time) and
    kept otherwise.

    Args:
        features: (batch, tokens, dim).
        maskable: (batch, tokens) bool, True where a token may be picked (e.g. real, non-CLS).
        mask_value: a number or a (dim,) tensor (e.g. a learned mask embedding) used as replacement.
        generator: torch random generator for reproducible masks.
    """
    if features.ndim != 3 or not features.is_floating_point():
        raise ParameterError(
            f"features has shape {tuple(features.shape)} and dtype {features.dtype}: "
            "expected floating point (batch, tokens, dim)"
        )
    mask_prob = check_unit_interval("mask_prob", mask_prob)
    replace_prob = check_unit_interval("replace_prob", replace_prob)
    shape, device = tuple(features.shape[:2]), features.device
    if maskable is None:
        maskable = torch.ones(shape, dtype=torch.bool, device=device)
    elif maskable.shape != shape:
        raise ParameterError(f"maskable has shape {tuple(maskable.shape)}: expected {shape} (batch, tokens)")
    picked = (_rand(shape, device=device, generator=generator) < mask_prob) & maskable.bool()
    replace = picked & (_rand(shape, device=device, generator=generator) < replace_prob)
    value = torch.as_tensor(mask_value, dtype=features.dtype, device=device).expand_as(features)
    return MaskedFeatures(features=torch.where(replace[..., None], value, features), picked=picked)


def mlm_loss(logits: Tensor, labels: Tensor, *, ignore_index: int = IGNORE_INDEX) -> MaskedLossOutput:
    """Cross-entropy over the picked positions: ``mean_{labels != ignore} -log p(label)``.

    Args:
        logits: (batch, length, vocab) predictions.
        labels: (batch, length) original ids at picked positions, ``ignore_index`` elsewhere.

    Returns:
        :class:`MaskedLossOutput`; with nothing picked the loss is ``0 * logits.sum()``
        (zero, keeping the graph) instead of NaN.
    """
    if logits.ndim != 3 or logits.shape[:2] != labels.shape:
        raise ParameterError(
            f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} do not fit: expected "
            "(batch, length, vocab) and (batch, length)"
        )
    picked = labels != ignore_index
    count = int(picked.sum().item())
    if count == 0:
        zero = logits.sum() * 0.0
        return MaskedLossOutput(loss=zero, accuracy=torch.full_like(zero.detach(), float("nan")), num_picked=0)
    chosen_logits, chosen_labels = logits[picked], labels[picked]
    loss = F.cross_entropy(chosen_logits, chosen_labels)
    accuracy = (chosen_logits.detach().argmax(-1) == chosen_labels).float().mean()
    return MaskedLossOutput(loss=loss, accuracy=accuracy, num_picked=count)


def masked_feature_loss(prediction: Tensor, target: Tensor, picked: Tensor) -> MaskedLossOutput:
    """Masked feature regression: ``mean over picked tokens of mean_d (prediction - target)^2``.

    Args:
        prediction: (batch, tokens, dim) predicted features.
        target: (batch, tokens, dim) original features (detach them when they come from a
            trainable encoder, as UNITER's MRFR does with its detector features).
        picked: (batch, tokens) bool positions to score.
    """
    if prediction.shape != target.shape or prediction.shape[:2] != picked.shape:
        raise ParameterError(
            f"prediction {tuple(prediction.shape)}, target {tuple(target.shape)} and picked "
            f"{tuple(picked.shape)} do not fit: expected (batch, tokens, dim) twice and (batch, tokens)"
        )
    count = int(picked.sum().item())
    nan = torch.full((), float("nan"), device=prediction.device)
    if count == 0:
        return MaskedLossOutput(loss=prediction.sum() * 0.0, accuracy=nan, num_picked=0)
    loss = F.mse_loss(prediction[picked.bool()], target[picked.bool()])
    return MaskedLossOutput(loss=loss, accuracy=nan, num_picked=count)


class MLMHead(nn.Module):
    """BERT's prediction head: dense -> GELU -> LayerNorm -> vocabulary logits."""

    def __init__(self, dim: int, vocab_size: int) -> None:
        super().__init__()
        dim = check_positive_int("dim", dim)
        vocab_size = check_positive_int("vocab_size", vocab_size)
        self.transform = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))
        self.decoder = nn.Linear(dim, vocab_size)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.decoder(self.transform(tokens))


class MaskedLanguageModelingLoss(nn.Module):
    """Module form of MLM: an :class:`MLMHead` and :func:`mlm_loss` on its logits."""

    def __init__(self, dim: int, vocab_size: int, *, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.head = MLMHead(dim, vocab_size)
        self.ignore_index = ignore_index

    def forward(self, tokens: Tensor, labels: Tensor) -> MaskedLossOutput:
        return mlm_loss(self.head(tokens), labels, ignore_index=self.ignore_index)


class MaskedFeatureRegressionLoss(nn.Module):
    """Module form of masked feature regression: a linear head to the target dim, then MSE."""

    def __init__(self, dim: int, target_dim: int) -> None:
        super().__init__()
        self.head = nn.Linear(check_positive_int("dim", dim), check_positive_int("target_dim", target_dim))

    def forward(self, tokens: Tensor, target: Tensor, picked: Tensor) -> MaskedLossOutput:
        return masked_feature_loss(self.head(tokens), target, picked)
