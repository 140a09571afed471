"""FeatureCache: hits and misses by content and parameters, damage detection, concurrent writers."""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from polysense.data.cache import FeatureCache, feature_params, file_sha256, params_key
from polysense.data.collate import collate
from polysense.data.dataset import ManifestDataset
from polysense.errors import ParameterError
from polysense.signal.transforms import LogMelSpectrogram
from tests.data.manifest_helpers import make_manifest, write_wav

PARAMS = {"n_fft": 512, "hop_length": 128, "n_mels": 40, "f_max_hz": 4000.0}


class Counting:
    """A compute function that counts its calls."""

    def __init__(self, value: torch.Tensor):
        self.value, self.calls = value, 0

    def __call__(self) -> torch.Tensor:
        self.calls += 1
        return self.value.clone()


@pytest.fixture
def wav(tmp_path):
    return write_wav(tmp_path / "a.wav", seed=1)


def test_computed_once_then_read_back(tmp_path, wav):
    cache = FeatureCache(tmp_path / "cache")
    compute = Counting(torch.randn(40, 9))
    first = cache.get_or_compute(wav, PARAMS, compute)
    second = cache.get_or_compute(wav, PARAMS, compute)
    assert compute.calls == 1
    torch.testing.assert_close(second, first, rtol=0, atol=0)
    assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 1)
    entries = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(entries) == 1 and entries[0].stem == cache.key(wav, PARAMS)
    # Stored as safetensors (no pickle): readable by the plain safetensors loader.
    torch.testing.assert_close(load_file(entries[0])["features"], first)


@pytest.mark.parametrize("change", list(PARAMS) + ["new_key"])
def test_any_parameter_change_misses(tmp_path, wav, change):
    cache = FeatureCache(tmp_path / "cache")
    cache.put(wav, PARAMS, torch.zeros(2))
    changed = dict(PARAMS)
    changed[change] = (changed.get(change) or 0) + 1 if change != "f_max_hz" else 3999.0
    assert cache.get(wav, changed) is None
    assert cache.get(wav, PARAMS) is not None


def test_float_and_int_parameters_are_distinct_and_exact(tmp_path, wav):
    cache = FeatureCache(tmp_path / "cache")
    assert cache.key(wav, {"x": 1}) != cache.key(wav, {"x": 1.0})
    assert cache.key(wav, {"x": 0.1}) != cache.key(wav, {"x": 0.1 + 1e-17 * 10})
    assert cache.key(wav, {"a": 1, "b": 2}) == cache.key(wav, {"b": 2, "a": 1})


def test_a_precomputed_params_key_gives_the_same_entry(tmp_path, wav):
    cache = FeatureCache(tmp_path / "cache")
    assert cache.key(wav, params_key(PARAMS)) == cache.key(wav, PARAMS)
    cache.put(wav, params_key(PARAMS), torch.ones(2))
    assert torch.equal(cache.get(wav, PARAMS), torch.ones(2))
    with pytest.raises(ParameterError, match="mapping"):
        params_key([1, 2])
    with pytest.raises(ParameterError, match="not JSON-serialisable"):
        params_key({"window": object()})


def test_same_size_rewrite_with_old_mtime_still_misses(tmp_path, wav):
    cache = FeatureCache(tmp_path / "cache")
    cache.put(wav, PARAMS, torch.ones(2))
    st = os.stat(wav)
    data = bytearray(wav.read_bytes())
    data[-1] ^= 1  # same size, one sample changed
    wav.write_bytes(bytes(data))
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back: ctime still moves
    assert cache.get(wav, PARAMS) is None


def test_key_follows_content_not_name(tmp_path, wav):
    cache = FeatureCache(tmp_path / "cache")
    cache.put(wav, PARAMS, torch.ones(3))
    copy = shutil.copy(wav, tmp_path / "renamed.wav")
    assert cache.get(copy, PARAMS) is not None  # same bytes, same entry
    other = write_wav(tmp_path / "other.wav", seed=2)
    assert cache.get(other, PARAMS) is None
    # Rewriting the file with new content misses (the content hash is not trusted past a change).
    shutil.copy(other, wav)
    os.utime(wav, ns=(1, 1))
    assert cache.get(wav, PARAMS) is None
    assert file_sha256(wav) == file_sha256(other)


@pytest.mark.parametrize("keep", [0, 8, 100, -1])
def test_truncated_entry_is_detected_and_recomputed(tmp_path, wav, keep):
    cache = FeatureCache(tmp_path / "cache")
    compute = Counting(torch.randn(40, 50))
    first = cache.get_or_compute(wav, PARAMS, compute)
    entry = cache.entry_path(cache.key(wav, PARAMS))
    data = entry.read_bytes()
    entry.write_bytes(data[:keep])
    again = cache.get_or_compute(wav, PARAMS, compute)
    assert compute.calls == 2 and cache.stats.corrupt == 1
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert len(entry.read_bytes()) == len(data)  # rewritten whole
    assert cache.get(wav, PARAMS) is not None and cache.stats.corrupt == 1


def test_damaged_values_fail_the_checksum(tmp_path, wav):
    cache = FeatureCache(tmp_path / "cache")
    cache.put(wav, PARAMS, torch.zeros(1000))
    entry = cache.entry_path(cache.key(wav, PARAMS))
    data = bytearray(entry.read_bytes())
    data[-10] ^= 0xFF  # flip bits inside the tensor data; the header stays valid
    entry.write_bytes(bytes(data))
    assert cache.get(wav, PARAMS) is None and cache.stats.corrupt == 1


def test_no_temporary_files_left_and_failed_writes_clean_up(tmp_path, wav, monkeypatch):
    cache = FeatureCache(tmp_path / "cache")
    cache.put(wav, PARAMS, torch.zeros(3))

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        cache.put(wav, {"other": 1}, torch.zeros(3))
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == [cache.entry_path(cache.key(wav, PARAMS)).name]


def test_a_reader_never_sees_a_half_written_entry(tmp_path, wav, monkeypatch):
    """Pause a writer halfway through writing its bytes: a concurrent reader must see the old whole
    entry, never the partial bytes (writing the entry in place instead of a temp file + os.replace
    fails this)."""
    import threading

    cache = FeatureCache(tmp_path / "cache")
    old, new = torch.zeros(50_000), torch.ones(50_000)
    cache.put(wav, PARAMS, old)
    halfway, resume = threading.Event(), threading.Event()
    real_write = os.write

    def slow_write(fd, data):
        if threading.current_thread() is not writer or halfway.is_set():
            return real_write(fd, data)
        half = len(data) // 2
        written = real_write(fd, data[:half])
        halfway.set()
        resume.wait(10)
        return written

    writer = threading.Thread(target=cache.put, args=(wav, PARAMS, new))
    monkeypatch.setattr(os, "write", slow_write)
    writer.start()
    assert halfway.wait(10)
    reader = FeatureCache(tmp_path / "cache")
    seen = reader.get(wav, PARAMS)
    resume.set()
    writer.join()
    monkeypatch.undo()
    assert seen is not None and torch.equal(seen, old) and reader.stats.corrupt == 0
    assert torch.equal(reader.get(wav, PARAMS), new)


def _hammer(root: str, wav: str, seed: int, rounds: int) -> int:
    cache = FeatureCache(root)
    value = torch.arange(200_000, dtype=torch.float32)
    for _ in range(rounds):
        cache.put(wav, PARAMS, value)  # every process writes the same key at once
        got = cache.get(wav, PARAMS)
        if got is not None and not torch.equal(got, value):
            return 1
    return cache.stats.corrupt


def test_concurrent_writers_never_expose_a_partial_entry(tmp_path, wav):
    ctx = mp.get_context("spawn")  # fork after threads ran torch ops can deadlock
    with ctx.Pool(4) as pool:
        results = pool.starmap(_hammer, [(str(tmp_path / "cache"), str(wav), s, 15) for s in range(4)])
    assert results == [0, 0, 0, 0]  # no reader ever saw a damaged or partial entry
    assert not list((tmp_path / "cache").rglob("*.tmp"))


# --- with the dataset and the real front end ------------------------------------------------------


def test_dataloader_workers_fill_the_cache_together(tmp_path):
    path = make_manifest(tmp_path, 8)
    front = LogMelSpectrogram(16000, **PARAMS)
    cache_dir = tmp_path / "cache"
    ds = ManifestDataset(path, sample_rate=16000, features=front, cache=cache_dir)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate)
    first = {i: a[..., : n] for b in loader for i, a, n in zip(b["id"], b["audio"], b["audio_lengths"], strict=True)}
    entries = sorted(cache_dir.rglob("*.safetensors"))
    assert len(entries) == 8 and not list(cache_dir.rglob("*.tmp"))
    # Epoch 2 reads what the workers wrote, and it equals computing afresh.
    ds2 = ManifestDataset(path, sample_rate=16000, features=front, cache=cache_dir)
    fresh = ManifestDataset(path, sample_rate=16000, features=front)
    for i in range(8):
        cached = ds2[i]["audio"]
        torch.testing.assert_close(cached, first[f"s{i}"], rtol=0, atol=0)
        # Workers run single-threaded, so float sums may differ in the last bit from this process.
        torch.testing.assert_close(cached, fresh[i]["audio"], rtol=1e-6, atol=1e-5)
    assert ds2.cache.stats.hits == 8 and ds2.cache.stats.misses == 0


def test_changing_the_front_end_or_rate_misses(tmp_path):
    path = make_manifest(tmp_path, 2)
    cache_dir = tmp_path / "cache"

    def run(front, rate=16000):
        ds = ManifestDataset(path, sample_rate=rate, features=front, cache=cache_dir)
        ds[0]
        return ds.cache.stats.misses

    assert run(LogMelSpectrogram(16000, **PARAMS)) == 1
    assert run(LogMelSpectrogram(16000, **PARAMS)) == 0
    assert run(LogMelSpectrogram(16000, **{**PARAMS, "hop_length": 160})) == 1
    assert run(LogMelSpectrogram(16000, **PARAMS, window="hamming")) == 1  # only in a non-persistent buffer
    assert run(LogMelSpectrogram(16000, **PARAMS, top_db=60.0)) == 1
    assert run(LogMelSpectrogram(16000, **PARAMS), rate=22050) == 1


def test_feature_params_of_functions_and_partials():
    def mel(x, n=3):
        return x * n

    assert feature_params(functools.partial(mel, n=4)) != feature_params(functools.partial(mel, n=5))
    assert feature_params(mel)["function"].endswith("mel")

    class Opaque:
        def __call__(self, x):
            return x

    with pytest.raises(ParameterError, match="cache_params"):
        feature_params(Opaque())

    class Declared(Opaque):
        def cache_params(self):
            return {"n": 3}

    assert feature_params(Declared()) == {"n": 3}
