"""`polysense evaluate RUN --data NEW.csv` on new labelled files: no train rows needed, labels by the
run's class names or ids (the same result either way), unknown classes named."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.errors import ManifestError
from polysense.evaluate.runner import evaluate_run
from polysense.train.run import load_run

runner = CliRunner()
FILES = ("a_tone.wav", "b_noise.wav", "c_chirp.wav", "d_16k.wav")
TRUTH = ("tone", "noise", "chirp", "noise")


def _manifest(folder, name, labels, split=True):
    path = folder / name
    header = "audio,label,split\n" if split else "audio,label\n"
    path.write_text(header + "".join(f"{f},{lab}" + (",test" if split else "") + "\n" for f, lab in zip(FILES, labels, strict=True)))
    return str(path)


def test_names_and_ids_give_the_same_evaluation(classifier_run, audio_folder):
    classes = load_run(classifier_run).classes
    by_name = evaluate_run(classifier_run, data=_manifest(audio_folder, "names.csv", TRUTH))
    by_id = evaluate_run(classifier_run, data=_manifest(audio_folder, "ids.csv", [classes.index(t) for t in TRUTH], split=False))
    assert by_name["items"] == by_id["items"] == 4
    assert by_name["confusion"] == by_id["confusion"] and by_name["accuracy"] == by_id["accuracy"]
    row_of = {c: i for i, c in enumerate(classes)}
    assert [sum(r) for r in by_name["confusion"]] == [sum(row_of[t] == i for t in TRUTH) for i in range(len(classes))]


def test_a_class_the_run_does_not_know_is_named(classifier_run, audio_folder):
    with pytest.raises(ManifestError, match=r"label outside the classes .*label 'robin'"):
        evaluate_run(classifier_run, data=_manifest(audio_folder, "robin.csv", ("tone", "robin", "chirp", "noise")))
    result = runner.invoke(app, ["evaluate", str(classifier_run), "--data", _manifest(audio_folder, "big.csv", ("tone", 7, 1, 2))])
    assert result.exit_code == 1 and "label '7'" in result.output and "their ids 0..4" in result.output
