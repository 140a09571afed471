"""polysense.explain: the lecture's figures (``polysense explain``) and the spectrogram of any sound
(``polysense spectrogram``), each drawn from data computed with :mod:`polysense.signal`.

- :mod:`.topics`: ``explain_figure(topic)`` / ``write_explain(topic, path)`` for each of
  :data:`TOPICS`, and ``frontend_demo(out_dir)`` that writes them all.
- :mod:`.lecture`: aliasing, quantization, DFT, windows, time/frequency resolution, why the STFT.
- :mod:`.denoising`: noisy / mask / denoised / clean spectrograms and the ideal ratio mask.
- :mod:`.spectrogram`: ``spectrogram_figure``, the waveform and spectrogram of a mono signal.
- :mod:`.drawing`: what every figure shares: ``draw_spectrogram``, ``power_to_display_db``
  (dB re the maximum), ``save_figure``.

It sits on top of the library (signal, data, enhance, evaluate's metrics, train's run loader);
nothing below it imports it.
"""

from polysense.explain.drawing import draw_spectrogram, power_to_display_db, save_figure
from polysense.explain.spectrogram import SCALES, spectrogram_figure
from polysense.explain.topics import TOPICS, explain_figure, frontend_demo, write_explain

__all__ = [
    "SCALES",
    "TOPICS",
    "draw_spectrogram",
    "explain_figure",
    "frontend_demo",
    "power_to_display_db",
    "save_figure",
    "spectrogram_figure",
    "write_explain",
]
