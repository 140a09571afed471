"""polysense: acoustic signal processing and multimodal learning.

Layers (each imports only those below it):
``signal`` → ``audio`` / ``image`` → ``data`` → ``models`` / ``losses`` → ``train`` → ``evaluate`` →
``search``, ``deploy`` and the applications (``enhance``, ``detect``, ``recognize``) → ``explain``, ``cli``.

Beside them, low in the house: :mod:`.errors` (the error types), :mod:`.limits` (size limits),
:mod:`.files` (atomic writes), :mod:`.threads` (thread settings), :mod:`.registry` (the one
registry of model parts and datasets by name) with :mod:`.builtins` (the one list of built-ins,
declared here on import and loaded on first lookup).
"""

from polysense import builtins as _builtins  # noqa: F401 - declares the built-in models and datasets (no import of them)
from polysense.errors import AudioError, ManifestError, ParameterError, PolysenseError

__version__ = "0.1.0"

__all__ = ["AudioError", "ManifestError", "ParameterError", "PolysenseError", "__version__"]
