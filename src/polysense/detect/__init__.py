"""Finding sounds in long recordings, and who is speaking.

- :mod:`.scenes`: ``fsdd_scenes``, long recordings of FSDD words with exact events (and annotated files),
  or their words one by one (``items="words"``) as the second stage of detection hears them.
- :mod:`.segments`: the samples of events (± a pad), from a file or a waveform in memory.
- :mod:`.model`: ``frame_crnn``, a frame-level detector trained on frame targets.
- :mod:`.postprocess`: median filter, hysteresis, minimum duration and gap: frames to events.
- :mod:`.stream`: detection over files of any length in bounded memory (``polysense detect``).
- :mod:`.service`: what the command does (load, detect, name events with a clip classifier, write
  CSV/JSON and the figure).
- :mod:`.figure`: the spectrogram with the events over it.
- :mod:`.speakers`: ``fsdd_speakers``, speaker classes for training, unseen speakers for verification.
- :mod:`.diarize`: who speaks when: clustering of the detected segments' speaker embeddings.
"""
