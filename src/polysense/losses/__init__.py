"""Training objectives, each a function plus an ``nn.Module`` with a typed output.

- :mod:`.contrastive`: InfoNCE, CLIP's symmetric loss, the learnable temperature.
- :mod:`.ranking`: VSE++'s max-violation hinge loss.
- :mod:`.distributed`: gathering embeddings across processes with gradients.
- :mod:`.matching`: image(audio)-text matching and its negative samplers.
- :mod:`.masked`: masked language modelling (80/10/10, whole-word) and masked features.
- :mod:`.ot`: word-patch alignment by optimal transport (IPOT).
- :mod:`.ctc`: connectionist temporal classification (sequence recognition without alignments).
- :mod:`.separation`: SI-SDR and the permutation-invariant SI-SDR loss (denoising, separation).
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
from polysense.losses.ctc import CTCLengthError, CTCLoss, ctc_loss, ctc_min_frames
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
    IGNORE_INDEX,
    MaskedFeatureRegressionLoss,
    MaskedLanguageModelingLoss,
    MaskedFeatures,
    MaskedLossOutput,
    MaskedTokens,
    MLMHead,
    mask_features,
    mask_tokens,
    masked_feature_loss,
    mlm_loss,
)
from polysense.losses.matching import (
    ImageTextMatchingLoss,
    ITMHead,
    MatchingOutput,
    duplicate_mask,
    itm_loss,
    random_matching_pairs,
    random_negatives,
    sample_hard_negatives,
)
from polysense.losses.ot import (
    OTOutput,
    WordPatchAlignmentLoss,
    WPAOutput,
    cosine_cost,
    ipot,
    ot_distance,
    word_patch_alignment_loss,
)
from polysense.losses.ranking import DEFAULT_MARGIN, RankingOutput, VSEPPLoss, vsepp_loss
from polysense.losses.separation import (
    NegSISDRLoss,
    PITOutput,
    PITSISDRLoss,
    neg_si_sdr_loss,
    pit_si_sdr_loss,
    si_sdr,
)

__all__ = [
    "CTCLengthError",
    "CTCLoss",
    "ClipLoss",
    "ContrastiveOutput",
    "DEFAULT_LOGIT_SCALE",
    "DEFAULT_MARGIN",
    "GatheredPairs",
    "IGNORE_INDEX",
    "ITMHead",
    "ImageTextMatchingLoss",
    "InfoNCEOutput",
    "LogitScale",
    "MAX_LOGIT_SCALE",
    "MLMHead",
    "MaskedFeatureRegressionLoss",
    "MaskedFeatures",
    "MaskedLanguageModelingLoss",
    "MaskedLossOutput",
    "MaskedTokens",
    "MatchingOutput",
    "NegSISDRLoss",
    "OTOutput",
    "PITOutput",
    "PITSISDRLoss",
    "ProcessLayout",
    "RankingOutput",
    "VSEPPLoss",
    "WPAOutput",
    "WordPatchAlignmentLoss",
    "clip_loss",
    "cosine_cost",
    "cosine_similarity",
    "ctc_loss",
    "ctc_min_frames",
    "duplicate_mask",
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
    "neg_si_sdr_loss",
    "ot_distance",
    "pit_si_sdr_loss",
    "process_layout",
    "random_matching_pairs",
    "random_negatives",
    "sample_hard_negatives",
    "share_of_global",
    "si_sdr",
    "vsepp_loss",
    "word_patch_alignment_loss",
]
