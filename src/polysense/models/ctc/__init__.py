"""CTC speech recognition: the unit table, the recogniser model, greedy decoding and forced alignment."""

from polysense.models.ctc.decoding import ctc_align, greedy_decode
from polysense.models.ctc.model import CTCOutput, CTCRecognizer, DecoderConfig, word_edit_distance
from polysense.models.ctc.units import BLANK, UNITS, UnitTable

__all__ = ["BLANK", "CTCOutput", "CTCRecognizer", "DecoderConfig", "UNITS", "UnitTable", "ctc_align", "greedy_decode",
           "word_edit_distance"]
