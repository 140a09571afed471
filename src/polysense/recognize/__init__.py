"""Speech recognition: words from audio files of any length.

- :mod:`.transcribe`: ``Transcriber``, pretrained Whisper over 30-s windows (``polysense transcribe``).
- :mod:`.ctc_transcribe`: ``CTCTranscriber``, a trained CTC recogniser with its decoder and the
  run's n-gram language model; :mod:`.ctc_beam`: prefix beam search with an LM and a grammar;
  :mod:`.ngram`: the n-gram LM (trained, written and read as ARPA).
- :mod:`.sequences`: ``fsdd_sequences``, spoken digit sequences to train a recogniser on.
"""

from polysense.recognize.transcribe import Segment, Transcriber, Transcript

__all__ = ["Segment", "Transcriber", "Transcript"]
