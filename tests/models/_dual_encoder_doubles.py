"""Tiny stand-in encoders and paired batches for the dual-encoder paradigm tests (VSE++, CLIP)."""

from __future__ import annotations

import torch
from torch import nn

from polysense.metrics.retrieval import retrieval_metrics
from polysense.models.encoders.base import EncoderOutput

PAIRS = [("audio", "text"), ("image", "text"), ("audio", "image")]

#: Tiny configs of the real encoders (helper F's), for the end-to-end tests.
ENCODERS = {
    "audio": {"name": "audio_cnn", "sample_rate": 8000, "n_fft": 128, "hop_length": 64, "n_mels": 16,
              "channels": [4, 8], "dim": 16},
    "image": {"name": "image_vit", "image_size": 16, "patch_size": 8, "dim": 16, "depth": 1, "heads": 2},
    "text": {"name": "text_transformer", "vocab_size": 40, "dim": 16, "depth": 1, "heads": 2, "dropout": 0.0},
}


def real_batch(pair: tuple[str, str], n: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """A paired batch shaped for ENCODERS (0.2 s of 8 kHz audio, 16x16 images, 7 tokens)."""
    g = torch.Generator().manual_seed(seed)
    batch = {}
    if "audio" in pair:
        batch["audio"] = torch.randn(n, 1600, generator=g)
        batch["audio_mask"] = torch.ones(n, 1600, dtype=torch.bool)
    if "image" in pair:
        batch["image"] = torch.randn(n, 3, 16, 16, generator=g)
    if "text" in pair:
        batch["input_ids"] = torch.randint(5, 40, (n, 7), generator=g)
        batch["text_mask"] = torch.ones(n, 7, dtype=torch.bool)
    return batch


class FlatEncoder(nn.Module):
    """Flatten the input (waveform or image), Linear + tanh: one token per item."""

    def __init__(self, in_features: int, dim: int = 16) -> None:
        super().__init__()
        self.dim = dim
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, dim), nn.Tanh())

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        pooled = self.net(x)
        return EncoderOutput(pooled[:, None], torch.ones(len(x), 1, dtype=torch.bool), pooled)


class BagOfWords(nn.Module):
    """Masked mean of token embeddings."""

    def __init__(self, vocab_size: int = 30, dim: int = 16) -> None:
        super().__init__()
        self.dim = dim
        self.embedding = nn.Embedding(vocab_size, dim)

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        tokens = self.embedding(input_ids)
        mask = torch.ones_like(input_ids, dtype=torch.bool) if mask is None else mask
        pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return EncoderOutput(tokens, mask, pooled)


def doubles(pair: tuple[str, str]) -> dict[str, nn.Module]:
    makers = {"audio": lambda: FlatEncoder(64), "image": lambda: FlatEncoder(3 * 4 * 4), "text": BagOfWords}
    return {m: makers[m]() for m in pair}


def paired_batch(pair: tuple[str, str], n: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """n random items of each modality of ``pair``; item i of one pairs with item i of the other."""
    g = torch.Generator().manual_seed(seed)
    batch: dict[str, torch.Tensor] = {}
    if "audio" in pair:
        batch["audio"] = torch.randn(n, 64, generator=g)
        batch["audio_mask"] = torch.ones(n, 64, dtype=torch.bool)
    if "image" in pair:
        batch["image"] = torch.randn(n, 3, 4, 4, generator=g)
    if "text" in pair:
        batch["input_ids"] = torch.randint(5, 30, (n, 6), generator=g)
        batch["text_mask"] = torch.ones(n, 6, dtype=torch.bool)
        batch["text_mask"][: n // 2, 4:] = False  # some padding
    return batch


def train(model: nn.Module, batch: dict, *, steps: int, lr: float = 1e-2) -> list[float]:
    """Adam on one batch; returns the losses."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        loss = model(batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def recall_at_1(model: nn.Module, batch: dict) -> tuple[float, float]:
    """R@1 of a -> b and b -> a on the batch, in eval mode."""
    model.eval()
    embeddings = model(batch).embeddings
    a, b = (embeddings[m] for m in model.modalities)
    metrics = retrieval_metrics(a @ b.T, ks=(1,))
    return metrics.a_to_b.recall[1], metrics.b_to_a.recall[1]


def params_without_gradient(model: nn.Module) -> list[str]:
    """Names of trainable parameters whose gradient is missing or all zero."""
    return [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not bool(p.grad.abs().sum() > 0))
    ]
