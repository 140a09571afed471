"""Training objectives, each a function plus an ``nn.Module`` with a typed output.

- :mod:`.contrastive`: InfoNCE, CLIP's symmetric loss, the learnable temperature.
- :mod:`.ranking`: VSE++'s max-violation hinge loss.
- :mod:`.distributed`: gathering embeddings across processes with gradients.
- :mod:`.matching`: image(audio)-text matching and its negative samplers.
- :mod:`.masked`: masked language modelling (80/10/10, whole-word) and masked features.
- :mod:`.ot`: word-patch alignment by optimal transport (IPOT).
"""

from polysense.losses.contrastive import (
    DEFAULT_LOGIT_SCALE,
    MAX_LOGIT_SCALE,
    ClipLoss,
    ContrastiveOutput,
    InfoNCEOutput,
    LogitScale,
    clip_loss,
    cosine_similarity,
    info_nce,
)
from polysense.losses.distributed import (
    GatheredPairs,
    ProcessLayout,
    gather_pairs,
    gather_with_grad,
    is_distributed,
    process_layout,
    share_of_global,
)
from polysense.losses.masked import (
    MaskedFeatureRegressionLoss,
    MaskedLanguageModelingLoss,
    MaskedLossOutput,
    mask_features,
    mask_tokens,
    masked_feature_loss,
    mlm_loss,
)
from polysense.losses.matching import (
    ImageTextMatchingLoss,
    MatchingOutput,
    itm_loss,
    random_negatives,
    sample_hard_negatives,
)
from polysense.losses.ot import OTOutput, WordPatchAlignmentLoss, WPAOutput, ipot, word_patch_alignment_loss
from polysense.losses.ranking import DEFAULT_MARGIN, RankingOutput, VSEPPLoss, vsepp_loss

__all__ = [
    "ClipLoss",
    "ContrastiveOutput",
    "DEFAULT_LOGIT_SCALE",
    "DEFAULT_MARGIN",
    "GatheredPairs",
    "ImageTextMatchingLoss",
    "InfoNCEOutput",
    "LogitScale",
    "MAX_LOGIT_SCALE",
    "MaskedFeatureRegressionLoss",
    "MaskedLanguageModelingLoss",
    "MaskedLossOutput",
    "MatchingOutput",
    "OTOutput",
    "ProcessLayout",
    "RankingOutput",
    "VSEPPLoss",
    "WPAOutput",
    "WordPatchAlignmentLoss",
    "clip_loss",
    "cosine_similarity",
    "gather_pairs",
    "gather_with_grad",
    "info_nce",
    "ipot",
    "is_distributed",
    "itm_loss",
    "mask_features",
    "mask_tokens",
    "masked_feature_loss",
    "mlm_loss",
    "process_layout",
    "random_negatives",
    "sample_hard_negatives",
    "share_of_global",
    "vsepp_loss",
    "word_patch_alignment_loss",
]
