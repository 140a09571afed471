"""The error types of polysense.

Every error a user can cause by passing a bad value is a :class:`ValueError` subclass whose
message names the argument (or file, or manifest row), the value received, and what would be
valid, in that order. Catch :class:`PolysenseError` to catch all of them.
"""

from __future__ import annotations


class PolysenseError(Exception):
    """Base class of every error raised on purpose by polysense."""


class ParameterError(PolysenseError, ValueError):
    """An argument has a value the function cannot work with.

    The message names the argument, the value and what would be valid, e.g.
    ``hop_length=0 is invalid: expected a positive integer (samples between frames)``.
    """


class NOLAError(ParameterError):
    """The window/hop pair fails the nonzero-overlap-add condition, so no inverse STFT exists."""


class AudioError(PolysenseError, ValueError):
    """An audio file is missing, empty, truncated or not audio. The message names the file."""


class ManifestError(PolysenseError, ValueError):
    """A dataset manifest is malformed. The message names the manifest, the row and the fix."""
