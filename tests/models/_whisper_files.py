"""A tiny random Whisper written by hand in the three foreign layouts, and Whisper's forward in float64.

Nothing here calls :mod:`polysense.models.whisper.weights`: the writers follow the formats'
own descriptions (CTranslate2 ``model_spec.py`` binary version 6, Hugging Face
``WhisperForConditionalGeneration`` key names + ``config.json``, OpenAI's ``{"dims",
"model_state_dict"}`` checkpoint), so a loader that misreads a format disagrees with them.

The *source* of a model is a dict in OpenAI's key names (float64, key projections without
bias, as in Whisper); every writer and :func:`reference_logits` start from it.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict

import torch

from polysense.models.whisper.model import WhisperDims

#: Encoder and decoder differ in heads and depth, so a loader that mixes them up gets other dims.
DIMS = WhisperDims(
    n_mels=8, n_audio_ctx=6, n_audio_state=16, n_audio_head=2, n_audio_layer=2,
    n_vocab=50, n_text_ctx=7, n_text_state=16, n_text_head=4, n_text_layer=3,
)
LN_EPS = 1e-5

# --------------------------------------------------------------------------- the source


def make_source(dims: WhisperDims = DIMS, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random Whisper weights in OpenAI's names, float32-exact values held as float64.

    Scales keep every part of the network doing something: attention scores of order 1 (so a
    swapped query/key changes the softmax), gammas away from 1, biases away from 0.
    """
    g = torch.Generator().manual_seed(seed)
    d, m = dims.n_audio_state, dims.n_mels

    def w(*shape: int, scale: float = 0.3) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=g)).double()

    def gamma(n: int) -> torch.Tensor:
        return (1.0 + 0.2 * torch.randn(n, generator=g)).double()

    src: dict[str, torch.Tensor] = {
        "encoder.conv1.weight": w(d, m, 3), "encoder.conv1.bias": w(d, scale=0.1),
        "encoder.conv2.weight": w(d, d, 3, scale=0.15), "encoder.conv2.bias": w(d, scale=0.1),
        "encoder.positional_embedding": w(dims.n_audio_ctx, d, scale=0.5),
        "encoder.ln_post.weight": gamma(d), "encoder.ln_post.bias": w(d, scale=0.1),
        "decoder.token_embedding.weight": w(dims.n_vocab, d, scale=0.5),
        "decoder.positional_embedding": w(dims.n_text_ctx, d, scale=0.2),
        "decoder.ln.weight": gamma(d), "decoder.ln.bias": w(d, scale=0.1),
    }

    def attention(prefix: str) -> None:
        for part in ("query", "key", "value", "out"):
            src[f"{prefix}.{part}.weight"] = w(d, d)
            if part != "key":  # Whisper's key projections have no bias
                src[f"{prefix}.{part}.bias"] = w(d, scale=0.1)

    def norm(prefix: str) -> None:
        src[f"{prefix}.weight"], src[f"{prefix}.bias"] = gamma(d), w(d, scale=0.1)

    def mlp(prefix: str) -> None:
        src[f"{prefix}.mlp.0.weight"], src[f"{prefix}.mlp.0.bias"] = w(4 * d, d), w(4 * d, scale=0.1)
        src[f"{prefix}.mlp.2.weight"], src[f"{prefix}.mlp.2.bias"] = w(d, 4 * d, scale=0.15), w(d, scale=0.1)
        norm(f"{prefix}.mlp_ln")

    for i in range(dims.n_audio_layer):
        b = f"encoder.blocks.{i}"
        attention(f"{b}.attn")
        norm(f"{b}.attn_ln")
        mlp(b)
    for i in range(dims.n_text_layer):
        b = f"decoder.blocks.{i}"
        attention(f"{b}.attn")
        norm(f"{b}.attn_ln")
        attention(f"{b}.cross_attn")
        norm(f"{b}.cross_attn_ln")
        mlp(b)
    # float32-exact, so a float32 file holds the source itself
    return {k: v.float().double() for k, v in src.items()}


def inputs(dims: WhisperDims = DIMS, seed: int = 1, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel features (B, n_mels, 2·n_audio_ctx) and tokens (B, n_text_ctx)."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, dims.n_mels, 2 * dims.n_audio_ctx, generator=g)
    tokens = torch.randint(0, dims.n_vocab, (batch, dims.n_text_ctx), generator=g)
    return features, tokens


# --------------------------------------------------------------------------- Whisper in float64


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _layer_norm(x: torch.Tensor, src: dict, prefix: str) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + LN_EPS) * src[f"{prefix}.weight"] + src[f"{prefix}.bias"]


def _linear(x: torch.Tensor, src: dict, prefix: str) -> torch.Tensor:
    y = x @ src[f"{prefix}.weight"].T
    bias = src.get(f"{prefix}.bias")
    return y if bias is None else y + bias


def _conv3(x: torch.Tensor, src: dict, prefix: str, stride: int) -> torch.Tensor:
    """Conv1d, kernel 3, zero padding 1, as a sum over the three taps: x (B, C, F) -> (B, O, ⌈F/stride⌉)."""
    weight, bias = src[f"{prefix}.weight"], src[f"{prefix}.bias"]
    padded = torch.cat([x.new_zeros(*x.shape[:2], 1), x, x.new_zeros(*x.shape[:2], 1)], dim=2)
    starts = torch.arange(0, x.shape[2], stride)
    out = sum(torch.einsum("oc,bct->bot", weight[:, :, k], padded[:, :, starts + k]) for k in range(3))
    return out + bias[None, :, None]


def _attention(x: torch.Tensor, memory: torch.Tensor, src: dict, prefix: str, heads: int, causal: bool) -> torch.Tensor:
    b, s, d = x.shape
    t, dh = memory.shape[1], d // heads
    q = _linear(x, src, f"{prefix}.query").reshape(b, s, heads, dh).transpose(1, 2)
    k = _linear(memory, src, f"{prefix}.key").reshape(b, t, heads, dh).transpose(1, 2)
    v = _linear(memory, src, f"{prefix}.value").reshape(b, t, heads, dh).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if causal:
        scores = scores.masked_fill(torch.ones(s, t, dtype=torch.bool).triu(1), float("-inf"))
    weights = torch.exp(scores - scores.amax(-1, keepdim=True))
    weights = weights / weights.sum(-1, keepdim=True)
    context = (weights @ v).transpose(1, 2).reshape(b, s, d)
    return _linear(context, src, f"{prefix}.out")


def _mlp(x: torch.Tensor, src: dict, prefix: str) -> torch.Tensor:
    return _linear(_gelu(_linear(x, src, f"{prefix}.mlp.0")), src, f"{prefix}.mlp.2")


def reference_logits(src: dict, features: torch.Tensor, tokens: torch.Tensor, dims: WhisperDims = DIMS) -> torch.Tensor:
    """Whisper's teacher-forced logits (B, S, vocab) in float64, from the source tensors alone."""
    x = _gelu(_conv3(features.double(), src, "encoder.conv1", stride=1))
    x = _gelu(_conv3(x, src, "encoder.conv2", stride=2)).transpose(1, 2)
    x = x + src["encoder.positional_embedding"][: x.shape[1]]
    for i in range(dims.n_audio_layer):
        b = f"encoder.blocks.{i}"
        h = _layer_norm(x, src, f"{b}.attn_ln")
        x = x + _attention(h, h, src, f"{b}.attn", dims.n_audio_head, causal=False)
        x = x + _mlp(_layer_norm(x, src, f"{b}.mlp_ln"), src, b)
    audio = _layer_norm(x, src, "encoder.ln_post")

    embedding = src["decoder.token_embedding.weight"]
    y = embedding[tokens] + src["decoder.positional_embedding"][: tokens.shape[1]]
    for i in range(dims.n_text_layer):
        b = f"decoder.blocks.{i}"
        h = _layer_norm(y, src, f"{b}.attn_ln")
        y = y + _attention(h, h, src, f"{b}.attn", dims.n_text_head, causal=True)
        y = y + _attention(_layer_norm(y, src, f"{b}.cross_attn_ln"), audio, src, f"{b}.cross_attn",
                           dims.n_text_head, causal=False)
        y = y + _mlp(_layer_norm(y, src, f"{b}.mlp_ln"), src, b)
    return _layer_norm(y, src, "decoder.ln") @ embedding.T


# --------------------------------------------------------------------------- the model's tensors by source name


def model_tensor(model: torch.nn.Module, key: str) -> torch.Tensor:
    """The loaded model's tensor that holds the source tensor ``key`` (OpenAI's name)."""
    whole = {"encoder.positional_embedding": "encoder.positions", "decoder.positional_embedding": "decoder.positions"}
    stems = {"encoder.ln_post": "encoder.transformer.norm", "decoder.ln": "decoder.norm"}
    block = {
        "attn_ln": "norm1", "attn.query": "attention.query", "attn.key": "attention.key",
        "attn.value": "attention.value", "attn.out": "attention.out", "cross_attn_ln": "cross_norm",
        "cross_attn.query": "cross_attention.query", "cross_attn.key": "cross_attention.key",
        "cross_attn.value": "cross_attention.value", "cross_attn.out": "cross_attention.out",
        "mlp_ln": "norm2", "mlp.0": "mlp.net.0", "mlp.2": "mlp.net.2",
    }
    if key in whole:
        name = whole[key]
    else:
        stem, leaf = key.rsplit(".", 1)
        if stem in stems:
            name = f"{stems[stem]}.{leaf}"
        elif ".blocks." in stem:
            side, _, index, rest = stem.split(".", 3)
            prefix = "encoder.transformer.blocks" if side == "encoder" else "decoder.blocks"
            name = f"{prefix}.{index}.{block[rest]}.{leaf}"
        else:  # the convolutions and the token embedding share OpenAI's names
            name = key
    return model.state_dict()[name]


# --------------------------------------------------------------------------- CTranslate2 model.bin

CT2_TYPE_IDS = {torch.float32: 0, torch.int8: 1, torch.int16: 2, torch.int32: 3, torch.float16: 4, torch.bfloat16: 5}
PROJECTION_ALIAS = ("decoder/projection/weight", "decoder/embeddings/weight")


def ct2_variables(src: dict, dims: WhisperDims = DIMS) -> dict[str, torch.Tensor]:
    """The source as CTranslate2 ``WhisperSpec`` variables (float64; fused ``q|k|v`` and ``k|v``,
    zero key biases), plus the int16 head counts and an int8 flag the loader must skip."""
    d = dims.n_audio_state
    zeros = torch.zeros(d, dtype=torch.float64)
    out: dict[str, torch.Tensor] = {}

    def copy(theirs: str, ours: str, leaves=(("weight", "weight"), ("bias", "bias"))) -> None:
        for their_leaf, our_leaf in leaves:
            out[f"{theirs}/{their_leaf}"] = src[f"{ours}.{our_leaf}"]

    def norm(theirs: str, ours: str) -> None:
        copy(theirs, ours, (("gamma", "weight"), ("beta", "bias")))

    def fused(theirs: str, ours: str, parts: tuple[str, ...]) -> None:
        out[f"{theirs}/weight"] = torch.cat([src[f"{ours}.{p}.weight"] for p in parts])
        out[f"{theirs}/bias"] = torch.cat([src.get(f"{ours}.{p}.bias", zeros) for p in parts])

    def side(prefix: str, layers: int, cross: bool) -> None:
        for i in range(layers):
            theirs, ours = f"{prefix}/layer_{i}", f"{prefix}.blocks.{i}"
            norm(f"{theirs}/self_attention/layer_norm", f"{ours}.attn_ln")
            fused(f"{theirs}/self_attention/linear_0", f"{ours}.attn", ("query", "key", "value"))
            copy(f"{theirs}/self_attention/linear_1", f"{ours}.attn.out")
            if cross:
                norm(f"{theirs}/attention/layer_norm", f"{ours}.cross_attn_ln")
                copy(f"{theirs}/attention/linear_0", f"{ours}.cross_attn.query")
                fused(f"{theirs}/attention/linear_1", f"{ours}.cross_attn", ("key", "value"))
                copy(f"{theirs}/attention/linear_2", f"{ours}.cross_attn.out")
            norm(f"{theirs}/ffn/layer_norm", f"{ours}.mlp_ln")
            copy(f"{theirs}/ffn/linear_0", f"{ours}.mlp.0")
            copy(f"{theirs}/ffn/linear_1", f"{ours}.mlp.2")

    copy("encoder/conv1", "encoder.conv1")
    copy("encoder/conv2", "encoder.conv2")
    out["encoder/position_encodings/encodings"] = src["encoder.positional_embedding"]
    out["encoder/num_heads"] = torch.tensor(dims.n_audio_head, dtype=torch.int16)
    side("encoder", dims.n_audio_layer, cross=False)
    norm("encoder/layer_norm", "encoder.ln_post")
    out["decoder/embeddings/weight"] = src["decoder.token_embedding.weight"]
    out["decoder/position_encodings/encodings"] = src["decoder.positional_embedding"]
    out["decoder/num_heads"] = torch.tensor(dims.n_text_head, dtype=torch.int16)
    out["decoder/pre_norm"] = torch.tensor(1, dtype=torch.int8)
    side("decoder", dims.n_text_layer, cross=True)
    norm("decoder/layer_norm", "decoder.ln")
    return out


def source_from_ct2(values: dict[str, torch.Tensor], dims: WhisperDims = DIMS) -> dict[str, torch.Tensor]:
    """The inverse of :func:`ct2_variables`: source tensors (float64) from CTranslate2 variables.

    :func:`ct2_variables` only copies and concatenates, so running it on a source whose elements
    are their own ids (1, 2, ...) says where each variable's elements came from.
    """
    shapes = {k: v.shape for k, v in make_source(dims).items()}
    ids, start = {}, 1
    for key, shape in shapes.items():
        n = math.prod(shape)
        ids[key] = torch.arange(start, start + n, dtype=torch.float64).reshape(shape)
        start += n
    flat = torch.full((start,), float("nan"), dtype=torch.float64)
    for name, where in ct2_variables(ids, dims).items():
        if where.is_floating_point():  # the zero key biases have id 0, a slot no source element uses
            flat[where.long().reshape(-1)] = values[name].double().reshape(-1)
    return {key: flat[index.long()] for key, index in ids.items()}


def quantizable(name: str, value: torch.Tensor) -> bool:
    """The weights CTranslate2 quantizes: linear, convolution and embedding ``weight`` s."""
    return name.endswith("/weight") and value.is_floating_point() and value.ndim >= 2


def _int8_rows(value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output row: ``scale = 127 / max|row|`` (float32) and ``q = round(row · scale)`` (int8, rows flattened)."""
    rows = value.reshape(value.shape[0], -1)
    scale = (127.0 / rows.abs().amax(dim=1)).float()
    return torch.round(rows * scale.double()[:, None]).clamp(-127, 127).to(torch.int8), scale


def _quantize(variables: dict[str, torch.Tensor], scheme) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Every quantizable weight through ``scheme(value) -> (q, scale, q / scale)``; the file's
    variables (``q``, ``<name>_scale``, the rest float32) and the dequantized weights by name."""
    out: dict[str, torch.Tensor] = {}
    dequantized: dict[str, torch.Tensor] = {}
    for name, value in variables.items():
        if not quantizable(name, value):
            out[name] = value.float() if value.is_floating_point() else value
            continue
        out[name], out[f"{name}_scale"], dequantized[name] = scheme(value)
    return out, dequantized


def _int8_scheme(value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    q, scale = _int8_rows(value)
    return q.reshape(value.shape), scale, (q.double() / scale.double()[:, None]).reshape(value.shape)


def _int16_scheme(value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale = torch.tensor(1000.0 / float(value.abs().max()), dtype=torch.float32)
    q = torch.round(value * float(scale)).to(torch.int16)
    return q, scale, q.double() / float(scale)


def quantize_int8(variables: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """CTranslate2's int8 scheme: per output row ``scale = 127 / max|row|``, ``q = round(w · scale)``.

    Returns the file's variables (``q`` int8 and ``<name>_scale`` float32, the rest float32) and
    the dequantized weights ``q / scale`` (float64) by variable name.
    """
    return _quantize(variables, _int8_scheme)


def quantize_source_int8(src: dict) -> dict[str, torch.Tensor]:
    """The source as an int8 file holds it: each quantizable weight replaced by ``q / scale`` of its
    own rows. Per-row scales make this the same whether the rows sit in a fused ``q|k|v`` or alone."""
    out = dict(src)
    for key, value in src.items():
        if key.endswith(".weight") and value.ndim >= 2:
            q, scale = _int8_rows(value)
            out[key] = (q.double() / scale.double()[:, None]).reshape(value.shape)
    return out


def quantize_int16(variables: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """CTranslate2's int16 scheme: one scalar ``scale`` per weight, ``q = round(w · scale)`` int16."""
    return _quantize(variables, _int16_scheme)


def cast_floats(variables: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in variables.items()}


def _string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\0"
    return struct.pack("<H", len(raw)) + raw


def ct2_bytes(
    variables: dict[str, torch.Tensor],
    aliases: tuple[tuple[str, str], ...] = (PROJECTION_ALIAS,),
    *,
    spec: str = "WhisperSpec",
    version: int = 6,
    revision: int = 3,
) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """A CTranslate2 model.bin (little endian) and, per variable, the byte span of its raw data.

    Variables are written sorted by name, as CTranslate2 does; each tensor is stored in its own
    dtype (float32, int8, int16, int32, float16, bfloat16).
    """
    out = bytearray(struct.pack("<I", version) + _string(spec) + struct.pack("<I", revision))
    out += struct.pack("<I", len(variables))
    spans = {}
    for name in sorted(variables):
        value = variables[name].contiguous()
        out += _string(name) + struct.pack("<B", value.ndim)
        out += struct.pack(f"<{value.ndim}I", *value.shape)
        raw = value.reshape(-1).view(torch.uint8).numpy().tobytes()
        out += struct.pack("<BI", CT2_TYPE_IDS[value.dtype], len(raw))
        spans[name] = (len(out), len(out) + len(raw))
        out += raw
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases:
        out += _string(alias) + _string(target)
    return bytes(out), spans


# --------------------------------------------------------------------------- Hugging Face and OpenAI


def hf_config(dims: WhisperDims = DIMS) -> dict:
    return {
        "architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper",
        "num_mel_bins": dims.n_mels, "max_source_positions": dims.n_audio_ctx, "d_model": dims.n_audio_state,
        "encoder_attention_heads": dims.n_audio_head, "encoder_layers": dims.n_audio_layer,
        "vocab_size": dims.n_vocab, "max_target_positions": dims.n_text_ctx,
        "decoder_attention_heads": dims.n_text_head, "decoder_layers": dims.n_text_layer,
        "encoder_ffn_dim": 4 * dims.n_audio_state, "decoder_ffn_dim": 4 * dims.n_text_state,
        "activation_function": "gelu", "tie_word_embeddings": True,
    }


def hf_state(src: dict, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The source in ``WhisperForConditionalGeneration``'s names (no ``k_proj`` bias, a tied ``proj_out``)."""
    top = {
        "encoder.conv1": "model.encoder.conv1", "encoder.conv2": "model.encoder.conv2",
        "encoder.ln_post": "model.encoder.layer_norm", "decoder.ln": "model.decoder.layer_norm",
    }
    block = {
        "attn_ln": "self_attn_layer_norm", "attn.query": "self_attn.q_proj", "attn.key": "self_attn.k_proj",
        "attn.value": "self_attn.v_proj", "attn.out": "self_attn.out_proj",
        "cross_attn_ln": "encoder_attn_layer_norm", "cross_attn.query": "encoder_attn.q_proj",
        "cross_attn.key": "encoder_attn.k_proj", "cross_attn.value": "encoder_attn.v_proj",
        "cross_attn.out": "encoder_attn.out_proj", "mlp_ln": "final_layer_norm", "mlp.0": "fc1", "mlp.2": "fc2",
    }
    out = {
        "model.encoder.embed_positions.weight": src["encoder.positional_embedding"],
        "model.decoder.embed_positions.weight": src["decoder.positional_embedding"],
        "model.decoder.embed_tokens.weight": src["decoder.token_embedding.weight"],
        "proj_out.weight": src["decoder.token_embedding.weight"].clone(),
    }
    for key, value in src.items():
        stem, leaf = key.rsplit(".", 1)
        if stem in top:
            out[f"{top[stem]}.{leaf}"] = value
        elif ".blocks." in stem:
            side, _, index, name = stem.split(".", 3)
            out[f"model.{side}.layers.{index}.{block[name]}.{leaf}"] = value
    return {k: v.to(dtype).contiguous() for k, v in out.items()}


def write_hf(folder, src: dict, dims: WhisperDims = DIMS, dtype: torch.dtype = torch.float32) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(dims), indent=2), encoding="utf-8")
    save_file(hf_state(src, dtype), str(folder / "model.safetensors"), metadata={"format": "pt"})


def openai_checkpoint(src: dict, dims: WhisperDims = DIMS, dtype: torch.dtype = torch.float32) -> dict:
    return {"dims": asdict(dims), "model_state_dict": {k: v.to(dtype) for k, v in src.items()}}
