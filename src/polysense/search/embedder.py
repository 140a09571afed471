"""The model side of search: a trained model with what it needs to read files (an "embedder bundle").

The index is written once against the model contract (:class:`polysense.models.contract.Model`):
``model.encode(modality, batch) -> (B, D)`` unit vectors and ``model.modalities``. An
:class:`EmbedderBundle` adds what turns a file or a string into such a batch:

- audio: the ``sample_rate`` (Hz) files are resampled to (the model's front end expects it);
- images: the ``image_size`` and the normalisation ``(x - mean) / std`` of :class:`ManifestDataset`;
- text: the model's tokenizer (:class:`~polysense.models.encoders.text.TextTokenizer`).

Identity
--------
An index remembers which model made its vectors, so a query embedded by another model (whose
space is unrelated) is refused. A model loaded from a run folder is identified as the trainer
identifies it (:func:`polysense.train.run.model_identity`: sha256 of ``model.safetensors`` and
the model config). A model built in memory has no file; :func:`model_fingerprint` hashes

    sha256( canonical JSON of the model config  ||  for each state-dict entry in name order:
            name, dtype, shape, raw bytes )
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from polysense._checks import check_positive_int, check_sample_rate
from polysense.data.collate import pad_sequences
from polysense.data.dataset import IMAGENET_MEAN, IMAGENET_STD, image_normalization, normalize_image
from polysense.errors import ParameterError
from polysense.models.contract import Model
from polysense.train.run import load_run

__all__ = ["EmbedderBundle", "load_embedder", "model_fingerprint"]


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def model_fingerprint(model: torch.nn.Module, config: Mapping[str, Any] | None = None) -> str:
    """Hex sha256 of the model's config (canonical JSON) and weights (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(_canonical_json(dict(config or {})).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        # view as bytes: works for every dtype (bfloat16 has no numpy equivalent)
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


@dataclass
class EmbedderBundle:
    """A model that embeds, plus what turns files and strings into its batches.

    Args:
        model: a :class:`~polysense.models.contract.Model` that embeds (``modalities``, ``encode``).
        sample_rate: Hz, the rate audio is resampled to before ``encode("audio", ...)``.
        tokenizer: the text tokenizer (``batch_encode(texts) -> TextBatch``); needed for text.
        image_size: ``(height, width)`` images are resized to.
        image_mean, image_std: per-channel normalisation of images in [0, 1].
        config: the model's config (recorded in the index and part of its identity).
        source: where the model came from (a run folder), recorded so ``polysense search`` can
            load it again; ``None`` for a model built in memory.
        device: where to run the model.
        identity: the model's identity when known (a run folder's); else computed from the weights.

    ``fingerprint`` (computed once) identifies model + config; ``settings`` is the front-end
    description stored in an index.
    """

    model: Any
    sample_rate: int = 16000
    tokenizer: Any = None
    image_size: tuple[int, int] = (224, 224)
    image_mean: Sequence[float] = IMAGENET_MEAN
    image_std: Sequence[float] = IMAGENET_STD
    config: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    device: str | torch.device = "cpu"
    identity: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.model, Model) or not self.model.modalities:
            raise ParameterError(
                f"model {type(self.model).__name__} cannot embed: a search index needs a model with "
                "`modalities` and `encode(modality, batch)` (CLIP, VSE++ or another embedding model)"
            )
        self.sample_rate = int(check_sample_rate(self.sample_rate))
        size = self.image_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2:
            raise ParameterError(f"image_size={self.image_size!r} is invalid: give (height, width) or one int")
        self.image_size = (check_positive_int("image_size", size[0]), check_positive_int("image_size", size[1]))
        mean, std = image_normalization(self.image_mean, self.image_std)
        self.image_mean, self.image_std = mean.flatten().tolist(), std.flatten().tolist()
        if hasattr(self.model, "eval"):
            self.model.eval()
        if hasattr(self.model, "to"):
            self.model.to(self.device)

    @property
    def modalities(self) -> tuple[str, ...]:
        mods = tuple(self.model.modalities)
        if "text" in mods and self.tokenizer is None:
            mods = tuple(m for m in mods if m != "text")
        return mods

    @property
    def fingerprint(self) -> str:
        if self.identity is None:
            self.identity = model_fingerprint(self.model, self.config)
        return self.identity

    @property
    def settings(self) -> dict[str, Any]:
        """The front end an index records: rates, image geometry, the modalities."""
        return {
            "sample_rate": self.sample_rate,
            "image_size": list(self.image_size),
            "image_mean": [round(v, 6) for v in self.image_mean],
            "image_std": [round(v, 6) for v in self.image_std],
            "modalities": list(self.modalities),
        }

    def _require(self, modality: str) -> None:
        if modality not in self.modalities:
            extra = " (it has no tokenizer)" if modality == "text" and "text" in self.model.modalities else ""
            raise ParameterError(
                f"this model cannot embed {modality}{extra}: it embeds {list(self.modalities)}; query with one of those"
            )

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """``(N, D)`` unit vectors of ``texts`` (float32, CPU)."""
        self._require("text")
        enc = self.tokenizer.batch_encode(list(texts)).to(self.device)
        batch = {"text": list(texts), **enc.as_dict()}
        return self._finish(self.model.encode("text", batch))

    @torch.no_grad()
    def embed_waveforms(self, waveforms: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(N, D)`` unit vectors of mono waveforms ``(T_i,)`` already at ``sample_rate``."""
        self._require("audio")
        audio, mask, lengths = pad_sequences([w.float() for w in waveforms])
        batch = {"audio": audio.to(self.device), "audio_mask": mask.to(self.device),
                 "audio_lengths": lengths, "sample_rate": self.sample_rate}
        return self._finish(self.model.encode("audio", batch))

    def prepare_image(self, image: torch.Tensor) -> torch.Tensor:
        """Normalise a ``(3, H, W)`` RGB image in [0, 1] (already at ``image_size``)."""
        return normalize_image(image, mean=self.image_mean, std=self.image_std)

    @torch.no_grad()
    def embed_images(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(N, D)`` unit vectors of normalised images ``(3, H, W)`` (see :meth:`prepare_image`)."""
        self._require("image")
        batch = {"image": torch.stack(list(images)).to(self.device)}
        return self._finish(self.model.encode("image", batch))

    @staticmethod
    def _finish(vectors: torch.Tensor) -> torch.Tensor:
        vectors = vectors.detach().float().cpu()
        if not bool(torch.isfinite(vectors).all()):
            raise ParameterError("the model returned non-finite embeddings (NaN/inf): check the model's weights")
        # encode() promises unit vectors; renormalise anyway so inner product == cosine exactly
        return torch.nn.functional.normalize(vectors, dim=-1)


def _image_settings(run_config: Mapping[str, Any]) -> dict[str, Any]:
    """The image size the model was trained at: the data section's, else the image encoder's."""
    data = run_config.get("data") or {}
    if isinstance(data, Mapping) and data.get("image_size") is not None:
        return {"image_size": data["image_size"]}
    image = (run_config.get("model") or {}).get("image")
    if isinstance(image, Mapping) and image.get("image_size") is not None:
        return {"image_size": image["image_size"]}
    return {}


def load_embedder(run_dir: str | os.PathLike, *, device: str = "cpu") -> EmbedderBundle:
    """The bundle of a trained run folder (``polysense train``'s output), via ``load_run``.

    This is the only place search touches the trainer's run format.
    """
    from pathlib import Path

    run = load_run(run_dir)
    model_config = dict(run.config.get("model") or {})
    if run.sample_rate is None and "audio" in run.model.modalities:
        raise ParameterError(f"{run_dir}: the run does not record its sample rate (run.json): cannot read audio for it")
    return EmbedderBundle(
        model=run.model,
        sample_rate=int(run.sample_rate or 16000),
        tokenizer=run.tokenizer,
        config=model_config,
        source=str(Path(run_dir).resolve()),
        device=device,
        identity=run.identity,
        **_image_settings(run.config),
    )
