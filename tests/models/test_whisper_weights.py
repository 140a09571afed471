"""Whisper weights in CTranslate2, Hugging Face and OpenAI layouts (polysense.models.whisper.weights).

Each test writes a tiny random Whisper (``_whisper_files.DIMS``) in a foreign layout itself,
byte by byte or with safetensors / torch.save, never with weights.py, then loads it with
:func:`load_whisper`. References: the source tensors (loaded weights must equal them exactly,
after the storage dtype's rounding), and Whisper's forward re-implemented in float64 from the
source tensors (``_whisper_files.reference_logits``). The float32 model must match that
reference to 1e-4 (absolute and relative; measured float32 rounding is ~3e-6 on logits up to 7,
and the closest plausible slip, tanh-approximated GELU, moves them by 3e-3).
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct

import pytest
import torch

import tests.models._whisper_files as wf
from polysense.errors import ParameterError
from polysense.models.whisper.model import Whisper
from polysense.models.whisper.weights import WhisperFiles, find_whisper, load_whisper, read_ctranslate2

TOL = dict(atol=1e-4, rtol=1e-4)  # float32 model vs float64 reference (see the module docstring)


@pytest.fixture(scope="module")
def src() -> dict[str, torch.Tensor]:
    return wf.make_source()


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return wf.inputs()


def logits(model: Whisper, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(*batch).double()


def rounded(src: dict, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The source as a file of ``dtype`` holds it."""
    return {k: v.to(dtype).double() for k, v in src.items()}


def assert_holds(model: Whisper, src: dict) -> None:
    """Every source tensor is in the model, exactly (as float32), and key biases are zero."""
    assert model.dims == wf.DIMS
    for key, value in src.items():
        loaded = wf.model_tensor(model, key)
        assert loaded.dtype == torch.float32, key
        assert torch.equal(loaded, value.float()), key
    for name, tensor in model.state_dict().items():
        if name.endswith("attention.key.bias"):
            assert not tensor.any(), name


def write_ct2(folder, variables, **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    data, spans = wf.ct2_bytes(variables, **kwargs)
    (folder / "model.bin").write_bytes(data)
    return folder / "model.bin", data, spans


def ct2_float32(src):
    return wf.cast_floats(wf.ct2_variables(src), torch.float32)


# --------------------------------------------------------------------------- CTranslate2


def test_read_ctranslate2_gives_spec_name_tensors_scalars_and_aliases(tmp_path, src):
    path, _, _ = write_ct2(tmp_path, ct2_float32(src))
    name, variables = read_ctranslate2(path)
    assert name == "WhisperSpec"
    assert variables["decoder/projection/weight"] == "decoder/embeddings/weight"  # an alias is its target's name
    heads = variables["encoder/num_heads"]
    assert heads.shape == () and heads.dtype == torch.int16 and int(heads) == wf.DIMS.n_audio_head
    flag = variables["decoder/pre_norm"]
    assert flag.shape == () and flag.dtype == torch.int8 and int(flag) == 1
    fused = variables["decoder/layer_1/attention/linear_1/weight"]
    assert fused.dtype == torch.float32 and fused.shape == (32, 16)
    cross = "decoder.blocks.1.cross_attn"
    expected = torch.cat([src[f"{cross}.key.weight"], src[f"{cross}.value.weight"]])
    assert torch.equal(fused, expected.float())
    assert set(variables) == set(wf.ct2_variables(src)) | {"decoder/projection/weight"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16],
                         ids=["float32", "float16", "bfloat16"])
def test_ctranslate2_float_model_bin_loads_the_source_and_matches_float64_whisper(tmp_path, src, batch, dtype):
    path, _, _ = write_ct2(tmp_path, wf.cast_floats(wf.ct2_variables(src), dtype))  # norms and positions too
    model, files = load_whisper(path)
    assert files == WhisperFiles("ctranslate2", (path,), tmp_path)
    assert not model.training
    stored = rounded(src, dtype)
    assert_holds(model, stored)
    torch.testing.assert_close(logits(model, batch), wf.reference_logits(stored, *batch), **TOL)


def test_ctranslate2_int8_weights_are_q_over_scale_per_output_row(tmp_path, src, batch):
    variables, fused_dequantized = wf.quantize_int8(wf.ct2_variables(src))
    path, _, _ = write_ct2(tmp_path, variables)
    _, stored = read_ctranslate2(path)
    assert stored["encoder/layer_0/self_attention/linear_0/weight"].dtype == torch.int8  # the file is quantized
    assert stored["encoder/conv1/weight_scale"].shape == (wf.DIMS.n_audio_state,)
    model, _ = load_whisper(tmp_path)
    dequantized = wf.quantize_source_int8(src)  # q / scale of each weight's own rows, in float64
    # per-row scales: quantizing q|k|v fused (as the file does) or each part alone is the same
    from_file = wf.source_from_ct2({**variables, **fused_dequantized})
    assert all(torch.equal(from_file[k], dequantized[k]) for k in src)
    # exactly q / scale: a float32 quotient of float32 operands is correctly rounded, and so is
    # the float64 quotient cast down
    assert_holds(model, dequantized)
    quantized = [k for k in src if not torch.equal(dequantized[k], src[k])]
    assert len(quantized) == 2 + 1 + 6 * wf.DIMS.n_audio_layer + 10 * wf.DIMS.n_text_layer  # convs, embedding, blocks
    for key in quantized:
        rows = src[key].reshape(src[key].shape[0], -1)
        half_step = 0.5 * rows.abs().amax(dim=1) / 127  # rounding moves a weight by at most half a step of its row
        error = (wf.model_tensor(model, key).double() - src[key]).reshape(rows.shape).abs()
        assert bool((error <= half_step[:, None] * (1 + 1e-6)).all()), key
    torch.testing.assert_close(logits(model, batch), wf.reference_logits(dequantized, *batch), **TOL)


def test_ctranslate2_int16_weights_with_one_scalar_scale(tmp_path, src, batch):
    variables, dequantized = wf.quantize_int16(wf.ct2_variables(src))
    assert variables["encoder/conv2/weight_scale"].shape == ()
    assert variables["decoder/layer_2/self_attention/linear_0/weight"].dtype == torch.int16
    write_ct2(tmp_path, variables)
    model, _ = load_whisper(tmp_path)
    # q / scale (float64, cast down: exact), the rest as stored, back in the source's names
    stored = wf.source_from_ct2({**variables, **dequantized})
    assert_holds(model, stored)
    torch.testing.assert_close(logits(model, batch), wf.reference_logits(stored, *batch), **TOL)


def _split_points(data: bytes, spans: dict) -> dict[str, int]:
    start, end = spans["encoder/conv2/weight"]
    name_start = spans["encoder/conv2/bias"][0] - 4 - 1 - 4 - 1 - len("encoder/conv2/bias") - 1 + 3
    return {"in the version": 1, "in a name": name_start, "in a byte count": start - 2,
            "in raw data": (start + end) // 2 + 1, "before the aliases": len(data) - 60}


@pytest.mark.parametrize("where", ["in the version", "in a name", "in a byte count", "in raw data",
                                   "before the aliases"])
def test_model_bin_split_in_two_parts_reads_as_one_stream(tmp_path, src, where):
    _, data, spans = write_ct2(tmp_path / "single", ct2_float32(src))
    cut = _split_points(data, spans)[where]
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "model.bin.part1").write_bytes(data[:cut])
    (folder / "model.bin.part2").write_bytes(data[cut:])
    model, files = load_whisper(folder)
    assert files == WhisperFiles("ctranslate2", (folder / "model.bin.part1", folder / "model.bin.part2"), folder)
    single, _ = load_whisper(tmp_path / "single")
    assert_holds(model, src)
    for name, tensor in single.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_model_bin_with_its_second_part_missing_is_truncated(tmp_path, src):
    _, data, _ = write_ct2(tmp_path / "single", ct2_float32(src))
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "model.bin.part1").write_bytes(data[: len(data) // 2])
    with pytest.raises(ParameterError, match="truncated") as error:
        load_whisper(folder)
    assert str(folder / "model.bin.part1") in str(error.value) and "part missing" in str(error.value)


# --------------------------------------------------------------------------- Hugging Face and OpenAI


@pytest.mark.parametrize("dtype,point_at", [(torch.float32, "folder"), (torch.float16, "file")],
                         ids=["float32-folder", "float16-file"])
def test_huggingface_folder_loads_the_source_and_matches_float64_whisper(tmp_path, src, batch, dtype, point_at):
    wf.write_hf(tmp_path, src, dtype=dtype)
    model, files = load_whisper(tmp_path if point_at == "folder" else tmp_path / "model.safetensors")
    assert files == WhisperFiles("huggingface", (tmp_path / "model.safetensors",), tmp_path)
    stored = rounded(src, dtype)
    assert_holds(model, stored)
    torch.testing.assert_close(logits(model, batch), wf.reference_logits(stored, *batch), **TOL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["float32", "float16"])
def test_openai_checkpoint_loads_the_source_and_matches_float64_whisper(tmp_path, src, batch, dtype):
    path = tmp_path / "tiny.pt"
    torch.save(wf.openai_checkpoint(src, dtype=dtype), path)
    model, files = load_whisper(path)
    assert files == WhisperFiles("openai", (path,), None)
    stored = rounded(src, dtype)
    assert_holds(model, stored)
    torch.testing.assert_close(logits(model, batch), wf.reference_logits(stored, *batch), **TOL)


def test_three_layouts_of_the_same_tensors_give_the_same_model(tmp_path, src, batch):
    write_ct2(tmp_path / "ct2", ct2_float32(src))
    wf.write_hf(tmp_path / "hf", src)
    torch.save(wf.openai_checkpoint(src), tmp_path / "openai.pt")
    ct2, _ = load_whisper(tmp_path / "ct2")
    out = logits(ct2, batch)
    for other in (tmp_path / "hf", tmp_path / "openai.pt"):
        model, _ = load_whisper(other)
        for name, tensor in ct2.state_dict().items():
            assert torch.equal(model.state_dict()[name], tensor), (other.name, name)
        torch.testing.assert_close(logits(model, batch), out, atol=1e-6, rtol=0)


# ----------------------------------------------------------------- bad files (a ParameterError naming the file)


def raises_naming(path, match: str, target=None) -> str:
    with pytest.raises(ParameterError, match=match) as error:
        load_whisper(path if target is None else target)
    assert str(path) in str(error.value)
    return str(error.value)


def test_model_bin_truncated_inside_a_variable(tmp_path, src):
    path, data, spans = write_ct2(tmp_path, ct2_float32(src))
    start, end = spans["decoder/layer_1/ffn/linear_0/weight"]
    path.write_bytes(data[: (start + end) // 2])
    message = raises_naming(path, "truncated")
    assert "'decoder/layer_1/ffn/linear_0/weight'" in message


def test_text_file_named_model_bin_is_not_a_ctranslate2_model(tmp_path):
    path = tmp_path / "model.bin"
    path.write_text("These are not the weights you are looking for.\n" * 4, encoding="utf-8")
    raises_naming(tmp_path, "not a CTranslate2 model.bin of binary version 5 or 6")


def test_model_bin_of_another_binary_version(tmp_path, src):
    path, _, _ = write_ct2(tmp_path, ct2_float32(src), version=7)
    raises_naming(path, r"binary version 5 or 6 \(read 7\)")


def test_model_bin_of_another_spec(tmp_path, src):
    path, _, _ = write_ct2(tmp_path, ct2_float32(src), spec="TransformerSpec")
    raises_naming(path, "'TransformerSpec', not a Whisper model")


@pytest.mark.parametrize("dropped", ["encoder/layer_norm/gamma", "decoder/layer_2/attention/linear_1/bias"])
def test_model_bin_lacking_a_variable(tmp_path, src, dropped):
    variables = ct2_float32(src)
    del variables[dropped]
    path, _, _ = write_ct2(tmp_path, variables)
    raises_naming(path, f"lacks the variable '{dropped}'")


def test_path_that_does_not_exist(tmp_path):
    raises_naming(tmp_path / "nowhere" / "model.bin", "do not exist")


def test_folder_with_neither_model_bin_nor_safetensors(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    raises_naming(tmp_path, "holds no model.bin")


def test_openai_checkpoint_without_dims(tmp_path, src):
    path = tmp_path / "tiny.pt"
    checkpoint = wf.openai_checkpoint(src)
    del checkpoint["dims"]
    torch.save(checkpoint, path)
    raises_naming(path, "lacks 'dims'")


#: What unpickling the payload below did; a weights_only load must leave it empty.
UNPICKLED: list[str] = []


def _record(what: str) -> str:
    UNPICKLED.append(what)
    return what


class Payload:
    """Unpickling this runs code (``_record``): what weights_only loading exists to refuse."""

    def __reduce__(self):
        return (_record, ("payload ran",))


def test_openai_checkpoint_with_a_pickled_object_is_refused_by_weights_only(tmp_path, src):
    path = tmp_path / "tiny.pt"
    checkpoint = wf.openai_checkpoint(src)
    checkpoint["model_state_dict"]["encoder.conv1.weight"] = Payload()
    torch.save(checkpoint, path)
    UNPICKLED.clear()
    message = raises_naming(path, "weights_only=True")
    assert "Weights only load failed" in message  # refused by the weights_only unpickler, not a read error
    assert UNPICKLED == []
    torch.load(path, weights_only=False)  # the file is intact: a full unpickle runs the payload
    assert UNPICKLED == ["payload ran"]
    UNPICKLED.clear()


def test_truncated_safetensors(tmp_path, src):
    wf.write_hf(tmp_path, src)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    raises_naming(path, "cannot be read as safetensors", target=tmp_path)


def test_huggingface_folder_without_config_json(tmp_path, src):
    wf.write_hf(tmp_path, src)
    (tmp_path / "config.json").unlink()
    raises_naming(tmp_path, "lacks config.json")


def test_huggingface_config_without_a_size(tmp_path, src):
    wf.write_hf(tmp_path, src)
    config = wf.hf_config()
    del config["decoder_layers"]
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    raises_naming(tmp_path / "config.json", "lacks 'decoder_layers'", target=tmp_path)


@pytest.mark.parametrize("layout", ["huggingface", "openai"])
@pytest.mark.parametrize("change", ["extra key", "missing key"])
def test_checkpoint_keys_must_fit_the_model(tmp_path, src, layout, change):
    if layout == "huggingface":
        state = wf.hf_state(src)
        extra, missing = "model.decoder.layers.0.encoder_attn.gate.weight", "model.decoder.layers.2.fc1.weight"
    else:
        state = wf.openai_checkpoint(src)["model_state_dict"]
        extra, missing = "decoder.blocks.0.cross_attn.gate.weight", "decoder.blocks.2.mlp.0.weight"
    if change == "extra key":
        state[extra] = torch.zeros(4)
        match = re.escape(f"{extra.removeprefix('model.')}' has no place in the model")
    else:
        del state[missing]
        match = r"do not fit a custom model: missing \['decoder\.blocks\.2\.mlp\.net\.0\.weight'\]"
    if layout == "huggingface":
        from safetensors.torch import save_file

        wf.write_hf(tmp_path, src)
        path = tmp_path / "model.safetensors"
        save_file(state, str(path))
    else:
        path = tmp_path / "tiny.pt"
        torch.save({"dims": dataclasses.asdict(wf.DIMS), "model_state_dict": state}, path)
    raises_naming(path, match)


def test_openai_dims_that_disagree_with_the_tensors(tmp_path, src):
    path = tmp_path / "tiny.pt"
    checkpoint = wf.openai_checkpoint(src)
    checkpoint["dims"]["n_vocab"] = wf.DIMS.n_vocab + 1
    torch.save(checkpoint, path)
    raises_naming(path, "do not fit their own sizes")


# --------------------------------------------------------------------------- finding


def test_find_whisper_uses_the_environment_variable_and_an_explicit_path_wins(tmp_path, src, monkeypatch):
    write_ct2(tmp_path / "ct2", ct2_float32(src))
    wf.write_hf(tmp_path / "hf", src)
    monkeypatch.setenv("POLYSENSE_WHISPER", str(tmp_path / "ct2"))
    from_env = WhisperFiles("ctranslate2", (tmp_path / "ct2" / "model.bin",), tmp_path / "ct2")
    assert find_whisper() == from_env
    assert find_whisper("") == from_env  # an empty setting (a blank config key) is no setting
    model, files = load_whisper()
    assert files == from_env and model.dims == wf.DIMS
    hf = WhisperFiles("huggingface", (tmp_path / "hf" / "model.safetensors",), tmp_path / "hf")
    assert find_whisper(tmp_path / "hf") == hf
    assert load_whisper(str(tmp_path / "hf"))[1].layout == "huggingface"


def test_find_whisper_environment_variable_naming_a_checkpoint_file(tmp_path, src, monkeypatch):
    path = tmp_path / "tiny.pt"
    torch.save(wf.openai_checkpoint(src), path)
    monkeypatch.setenv("POLYSENSE_WHISPER", str(path))
    assert find_whisper() == WhisperFiles("openai", (path,), None)


# --------------------------------------------------------------------------- corrupt sizes and configs


def test_model_bin_variable_with_a_partial_element(tmp_path):
    path = tmp_path / "model.bin"
    header = struct.pack("<I", 6) + wf._string("WhisperSpec") + struct.pack("<II", 3, 1)
    variable = wf._string("encoder/conv1/bias") + struct.pack("<BIBI", 1, 3, 0, 6) + bytes(6)  # float32 [3] in 6 bytes
    path.write_bytes(header + variable + struct.pack("<I", 0))
    raises_naming(path, "encoder/conv1/bias")


def test_openai_dims_that_are_not_a_mapping(tmp_path, src):
    path = tmp_path / "tiny.pt"
    checkpoint = wf.openai_checkpoint(src)
    checkpoint["dims"] = list(dataclasses.astuple(wf.DIMS))
    torch.save(checkpoint, path)
    raises_naming(path, "dims")


def test_huggingface_config_that_is_not_json(tmp_path, src):
    wf.write_hf(tmp_path, src)
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    raises_naming(tmp_path / "config.json", "config.json", target=tmp_path)
