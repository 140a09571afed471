"""Indexing and searching: vectors equal the model's own embeddings, exact search equals brute force,
incremental runs embed only what changed, an interrupted run leaves the old index usable."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from polysense import audio as audio_io
from polysense.errors import ParameterError
from polysense.search import Index, SearchIndexError, build_index
from polysense.search import store as store_mod
from tests.search.conftest import SAMPLE_RATE, make_bundle, write_png

WINDOW = {"window_s": 5.0, "hop_s": 4.0}


class CountingEncode:
    """Wraps model.encode to count the items it embeds."""

    def __init__(self, model):
        self.model, self.inner, self.items = model, model.encode, 0
        model.encode = self

    def __call__(self, modality, batch):
        out = self.inner(modality, batch)
        self.items += out.shape[0]
        return out


def _index(bundle, source, out, **kw):
    return build_index(bundle, source, out, **{**WINDOW, **kw})


def test_build_reports_and_vectors_match_the_model(audio_bundle, collection, tmp_path):
    report = _index(audio_bundle, collection, tmp_path / "idx")
    # 5 clips + long.wav + the lone note.txt; broken.wav skipped; the image ignored (audio+text model)
    assert report.files == 7
    assert report.vectors == 5 + 3 + 1  # long.wav (12 s) -> windows (0,5) (4,9) (7,12)
    assert [s.path for s in report.skipped] == ["broken.wav"]
    assert report.skipped[0].reason.startswith("AudioError") and "broken.wav" in report.skipped[0].reason
    assert report.ignored == {"image": 1}
    assert report.index["type"] == "flat"
    with Index.open(tmp_path / "idx", embedder=audio_bundle) as index:
        # reference: the model's own embedding of the file, computed independently of the indexer
        wave, _ = audio_io.load(collection / "sub" / "clip1.wav", sample_rate=SAMPLE_RATE)
        expected = audio_bundle.embed_waveforms([wave])[0].numpy()
        row = index.row_of("sub/clip1.wav")
        np.testing.assert_allclose(index.vectors[row], expected, atol=1e-5)
        long_wave, _ = audio_io.load(collection / "sub" / "deeper" / "long.wav", sample_rate=SAMPLE_RATE)
        last = audio_bundle.embed_waveforms([long_wave[7 * SAMPLE_RATE:]])[0].numpy()
        np.testing.assert_allclose(index.vectors[index.row_of("sub/deeper/long.wav@7.00s")], last, atol=1e-5)
        assert index.file(index.search(like="sub/clip1.wav", k=1)[0].file_id)["path"] is not None
        assert ("broken.wav",) == tuple(p for p, _ in index.skipped())


def test_text_search_equals_brute_force(audio_bundle, collection, tmp_path):
    _index(audio_bundle, collection, tmp_path / "idx")
    with Index.open(tmp_path / "idx", embedder=audio_bundle) as index:
        hits = index.search(text="a dog barking", k=20)
        query = audio_bundle.embed_texts(["a dog barking"])[0].numpy().astype(np.float64)
        scores = np.asarray(index.vectors, dtype=np.float64) @ query  # float64 brute force reference
        order = np.argsort(-scores)
        assert len(hits) == len(index) == 9
        np.testing.assert_allclose([h.score for h in hits], scores[order], atol=1e-5)
        assert [index.row_of(h.item_id) for h in hits[:3]] == list(order[:3])
        assert [h.rank for h in hits] == list(range(1, 10))
        caption = {h.key: h.caption for h in hits}
        assert caption["clip2.wav"] == "a dog barking"
        long_hits = sorted((h.start_s, h.end_s) for h in hits if h.key == "sub/deeper/long.wav")
        assert long_hits == [(0.0, 5.0), (4.0, 9.0), (7.0, 12.0)]
        text_hit = next(h for h in hits if h.kind == "text")
        assert text_hit.text == "a bell ringing at noon" and text_hit.start_s is None


def test_like_and_dedupe(audio_bundle, collection, tmp_path):
    shutil.copy(collection / "clip0.wav", collection / "copy_of_clip0.wav")
    _index(audio_bundle, collection, tmp_path / "idx")
    with Index.open(tmp_path / "idx", embedder=audio_bundle) as index:
        hits = index.search(like="clip0.wav", k=3)
        assert all(h.key != "clip0.wav" for h in hits)  # the query's own file is left out
        assert hits[0].key == "copy_of_clip0.wav" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        full = index.search(like="clip0.wav", k=50)
        threshold = float(np.median([h.score for h in full]))
        deduped = index.search(like="clip0.wav", k=3, dedupe=threshold)
        # dedupe = the ranking without the items at least `threshold` similar to the query
        assert [h.item_id for h in deduped] == [h.item_id for h in full if h.score < threshold][:3]
        assert len(deduped) == 3 and "copy_of_clip0.wav" not in {h.key for h in deduped}
        with pytest.raises(ParameterError, match="like='nope'"):
            index.search(like="nope")
        with pytest.raises(ParameterError, match="exactly one query"):
            index.search(text="a", like="clip0.wav")
        with pytest.raises(ParameterError, match="dedupe"):
            index.search(text="a", dedupe=1.5)


def test_incremental_runs_embed_only_what_changed(audio_bundle, collection, tmp_path):
    idx = tmp_path / "idx"
    counter = CountingEncode(audio_bundle.model)
    _index(audio_bundle, collection, idx)
    first_items = counter.items
    assert first_items == 9
    version = store_mod.current_version(idx)

    again = _index(audio_bundle, collection, idx)
    assert (again.changed, again.embedded, counter.items) == (False, 0, first_items)
    assert store_mod.current_version(idx) == version  # nothing rewritten

    os.utime(collection / "clip0.wav", ns=(1, 10**18))  # touched: same content
    (collection / "sub" / "clip1.wav").rename(collection / "renamed.wav")  # renamed: found by hash
    (collection / "sub" / "clip1.txt").rename(collection / "renamed.txt")
    audio_io.save(collection / "clip2.wav", torch.zeros(4000) + 0.1, SAMPLE_RATE)  # changed content
    (collection / "clip4.wav").unlink()  # removed (with its caption)
    (collection / "clip4.txt").unlink()
    report = _index(audio_bundle, collection, idx)
    # removed: clip4.wav and the old name of clip1.wav, whose vectors live on under the new name
    assert (report.embedded, report.reused_by_hash, report.removed) == (1, 1, 2)
    assert counter.items == first_items + 1  # only clip2 embedded again
    with Index.open(idx, embedder=audio_bundle) as index:
        keys = {h.key for h in index.search(text="a dog", k=50)}
        assert "clip4.wav" not in keys and "sub/clip1.wav" not in keys
        assert {"renamed.wav", "clip0.wav", "clip2.wav"} <= keys
        renamed = next(h for h in index.search(text="a dog", k=50) if h.key == "renamed.wav")
        assert renamed.caption == "a high whistle"
    assert not store_mod.current_version(idx) == version and not version.exists()  # old version cleaned


def test_interrupted_run_keeps_previous_index(audio_bundle, collection, tmp_path, monkeypatch):
    idx = tmp_path / "idx"
    _index(audio_bundle, collection, idx)
    with Index.open(idx, embedder=audio_bundle) as index:
        before = [(h.key, h.score) for h in index.search(text="rain", k=5)]
    audio_io.save(collection / "new.wav", torch.randn(3000) * 0.1, SAMPLE_RATE)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr("polysense.search.indexer.publish_version", crash)
    with pytest.raises(KeyboardInterrupt):
        _index(audio_bundle, collection, idx)
    with Index.open(idx, embedder=audio_bundle) as index:
        assert [(h.key, h.score) for h in index.search(text="rain", k=5)] == before
    leftovers = [p for p in idx.glob("v-*") if p != store_mod.current_version(idx)]
    assert len(leftovers) == 1  # the half-written version
    monkeypatch.undo()
    report = _index(audio_bundle, collection, idx)
    assert report.embedded == 1
    assert [p for p in idx.glob("v-*")] == [store_mod.current_version(idx)]


def test_another_model_is_a_clear_error(audio_bundle, collection, tmp_path):
    idx = tmp_path / "idx"
    _index(audio_bundle, collection, idx)
    other = make_bundle("audio", seed=1)
    with pytest.raises(SearchIndexError, match="not comparable"):
        Index.open(idx, embedder=other)
    with pytest.raises(SearchIndexError, match="--rebuild"):
        _index(other, collection, idx)
    with pytest.raises(SearchIndexError, match="windows"):
        build_index(audio_bundle, collection, idx, window_s=3.0, hop_s=3.0)
    assert _index(other, collection, idx, rebuild=True).embedded == 7  # every file again
    Index.open(idx, embedder=other).close()
    with pytest.raises(SearchIndexError, match="in memory"):
        Index.open(idx).search(text="x")  # no run folder recorded: the model must be passed


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_index_types_record_parameters(audio_bundle, collection, tmp_path, kind):
    flat = _index(audio_bundle, collection, tmp_path / "flat")
    approx = _index(audio_bundle, collection, tmp_path / kind, index_type=kind)
    assert approx.index["type"] == kind
    assert set(approx.index) >= ({"M", "efConstruction", "efSearch"} if kind == "hnsw" else {"nlist", "nprobe"})
    with Index.open(tmp_path / "flat", embedder=audio_bundle) as a, Index.open(tmp_path / kind, embedder=audio_bundle) as b:
        assert b.meta["index"] == approx.index
        # a 9-vector collection: HNSW's ef and IVF's single list reach every vector -> exact
        assert [h.item_id for h in a.search(text="a bell", k=5)] == [h.item_id for h in b.search(text="a bell", k=5)]
    assert flat.index == {"type": "flat"}


def test_images_and_manifest(image_bundle, tmp_path):
    root = tmp_path / "pics"
    root.mkdir()
    write_png(root / "red.png", (220, 30, 30))
    write_png(root / "blue.png", (20, 30, 220))
    (root / "red.txt").write_text("a red square")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    manifest = root / "m.csv"
    manifest.write_text("id,image,text,label\nr,red.png,a red square,1\nb,blue.png,a blue square,2\nt,,just words,0\n")
    report = build_index(image_bundle, root, tmp_path / "idx")
    assert report.files == 2 and [s.path for s in report.skipped] == ["bad.png"]
    with Index.open(tmp_path / "idx", embedder=image_bundle) as index:
        hits = index.search(image=(root / "red.png").read_bytes(), k=2)
        assert hits[0].key == "red.png" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].caption == "a red square" and hits[0].start_s is None
    report = build_index(image_bundle, manifest, tmp_path / "midx")
    assert report.files == 3
    with Index.open(tmp_path / "midx", embedder=image_bundle) as index:
        by_key = {h.key: h for h in index.search(text="square", k=3)}
        assert {k: h.label for k, h in by_key.items()} == {"r": 1, "b": 2, "t": 0}
        assert by_key["t"].path is None and by_key["r"].path == "red.png"
    again = build_index(image_bundle, manifest, tmp_path / "midx")
    assert not again.changed


def test_errors_name_the_problem(audio_bundle, tmp_path):
    with pytest.raises(ParameterError, match="does not exist"):
        build_index(audio_bundle, tmp_path / "missing", tmp_path / "idx")
    with pytest.raises(SearchIndexError, match="holds no index"):
        Index.open(tmp_path / "empty")
    with pytest.raises(SearchIndexError, match="gaps"):
        build_index(audio_bundle, tmp_path, tmp_path / "idx", window_s=1.0, hop_s=2.0)
