"""The media layer's one image decoder: a file and the same bytes decode alike, and every failure
is an ImageError that names the file or the upload."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from polysense.image import ImageError, decode_image, load_image


@pytest.fixture
def png(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)).save(path)
    return path


def test_a_file_and_its_bytes_decode_alike(png):
    from_file = load_image(png, size=(6, 10))
    from_bytes = decode_image(png.read_bytes(), size=(6, 10))
    assert from_file.shape == (3, 6, 10) and from_file.dtype == torch.float32
    assert torch.equal(from_file, from_bytes)
    exact = decode_image(png)  # no size: the file's own, pixel values /255 exactly
    assert exact.shape == (3, 12, 20)
    with Image.open(png) as im:
        pixels = torch.from_numpy(np.asarray(im.convert("RGB")).copy())
    assert torch.equal(exact, pixels.permute(2, 0, 1) / 255.0)


def test_failures_name_the_file_or_the_upload(tmp_path):
    with pytest.raises(ImageError, match="missing.png: file not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.png: empty file \(0 bytes\)"):
        load_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="text.png: not a readable image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="the upload is not an image Pillow can decode"):
        decode_image(b"not an image", size=(4, 4))


def test_the_data_layer_and_the_search_index_use_this_decoder():
    from polysense.data import dataset
    from polysense.search import index

    assert dataset.load_image is load_image and dataset.ImageError is ImageError
    assert index.decode_image is decode_image
