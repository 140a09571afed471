"""polysense.synthesis: new, labelled sounds from a trained generator run (``polysense generate``).

- :func:`~polysense.synthesis.generate.generate_to_folder`: WAVs at the run's sample rate and a
  ``manifest.csv`` of what was asked (file, label, speaker, seed), written all or nothing.
"""

from polysense.synthesis.generate import GeneratedClip, GeneratedSet, generate_to_folder, resolve_label, resolve_speaker

__all__ = ["GeneratedClip", "GeneratedSet", "generate_to_folder", "resolve_label", "resolve_speaker"]
