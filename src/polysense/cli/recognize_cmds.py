"""``polysense transcribe``: Whisper speech recognition of audio files (:mod:`polysense.recognize`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from polysense.cli.options import with_threads

from polysense.cli.signal_cmds import user_errors


def transcribe(
    files: list[Path] = typer.Argument(None, help="Audio files (any length, any sample rate)."),
    manifest: Path = typer.Option(None, "--manifest", help="Transcribe a manifest's audio instead and score it "
                                  "against its text column: WER and CER, overall and per group."),
    split: str = typer.Option(None, "--split", help="With --manifest: only this split (train, val, test)."),
    weights: str = typer.Option(None, "--weights", help="Whisper model folder or file (CTranslate2, Hugging Face "
                                "or OpenAI .pt); default: $POLYSENSE_WHISPER, the packaged base model, the caches."),
    words: str = typer.Option(None, "--words", help="Closed vocabulary: a file with one word or phrase a line, or "
                              "'one,two,three'. Transcripts then contain only these words."),
    max_words: int = typer.Option(None, "--max-words", help="With --words: at most this many words per 30-s window."),
    beam_size: int = typer.Option(1, "--beam-size", help="1 = greedy; more = beam search."),
    length_penalty: float = typer.Option(1.0, "--length-penalty", help="Beam score = log p / length^penalty."),
    language: str = typer.Option("en", "--language", help="Language code of the speech (multilingual models)."),
    prompt: str = typer.Option(None, "--prompt", help="Text given as the previous window's (e.g. the --words list): "
                               "the words and spelling Whisper then tends to write."),
    tokenizer: Path = typer.Option(None, "--tokenizer", help="tokenizer.json (default: beside the weights)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list: file, text, segments per file."),
) -> None:
    """Transcribe speech with Whisper: one line of text per file, or JSON with 30-s segments;
    with --manifest, word and character error rates against the manifest's transcripts."""
    from polysense.errors import ParameterError
    from polysense.models.whisper.decoding import DecodingOptions
    from polysense.recognize.transcribe import Transcriber, read_words, transcribe_manifest

    with user_errors():
        if bool(files) == (manifest is not None):
            raise ParameterError("give audio files or --manifest M.csv (one of the two)")
        options = DecodingOptions(beam_size=beam_size, length_penalty=length_penalty, language=language,
                                  initial_prompt=prompt)
        transcriber = Transcriber(weights, options=options, words=None if words is None else read_words(words),
                                  max_words=max_words, tokenizer=tokenizer)
        if manifest is not None:
            scored = transcribe_manifest(transcriber, manifest, split=split)
            if as_json:
                typer.echo(json.dumps(scored.to_dict(), indent=2))
                return
            for row in scored.rows:
                typer.echo(f"{row['id']}\t{row['text']}")
            for item in scored.skipped:
                typer.echo(f"skipped {item['id']}: {item['reason']}")
            typer.echo("group\tutterances\tWER\tCER")
            for group, rates in scored.error_rates.items():
                typer.echo(f"{group}\t{rates['utterances']}\t{rates['wer']:.3f}\t{rates['cer']:.3f}")
            return
        results = []
        for path in files:
            transcript = transcriber.transcribe_file(path)
            if as_json:
                results.append(transcript.to_dict())
            else:
                typer.echo(f"{path}\t{transcript.text}")
    if as_json:
        typer.echo(json.dumps(results, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``transcribe`` to ``app``."""
    app.command("transcribe")(with_threads(transcribe))
