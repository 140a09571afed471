"""Checkpoints without pickle, written so that a crash never leaves a half-written one.

A resumable checkpoint is a folder ``checkpoints/step-00000123/`` holding

- ``model.safetensors``: the weights;
- ``optimizer.safetensors`` + the tensor-free part of the optimiser state in ``state.json``
  (a model trained by alternating steps has one optimiser and one scheduler per step, stored by
  step name: tensors ``opt.<step>/<param>.<slot>``, JSON under ``optimizer.steps.<step>``);
- ``state.json``: step, epoch, batches done in the epoch, scheduler, best metric, RNG states
  and the length of ``metrics.jsonl`` at that moment.

The RNG states are the global generators (torch, CUDA, NumPy, Python) and every
:class:`torch.Generator` a module of the model holds (a front end's speed perturbation, VTLP,
SpecAugment...): a generator left out would draw anew after a resume, and the resumed run would
drift from the uninterrupted one.

Each folder is written under a temporary name and renamed; then ``checkpoints/latest.json``
(the pointer resume reads) is replaced atomically, and older folders are removed. A process
killed at any moment leaves the previous pointer and its folder intact.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from polysense.errors import ParameterError
from polysense.files import atomic_write_bytes, atomic_write_text, fsync_dir  # the first two kept public here too

__all__ = [
    "CheckpointError",
    "atomic_write_bytes",
    "atomic_write_text",
    "latest_checkpoint",
    "load_checkpoint",
    "load_weights",
    "module_generators",
    "rng_state",
    "save_checkpoint",
    "save_weights",
    "set_rng_state",
]

POINTER = "latest.json"


class CheckpointError(ParameterError):
    """A checkpoint or weights file is missing, corrupt, or belongs to another model."""


def _contiguous(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage and non-contiguous views: store plain copies
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_weights(path: str | os.PathLike, module: torch.nn.Module, *, metadata: Mapping[str, str] | None = None) -> Path:
    """The module's ``state_dict`` as safetensors, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file(_contiguous(module.state_dict()), tmp, metadata=dict(metadata or {}))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_weights(path: str | os.PathLike, module: torch.nn.Module) -> None:
    """Load safetensors weights into ``module``; a missing, corrupt or mismatched file is a
    :class:`CheckpointError` naming the file and the differing keys or shapes."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found; train the run first or pass the right run folder")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error}); the file is corrupt, "
                              "retrain or restore it") from None
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        details = "; ".join(filter(None, [
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}" if missing else "",
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}" if unexpected else "",
            f"shape mismatch {shapes[:3]}" if shapes else "",
        ]))
        raise CheckpointError(f"{path}: these weights belong to another model ({details}); "
                              "use the config the weights were trained with")
    module.load_state_dict(state)


# ----------------------------------------------------------------------------- RNG


def module_generators(module: torch.nn.Module | None) -> dict[str, torch.Generator]:
    """Every :class:`torch.Generator` held as an attribute by ``module`` or its submodules,
    by dotted name (``encoder.frontend.generator``); the state a checkpoint must keep beside
    the global generators."""
    if module is None:
        return {}
    found: dict[str, torch.Generator] = {}
    for prefix, sub in module.named_modules():
        for attr, value in vars(sub).items():
            if isinstance(value, torch.Generator):
                found[f"{prefix}.{attr}" if prefix else attr] = value
    return found


def rng_state(module: torch.nn.Module | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON) capturing torch's, NumPy's and Python's global generators, and the
    generators ``module`` holds (see :func:`module_generators`)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    for name, generator in module_generators(module).items():
        tensors[f"rng.module.{name}"] = generator.get_state()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return tensors, {
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss],
    }


def set_rng_state(tensors: Mapping[str, torch.Tensor], info: Mapping[str, Any],
                  module: torch.nn.Module | None = None) -> None:
    """Restore what :func:`rng_state` captured; a generator of ``module`` the checkpoint lacks
    is a :class:`CheckpointError` (the resumed run could not draw what the original drew)."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    generators = module_generators(module)
    missing = sorted(name for name in generators if f"rng.module.{name}" not in tensors)
    if missing:
        raise CheckpointError(f"the checkpoint holds no state for the model's random generators {missing}: it was "
                              "written by an older polysense, so resuming would not repeat the run; start the run "
                              "again without --resume")
    for name, generator in generators.items():
        generator.set_state(tensors[f"rng.module.{name}"])
    kind, keys, pos, has_gauss, cached = info["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = info["python"]
    random.setstate((version, tuple(internal), gauss))


# ---------------------------------------------------------------------- optimiser


def _split_optimizer(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, slots in state["state"].items():
        entry = {}
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}{pid}.{slot}"] = value
                entry[slot] = {"tensor": f"{prefix}{pid}.{slot}"}
            else:
                entry[slot] = value
        plain["state"][str(pid)] = entry
    return tensors, plain


def _join_optimizer(tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]) -> dict[str, Any]:
    state = {}
    for pid, slots in plain["state"].items():
        state[int(pid)] = {slot: tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v
                           for slot, v in slots.items()}
    return {"param_groups": plain["param_groups"], "state": state}


def _optimizers_state(optimizer: Any, scheduler: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any], Any]:
    """(tensors, JSON, scheduler JSON) of one optimiser, or of a mapping {step: optimiser} with a
    mapping {step: scheduler} (a model trained by alternating steps)."""
    if not isinstance(optimizer, Mapping):
        tensors, plain = _split_optimizer(optimizer.state_dict())
        return tensors, plain, scheduler.state_dict()
    tensors, steps = {}, {}
    for name, opt in optimizer.items():
        own, steps[name] = _split_optimizer(opt.state_dict(), prefix=f"{name}/")
        tensors.update(own)
    return tensors, {"steps": steps}, {name: scheduler[name].state_dict() for name in optimizer}


# ---------------------------------------------------------------------- checkpoints


def save_checkpoint(
    folder: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer],
    scheduler: Any,
    state: Mapping[str, Any],
    keep: int = 1,
) -> Path:
    """Write a resumable checkpoint under ``folder`` (the run's ``checkpoints/``) and point
    ``latest.json`` at it; ``state`` must hold ``step`` and be JSON-able. ``optimizer`` and
    ``scheduler`` are one of each, or mappings {step name: ...} with the same keys."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{int(state['step']):08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
    try:
        save_file(_contiguous(model.state_dict()), str(tmp / "model.safetensors"))
        opt_tensors, opt_plain, scheduler_plain = _optimizers_state(optimizer, scheduler)
        rng_tensors, rng_plain = rng_state(model)
        save_file(_contiguous({**{f"opt.{k}": v for k, v in opt_tensors.items()}, **rng_tensors}),
                  str(tmp / "optimizer.safetensors"))
        payload = {**state, "optimizer": opt_plain, "scheduler": scheduler_plain, "rng": rng_plain}
        (tmp / "state.json").write_text(json.dumps(payload), encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        final = folder / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(folder)
    atomic_write_text(folder / POINTER, json.dumps({"checkpoint": name, "step": int(state["step"])}))
    existing = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step-"))
    for old in existing[:-keep] if keep > 0 else existing:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    for stray in folder.glob(".step-*"):
        shutil.rmtree(stray, ignore_errors=True)
    return final


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The checkpoint ``latest.json`` points to, or None when there is none."""
    pointer = Path(folder) / POINTER
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{pointer}: unreadable checkpoint pointer; delete it to start over") from None
    path = Path(folder) / str(name)
    if "/" in str(name) or not path.is_dir():
        raise CheckpointError(f"{pointer}: points to {name!r}, which is missing; delete the pointer to start over")
    return path


def load_checkpoint(
    path: str | os.PathLike, *, model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer], scheduler: Any
) -> dict[str, Any]:
    """Restore model, optimiser(s), scheduler(s) and RNG from a checkpoint folder; return its state.
    A checkpoint whose optimisation steps differ from ``optimizer``'s is a :class:`CheckpointError`."""
    path = Path(path)
    load_weights(path / "model.safetensors", model)
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(path / "optimizer.safetensors"))
    except (OSError, ValueError, SafetensorError) as error:
        raise CheckpointError(f"{path}: corrupt checkpoint ({error}); delete it (and checkpoints/latest.json) "
                              "to start over") from None
    opt_tensors = {k[4:]: v for k, v in tensors.items() if k.startswith("opt.")}
    opt_plain, scheduler_plain = state.pop("optimizer"), state.pop("scheduler")
    saved_steps = sorted(opt_plain["steps"]) if "steps" in opt_plain else None
    own_steps = sorted(optimizer) if isinstance(optimizer, Mapping) else None
    if saved_steps != own_steps:
        raise CheckpointError(f"{path}: the checkpoint's optimisation steps {saved_steps or 'one optimiser'} differ from "
                              f"the model's {own_steps or 'one optimiser'}: it belongs to another model; resume with "
                              "the config it was trained with")
    if own_steps is None:
        optimizer.load_state_dict(_join_optimizer(opt_tensors, opt_plain))
        scheduler.load_state_dict(scheduler_plain)
    else:
        for name in own_steps:
            optimizer[name].load_state_dict(_join_optimizer(opt_tensors, opt_plain["steps"][name]))
            scheduler[name].load_state_dict(scheduler_plain[name])
    set_rng_state({k: v for k, v in tensors.items() if k.startswith("rng.")}, state.pop("rng"), model)
    return state
