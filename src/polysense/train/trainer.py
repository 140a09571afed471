"""The one trainer: every model, every dataset, one loop.

``train(config, out_dir)`` builds the data (by name), trains a tokenizer when the model's text
encoder needs one, builds the model (by name), and runs AdamW with a warm-up + cosine schedule,
gradient clipping and accumulation, optional bf16 autocast, waveform augmentation, validation
after every epoch, best-epoch selection and early stopping on a validation metric (never on the
test split), atomic resumable checkpoints and ``metrics.jsonl``. It reads only the base output
of :mod:`polysense.models.output` (``loss``, ``losses``, ``metrics``; the validation metrics come from
the one inference path, :mod:`polysense.inference`), so it never knows a model class.

Reproducibility: the order of the training items in epoch ``e`` is a permutation drawn from a
generator seeded with ``(seed, e)``, augmentation draws from a generator seeded with
``(seed, e, batch)``, and a checkpoint stores the global RNG states, those of the generators the
model holds (its front end's augmentations) and the data loader's seed of the epoch, so a run
killed at any moment and resumed from its last checkpoint reaches the same weights as an
uninterrupted one (tested for every built-in config, ``tests/train/test_resume_configs.py``).

Alternating updates: a model that declares two or more optimisation steps
(``training_steps()``, see :class:`polysense.models.output.TrainingStep`: a GAN's discriminator
and generator) gets one AdamW and one schedule per step, each over that step's parameters, with the
step's overrides of the ``optim`` and ``schedule`` sections. For every batch the steps run in the
declared order, each a forward ``model(batch, step=name)``, a backward and (at the end of an
accumulation) an update of that step's parameters only: the gradients a step's loss leaves on
other steps' parameters are discarded, and each step accumulates only its own. Checkpoints hold
every optimiser and scheduler; the rest of the loop (logging, validation, selection, early
stopping, resume) is the one described above. ``metrics.jsonl`` logs each step's loss as
``loss_<step>``, their sum as ``loss``, and each step's ``lr_<step>`` and ``grad_norm_<step>``.
A model without ``training_steps`` is trained exactly as before: ``model(batch)`` and one optimiser.

Several processes (``torchrun``): ``train.batch_size`` is the global batch; each process takes
its contiguous share of every batch, gradients are averaged by ``DistributedDataParallel`` and
the contrastive losses gather embeddings across processes, so N processes follow the same
trajectory as one (up to floating-point summation order). Only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from polysense.data.batches import Collator, epoch_batches, seeded_generator, shard
from polysense.data.registry import DataSplits, build_data
from polysense.errors import ParameterError
from polysense.inference import output_scalars, to_device
from polysense.train import checkpoint as ckpt
from polysense.train.augment import augment_batch
from polysense.train.config import ConfigError, ExperimentConfig, OptimConfig, ScheduleConfig
from polysense.train.validation import validate
from polysense.train.distributed import DistributedContext, setup, teardown
from polysense.train.progress import RunLog
from polysense.train.run import RunFolder, resolve_model_paths, walk_parts

__all__ = ["TrainResult", "TrainingError", "Trainer", "train"]

class TrainingError(ParameterError):
    """Training cannot go on (a non-finite loss, ...); the message says where and what to change."""


@dataclass
class TrainResult:
    run_dir: Path
    best_metric: str
    best_value: float | None
    best_epoch: int | None
    epochs_run: int
    steps: int
    train_seconds: float
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    #: the data the run was built on, for the evaluation that follows (built once per command)
    data: DataSplits | None = field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------------------- helpers


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on matrices and higher (weights), none on vectors (biases, norms,
    scales) and embeddings' padding rows stay as the optimiser leaves them."""
    return decay_groups(model.parameters(), weight_decay)


def decay_groups(parameters: Any, weight_decay: float) -> list[dict[str, Any]]:
    """:func:`parameter_groups` of an iterable of parameters (one optimisation step's)."""
    decay, no_decay = [], []
    for parameter in parameters:
        if not parameter.requires_grad:
            continue
        (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def lr_lambda(total_steps: int, warmup_steps: int, name: str, min_ratio: float) -> Callable[[int], float]:
    """Linear warm-up from 0 to 1 over ``warmup_steps``, then cosine from 1 to ``min_ratio`` at
    ``total_steps`` (or constant 1)."""

    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        if name == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@dataclass
class _Step:
    """One optimisation step of the loop: ``name`` None is the single step of ``model(batch)``."""

    name: str | None
    optimizer: torch.optim.Optimizer
    scheduler: Any
    parameters: list[nn.Parameter]
    clip_grad_norm: float | None
    stash: list[torch.Tensor | None] | None = None  # its gradients accumulated over micro-batches


def declared_steps(model: nn.Module) -> list[Any] | None:
    """The model's :class:`~polysense.models.output.TrainingStep` list (two or more, names unique,
    parameter groups disjoint and together every trainable parameter), or None when the model
    declares none (one step: ``model(batch)``)."""
    declare = getattr(model, "training_steps", None)
    if not callable(declare):
        return None
    steps = list(declare())
    names = [s.name for s in steps]
    if len(steps) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{type(model).__name__}.training_steps() gives steps {names}: declare two or more steps "
                          "with distinct names, or no training_steps for one optimiser")
    owner: dict[int, str] = {}
    for step in steps:
        if not step.parameters:
            raise ConfigError(f"training step {step.name!r} has no parameters to update")
        for parameter in step.parameters:
            if id(parameter) in owner:
                raise ConfigError(f"a parameter is in training steps {owner[id(parameter)]!r} and {step.name!r}: "
                                  "each step updates its own parameters")
            owner[id(parameter)] = step.name
    left = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in owner]
    if left:
        raise ConfigError(f"trainable parameters {left[:5]} belong to no training step of {type(model).__name__}: "
                          "add them to a step or freeze them")
    return steps


def _step_settings(config: ExperimentConfig, step: Any) -> tuple[OptimConfig, ScheduleConfig]:
    """The config's optim and schedule sections with ``step``'s overrides, validated."""
    try:
        optim = OptimConfig.model_validate({**config.optim.model_dump(), **dict(step.optim)})
        schedule = ScheduleConfig.model_validate({**config.schedule.model_dump(), **dict(step.schedule)})
    except Exception as error:  # pydantic's ValidationError: name the step and the bad override
        raise ConfigError(f"training step {step.name!r}: bad optim/schedule override ({error})") from None
    if optim.accumulate_steps != config.optim.accumulate_steps:
        raise ConfigError(f"training step {step.name!r} overrides accumulate_steps: accumulation is per batch, "
                          "the same for every step; set optim.accumulate_steps instead")
    return optim, schedule


# ----------------------------------------------------------------------- preparation


def _audio_encoder_names() -> set[str]:
    import inspect

    from polysense.models import registry

    names = set()
    for name in registry.available("encoder"):
        try:
            if "sample_rate" in inspect.signature(registry.builder("encoder", name)).parameters:
                names.add(name)
        except (TypeError, ValueError):
            continue
    return names


def prepare_model_config(model_config: dict[str, Any], data: DataSplits, run_dir: Path | None) -> dict[str, Any]:
    """Fill what the data decides: the audio encoders' sample rate (when the config leaves it
    out; a different one is an error naming both rates) and a tokenizer trained on the
    training text for text encoders that have none (saved as ``tokenizer.json``)."""
    import copy

    resolved = copy.deepcopy(model_config)
    audio_names = _audio_encoder_names()
    for part in walk_parts(resolved):
        if part.get("name") in audio_names and data.sample_rate is not None:
            given = part.get("sample_rate")
            if given is None:
                part["sample_rate"] = int(data.sample_rate)
            elif int(given) != int(data.sample_rate) and not part.get("resample", False):
                raise ConfigError(
                    f"model encoder {part['name']!r} has sample_rate={given} but the data is at {data.sample_rate} Hz: "
                    f"set the encoder's sample_rate to {data.sample_rate} (or leave it out), or data.sample_rate to {given}"
                )
        if part.get("name") == "text_transformer" and "tokenizer" not in part:
            if not data.train_texts:
                raise ConfigError("the model has a text_transformer but the training split has no text: "
                                  "use data with captions, or give the encoder a tokenizer path")
            if run_dir is not None:
                from polysense.models.encoders.text import train_tokenizer

                vocab = int(part.pop("vocab_size", 1000))
                path = RunFolder(run_dir).tokenizer_path
                if not path.is_file():
                    tokenizer = train_tokenizer(list(data.train_texts), vocab_size=vocab)
                    tokenizer.save(path)
                part["tokenizer"] = RunFolder.TOKENIZER
    return resolved


def _check_run_dir(run_dir: Path, config: ExperimentConfig, resume: bool) -> None:
    folder = RunFolder(run_dir)
    saved = folder.config_path
    if resume:
        if not saved.is_file():
            raise ConfigError(f"--resume: {run_dir} holds no run to resume (no {RunFolder.CONFIG}); drop --resume to "
                              "start one")
        previous = folder.read_config()
        # the saved model section has what the data filled in (sample rate, tokenizer): compare
        # the model config as it was given, kept in run.json
        previous["model"] = folder.read_info().get("model_config", previous.get("model"))
        current = config.to_dict()
        differing = sorted(k for k in set(previous) | set(current)
                           if k not in ("name", "description") and previous.get(k) != current.get(k))
        if differing:
            raise ConfigError(f"--resume: {run_dir} was trained with another config (sections {differing} differ); "
                              "resume with the same config, or start a new run in another folder")
        return
    if saved.is_file():
        raise ConfigError(f"{run_dir} already holds a run ({RunFolder.CONFIG}); pass --resume to continue it, "
                          "or choose another --out folder")
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file: give a folder for the run")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise ConfigError(f"--out {run_dir} is not empty and holds no run: choose an empty or new folder")


# --------------------------------------------------------------------------- the trainer


class Trainer:
    """One training run (see the module docstring); :meth:`run` does it all."""

    def __init__(self, config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False,
                 quiet: bool = False) -> None:
        self.config = config
        self.run_dir = Path(out_dir)
        self.folder = RunFolder(self.run_dir)
        self.resume = resume
        self.quiet = quiet

    # -- set-up ------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.config
        self.ctx: DistributedContext = setup(cfg.train.device)
        if cfg.train.batch_size % self.ctx.world_size:
            raise ConfigError(f"train.batch_size={cfg.train.batch_size} is the global batch and must divide evenly "
                              f"over {self.ctx.world_size} processes")
        if self.ctx.is_main:
            _check_run_dir(self.run_dir, cfg, self.resume)
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ctx.barrier()
        seed_everything(cfg.train.seed)
        self.data = build_data(cfg.data, seed=cfg.train.seed)
        self.data.split("train")
        if self.data.val is None or len(self.data.val) == 0:
            raise ConfigError("the data has no validation split: the best epoch is chosen on it (never on test); "
                              "give the data config a val split (e.g. val_speakers)")
        # rank 0 trains the tokenizer; the others wait and read it
        model_config = prepare_model_config(cfg.model, self.data, self.run_dir if self.ctx.is_main else None)
        self.ctx.barrier()
        if not self.ctx.is_main:
            model_config = prepare_model_config(cfg.model, self.data, self.run_dir)
        self.model_config = model_config
        from polysense.models.registry import build_model

        seed_everything(cfg.train.seed)
        model = build_model(resolve_model_paths(model_config, self.run_dir))
        self.model = model.to(self.ctx.device)
        self.tokenizer = self.folder.tokenizer_for(model)
        self.collator = Collator(self.data.collate, self.tokenizer)
        self.num_classes = len(self.data.classes) if self.data.classes else None
        steps = declared_steps(self.model)
        if self.ctx.world_size > 1:
            # alternating steps leave the other steps' parameters out of a step's graph
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.ctx.device.index] if self.ctx.device.type == "cuda" else None,
                find_unused_parameters=cfg.train.ddp_find_unused_parameters or steps is not None)
        else:
            self.ddp = self.model
        batches = len(epoch_batches(len(self.data.train), cfg.train.batch_size, seed=0, epoch=0))
        if cfg.train.max_batches_per_epoch:
            batches = min(batches, cfg.train.max_batches_per_epoch)
        self.steps_per_epoch = max(1, batches // cfg.optim.accumulate_steps)
        self.total_steps = self.steps_per_epoch * cfg.train.epochs
        if cfg.train.max_steps:
            self.total_steps = min(self.total_steps, cfg.train.max_steps)
        if steps is None:
            self.plan = [self._step(None, list(self.model.parameters()), cfg.optim, cfg.schedule)]
            self.optimizer, self.scheduler = self.plan[0].optimizer, self.plan[0].scheduler
        else:
            self.plan = [self._step(step.name, list(step.parameters), *_step_settings(cfg, step)) for step in steps]
            # checkpoints store every step's optimiser and scheduler by name
            self.optimizer = {s.name: s.optimizer for s in self.plan}
            self.scheduler = {s.name: s.scheduler for s in self.plan}
        bf16 = cfg.train.precision == "bf16"
        device_type = self.ctx.device.type
        self.autocast = lambda: torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16)
        self.log = RunLog(self.run_dir, enabled=self.ctx.is_main, quiet=self.quiet)
        if self.ctx.is_main:
            self.folder.write_config({**cfg.to_dict(), "model": model_config})
            self.folder.write_info({
                "sample_rate": self.data.sample_rate,
                "classes": list(self.data.classes) if self.data.classes else None,
                # the voices a speaker-conditioned model knows (datasets that list them: fsdd_takes)
                **({"speakers": list(self.data.extra["speakers"])} if "speakers" in self.data.extra else {}),
                "modalities": list(self.data.modalities),
                "data": self.data.description,
                "world_size": self.ctx.world_size,
                "threads": torch.get_num_threads(),  # per process (polysense.threads; --threads)
                "model_config": cfg.to_dict()["model"],
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "trainable_parameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            })

    def _loader(self, batches: list[list[int]], dataset: Any, seed: int | None = None) -> Iterator[dict[str, Any]]:
        """The batches' items, collated; ``seed`` seeds the loader's own generator (its workers'
        seeds), else the loader draws that seed from torch's global generator."""
        if not batches:
            return iter(())
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=self.collator,
                                             num_workers=self.config.train.num_workers, generator=generator)
        return iter(loader)

    def _eval_batches(self, dataset: Any) -> Iterator[dict[str, Any]]:
        size = self.config.train.eval_batch_size or self.config.train.batch_size
        # every process validates the whole split: simple, and identical on every rank
        return self._loader(epoch_batches(len(dataset), size, seed=0, epoch=0, shuffle=False), dataset)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> TrainResult:
        try:
            self._setup()
            return self._loop()
        finally:
            log = getattr(self, "log", None)
            if log is not None:
                log.close()
            context = getattr(self, "ctx", None)
            if context is not None:
                teardown(context)

    def _mean_over_processes(self, values: dict[str, float]) -> dict[str, float]:
        """Each process holds its share's values (a distributed loss is defined so that the mean
        over processes is the global one): log their mean."""
        if self.ctx.world_size == 1 or not values:
            return values
        import torch.distributed as dist

        stacked = torch.tensor(list(values.values()), dtype=torch.float64)
        dist.all_reduce(stacked)
        return dict(zip(values, (stacked / self.ctx.world_size).tolist()))

    def _step(self, name: str | None, parameters: list[nn.Parameter], optim: OptimConfig,
              schedule: ScheduleConfig) -> _Step:
        """One optimisation step over ``parameters``: AdamW (weight decay on matrices only,
        :func:`decay_groups`) and the warm-up + cosine (or constant) schedule over the run's steps."""
        optimizer = torch.optim.AdamW(decay_groups(parameters, optim.weight_decay), lr=optim.lr, betas=optim.betas,
                                      eps=optim.eps)
        warmup = int(schedule.warmup_fraction * self.total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda(self.total_steps, warmup, schedule.name, schedule.min_lr_ratio))
        return _Step(name, optimizer, scheduler, parameters, optim.clip_grad_norm)

    def _select(self, values: dict[str, float]) -> tuple[str, str]:
        """The metric that picks the best epoch: the configured one, else accuracy when the model
        classifies, else mean R@1 when it retrieves, else the validation loss."""
        cfg = self.config.train
        if cfg.select_metric:
            metric = cfg.select_metric.removeprefix("val/")
        else:
            metric = next((m for m in ("accuracy", "r1") if m in values), "loss")
        mode = cfg.select_mode or ("min" if metric in ("loss", "fd") or metric.startswith("loss_") else "max")
        return metric, mode

    def _loop(self) -> TrainResult:
        cfg = self.config
        state = {"step": 0, "epoch": 0, "batch": 0, "best_value": None, "best_epoch": None, "bad_evals": 0,
                 "train_seconds": 0.0, "metrics_bytes": 0, "history": [], "stopped_early": False}
        if self.resume:
            latest = ckpt.latest_checkpoint(self.folder.checkpoints_dir)
            if latest is None:
                raise ConfigError(f"--resume: {self.run_dir} has no checkpoint yet; start the run again without --resume "
                                  "(delete the folder first)")
            state.update(ckpt.load_checkpoint(latest, model=self.model, optimizer=self.optimizer,
                                              scheduler=self.scheduler))
            self.log.truncate(int(state["metrics_bytes"]))
            self.log.say(f"resumed from {latest.name}: epoch {state['epoch'] + 1}, batch {state['batch']}, "
                         f"step {state['step']}")
        metric = str(state.get("select_metric") or (cfg.train.select_metric or "loss").removeprefix("val/"))
        accumulate = cfg.optim.accumulate_steps
        started = time.perf_counter() - float(state["train_seconds"])
        self.ddp.train()

        def checkpoint() -> None:
            if self.ctx.is_main:
                state["train_seconds"] = time.perf_counter() - started
                state["metrics_bytes"] = self.log.size()
                ckpt.save_checkpoint(self.folder.checkpoints_dir, model=self.model, optimizer=self.optimizer,
                                     scheduler=self.scheduler, state=state)
            self.ctx.barrier()

        done = state["step"] >= self.total_steps
        while not done and state["epoch"] < cfg.train.epochs:
            epoch = int(state["epoch"])
            batches = epoch_batches(len(self.data.train), cfg.train.batch_size, seed=cfg.train.seed, epoch=epoch)
            if cfg.train.max_batches_per_epoch:
                batches = batches[:cfg.train.max_batches_per_epoch]
            batches = batches[: len(batches) - len(batches) % accumulate] or batches
            start = int(state["batch"])
            if start == 0 or "loader_seed" not in state:
                # the draw from the global generator a DataLoader makes when it starts (its workers'
                # seed), made once per epoch here and kept in the state: a loader restarted mid-epoch
                # on resume must not draw again, or every later draw (dropout...) would shift
                state["loader_seed"] = int(torch.empty((), dtype=torch.int64).random_().item())
            local = [shard(b, self.ctx.rank, self.ctx.world_size) for b in batches[start:]]
            self.log.start_epoch(epoch, cfg.train.epochs, len(batches), start)
            tick = time.perf_counter()
            running: dict[str, float] = {}
            running_n = 0
            for offset, batch in enumerate(self._loader(local, self.data.train, seed=state["loader_seed"])):
                index = start + offset
                batch = augment_batch(batch, cfg.augment.waveform, generator=seeded_generator(cfg.train.seed, epoch, index),
                                      num_classes=self.num_classes)
                batch = to_device(batch, self.ctx.device)
                last_micro = (index + 1) % accumulate == 0
                grad_norms: dict[str, float] = {}
                for step in self.plan:
                    if step.name is not None:
                        # this step's gradients only: those of earlier micro-batches, none of other steps'
                        self.model.zero_grad(set_to_none=True)
                        for parameter, grad in zip(step.parameters, step.stash or ()):
                            parameter.grad = grad
                        step.stash = None
                    sync = (self.ddp.no_sync() if self.ctx.world_size > 1 and not last_micro
                            else contextlib.nullcontext())
                    where = f"step {state['step']} (epoch {epoch + 1}, batch {index}" + (
                        f", training step {step.name!r})" if step.name is not None else ")")
                    with sync:
                        with self.autocast():
                            out = self.ddp(batch) if step.name is None else self.ddp(batch, step=step.name)
                        loss = out.loss
                        if loss is None:
                            raise TrainingError(
                                f"the model returned no loss at {where}: "
                                "the training batches lack what its objective needs (labels, or both modalities)")
                        if not bool(torch.isfinite(loss.detach())):
                            last = ckpt.latest_checkpoint(self.folder.checkpoints_dir) if self.ctx.is_main else None
                            raise TrainingError(
                                f"the loss is {float(loss.detach())} at {where}; "
                                f"training stopped. The last good checkpoint is {last or 'none yet'} and "
                                f"{self.folder.weights_path} holds the best weights so far. Lower optim.lr, set "
                                "optim.clip_grad_norm, or check the data for extreme values")
                        (loss / accumulate).backward()
                    values = output_scalars(out)
                    if step.name is not None:
                        values[f"loss_{step.name}"] = values["loss"]
                    for key, value in values.items():
                        running[key] = running.get(key, 0.0) + value
                    if not last_micro:
                        if step.name is not None:
                            step.stash = [p.grad for p in step.parameters]
                        continue
                    # the total norm before clipping; max_norm=inf measures it without scaling anything
                    norm = float(torch.nn.utils.clip_grad_norm_(step.parameters, step.clip_grad_norm or float("inf")))
                    grad_norms["grad_norm" if step.name is None else f"grad_norm_{step.name}"] = norm
                    step.optimizer.step()
                    step.optimizer.zero_grad(set_to_none=True)
                    step.scheduler.step()
                    if step.name is not None:
                        self.model.zero_grad(set_to_none=True)  # what its loss left on other steps' parameters
                running_n += 1
                state["batch"] = index + 1
                if not last_micro:
                    continue
                state["step"] += 1
                elapsed = time.perf_counter() - tick
                self.log.advance(running.get("loss", 0.0) / max(running_n, 1), (offset + 1) / max(elapsed, 1e-9))
                if state["step"] % cfg.train.log_every_steps == 0:
                    lrs = {} if self.plan[0].name is None else {
                        f"lr_{step.name}": step.scheduler.get_last_lr()[0] for step in self.plan}
                    entry = {"split": "train", "step": state["step"], "epoch": epoch + 1,
                             "lr": self.plan[0].scheduler.get_last_lr()[0], **lrs, **grad_norms,
                             **self._mean_over_processes({k: v / running_n for k, v in running.items()})}
                    self.log.record(entry)
                    if not self.log.interactive:
                        self.log.say(f"epoch {epoch + 1} step {state['step']}/{self.total_steps} "
                                     f"loss {entry['loss']:.4f} lr {entry['lr']:.2e}")
                    running, running_n = {}, 0
                if cfg.train.checkpoint_every_steps and state["step"] % cfg.train.checkpoint_every_steps == 0:
                    checkpoint()
                if state["step"] >= self.total_steps:
                    done = True
                    break
            # end of epoch: validate, select, checkpoint
            val_start = time.perf_counter()
            values = validate(self.model, self._eval_batches(self.data.val), device=self.ctx.device,
                              num_classes=self.num_classes, autocast=self.autocast)
            state["val_seconds"] = float(state.get("val_seconds", 0.0)) + time.perf_counter() - val_start
            metric, mode = self._select(values)
            if metric not in values:
                raise ConfigError(f"train.select_metric={metric!r} is not among the validation metrics "
                                  f"{sorted(values)}: choose one of them")
            value = values[metric]
            state["select_metric"] = metric
            better = state["best_value"] is None or (value > state["best_value"] if mode == "max"
                                                     else value < state["best_value"])
            entry = {"split": "val", "step": state["step"], "epoch": epoch + 1, **values,
                     "seconds": time.perf_counter() - started}
            state["history"].append(entry)
            self.log.record(entry)
            shown = " ".join(f"{k} {v:.4f}" for k, v in values.items()
                             if k in ("loss", "accuracy", "macro_f1", "r1", "fd", metric))  # and what selects
            self.log.say(f"epoch {epoch + 1}/{cfg.train.epochs} val {shown}{'  (best)' if better else ''}")
            if better:
                state["best_value"], state["best_epoch"], state["bad_evals"] = value, epoch + 1, 0
                if self.ctx.is_main:
                    ckpt.save_weights(self.folder.weights_path, self.model)
            else:
                state["bad_evals"] += 1
            state["epoch"], state["batch"] = epoch + 1, 0
            if cfg.train.patience and state["bad_evals"] >= cfg.train.patience:
                state["stopped_early"] = True
                done = True
                self.log.say(f"early stop: no better val {metric} for {cfg.train.patience} evaluations")
            checkpoint()
        seconds = time.perf_counter() - started
        result = TrainResult(run_dir=self.run_dir, best_metric=f"val/{metric}", best_value=state["best_value"],
                             best_epoch=state["best_epoch"], epochs_run=int(state["epoch"]), steps=int(state["step"]),
                             train_seconds=seconds, stopped_early=bool(state["stopped_early"]),
                             history=list(state["history"]), data=self.data)
        if self.ctx.is_main:
            self.folder.write_result({
                "best_metric": result.best_metric, "best_value": result.best_value, "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run, "steps": result.steps, "train_seconds": round(seconds, 3),
                "val_seconds": round(float(state.get("val_seconds", 0.0)), 3),
                "stopped_early": result.stopped_early})
        self.ctx.barrier()
        return result


def train(config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Train ``config`` into the run folder ``out_dir`` (see :class:`Trainer`)."""
    return Trainer(config, out_dir, resume=resume, quiet=quiet).run()
