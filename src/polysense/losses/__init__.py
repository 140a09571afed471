"""Training objectives, each a function plus an ``nn.Module`` with a typed output.

- :mod:`.contrastive`: InfoNCE, CLIP's symmetric loss, the learnable temperature.
- :mod:`.ranking`: VSE++'s max-violation hinge loss.
- :mod:`.distributed`: gathering embeddings across processes with gradients.
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
from polysense.losses.ranking import DEFAULT_MARGIN, RankingOutput, VSEPPLoss, vsepp_loss

__all__ = [
    "DEFAULT_LOGIT_SCALE",
    "DEFAULT_MARGIN",
    "GatheredPairs",
    "MAX_LOGIT_SCALE",
    "ClipLoss",
    "ContrastiveOutput",
    "InfoNCEOutput",
    "LogitScale",
    "ProcessLayout",
    "RankingOutput",
    "VSEPPLoss",
    "clip_loss",
    "cosine_similarity",
    "gather_pairs",
    "gather_with_grad",
    "info_nce",
    "is_distributed",
    "process_layout",
    "share_of_global",
    "vsepp_loss",
]
