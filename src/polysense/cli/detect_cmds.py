"""``polysense detect``: events in a recording of any length with a trained frame detector
(:mod:`polysense.detect`): onset and offset in seconds, label, score."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from polysense.cli.signal_cmds import user_errors
from polysense.errors import ParameterError


def detect(
    run_dir: Path = typer.Argument(..., help="Run folder of a trained detector (polysense train fsdd-detect / fsdd-vad)."),
    recording: Path = typer.Argument(..., help="Audio file of any length (read in blocks, memory bounded)."),
    threshold: float = typer.Option(None, "--threshold", help="Probability in [0, 1] an event must reach "
                                    "(default: the run's post-processing threshold)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list of {onset, offset, label, score}."),
    output: Path = typer.Option(None, "-o", "--output", help="Write the events to a .csv or .json file."),
    plot: Path = typer.Option(None, "--plot", help="Save the spectrogram with the events over it (.png/.pdf/.svg)."),
    window_s: float = typer.Option(30.0, "--window-s", help="Seconds of frames per network call."),
    context_s: float = typer.Option(2.0, "--context-s", help="Seconds of context on each side of a window."),
    speakers: Path = typer.Option(None, "--speakers", help="Run folder of speaker embeddings (polysense train "
                                  "fsdd-speakers): label who speaks in each event by clustering them."),
    num_speakers: int = typer.Option(None, "--num-speakers", help="With --speakers: how many speakers (default: "
                                     "found by a cosine-distance threshold)."),
    classify: Path = typer.Option(None, "--classify", help="Run folder of a clip classifier (e.g. polysense train "
                                  "fsdd-digits): name each event's class with it (detect with a VAD, then classify)."),
    classify_pad_s: float = typer.Option(0.1, "--classify-pad-s", help="With --classify: seconds of audio added on "
                                         "each side of an event before it is classified."),
) -> None:
    """Find events (onset, offset, label, score) in a recording with a trained frame detector."""
    from polysense.detect.service import (
        classify_events,
        detect_recording,
        label_speakers_in_file,
        load_event_classifier,
        save_detection_figure,
        save_events,
    )

    with user_errors():
        if as_json and output is not None:
            raise ParameterError("give --json (print) or -o FILE (write), not both")
        if num_speakers is not None and speakers is None:
            raise ParameterError("--num-speakers needs --speakers RUN (a speaker-embedding run)")
        if classify is None and classify_pad_s != 0.1:
            raise ParameterError("--classify-pad-s needs --classify RUN (a classifier run)")
        classifier = load_event_classifier(classify) if classify is not None else None
        found = detect_recording(run_dir, recording, threshold=threshold, window_s=window_s, context_s=context_s,
                                 picture=plot is not None)
        if classifier is not None:
            found.events = classify_events(recording, found.events, classifier, pad_s=classify_pad_s)
            found.classes = classifier.run.classes
        if speakers is not None:
            found.events = label_speakers_in_file(recording, found.events, speakers, num_speakers=num_speakers)
        if output is not None:
            save_events(found.events, output)
        if plot is not None:
            save_detection_figure(found, plot)
    if as_json:
        typer.echo(json.dumps([e.as_dict() for e in found.events]))
    elif output is None:
        for e in found.events:
            typer.echo(f"{e.onset_s:9.3f} {e.offset_s:9.3f}  {e.label:<12} {e.score:.3f}"
                       + (f"  {e.speaker}" if e.speaker else ""))
    if output is not None:
        typer.echo(f"wrote {len(found.events)} events to {output}")
    if plot is not None:
        typer.echo(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add ``detect`` to ``app``."""
    app.command("detect")(detect)
