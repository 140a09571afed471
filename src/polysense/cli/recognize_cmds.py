"""``polysense transcribe``: speech recognition of audio files with Whisper, or with a trained CTC
recogniser (``--run``: acoustic model + language model + decoder, :mod:`polysense.recognize.ctc_transcribe`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from polysense.cli.options import with_threads

from polysense.cli.signal_cmds import user_errors
from polysense.errors import ParameterError


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
    run: Path = typer.Option(None, "--run", help="A trained CTC recogniser (the --out folder of `polysense train` "
                             "with a ctc_recognizer model) instead of Whisper; JSON then adds word timestamps."),
    lm: Path = typer.Option(None, "--lm", help="With --run: an ARPA word language model (default: the run's own, "
                            "trained on its training transcripts, when its decoder sets lm_order)."),
    no_lm: bool = typer.Option(False, "--no-lm", help="With --run: decode without a language model."),
    beam: int = typer.Option(None, "--beam", help="With --run: prefix beam width (1 without LM or grammar = greedy)."),
    alpha: float = typer.Option(None, "--alpha", help="With --run: language model weight."),
    beta: float = typer.Option(None, "--beta", help="With --run: word insertion bonus."),
    min_words: int = typer.Option(None, "--min-words", help="With --run: at least this many words (a grammar; "
                                  "--min-words 4 --max-words 4: exactly four)."),
) -> None:
    """Transcribe speech with Whisper, or with a trained CTC recogniser (--run): one line of text per
    file, or JSON with segments (and word times with --run); with --manifest, word and character
    error rates against the manifest's transcripts."""
    from polysense.recognize.transcribe import read_words, transcribe_manifest

    with user_errors():
        if bool(files) == (manifest is not None):
            raise ParameterError("give audio files or --manifest M.csv (one of the two)")
        if run is not None:
            whisper_only = [name for name, given in (("--weights", weights), ("--prompt", prompt),
                                                     ("--tokenizer", tokenizer), ("--beam-size", beam_size != 1),
                                                     ("--length-penalty", length_penalty != 1.0)) if given]
            if whisper_only:
                raise ParameterError(f"{', '.join(whisper_only)} are Whisper options: leave them out with --run (the "
                                     "CTC decoder takes --beam, --lm, --no-lm, --alpha, --beta, --words, --min-words, "
                                     "--max-words)")
            if lm is not None and no_lm:
                raise ParameterError("--lm and --no-lm contradict each other: give one")
            from polysense.recognize.ctc_beam import Grammar
            from polysense.recognize.ctc_transcribe import CTCTranscriber

            grammar = None
            if words is not None or min_words is not None or max_words is not None:
                grammar = Grammar(min_words=min_words or 0, max_words=max_words,
                                  words=None if words is None else tuple(read_words(words)))
            transcriber = CTCTranscriber(run, lm=False if no_lm else lm, beam=beam, alpha=alpha, beta=beta,
                                         grammar=grammar)
        else:
            ctc_only = [name for name, given in (("--lm", lm), ("--no-lm", no_lm), ("--beam", beam), ("--alpha", alpha),
                                                 ("--beta", beta), ("--min-words", min_words)) if given is not None
                        and given is not False]
            if ctc_only:
                raise ParameterError(f"{', '.join(ctc_only)} need --run RUN_DIR (a trained CTC recogniser); Whisper "
                                     "takes --beam-size")
            from polysense.models.whisper.decoding import DecodingOptions
            from polysense.recognize.transcribe import Transcriber

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
