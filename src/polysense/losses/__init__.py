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
    ProcessLayout,
    gather_with_grad,
    is_distributed,
    process_layout,
    share_of_global,
)

__all__ = [
    "DEFAULT_LOGIT_SCALE",
    "MAX_LOGIT_SCALE",
    "ClipLoss",
    "ContrastiveOutput",
    "InfoNCEOutput",
    "LogitScale",
    "ProcessLayout",
    "clip_loss",
    "cosine_similarity",
    "gather_with_grad",
    "info_nce",
    "is_distributed",
    "process_layout",
    "share_of_global",
]
