"""ManifestDataset: what a sample holds, resampling, images, tokenizers, and raise/skip on bad files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from polysense import audio
from polysense.data.collate import collate
from polysense.data.dataset import IMAGENET_MEAN, IMAGENET_STD, ManifestDataset, normalize_image
from polysense.data.manifest import read_manifest
from polysense.errors import ManifestError, ParameterError
from polysense.signal.resample import resample
from tests.data.manifest_helpers import COLUMNS, make_manifest, make_rows, write_csv, write_jsonl


MEAN_3D = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD_3D = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def word_lengths(text: str) -> list[int]:
    """A stand-in tokenizer: one id per word (its length)."""
    return [len(w) for w in text.split()]


def test_sample_keys_types_and_shapes(tmp_path):
    ds = ManifestDataset(make_manifest(tmp_path, 6), sample_rate=16000, image_size=(20, 24), tokenizer=word_lengths)
    s = ds[1]
    assert set(s) == {"id", "audio", "sample_rate", "image", "text", "input_ids", "label", "group"}
    assert s["id"] == "s1" and s["label"] == 1 and s["group"] == "g1" and s["text"] == "sample number 1"
    assert s["sample_rate"] == 16000
    assert s["audio"].dtype == torch.float32 and s["audio"].ndim == 1
    assert s["image"].shape == (3, 20, 24) and s["image"].dtype == torch.float32
    assert s["input_ids"].dtype == torch.long and s["input_ids"].tolist() == [6, 6, 1]


def test_audio_is_resampled_with_the_front_end_resampler(tmp_path):
    ds = ManifestDataset(make_manifest(tmp_path, 3), sample_rate=16000)
    native, sr = audio.load(tmp_path / "audio" / "a2.wav", dtype=torch.float32)
    assert sr == 8000
    expected = resample(native, orig_sample_rate=8000, new_sample_rate=16000)
    torch.testing.assert_close(ds[2]["audio"], expected, rtol=0, atol=0)
    assert ds[2]["audio"].shape[-1] == 2 * native.shape[-1]


def test_image_is_resized_and_normalised(tmp_path):
    make_manifest(tmp_path, 2)
    Image.new("RGB", (7, 5), (255, 0, 128)).save(tmp_path / "images" / "i0.png")
    ds = ManifestDataset(tmp_path / "manifest.csv", image_size=4)
    img = ds[0]["image"]
    assert img.shape == (3, 4, 4)
    expected = (torch.tensor([1.0, 0.0, 128 / 255]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(img[:, 2, 2], expected.float(), rtol=0, atol=1e-6)


def test_grayscale_image_becomes_rgb(tmp_path):
    make_manifest(tmp_path, 1)
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8), mode="L").save(tmp_path / "images" / "i0.png")
    img = ManifestDataset(tmp_path / "manifest.csv", image_size=8, image_mean=(0, 0, 0), image_std=(1, 1, 1))[0]["image"]
    torch.testing.assert_close(img, torch.full((3, 8, 8), 200 / 255))


def test_normalize_image_per_channel_and_its_errors(tmp_path):
    x = torch.rand(2, 3, 4, 5)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.25, 2.0)
    expected = (x.numpy() - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    torch.testing.assert_close(normalize_image(x, mean=mean, std=std), torch.from_numpy(expected), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(normalize_image(x[0]), (x[0] - MEAN_3D) / STD_3D, rtol=0, atol=0)  # ImageNet's default
    for bad in [{"std": (1, 0, 1)}, {"std": (1, -1, 1)}, {"mean": (0, 0)}, {"std": (1, 1, float("inf"))},
                {"mean": (0, float("nan"), 0)}, {"mean": "abc"}]:
        with pytest.raises(ParameterError, match="3 finite values each"):
            normalize_image(x, **bad)
        with pytest.raises(ParameterError, match="3 finite values each"):
            ManifestDataset(make_manifest(tmp_path, 1), **{f"image_{k}": v for k, v in bad.items()})
    with pytest.raises(ParameterError, match=r"shape \(4, 5\)"):
        normalize_image(x[0, 0])


def test_tokenizer_objects_with_ids_and_truncation(tmp_path):
    class Encoding:
        def __init__(self, ids):
            self.ids = ids

    ds = ManifestDataset(make_manifest(tmp_path, 1), tokenizer=lambda t: Encoding(list(range(10))), max_text_length=4)
    assert ds[0]["input_ids"].tolist() == [0, 1, 2, 3]
    assert "input_ids" not in ManifestDataset(tmp_path / "manifest.csv")[0]  # no tokenizer, only text
    assert "word_ids" not in ds[0]  # the output has no word ids


def test_word_ids_are_kept_when_the_tokenizer_gives_them(tmp_path):
    class Encoding:  # like tokenizers.Encoding: word_ids a list with None for special tokens
        def __init__(self, ids, word_ids):
            self.ids, self.word_ids = ids, word_ids

    path = make_manifest(tmp_path, 1)
    ds = ManifestDataset(path, tokenizer=lambda t: Encoding([2, 7, 8, 9, 3], [None, 0, 0, 1, None]))
    assert ds[0]["input_ids"].tolist() == [2, 7, 8, 9, 3]
    assert ds[0]["word_ids"].dtype == torch.long and ds[0]["word_ids"].tolist() == [-1, 0, 0, 1, -1]
    tensors = ManifestDataset(path, max_text_length=3,
                              tokenizer=lambda t: Encoding(torch.tensor([2, 7, 8, 9]), torch.tensor([-1, 0, 0, 1])))
    assert tensors[0]["input_ids"].tolist() == [2, 7, 8] and tensors[0]["word_ids"].tolist() == [-1, 0, 0]
    bad = ManifestDataset(path, tokenizer=lambda t: Encoding([2, 7, 3], [None, 0]))
    with pytest.raises(ParameterError, match="3 ids but 2 word ids"):
        bad[0]


def test_features_replace_the_waveform(tmp_path):
    ds = ManifestDataset(make_manifest(tmp_path, 2), features=lambda x: x.reshape(1, -1)[:, ::2])
    assert ds[0]["audio"].shape[0] == 1


def test_label_tasks_and_split_selection(tmp_path):
    rows = make_rows(tmp_path, 12)
    for r in rows:
        r["label:both"] = r["label"] + 10
    path = write_csv(tmp_path / "m.csv", rows, [*COLUMNS, "label:both"])
    val = ManifestDataset(path, split="val")
    assert len(val) == 2 and all(val[i]["labels"] == {"both": val[i]["label"] + 10} for i in range(2))
    with pytest.raises(ManifestError, match="no 'split' column"):
        ManifestDataset(write_csv(tmp_path / "n.csv", rows, ["id", "audio"]), split="train")


def test_empty_split_is_an_error(tmp_path):
    rows = make_rows(tmp_path, 4)
    for r in rows:
        r["split"] = "train"
    with pytest.raises(ManifestError, match=r"split 'test' is empty.*Fix: add rows with split=test"):
        ManifestDataset(write_csv(tmp_path / "m.csv", rows, COLUMNS), split="test")


def test_text_only_manifest(tmp_path):
    ds = ManifestDataset(write_jsonl(tmp_path / "m.jsonl", [{"text": "hello there", "label": 0}]), tokenizer=word_lengths)
    assert set(ds[0]) == {"id", "text", "input_ids", "label"}


# --- bad files: raise naming row and file, or skip and report -----------------------------------


def _break(tmp_path):
    """Row 2's audio missing, row 4's audio truncated, row 5's image not an image."""
    make_manifest(tmp_path, 6)
    (tmp_path / "audio" / "a1.wav").unlink()
    data = (tmp_path / "audio" / "a3.wav").read_bytes()
    (tmp_path / "audio" / "a3.wav").write_bytes(data[: len(data) // 2])
    (tmp_path / "images" / "i4.png").write_text("not a png")
    return tmp_path / "manifest.csv"


def test_unreadable_file_raises_naming_row_file_and_fix(tmp_path):
    ds = ManifestDataset(_break(tmp_path))
    with pytest.raises(ManifestError, match=r"(?s)manifest\.csv: row 2 \(line 3\), id 's1': cannot load .*a1\.wav: file not found.*Fix:.*on_error='skip'"):
        ds[1]
    with pytest.raises(ManifestError, match=r"row 4 .*id 's3': cannot load .*a3\.wav: truncated"):
        ds[3]
    with pytest.raises(ManifestError, match=r"row 5 .*id 's4': cannot load .*i4\.png: not a readable image"):
        ds[4]


def test_skip_lists_skipped_rows_and_collate_drops_them(tmp_path):
    ds = ManifestDataset(_break(tmp_path), on_error="skip")
    with pytest.warns(UserWarning) as record:
        items = [ds[i] for i in range(len(ds))]
    assert ["skipping row 2" in str(w.message) for w in record] == [True, False, False]
    assert len(record) == 3  # every skip is announced, none silent
    assert [i is None for i in items] == [False, True, False, True, True, False]
    assert [(s.row, s.id) for s in ds.skipped] == [(2, "s1"), (4, "s3"), (5, "s4")]
    assert "a1.wav" in ds.skipped[0].file and "not found" in ds.skipped[0].reason
    assert "skipped 3 row(s)" in ds.skip_report() and "i4.png" in ds.skip_report()
    batch = collate(items)
    assert batch["id"] == ["s0", "s2", "s5"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds[1]  # a second epoch does not list a row twice
    assert len(ds.skipped) == 3


def test_skipped_rows_in_worker_processes_reach_the_report(tmp_path):
    ds = ManifestDataset(_break(tmp_path), on_error="skip", sample_rate=8000)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate)
    ids = [i for batch in loader for i in batch["id"]]
    assert sorted(ids) == ["s0", "s2", "s5"]
    assert [s.row for s in ds.skipped] == [2, 4, 5]


def test_bad_arguments(tmp_path):
    path = make_manifest(tmp_path, 1)
    with pytest.raises(ParameterError, match="on_error"):
        ManifestDataset(path, on_error="ignore")
    with pytest.raises(ParameterError, match="cache= needs features="):
        ManifestDataset(path, cache=tmp_path / "cache")
    with pytest.raises(ParameterError, match="tokenizer"):
        ManifestDataset(path, tokenizer="bert")
    with pytest.raises(ParameterError, match="image_size"):
        ManifestDataset(path, image_size=(1, 2, 3))
    with pytest.raises(ParameterError, match="sample_rate"):
        ManifestDataset(path, sample_rate=-1)


def test_accepts_a_parsed_manifest(tmp_path):
    m = read_manifest(make_manifest(tmp_path, 3))
    assert len(ManifestDataset(m)) == 3


@pytest.mark.fsdd
def test_fsdd_manifest_through_a_dataloader(tmp_path, fsdd_dir):
    files = sorted(fsdd_dir.glob("*.wav"))[:8]
    rows = [{"id": f.stem, "audio": str(f), "label": int(f.stem.split("_")[0]), "group": f.stem.split("_")[1]} for f in files]
    path = write_csv(tmp_path / "fsdd.csv", rows)
    ds = ManifestDataset(path, sample_rate=16000, allow_outside=True)
    batch = next(iter(DataLoader(ds, batch_size=8, collate_fn=collate)))
    assert batch["audio"].shape[0] == 8 and batch["audio_mask"].sum(1).tolist() == batch["audio_lengths"].tolist()
    for i, f in enumerate(files):
        assert batch["audio_lengths"][i] == 2 * audio.info(f).frames
