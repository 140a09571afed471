"""polysense: acoustic signal processing and multimodal learning.

Layers (each imports only those below it):
``signal`` → ``audio`` → ``data`` → ``models`` / ``losses`` → ``train`` → ``evaluate`` → ``search`` → ``cli``.
"""

from polysense.errors import AudioError, ManifestError, ParameterError, PolysenseError

__version__ = "0.1.0"

__all__ = ["AudioError", "ManifestError", "ParameterError", "PolysenseError", "__version__"]
