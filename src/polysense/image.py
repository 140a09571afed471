"""Reading images: the media layer beside :mod:`polysense.audio`.

One decoder, :func:`decode_image`, turns a file or the bytes of an upload into float32 RGB
``(3, H, W)`` in [0, 1], resized to ``size=(H, W)`` with Pillow's bilinear filter; it serves the
datasets (:mod:`polysense.data.dataset`), the manifest and folder checks, and the search index's
queries. Every failure is an :class:`ImageError` that names the file (or says it was an upload)
and the cause.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from polysense.errors import PolysenseError

__all__ = ["IMAGE_SUFFIXES", "ImageError", "decode_image", "load_image"]

#: file suffixes taken as images when a folder is walked (what Pillow decodes)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


class ImageError(PolysenseError, ValueError):
    """An image file is missing, empty or cannot be decoded. The message names the file."""


def decode_image(data: bytes | bytearray | str | os.PathLike, *, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Decode an image, a file's path or an upload's bytes, to float32 RGB ``(3, H, W)`` in [0, 1],
    resized to ``size=(H, W)`` when given; the format is read from the content.

    Raises :class:`ImageError` naming the file (or the upload) and the cause.
    """
    # Pillow here, not at the top: 17 ms of every `polysense search` start-up otherwise (-X importtime)
    from PIL import Image, UnidentifiedImageError

    if isinstance(data, bytes | bytearray):
        source, what = io.BytesIO(data), None
    else:
        path = Path(data)
        if not path.is_file():
            raise ImageError(f"{path}: file not found" if not path.exists() else f"{path}: not a regular file")
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
        source, what = path, path
    try:
        with Image.open(source) as im:
            im.load()
            im = im.convert("RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(im, dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageError("the upload is not an image Pillow can decode" if what is None else
                         f"{what}: not a readable image (Pillow cannot identify it)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(f"the uploaded image is corrupt or too large ({exc})" if what is None else
                         f"{what}: corrupt or truncated image ({exc})") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def load_image(path: str | os.PathLike, *, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Decode the image file ``path`` (see :func:`decode_image`)."""
    return decode_image(Path(path), size=size)
