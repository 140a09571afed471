"""Speech recognition: Whisper transcription of files of any length (:mod:`.transcribe`)."""

from polysense.recognize.transcribe import Segment, Transcriber, Transcript

__all__ = ["Segment", "Transcriber", "Transcript"]
