"""polysense.train: experiment configs, the one trainer, run folders.

- :mod:`.config`: the experiment config (data, model, optim, train...), built-in configs, overrides;
  :mod:`.starter`: a commented starting config for a user's manifest (``polysense config new``).
- :mod:`.trainer`: the one training loop for every model; :mod:`.validation`, :mod:`.augment`,
  :mod:`.progress` (metrics.jsonl, console), :mod:`.distributed` (several processes).
- :mod:`.checkpoint`: resumable checkpoints and weights without pickle.
- :mod:`.run`: ``RunFolder``, the owner of a run folder's files, and ``load_run``.

    from polysense.train import load_config, train, load_run
    result = train(load_config("synthetic-early", ["train.epochs=3"]), "runs/early")
    run = load_run("runs/early")          # .model (eval mode), .tokenizer, .sample_rate, .classes

Names are imported on first use, so ``import polysense.train.run`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ConfigError": "config", "ExperimentConfig": "config", "config_names": "config", "load_config": "config",
    "LoadedRun": "run", "load_run": "run",
    "TrainResult": "trainer", "TrainingError": "trainer", "train": "trainer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"polysense.train.{module}"), name)
