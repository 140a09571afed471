"""Tiny configs, batches and checks shared by the ViLBERT, ViLT and ALBEF tests.

Widths of 32, one or two layers, 16x16 images in 8x8 patches, 1024-sample clips at 8 kHz in
8x8 spectrogram patches: a training step takes milliseconds, so each model can be overfitted
on 8 pairs within seconds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

VOCAB = 40
PAD, CLS, SEP, MASK = 0, 2, 3, 4
IMAGE_SIZE = 16
AUDIO_SAMPLES = 1024


def text_config(depth: int = 1, dim: int = 32) -> dict[str, Any]:
    return {"name": "text_transformer", "vocab_size": VOCAB, "dim": dim, "depth": depth, "heads": 2,
            "dropout": 0.0, "max_length": 16}


def image_config(depth: int = 1, dim: int = 32) -> dict[str, Any]:
    return {"name": "image_vit", "image_size": IMAGE_SIZE, "patch_size": 8, "dim": dim, "depth": depth, "heads": 2}


def audio_config(depth: int = 1, dim: int = 32) -> dict[str, Any]:
    return {"name": "audio_spectrogram_transformer", "sample_rate": 8000, "n_fft": 128, "hop_length": 64,
            "n_mels": 16, "patch_size": 8, "max_frames": 64, "dim": dim, "depth": depth, "heads": 2}


def captions(batch: int = 8, *, seed: int = 0, length: int = 8) -> dict[str, torch.Tensor]:
    """Distinct random captions ``[CLS] w w ... [SEP] [PAD]...`` of 1-2-token words, with word ids."""
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.full((batch, length), PAD)
    word_ids = torch.full((batch, length), -1)
    for row in range(batch):
        n = int(torch.randint(4, length - 1, (1,), generator=gen))  # real tokens between [CLS] and [SEP]
        input_ids[row, 0], input_ids[row, n + 1] = CLS, SEP
        input_ids[row, 1 : n + 1] = torch.randint(5, VOCAB, (n,), generator=gen)
        position, word = 1, 0
        while position <= n:
            size = int(torch.randint(1, 3, (1,), generator=gen))
            word_ids[row, position : min(position + size, n + 1)] = word
            position, word = position + size, word + 1
    return {"input_ids": input_ids, "text_mask": input_ids != PAD, "word_ids": word_ids}


def image_text_batch(batch: int = 8, *, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed + 100)
    return {"image": torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen), **captions(batch, seed=seed)}


def audio_text_batch(batch: int = 8, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Tones of different pitch (and some shorter clips, padded) paired with captions."""
    gen = torch.Generator().manual_seed(seed + 200)
    t = torch.arange(AUDIO_SAMPLES) / 8000
    freqs = torch.linspace(300, 3000, batch)
    audio = torch.sin(2 * torch.pi * freqs[:, None] * t) + 0.05 * torch.randn(batch, AUDIO_SAMPLES, generator=gen)
    lengths = torch.full((batch,), AUDIO_SAMPLES)
    lengths[::3] = AUDIO_SAMPLES * 3 // 4
    mask = torch.arange(AUDIO_SAMPLES)[None] < lengths[:, None]
    return {"audio": audio * mask, "audio_mask": mask, **captions(batch, seed=seed)}


def train(model: nn.Module, batch: dict, *, steps: int, lr: float) -> list[float]:
    """Adam on the trainable parameters; returns the total loss of every step."""
    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        out = model(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    return losses


@torch.no_grad()
def all_pairs_accuracy(model: nn.Module, batch: dict, visual_key: str = "image") -> float:
    """ITM accuracy of ``match_logits`` over every (visual i, text j) combination of the batch."""
    model.eval()
    n = batch["input_ids"].shape[0]
    visual_index, text_index = torch.arange(n).repeat_interleave(n), torch.arange(n).repeat(n)
    pairs = {"input_ids": batch["input_ids"][text_index], "text_mask": batch["text_mask"][text_index],
             visual_key: batch[visual_key][visual_index]}
    if f"{visual_key}_mask" in batch:
        pairs[f"{visual_key}_mask"] = batch[f"{visual_key}_mask"][visual_index]
    predicted = model.match_logits(pairs).argmax(dim=1)
    return (predicted == (visual_index == text_index).long()).float().mean().item()


def assert_gradients_reach_every_trainable_parameter(model: nn.Module, batch: dict) -> None:
    model.train()
    model.zero_grad()
    model(batch).loss.backward()
    missing = [name for name, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not bool(p.grad.abs().sum() > 0))]
    assert not missing, f"no gradient reaches {missing}"
