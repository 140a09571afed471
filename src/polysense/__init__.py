"""polysense: acoustic signal processing and multimodal learning.

Layers (each imports only those below it):
``signal`` → ``audio`` → ``data`` → ``models`` / ``losses`` → ``train`` → ``evaluate`` → ``search`` → ``cli``.
"""

from polysense import builtins as _builtins  # noqa: F401 - declares the built-in models and datasets (no import of them)
from polysense.errors import AudioError, ManifestError, ParameterError, PolysenseError

__version__ = "0.1.0"

__all__ = ["AudioError", "ManifestError", "ParameterError", "PolysenseError", "__version__"]
