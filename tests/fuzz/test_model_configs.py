"""Hostile model configs against the one factory (models.registry.build).

A valid config with one or two values replaced by hostile ones (0, -1, 10**12 and 10**30 sizes,
a depth of 10**12, booleans, strings, None, NaN, a sample rate of 1.5 Hz). The contract: a model,
or a polysense error naming the config key or the part; never the allocator's error, never a hang.
The byte limit is lowered so a model that passes it stays small on a CI machine.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polysense.errors import ParameterError
from polysense.models.registry import build, build_model
from tests.fuzz.contract import check_call

LIMITS = {"POLYSENSE_MAX_MODEL_BYTES": str(64 << 20), "POLYSENSE_MAX_MODEL_DIM": "4096", "POLYSENSE_MAX_MODEL_DEPTH": "8"}
AUDIO = {"name": "audio_cnn", "sample_rate": 8000, "n_fft": 128, "hop_length": 64, "n_mels": 16, "channels": [4, 8],
         "dim": 16}
IMAGE = {"name": "image_vit", "image_size": 16, "patch_size": 8, "dim": 16, "depth": 1, "heads": 2}
TEXT = {"name": "text_transformer", "vocab_size": 40, "dim": 16, "depth": 1, "heads": 2, "dropout": 0.0}
CONFIGS = [("encoder", AUDIO), ("encoder", IMAGE), ("encoder", TEXT),
           ("model", {"name": "clip", "embed_dim": 8, "audio": AUDIO, "text": TEXT})]
HOSTILE = [0, -1, 1.5, 10**12, 10**30, 2**31, 4097, True, None, "16", math.nan, math.inf, [], {}, 3]


def leaves(config, path=()):
    for key, value in config.items():
        if isinstance(value, dict):
            yield from leaves(value, (*path, key))
        elif key != "name":
            yield (*path, key)


@pytest.fixture(autouse=True)
def _small_limits(monkeypatch):
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)


@settings(max_examples=80, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(choice=st.sampled_from(CONFIGS), data=st.data())
def test_hostile_model_configs_hold_the_contract(choice, data):
    kind, base = choice
    config = copy.deepcopy(base)
    paths = sorted(leaves(config))
    changed = data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2, unique=True))
    for path in changed:
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(st.sampled_from(HOSTILE))
    names = [p[-1] for p in changed] + [config["name"], *(config[p[0]]["name"] for p in changed if len(p) > 1)]
    result = check_call(lambda: build(kind, config), names, finite_expected=False)
    if not isinstance(result, Exception):
        assert isinstance(result, torch.nn.Module)
        assert all(bool(torch.isfinite(p).all()) for p in result.parameters())


@pytest.mark.parametrize("path, value, words", [
    (("text", "dim"), 10**12, ["text.dim", "POLYSENSE_MAX_MODEL_DIM"]),
    (("text", "depth"), 10**12, ["text.depth", "POLYSENSE_MAX_MODEL_DEPTH"]),
    (("audio", "sample_rate"), 1.5, ["audio.sample_rate", "whole number"]),
    (("audio", "sample_rate"), True, ["audio.sample_rate"]),
    (("text", "dim"), 1024, ["MiB", "POLYSENSE_MAX_MODEL_BYTES"]),
])
def test_issue_examples_are_refused_before_allocating(path, value, words, monkeypatch):
    monkeypatch.setenv("POLYSENSE_MAX_MODEL_BYTES", str(1 << 20))  # 1 MiB: a 1024-wide transformer does not fit
    config = copy.deepcopy(CONFIGS[3][1])
    config[path[0]][path[1]] = value
    with pytest.raises(ParameterError) as info:
        build_model(config)
    assert all(w in str(info.value) for w in words), str(info.value)


@pytest.mark.parametrize("config, words", [
    ({**CONFIGS[3][1], "name": ["clip"]}, ["model name=['clip']", "expected a string", "clip"]),
    ({**CONFIGS[3][1], "name": {"clip": 1}}, ["model name={'clip': 1}", "expected a string"]),
    ({**CONFIGS[3][1], "projection": "linear"}, ["model 'clip'", "projection='linear'", "mapping"]),
    ({"name": "classifier", "modality": "audio", "num_classes": 2,
      "encoder": {"name": "speech_cnn", "sample_rate": 8000, "frontend": "cmvn"}},
     ["encoder 'speech_cnn'", "frontend='cmvn'", "mapping"]),
])
def test_a_name_or_section_of_the_wrong_type_is_refused_by_name(config, words):
    """A list as a name (unhashable) and a string where options go (a dict update error) before."""
    result = check_call(lambda: build_model(config), words[:1], finite_expected=False)
    assert isinstance(result, ParameterError), f"built {type(result).__name__}"
    assert all(w in str(result) for w in words), str(result)
