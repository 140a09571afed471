"""Finding sounds in long recordings: scenes to train on, frame-level detectors, post-processing
into events, and detection over files of any length (``polysense detect``)."""
