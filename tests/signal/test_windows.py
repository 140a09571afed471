"""Windows: scipy.signal.get_window parity (1e-12, float64), the lecture's ε form, bad names."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from polysense.errors import ParameterError
from polysense.signal.windows import generalized_hamming, get_window, window_names

# (our name, our params, scipy's window spec)
CASES = [
    ("hann", {}, "hann"),
    ("hamming", {}, "hamming"),
    ("blackman", {}, "blackman"),
    ("cosine", {}, "cosine"),
    ("bartlett", {}, "bartlett"),
    ("rectangular", {}, "boxcar"),
    ("gaussian", {"std": 2.5}, ("gaussian", 2.5)),
    ("gaussian", {"std": 40.0}, ("gaussian", 40.0)),
    ("tukey", {}, ("tukey", 0.5)),
    ("tukey", {"alpha": 0.1}, ("tukey", 0.1)),
    ("tukey", {"alpha": 0.0}, ("tukey", 0.0)),
    ("tukey", {"alpha": 1.0}, ("tukey", 1.0)),
]
LENGTHS = [1, 2, 3, 4, 5, 16, 17, 255, 256, 1024]


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "symmetric"])
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize(("name", "params", "scipy_spec"), CASES, ids=[f"{c[0]}{c[1] or ''}" for c in CASES])
def test_matches_scipy_get_window(name, params, scipy_spec, length, periodic):
    # reference: scipy.signal.get_window(fftbins=periodic); tolerance 1e-12 absolute (float64)
    ours = get_window(name, length, periodic=periodic, **params)
    ref = scipy.signal.get_window(scipy_spec, length, fftbins=periodic)
    assert ours.dtype == torch.float64 and ours.shape == (length,)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)


def test_all_eight_lecture_windows_are_available():
    assert set(window_names()) == {"hann", "hamming", "gaussian", "blackman", "cosine", "bartlett", "tukey", "rectangular"}


@pytest.mark.parametrize(("name", "epsilon"), [("hann", 0.5), ("hamming", 0.54)])
@pytest.mark.parametrize("length", [1, 2, 7, 64, 400, 1024])
@pytest.mark.parametrize("periodic", [True, False])
def test_lecture_epsilon_form_agrees(name, epsilon, length, periodic):
    """w(n) = ε − (1−ε)·cos(2πn/N), N = M (periodic) or M−1 (symmetric): both builds agree to 1e-15."""
    lecture = generalized_hamming(length, epsilon, periodic=periodic)
    np.testing.assert_allclose(lecture.numpy(), get_window(name, length, periodic=periodic).numpy(), rtol=0, atol=1e-15)
    if length > 1:
        # and the formula written out literally, one sample at a time
        big_n = length if periodic else length - 1
        literal = [epsilon - (1 - epsilon) * math.cos(2 * math.pi * n / big_n) for n in range(length)]
        np.testing.assert_allclose(lecture.numpy(), literal, rtol=0, atol=1e-15)


def test_periodic_is_symmetric_of_length_plus_one_truncated():
    np.testing.assert_array_equal(get_window("blackman", 64).numpy(), get_window("blackman", 65, periodic=False)[:-1].numpy())


def test_scipy_tuple_form_aliases_and_dtype_device():
    np.testing.assert_array_equal(get_window(("gaussian", 3.0), 33).numpy(), get_window("gaussian", 33, std=3.0).numpy())
    np.testing.assert_array_equal(get_window(("tukey", 0.25), 33).numpy(), get_window("tukey", 33, alpha=0.25).numpy())
    np.testing.assert_array_equal(get_window("boxcar", 8).numpy(), np.ones(8))
    np.testing.assert_array_equal(get_window("HANNING", 8).numpy(), get_window("hann", 8).numpy())
    w = get_window("hann", 16, dtype=torch.float32, device="cpu")
    assert w.dtype == torch.float32 and w.device.type == "cpu"


def test_unknown_name_lists_valid_names():
    with pytest.raises(ParameterError) as err:
        get_window("kaiser_bessel", 16)
    message = str(err.value)
    assert "window='kaiser_bessel'" in message
    for name in window_names():
        assert repr(name) in message


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: get_window("gaussian", 16), "std="),
        (lambda: get_window("gaussian", 16, std=0.0), "std=0.0"),
        (lambda: get_window("tukey", 16, alpha=1.5), "alpha=1.5"),
        (lambda: get_window("hann", 16, alpha=0.5), "unexpected parameter"),
        (lambda: get_window("hann", 0), "length=0"),
        (lambda: get_window(("tukey", 0.5, 1.0), 16), "parameter"),
        (lambda: generalized_hamming(16, 1.5), "epsilon=1.5"),
    ],
)
def test_bad_parameters_raise_parameter_error(call, needle):
    with pytest.raises(ParameterError, match=needle):
        call()
    assert issubclass(ParameterError, ValueError)
