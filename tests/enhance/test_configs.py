"""The built-in enhancement configs load, validate against the builders and build their models."""

from __future__ import annotations

import pytest

from polysense.models.registry import build_model
from polysense.train.config import load_config


@pytest.mark.parametrize(("name", "data", "model"), [("fsdd-denoise", "fsdd_mixtures", "mask_unet"),
                                                     ("fsdd-denoise-n2n", "fsdd_mixtures", "mask_unet"),
                                                     ("fsdd-separate", "fsdd_pairs", "mask_unet_separator")])
def test_config_loads_and_builds(name, data, model):
    cfg = load_config(name).to_dict()
    assert cfg["data"]["name"] == data and cfg["model"]["name"] == model
    assert cfg["train"]["select_metric"] == "si_sdri"
    built = build_model(dict(cfg["model"]))
    assert built.sample_rate == 8000


def test_noise2noise_config_differs_only_in_its_targets_and_l2_loss():
    clean = load_config("fsdd-denoise").to_dict()
    n2n = load_config("fsdd-denoise-n2n").to_dict()
    assert n2n["data"].pop("n2n") is True
    clean["data"].pop("n2n", None)
    assert n2n["model"].pop("loss") == "stft_l2" and clean["model"].pop("loss") == "si_sdr"
    assert n2n["data"] == clean["data"] and n2n["model"] == clean["model"] and n2n["train"] == clean["train"]
