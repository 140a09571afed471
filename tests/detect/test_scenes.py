"""fsdd_scenes: exact events, seeded scenes, SNR as defined, speaker-independent splits, annotations,
and the scenes' words cut as two-stage detection cuts them."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from polysense.data.events import Event, read_annotations
from polysense.data.fsdd import DIGIT_WORDS
from polysense.data.registry import build_data
from polysense.detect.scenes import SceneWords, Scenes, trim_word
from polysense.errors import ManifestError, ParameterError
from tests.detect.conftest import SR


def scenes(words, **kw) -> Scenes:
    options = dict(sample_rate=SR, classes=DIGIT_WORDS, num_scenes=3, scene_s=5.0, snr_db=None, seed=1)
    options.update(kw)
    return Scenes(words, **options)


def test_trim_word_keeps_the_loud_part_only(tone_words):
    audio = tone_words[0].audio
    trimmed = trim_word(audio.double(), sample_rate=SR, trim_db=35.0)
    # 50 ms of silence on each side of a 300 ms word: trimmed to within one 10 ms frame + the Hann tails
    assert 0.25 * SR <= trimmed.shape[-1] <= 0.3 * SR + 80
    assert trimmed.abs().max() == audio.abs().max()


def test_events_are_exact_and_the_rest_is_silence(tone_words):
    data = scenes(tone_words)
    audio, events = data.scene(0)
    assert len(events) >= 3
    inside = torch.zeros_like(audio, dtype=torch.bool)
    for a, b in zip(events, events[1:]):
        assert a.offset_s <= b.onset_s  # never overlap
    for e in events:
        lo, hi = round(e.onset_s * SR), round(e.offset_s * SR)
        assert abs(lo - e.onset_s * SR) < 1e-6 and 0 < hi <= audio.shape[-1]
        inside[lo:hi] = True
        # the tone's frequency says which digit was placed: compare with the label
        spectrum = np.abs(np.fft.rfft(audio[lo:hi].double().numpy()))
        peak_hz = np.argmax(spectrum) * SR / (hi - lo)
        assert abs(peak_hz - (300 + 150 * DIGIT_WORDS.index(e.label))) < 20
    assert torch.all(audio[~inside] == 0)
    assert audio.shape[-1] == 5 * SR


def test_scenes_are_a_pure_function_of_seed_split_and_index(tone_words):
    a, b = scenes(tone_words), scenes(tone_words)
    assert torch.equal(a.scene(2)[0], b.scene(2)[0]) and a.scene(2)[1] == b.scene(2)[1]
    assert not torch.equal(a.scene(0)[0], a.scene(1)[0])
    assert not torch.equal(a.scene(0)[0], scenes(tone_words, seed=2).scene(0)[0])


def test_noise_is_added_at_the_snr_over_the_words_samples(tone_words):
    clean, events = scenes(tone_words).scene(1)
    noisy, same = scenes(tone_words, snr_db=5.0, noise_types=["pink"]).scene(1)
    assert same == events
    noise = (noisy - clean).double()
    spans = torch.cat([clean[round(e.onset_s * SR): round(e.offset_s * SR)] for e in events]).double()
    snr = 10 * torch.log10(spans.square().mean() / noise.square().mean())
    assert abs(float(snr) - 5.0) < 1e-3  # float32 storage of the scene


def test_item_carries_class_indices_and_speakers(tone_words):
    data = scenes(tone_words, labels="speaker", classes=("ann", "bob"), speakers_per_scene=1)
    item = data[0]
    assert {label for _, _, label in item["events"]} <= {0, 1}
    assert len(set(item["speakers"])) == 1  # one speaker per scene
    speech = scenes(tone_words, labels="speech", classes=("speech",))[0]
    assert {label for _, _, label in speech["events"]} == {0}


def test_bad_scene_options_are_refused(tone_words):
    with pytest.raises(ParameterError, match="speakers_per_scene=3"):
        scenes(tone_words, speakers_per_scene=3)
    with pytest.raises(ParameterError, match="scene_s"):
        scenes(tone_words, scene_s=0.1)
    with pytest.raises(ParameterError, match="labels"):
        scenes(tone_words, labels="words")


def test_fsdd_scenes_split_by_speaker(fsdd_dir):
    data = build_data({"name": "fsdd_scenes", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 12, "num_scenes": 2,
                       "val_scenes": 1, "test_scenes": 2, "scene_s": 4.0}, seed=0)
    assert data.classes == DIGIT_WORDS and data.sample_rate == 8000
    train = {s for i in range(len(data.train)) for s in data.train[i]["speakers"]}
    assert train and not train & {"theo", "jackson"}
    assert {s for i in range(len(data.test)) for s in data.test[i]["speakers"]} == {"theo"}
    assert {s for s in data.val[0]["speakers"]} == {"jackson"}


# ---------------------------------------------------------------------------- words (items="words")


def words(tone_words, *, pad_s=0.1, jitter_s=0.0, keep=True, **kw) -> SceneWords:
    data = scenes(tone_words, snr_db=3.0, noise_types=["pink"], **kw)
    return SceneWords(data, split=data.split, seed=data.seed, pad_s=pad_s, jitter_s=jitter_s, keep=keep)


def test_events_are_the_scenes_events_without_the_noise(tone_words):
    data = scenes(tone_words, snr_db=3.0, noise_types=["pink"])
    assert all(data.events(i) == data.scene(i)[1] for i in range(len(data)))


def test_words_are_the_scenes_samples_at_the_events_padded(tone_words):
    data = words(tone_words, pad_s=0.1)
    k = 0
    for i in range(len(data.scenes)):
        audio, events = data.scenes.scene(i)
        for j, e in enumerate(events):
            item = data[k]
            # by hand: [onset − 0.1 s, offset + 0.1 s) in samples, clipped to the scene
            first = max(0, round((e.onset_s - 0.1) * SR))
            stop = min(audio.shape[-1], round((e.offset_s + 0.1) * SR))
            assert torch.equal(item["audio"], audio[first:stop])
            assert item["label"] == DIGIT_WORDS.index(e.label) and item["group"] == e.speaker
            assert item["id"] == f"train-scene{i}-word{j}" and item["sample_rate"] == SR
            k += 1
    assert k == len(data) >= 6


def test_jitter_is_seeded_per_item_and_bounded(tone_words):
    plain = words(tone_words)
    moved = words(tone_words, jitter_s=0.05)
    again = words(tone_words, jitter_s=0.05, keep=False)
    jitter = 0.05 * SR
    shifts = []
    for k in reversed(range(len(moved))):  # any order, kept or not: the same samples
        assert torch.equal(moved[k]["audio"], again[k]["audio"])
        i, j = moved.index[k]
        e = moved.scenes.events(i)[j]
        shifted = moved.jittered(k, e)
        onset, offset = (shifted.onset_s - e.onset_s) * SR, (shifted.offset_s - e.offset_s) * SR
        assert abs(onset) <= jitter and abs(offset) <= jitter
        # the cut starts where the jittered event (− pad) does: the samples are the scene's there
        audio = moved.scenes.scene(i)[0]
        first = max(0, round((shifted.onset_s - 0.1) * SR))
        assert torch.equal(moved[k]["audio"], audio[first: first + moved[k]["audio"].shape[-1]])
        assert abs(moved[k]["audio"].shape[-1] - plain[k]["audio"].shape[-1]) <= 2 * jitter + 2
        shifts += [onset, offset]
    assert np.std(shifts) > 0.3 * jitter  # moved, not a constant
    other = SceneWords(moved.scenes, split="train", seed=5, pad_s=0.1, jitter_s=0.05)
    assert any(not torch.equal(other[k]["audio"], moved[k]["audio"]) for k in range(len(moved)))


def test_bad_word_options_are_refused_by_name(tone_words):
    with pytest.raises(ParameterError, match=r"jitter_s=-0.01 is invalid"):
        words(tone_words, jitter_s=-0.01)
    with pytest.raises(ParameterError, match=r"pad_s=-1 is invalid"):
        words(tone_words, pad_s=-1)
    # the tone words last 0.3 s: with pad 0 a jitter of 0.15 s could leave an empty cut
    with pytest.raises(ParameterError, match=r"jitter_s=0.15 could leave nothing of the shortest word .* jitter_s < 0.1"):
        words(tone_words, pad_s=0.0, jitter_s=0.15)
    with pytest.raises(ParameterError, match=r"items='frames'"):
        build_data({"name": "fsdd_scenes", "fsdd_folder": "nowhere", "items": "frames"}, seed=0)


def test_fsdd_scene_words_split_by_speaker(fsdd_dir):
    data = build_data({"name": "fsdd_scenes", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 12, "num_scenes": 2,
                       "val_scenes": 1, "test_scenes": 2, "scene_s": 4.0, "items": "words", "jitter_s": 0.05}, seed=0)
    assert data.classes == DIGIT_WORDS and data.sample_rate == 8000
    groups = {s: {data.split(s)[k]["group"] for k in range(len(data.split(s)))} for s in ("train", "val", "test")}
    assert groups["train"] and not groups["train"] & {"theo", "jackson"}
    assert groups["val"] == {"jackson"} and groups["test"] == {"theo"}
    item = data.test[0]
    assert set(item) == {"id", "audio", "sample_rate", "label", "group"} and item["audio"].dim() == 1


# ---------------------------------------------------------------------------- annotations


@pytest.fixture
def annotated(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(2 * SR), SR)
    sf.write(tmp_path / "b.wav", np.zeros(SR), SR)

    def write(rows: str, header: str = "file,onset,offset,label,split"):
        path = tmp_path / "ann.csv"
        path.write_text(header + "\n" + rows, encoding="utf-8")
        return path

    return write


def test_annotations_are_read_per_file(annotated):
    path = annotated("a.wav,1.0,1.5,two,train\na.wav,0.2,0.6,one,train\nb.wav,,,,test\n")
    files = read_annotations(path)
    assert [f.path.name for f in files] == ["a.wav", "b.wav"]
    assert files[0].events == [Event(0.2, 0.6, "one"), Event(1.0, 1.5, "two")]
    assert files[1].events == [] and files[1].split == "test"


@pytest.mark.parametrize("rows, message", [
    ("a.wav,1.5,1.0,two,train\n", r"row 2: onset 1.5 s is not before offset 1 s"),
    ("a.wav,0.1,0.2,one,train\na.wav,1.0,2.5,two,train\n", r"row 3: offset 2.5 s is past the end of 'a.wav'"),
    ("a.wav,-0.5,0.2,one,train\n", r"row 2: onset -0.5 s is before the start"),
    ("a.wav,0.1,0.5,one,train\na.wav,0.4,0.9,one,train\n", r"row 3: event 'one' 0.4-0.9 s overlaps"),
    ("a.wav,0.1,0.5,eleven,train\n", r"row 2: unknown label 'eleven'"),
    ("a.wav,zero,0.5,one,train\n", r"row 2: onset='zero' is not a number"),
    ("c.wav,0.1,0.5,one,train\n", r"row 2: audio file .*c.wav' not found"),
    ("a.wav,0.1,0.5,one,train\na.wav,1.0,1.5,two,test\n", r"row 3: split='test' but earlier rows"),
])
def test_bad_annotations_name_the_row(annotated, rows, message):
    with pytest.raises(ManifestError, match=message):
        read_annotations(annotated(rows), classes=DIGIT_WORDS)


def test_annotations_need_the_columns(annotated):
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['offset'\]"):
        read_annotations(annotated("a.wav,0.1,one\n", header="file,onset,label"))


def test_the_scene_dataset_reads_annotations(annotated):
    path = annotated("a.wav,1.0,1.5,two,train\na.wav,0.2,0.6,one,train\nb.wav,0.1,0.3,one,val\n")
    data = build_data({"name": "fsdd_scenes", "annotations": str(path), "classes": list(DIGIT_WORDS)}, seed=0)
    item = data.train[0]
    assert item["audio"].shape == (2 * SR,)
    assert item["events"] == [(0.2, 0.6, 1), (1.0, 1.5, 2)]
    assert len(data.val) == 1 and data.test is None


def test_annotated_recordings_give_their_words(annotated):
    path = annotated("a.wav,1.0,1.5,two,train\na.wav,0.2,0.6,one,train\nb.wav,0.1,0.3,one,val\n")
    data = build_data({"name": "fsdd_scenes", "annotations": str(path), "classes": list(DIGIT_WORDS),
                       "items": "words", "pad_s": 0.1}, seed=0)
    assert [data.train[k]["label"] for k in range(len(data.train))] == [1, 2]
    assert data.train[0]["audio"].shape == (round(0.6 * SR),) and len(data.val) == 1
