"""OpenAI's Whisper on the project's own blocks, loaded offline.

- :mod:`.model`: the encoder-decoder (encoder on :class:`~polysense.models.layers.TransformerEncoder`,
  a decoder with key/value caches), :class:`WhisperDims`.
- :mod:`.weights`: finding and loading weights (CTranslate2 ``model.bin``, also split in parts;
  Hugging Face safetensors; OpenAI ``.pt`` with ``weights_only``).
- :mod:`.features`: Whisper's log-mel input from :mod:`polysense.signal`.
- :mod:`.tokenizer`: the byte-level BPE tokenizer and its special tokens.
- :mod:`.decoding`: greedy and beam search, suppression, no-speech, a closed vocabulary.

The audio tower for the trainer is :class:`polysense.models.encoders.whisper.WhisperAudioEncoder`
(``whisper_encoder``); transcription of files is :mod:`polysense.recognize`.
"""

from polysense.models.whisper.decoding import DecodingOptions, DecodingResult, WordConstraint, decode
from polysense.models.whisper.features import pad_features, whisper_log_mel
from polysense.models.whisper.model import Whisper, WhisperDims
from polysense.models.whisper.tokenizer import WhisperTokenizer
from polysense.models.whisper.weights import WhisperFiles, find_whisper, load_whisper

__all__ = [
    "DecodingOptions",
    "DecodingResult",
    "Whisper",
    "WhisperDims",
    "WhisperFiles",
    "WhisperTokenizer",
    "WordConstraint",
    "decode",
    "find_whisper",
    "load_whisper",
    "pad_features",
    "whisper_log_mel",
]
