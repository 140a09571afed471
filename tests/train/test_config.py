"""Experiment configs: validation names the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from polysense.errors import ParameterError
from polysense.train.config import ConfigError, apply_overrides, config_names, load_config

from tests.train.helpers import tiny_fusion


def test_valid_config_loads_with_defaults():
    config = load_config(tiny_fusion())
    assert config.train.epochs == 2 and config.optim.weight_decay == 0.01 and config.schedule.name == "cosine"
    assert config.to_dict()["model"]["name"] == "early_fusion"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"train": {"epochs": 0}}, ["train.epochs=0", "greater than or equal to 1"]),
        ({"train": {"epoch": 3}}, ["train.epoch", "unknown key"]),
        ({"optim": {"lr": -1}}, ["optim.lr=-1"]),
        ({"train": {"precision": "fp8"}}, ["train.precision='fp8'", "fp32", "bf16"]),
        ({"surprise": {}}, ["surprise", "unknown key"]),
        ({"augment": {"waveform": [{"name": "reverb"}]}}, ["augment.waveform.0.name='reverb'", "add_noise"]),
    ],
)
def test_bad_value_or_key_is_named(change, words):
    config = tiny_fusion()
    for section, values in change.items():
        config[section] = {**config.get(section, {}), **values} if isinstance(values, dict) else values
    with pytest.raises(ConfigError) as error:
        load_config(config)
    for word in words:
        assert word in str(error.value)


def test_unknown_model_and_data_keys_checked_against_builders():
    config = tiny_fusion()
    config["model"]["encoders"]["audio"]["chanels"] = [4]
    with pytest.raises(ConfigError, match=r"model.encoders.audio: unknown key\(s\) \['chanels'\].*channels"):
        load_config(config)
    config = tiny_fusion()
    config["data"]["num_sample"] = 5
    with pytest.raises(ConfigError, match=r"data: unknown key\(s\) \['num_sample'\].*num_samples"):
        load_config(config)
    config = tiny_fusion()
    config["model"]["name"] = "early_fushion"
    with pytest.raises(ConfigError, match="early_fushion.*not a registered model.*early_fusion"):
        load_config(config)


def test_config_error_is_a_parameter_error():
    assert issubclass(ConfigError, ParameterError) and issubclass(ConfigError, ValueError)


def test_every_shipped_config_validates():
    names = config_names()
    for required in ("synthetic-early", "synthetic-late", "synthetic-hybrid", "synthetic-clip", "synthetic-vsepp",
                     "synthetic-vilt", "synthetic-vilbert", "synthetic-albef"):
        assert required in names
    for name in names:
        config = load_config(name)
        assert config.description, f"{name} has no description"


def test_base_and_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: synthetic-early\ntrain: {epochs: 3}\n")
    config = load_config(path, ["optim.lr=0.01", "data.num_samples=200"])
    assert config.train.epochs == 3 and config.train.batch_size == 32  # merged with the base
    assert config.optim.lr == 0.01 and config.data["num_samples"] == 200
    assert config.model["name"] == "early_fusion"


def test_override_changing_a_part_name_drops_its_old_options():
    raw = apply_overrides({"model": {"name": "a", "x": 1}}, ["model.name=b"])
    assert raw["model"] == {"name": "b"}


def test_base_cycle_and_missing_files(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"base: {b}\n")
    b.write_text(f"base: {a}\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(a)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="no built-in config named 'nope'"):
        load_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(tiny_fusion(), ["train.epochs"])
