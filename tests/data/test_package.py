"""polysense.data exports: the core and every built-in dataset module's public names."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import polysense.data as data

MODULES = ("adapters", "augment", "av_digits", "cache", "check", "collate", "dataset", "folder", "fsdd", "manifest", "splits",
           "synthetic", "takes")
BUILT_IN = ("synthetic", "fsdd", "av_digits", "adapters", "augment", "folder", "takes")


def test_every_exported_name_resolves_to_its_module_object():
    assert len(set(data.__all__)) == len(data.__all__)
    for name in data.__all__:
        value = getattr(data, name)
        owners = [m for m in MODULES if getattr(importlib.import_module(f"polysense.data.{m}"), name, None) is value]
        assert owners, f"polysense.data.{name} is not the object of any data module"
    assert set(dir(data)) >= set(data.__all__)


@pytest.mark.parametrize("module", BUILT_IN)
def test_built_in_modules_are_exported_whole(module):
    names = importlib.import_module(f"polysense.data.{module}").__all__
    assert set(names) <= set(data.__all__), sorted(set(names) - set(data.__all__))
    from polysense.data import SyntheticTriModal, fsdd_manifest, spec_augment  # noqa: F401  (a plain import works)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        data.no_such_thing  # noqa: B018


def test_built_in_modules_are_imported_on_first_use():
    code = (
        "import sys, polysense.data as d\n"
        "lazy = [f'polysense.data.{m}' for m in ('synthetic', 'av_digits', 'adapters')]\n"
        "assert not any(m in sys.modules for m in lazy), [m for m in lazy if m in sys.modules]\n"
        "d.SyntheticTriModal\n"
        "assert 'polysense.data.synthetic' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
