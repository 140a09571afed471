"""The one list of built-ins (polysense.builtins) agrees with what the modules register, and a
lookup imports only the module that defines the name."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from polysense.builtins import BUILTIN_DATASETS, BUILTIN_MODEL_PARTS
from polysense.errors import ParameterError
from polysense.registry import DATASETS, MODEL_PARTS, Registry


@pytest.mark.parametrize("kind", sorted(BUILTIN_MODEL_PARTS))
def test_every_declared_model_part_is_registered_by_its_module(kind):
    for module, names in BUILTIN_MODEL_PARTS[kind].items():
        for name in names:
            assert MODEL_PARTS[kind].get(name).__module__ == module
    declared = {n for names in BUILTIN_MODEL_PARTS[kind].values() for n in names}
    assert set(MODEL_PARTS[kind].available()) == declared  # nothing registered that the list misses


def test_every_declared_dataset_is_registered_by_its_module():
    for module, names in BUILTIN_DATASETS.items():
        for name in names:
            assert DATASETS.get(name).__module__ == module
    assert set(DATASETS.available()) == {n for names in BUILTIN_DATASETS.values() for n in names}


def test_a_lookup_imports_only_the_module_that_defines_the_name():
    code = ("import sys; from polysense.models.registry import builder, available; "
            "assert 'conv_tasnet' in available('model') and 'polysense.enhance.tasnet' not in sys.modules; "
            "builder('head', 'linear'); "
            "assert 'polysense.enhance.tasnet' not in sys.modules and 'polysense.models.paradigms.clip' not in sys.modules; "
            "builder('model', 'conv_tasnet'); assert 'polysense.enhance.tasnet' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_declaration_its_module_does_not_keep_is_named():
    registry = Registry("widget")
    registry.declare("polysense.errors", ["gear"])
    assert registry.available() == ["gear"]
    with pytest.raises(ParameterError, match="widget 'gear' is declared in polysense.errors but that module registers"):
        registry.get("gear")
    with pytest.raises(ParameterError, match=r"unknown widget name=\['gear'\]: choose one of gear"):
        registry.get(["gear"])


def test_a_plugin_cannot_take_a_built_in_name_before_its_module_is_imported():
    code = ("import sys; from polysense.data.registry import register_dataset\n"
            "try:\n    register_dataset('fsdd_scenes')(lambda *, seed: None)\n"
            "except Exception as e:\n    assert 'already registered' in str(e), e\nelse:\n    raise SystemExit('taken')")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_accepted_keys_follow_base_classes_and_forwarded_fusions():
    clip = MODEL_PARTS["model"].accepted_keys("clip")
    assert "embed_dim" in clip and "audio" in clip  # DualEncoder's keys through **kwargs
    late = MODEL_PARTS["model"].accepted_keys("late_fusion")
    fusion = MODEL_PARTS["fusion"].accepted_keys("late")
    assert set(fusion) - {"dims"} <= set(late)
    importlib.import_module("polysense.data.builtin")
    assert "seed" not in DATASETS.accepted_keys("synthetic")
