"""Hostile signals and arguments against every public front-end function.

Signals: every dtype torch has for audio-like data (float16/bfloat16/int16/complex too), empty
batches and empty time axes, magnitudes from 1e-300 to 1e300, NaN/Inf injected. Arguments: each
parameter omitted or drawn from a pool of hostile values (0, -1, huge ints, 1e±300, NaN, None,
booleans, numeric strings) mixed with valid ones. The contract (contract.py): a finite result for
finite input, or a polysense error naming an argument; never another exception or a hang.

The size limits are lowered for this module (polysense.limits reads the environment at each
check), so whatever passes them stays small on a CI machine, and the hostile sizes are refused.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polysense import signal as S
from polysense.signal.transforms import MFCC, LogMelSpectrogram
from tests.fuzz.contract import check_call, check_one_at_a_time

# Empty filter banks and the like warn by design; the contract is about errors and results.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LIMITS = {"POLYSENSE_MAX_FFT": str(2**13), "POLYSENSE_MAX_SAMPLES": str(2**21),
          "POLYSENSE_MAX_SPECTROGRAM_VALUES": str(2**22), "POLYSENSE_MAX_FILTERBANK_VALUES": str(2**19)}
FUZZ = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

HOSTILE = [0, -1, True, False, None, "8000", 1.5, math.nan, math.inf, -math.inf, 1e-300, 1e300, 10**30, 2**31,
           2**63, -(10**30), 1j, 440 + 0j]
sizes = st.one_of(st.sampled_from(HOSTILE), st.integers(1, 600), st.sampled_from([2, 3, 16, 64, 256, 2**13 + 1]))
small_ints = st.one_of(st.sampled_from(HOSTILE), st.integers(1, 12))
rates = st.one_of(st.sampled_from(HOSTILE + [1e-3, 1.0, 8000, 16000.0, 1e7, 2e7]), st.floats(1.0, 48000.0))
reals = st.one_of(st.sampled_from(HOSTILE + [0.5, 1e-10, 80.0]), st.floats(allow_nan=True, allow_infinity=True))
hz = st.one_of(st.sampled_from(HOSTILE + [0.0, 20.0, 4000.0, 1e9]), st.floats(0.0, 24000.0))
DTYPES = st.sampled_from([torch.float32, torch.float64, "float32", "nope", torch.int16, None, 3])
DEVICES = st.sampled_from([None, "cpu", torch.device("cpu"), "nope", "cuda:99", "meta", 3.5])


@st.composite
def signals(draw, *, min_length: int = 0):
    """(x, finite): a tensor of a drawn dtype, shape and scale, and whether all its values are finite."""
    dtype = draw(st.sampled_from([torch.float32, torch.float32, torch.float64, torch.float64, torch.float16,
                                  torch.bfloat16, torch.int16, torch.complex64]))
    length = draw(st.one_of(st.integers(min_length, 3000), st.sampled_from([0, 1, 2])))
    shape = draw(st.sampled_from([(length,), (2, length), (0, length), (1, 1, length)]))
    scale = draw(st.sampled_from([1.0, 1.0, 0.0, 1e-300, 1e-30, 1e20, 1e200, 3e38]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    if draw(st.booleans()) and x.numel():
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    if dtype == torch.int16:
        x = x.clamp(-32768, 32767)
    x = x.to(dtype)
    finite = bool(torch.isfinite(torch.view_as_real(x) if x.is_complex() else x.float()).all()) if x.numel() else True
    return x, finite


def kwargs_of(**pools):
    """A dict drawing each key from its pool or leaving it out (the default)."""
    return st.fixed_dictionaries({}, optional=pools)


@pytest.fixture(autouse=True)
def _small_limits(monkeypatch):
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)


def run(fn, x, finite, kwargs, *names):
    """Call ``fn(x, **kwargs)`` under the contract; non-finite input must be refused."""
    result = check_call(lambda: fn(x, **kwargs), [*kwargs, *names], finite_expected=finite)
    if not finite:
        assert isinstance(result, Exception), "a signal with NaN/Inf was accepted"
    return result


FFT = dict(n_fft=sizes, hop_length=st.one_of(st.none(), sizes), win_length=st.one_of(st.none(), sizes),
           window=st.sampled_from(["hann", "hamming", "nope", None, 3]), center=st.booleans(),
           pad_mode=st.sampled_from(["constant", "reflect", "bogus"]),
           convention=st.sampled_from([None, "librosa", "torchaudio", "scipy", "nope"]))


@FUZZ
@given(sig=signals(), kwargs=kwargs_of(**FFT))
def test_stft(sig, kwargs):
    kwargs.setdefault("n_fft", 64)
    run(S.stft, *sig, kwargs, "x")


@FUZZ
@given(sig=signals(), kwargs=kwargs_of(power=st.one_of(st.none(), reals), **FFT))
def test_spectrogram(sig, kwargs):
    kwargs.setdefault("n_fft", 64)
    run(S.spectrogram, *sig, kwargs, "x")


MEL = dict(sample_rate=rates, n_fft=sizes, hop_length=st.one_of(st.none(), sizes), n_mels=sizes,
           f_min_hz=hz, f_max_hz=st.one_of(st.none(), hz), power=reals,
           mel_scale=st.sampled_from(["slaney", "htk", "x", None]), norm=st.sampled_from(["slaney", None, "bad"]))


@FUZZ
@given(sig=signals(), kwargs=kwargs_of(**MEL))
def test_mel_spectrogram(sig, kwargs):
    kwargs.setdefault("sample_rate", 8000)
    run(S.mel_spectrogram, *sig, kwargs, "x")


@FUZZ
@given(sig=signals(), kwargs=kwargs_of(amin=reals, top_db=st.one_of(st.none(), reals), ref=reals,
                                       top_db_scope=st.sampled_from(["global", "spectrogram", "x"]), **MEL))
def test_log_mel_spectrogram(sig, kwargs):
    kwargs.setdefault("sample_rate", 8000)
    run(S.log_mel_spectrogram, *sig, kwargs, "x")


@FUZZ
@given(sig=signals(), kwargs=kwargs_of(n_mfcc=sizes, dct_norm=st.sampled_from(["ortho", None, "nope"]), lifter=reals,
                                       sample_rate=rates, n_fft=sizes, n_mels=sizes))
def test_mfcc(sig, kwargs):
    kwargs.setdefault("sample_rate", 8000)
    run(S.mfcc, *sig, kwargs, "x")


@FUZZ
@given(sig=signals(), kwargs=kwargs_of(sample_rate=rates, n_fft=sizes, n_mels=sizes, top_db=st.one_of(st.none(), reals)),
       lifter=reals, n_mfcc=small_ints)
def test_transform_modules(sig, kwargs, lifter, n_mfcc):
    def call():
        return LogMelSpectrogram(**kwargs)(sig[0])

    check_call(call, [*kwargs, "x", "waveform"], finite_expected=sig[1])
    check_call(lambda: MFCC(lifter=lifter, n_mfcc=n_mfcc, n_mels=16, n_fft=64)(torch.randn(400)),
               ["lifter", "n_mfcc"])


@FUZZ
@given(sig=signals(min_length=1), kwargs=kwargs_of(n_fft=sizes, hop_length=st.one_of(st.none(), sizes),
                                                   length=st.one_of(st.none(), sizes), window=st.sampled_from(["hann", "boxcar", None])),
       analysis=st.sampled_from([(64, 16), (32, 8)]))
def test_istft(sig, kwargs, analysis):
    x, finite = sig
    n_fft, hop = analysis
    if not (finite and x.dtype in (torch.float32, torch.float64) and x.numel() and x.shape[-1] >= 1):
        X = x  # a hostile X straight in: wrong dtype, empty, non-finite
    else:
        X = S.stft(x, n_fft=n_fft, hop_length=hop)
    kwargs.setdefault("hop_length", hop)
    run(S.istft, X, finite, kwargs, "X")


@settings(FUZZ, max_examples=25)
@given(sig=signals(min_length=1), kwargs=kwargs_of(n_iter=st.one_of(st.sampled_from(HOSTILE), st.integers(1, 3)),
                                                   momentum=reals, seed=st.sampled_from(HOSTILE + [0, 7]),
                                                   init=st.sampled_from(["random", "zeros", "x"]),
                                                   length=st.one_of(st.none(), sizes)))
def test_griffin_lim(sig, kwargs):
    x, finite = sig
    n = x.numel() // 33 * 33
    magnitude = x.abs().flatten()[:n].reshape(33, -1)[:, :40] if n and not x.is_complex() else x
    kwargs.setdefault("n_iter", 2)
    # a single frame has no default length ("pass length="): the message names it
    run(S.griffin_lim, magnitude, finite, kwargs, "magnitude", "length")


@FUZZ
@given(sig=signals(), kwargs=kwargs_of(orig_sample_rate=rates, new_sample_rate=rates,
                                       quality=st.sampled_from(["HQ", "QQ", "bad"])))
def test_resample(sig, kwargs):
    kwargs.setdefault("orig_sample_rate", 16000)
    kwargs.setdefault("new_sample_rate", 8000)
    run(S.resample, *sig, kwargs, "x")


@FUZZ
@given(sig=signals(), step=reals, bits=small_ints, full_scale=reals, channels=sizes)
def test_quantizers(sig, step, bits, full_scale, channels):
    run(lambda x, **k: S.quantize(x, step), *sig, {"step": step}, "x")
    run(lambda x, **k: S.quantize_bits(x, bits, full_scale), *sig, {"bits": bits, "full_scale": full_scale}, "x")
    run(lambda x, **k: S.mu_law_encode(x, channels), *sig, {"quantization_channels": channels}, "x")


@FUZZ
@given(sig=signals(), frame_length=sizes, hop_length=sizes)
def test_frame(sig, frame_length, hop_length):
    run(lambda x, **k: S.frame(x, **k), *sig, {"frame_length": frame_length, "hop_length": hop_length}, "x")


@FUZZ
@given(kwargs=kwargs_of(sample_rate=rates, n_fft=sizes, n_mels=sizes, f_min_hz=hz, f_max_hz=st.one_of(st.none(), hz),
                        dtype=DTYPES, device=DEVICES))
def test_mel_filterbank(kwargs):
    kwargs.setdefault("sample_rate", 8000)
    kwargs.setdefault("n_fft", 64)
    check_call(lambda: S.mel_filterbank(**kwargs), list(kwargs))


@FUZZ
@given(kwargs=kwargs_of(sample_rate=rates, n_fft=sizes, hop_length=sizes, win_length=sizes,
                        num_samples=st.one_of(st.none(), sizes)))
def test_resolution(kwargs):
    kwargs.setdefault("sample_rate", 8000)
    kwargs.setdefault("n_fft", 64)
    kwargs.setdefault("hop_length", 16)
    check_call(lambda: S.resolution(**kwargs), list(kwargs))


# The examples of the issue, pinned: each was a traceback, a hang, NaN or gigabytes before.
@pytest.mark.parametrize("call, names", [
    (lambda: S.stft(torch.randn(100), n_fft=2**31), ["n_fft", "GiB"]),
    (lambda: S.istft(S.stft(torch.randn(256), n_fft=64), n_fft=64, length=10**12), ["length"]),
    (lambda: S.mel_filterbank(sample_rate=16000, n_fft=2048, n_mels=10**6), ["n_mels"]),
    (lambda: S.resample(torch.randn(100), orig_sample_rate=1e15, new_sample_rate=16000), ["orig_sample_rate"]),
    (lambda: S.resample(torch.randn(100), orig_sample_rate=16000, new_sample_rate=1e-300), ["new_sample_rate"]),
    (lambda: S.log_mel_spectrogram(torch.randn(2000) * 1e20, sample_rate=16000), ["x", "overflow"]),
    (lambda: S.mfcc(torch.randn(2000) * 1e20, sample_rate=16000), ["x"]),
    (lambda: S.spectrogram(torch.randn(2000, dtype=torch.float64) * 1e200, n_fft=512), ["x"]),
    (lambda: S.quantize(torch.randn(10), 1e300), ["step"]),
    (lambda: S.quantize_bits(torch.randn(10), 8, full_scale=1e-300), ["full_scale", "step"]),
    (lambda: S.mfcc(torch.randn(2000), sample_rate=16000, lifter=1e-300), ["lifter"]),
    (lambda: S.mel_spectrogram(torch.randn(2000), sample_rate=1e-300), ["sample_rate"]),
    (lambda: S.log_mel_spectrogram(torch.randn(2000).half(), sample_rate=16000), ["x", "float16"]),
    (lambda: S.mfcc(torch.randn(2000).bfloat16(), sample_rate=16000), ["x", "bfloat16"]),
    (lambda: S.spectrogram(torch.randn(0, 2000), n_fft=64), ["x", "empty"]),
    (lambda: S.griffin_lim(torch.ones(33, 4, dtype=torch.int64)), ["magnitude"]),
    (lambda: S.mel_spectrogram(torch.randn(2000), sample_rate=16000, f_min_hz=None), ["f_min_hz"]),
    (lambda: S.mfcc(torch.randn(2000), sample_rate=16000, lifter=None), ["lifter"]),
    (lambda: S.griffin_lim(torch.ones(33, 4), momentum=None), ["momentum"]),
    (lambda: S.griffin_lim(torch.ones(33, 4), seed=None), ["seed"]),
    (lambda: S.stft(torch.randn(100), n_fft=10**30), ["n_fft"]),
    (lambda: S.mel_spectrogram(torch.randn(2000), sample_rate=True), ["sample_rate"]),
    (lambda: S.mel_spectrogram(torch.randn(2000), sample_rate="8000"), ["sample_rate"]),
    (lambda: S.mfcc(torch.randn(2000), sample_rate=16000, dct_norm="nope"), ["dct_norm"]),
])
def test_issue_examples_are_refused_with_a_named_argument(call, names, monkeypatch):
    for key in LIMITS:  # the default limits, as a user has them
        monkeypatch.delenv(key, raising=False)
    result = check_call(call, names[:1])
    assert isinstance(result, ValueError), f"expected a polysense error, got a result {type(result)}"
    assert all(n in str(result) for n in names[:1]) and any(n in str(result) for n in names)


# Generators and helpers that take sizes rather than a signal: each drawn argument hostile or valid.
FACTORIES = {
    "sinusoid": (S.sinusoid, dict(freq_hz=hz, sample_rate=rates, num_samples=st.one_of(st.none(), sizes),
                                  duration_s=st.one_of(st.none(), reals)), dict(freq_hz=100, sample_rate=8000, num_samples=64)),
    "chirp": (S.chirp, dict(f0_hz=hz, f1_hz=hz, sample_rate=rates, num_samples=sizes,
                            method=st.sampled_from(["linear", "exponential", "x"]), phase=reals, dtype=DTYPES,
                            device=DEVICES),
              dict(f0_hz=10, f1_hz=100, sample_rate=8000, num_samples=64)),
    "sample_times": (S.sample_times, dict(sample_rate=rates, duration_s=st.one_of(st.none(), reals),
                                          num_samples=st.one_of(st.none(), sizes), dtype=DTYPES, device=DEVICES),
                     dict(sample_rate=8000, num_samples=8)),
    "dft_matrix": (S.dft_matrix, dict(n=sizes), dict(n=8)),
    "get_window": (S.get_window, dict(name=st.sampled_from(["hann", "kaiser", ("tukey", 0.5), ("gaussian", -1), None]),
                                      length=sizes, dtype=DTYPES, device=DEVICES), dict(name="hann", length=8)),
    "fft_frequencies": (S.fft_frequencies, dict(n_fft=sizes, sample_rate=rates), dict(n_fft=8, sample_rate=8000)),
    "mel_frequencies": (S.mel_frequencies, dict(n_mels=sizes, f_min_hz=hz, f_max_hz=hz), dict(n_mels=8)),
    "dct_matrix": (S.dct_matrix, dict(n_mfcc=sizes, n_mels=sizes, norm=st.sampled_from(["ortho", None, "x"])),
                   dict(n_mfcc=4, n_mels=8)),
    "linear_filterbank": (S.linear_filterbank, dict(sample_rate=rates, n_fft=sizes, n_bands=sizes, f_min_hz=hz,
                                                    dtype=DTYPES, device=DEVICES),
                          dict(sample_rate=8000, n_fft=64)),
    "log_filterbank": (S.log_filterbank, dict(sample_rate=rates, n_fft=sizes, n_bands=sizes, f_min_hz=hz),
                       dict(sample_rate=8000, n_fft=64)),
    "nyquist_frequency": (S.nyquist_frequency, dict(sample_rate=rates), dict(sample_rate=8000)),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_generators_and_helpers(name):
    fn, pools, defaults = FACTORIES[name]

    @settings(FUZZ, max_examples=25)
    @given(kwargs=kwargs_of(**pools))
    def case(kwargs):
        call = {**defaults, **kwargs}
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty filters, aliasing: warnings, not errors
            # get_window's `name` is what every caller knows as `window`
            check_call(lambda: fn(**call), [*kwargs, *(["window", "std", "alpha"] if "name" in kwargs else [])] or ["none"])

    case()


@FUZZ
@given(sig=signals(), amin=reals, top_db=st.one_of(st.none(), reals), ref=reals, channels=sizes)
def test_db_dft_and_sqnr(sig, amin, top_db, ref, channels):
    x, finite = sig
    for fn, names in ((lambda: S.power_to_db(x.abs() if not x.is_complex() else x, amin=amin, top_db=top_db, ref=ref),
                       ["S", "amin", "top_db", "ref"]),
                      (lambda: S.amplitude_to_db(x, amin=amin, top_db=top_db), ["S", "amin", "top_db"]),
                      (lambda: S.dft(x), ["x"]), (lambda: S.amplitude_spectrum(x), ["x"]),
                      (lambda: S.sqnr_db(x, x * 0.5), ["x"]),
                      (lambda: S.mu_law_decode(x, channels), ["codes", "quantization_channels"])):
        result = check_call(fn, names, finite_expected=finite)
        if not finite:
            assert isinstance(result, Exception), "a signal with NaN/Inf was accepted"


# The tail of issue 20: each class pinned by its examples.
X = torch.randn(2000)
SPEC = S.stft(torch.randn(400), n_fft=64, hop_length=16)
FEATURES = torch.randn(1, 20, 100)
CODES = S.mu_law_encode(X.clamp(-1, 1), 256)
# every front-end function that takes a tensor: name -> (call on the tensor t, the argument's name, a valid t)
FRONT_END = {
    "stft": (lambda t: S.stft(t, n_fft=64), "x", X),
    "spectrogram": (lambda t: S.spectrogram(t, n_fft=64), "x", X),
    "mel_spectrogram": (lambda t: S.mel_spectrogram(t, sample_rate=8000), "x", X),
    "log_mel_spectrogram": (lambda t: S.log_mel_spectrogram(t, sample_rate=8000), "x", X),
    "mfcc": (lambda t: S.mfcc(t, sample_rate=8000), "x", X),
    "istft": (lambda t: S.istft(t, n_fft=64, hop_length=16), "X", SPEC),
    "griffin_lim": (lambda t: S.griffin_lim(t, n_iter=1), "magnitude", SPEC.abs()),
    "resample": (lambda t: S.resample(t, orig_sample_rate=16000, new_sample_rate=8000), "x", X),
    "quantize": (lambda t: S.quantize(t, 0.1), "x", X),
    "quantize_bits": (lambda t: S.quantize_bits(t, 8), "x", X),
    "quantization_error": (lambda t: S.quantization_error(t, 0.1), "x", X),
    "sqnr_db": (lambda t: S.sqnr_db(t, t * 0.5), "x", X),
    "mu_law_encode": (lambda t: S.mu_law_encode(t, 256), "x", X.clamp(-1, 1)),
    "mu_law_decode": (lambda t: S.mu_law_decode(t, 256), "codes", CODES),
    "mu_law_compress": (lambda t: S.mu_law_compress(t, 256), "x", X.clamp(-1, 1)),
    "mu_law_expand": (lambda t: S.mu_law_expand(t, 256), "y", X.clamp(-1, 1)),
    "frame": (lambda t: S.frame(t, frame_length=64, hop_length=16), "x", X),
    "dft": (lambda t: S.dft(t), "x", X[:64]),
    "one_sided": (lambda t: S.one_sided(t), "X", torch.fft.fft(X[:64])),
    "amplitude_spectrum": (lambda t: S.amplitude_spectrum(t), "x", X[:64]),
    "power_to_db": (lambda t: S.power_to_db(t), "S", X.abs()),
    "amplitude_to_db": (lambda t: S.amplitude_to_db(t), "S", X.abs()),
    "time_stretch": (lambda t: S.time_stretch(t, rate=1.1), "x", X),
    "speed_perturb": (lambda t: S.speed_perturb(t, sample_rate=8000, factor=1.1), "x", X),
    "pitch_shift": (lambda t: S.pitch_shift(t, sample_rate=8000, semitones=1), "x", X),
    "cmvn": (lambda t: S.cmvn(t), "features", FEATURES),
    "sliding_cmvn": (lambda t: S.sliding_cmvn(t, window_frames=5), "features", FEATURES),
    "cmvn mask": (lambda t: S.cmvn(FEATURES, mask=t), "mask", torch.ones(1, 100, dtype=torch.bool)),
    "alias_frequency": (lambda t: S.alias_frequency(t, 8000), "freq_hz", X.abs() * 1000),
    "hz_to_mel": (lambda t: S.hz_to_mel(t), "frequencies", X.abs() * 1000),
    "vtlp_mel_filterbank": (lambda t: S.vtlp_mel_filterbank(alpha=t, sample_rate=8000, n_fft=64, n_mels=8), "alpha",
                            torch.tensor([0.9, 1.1])),
    "LogMelSpectrogram": (lambda t: S.LogMelSpectrogram(sample_rate=8000)(t), "x", X),
    "MFCC": (lambda t: S.MFCC(sample_rate=8000)(t), "x", X),
    "Spectrogram": (lambda t: S.Spectrogram(n_fft=64)(t), "x", X),
    "Resample": (lambda t: S.Resample(orig_sample_rate=16000, new_sample_rate=8000)(t), "x", X),
    "AmplitudeToDB": (lambda t: S.AmplitudeToDB()(t), "S", X.abs()),
}
LAYOUTS = {"sparse": (lambda t: t.to_sparse(), "layout sparse_coo"), "meta": (lambda t: t.to("meta"), "meta device")}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(FRONT_END))
def test_tensors_without_plain_values_are_refused_by_name(name, layout):
    """A sparse or meta tensor gets the shared check's error naming the argument, never a
    NotImplementedError or RuntimeError from inside PyTorch; the same values dense are accepted."""
    call, argument, dense = FRONT_END[name]
    convert, words = LAYOUTS[layout]
    result = check_call(lambda: call(convert(dense)), [argument])
    assert isinstance(result, ValueError), f"{name} accepted a {layout} tensor"
    assert str(result).startswith(argument) and words in str(result), str(result)
    assert not isinstance(check_call(lambda: call(dense), [argument]), Exception)


@pytest.mark.parametrize("call, names", [
    # complex numbers where a real one is expected
    (lambda: S.mel_spectrogram(X, sample_rate=8000, f_max_hz=1j), ["f_max_hz", "complex"]),
    (lambda: S.mel_filterbank(sample_rate=8000, n_fft=64, f_min_hz=1j), ["f_min_hz", "complex"]),
    (lambda: S.chirp(f0_hz=1j, f1_hz=100, sample_rate=8000, num_samples=10), ["f0_hz", "complex"]),
    (lambda: S.chirp(f0_hz=10, f1_hz=100, sample_rate=8000, num_samples=10, phase=1j), ["phase", "complex"]),
    (lambda: S.hz_to_mel(1j), ["frequencies", "complex"]),
    (lambda: S.alias_frequency(1j, 8000), ["freq_hz", "complex"]),
    (lambda: S.pitch_shift(X, sample_rate=8000, semitones=1j), ["semitones", "complex"]),
    (lambda: S.quantize(X, 1j), ["step", "complex"]),
    # dtype and device given as strings (or a device this machine lacks)
    (lambda: S.mel_filterbank(sample_rate=8000, n_fft=64, dtype="float32"), ["dtype='float32'", "torch.float32"]),
    (lambda: S.get_window("hann", 64, dtype="float32"), ["dtype='float32'", "torch.float32"]),
    (lambda: S.sinusoid(freq_hz=10, sample_rate=8000, num_samples=10, dtype="float32"), ["dtype='float32'"]),
    (lambda: S.dft_matrix(8, dtype="complex64"), ["dtype='complex64'", "torch.complex64"]),
    (lambda: S.mel_filterbank(sample_rate=8000, n_fft=64, device="nope"), ["device='nope'"]),
    (lambda: S.get_window("hann", 64, device="nope"), ["device='nope'"]),
    (lambda: S.sample_times(sample_rate=8000, num_samples=8, device="nope"), ["device='nope'"]),
    (lambda: S.fft_frequencies(n_fft=8, sample_rate=8000, device="meta"), ["device='meta'", "no values"]),
    (lambda: S.dct_matrix(4, 8, device="cuda:99" if not torch.cuda.is_available() else "nope"), ["device="]),
    # a work bound, not only a size bound: 10**6 mel bands of 129 bins took over 10 s to build
    (lambda: S.mel_filterbank(sample_rate=16000, n_fft=256, n_mels=10**6), ["n_mels", "POLYSENSE_MAX_FILTERBANK_VALUES"]),
    (lambda: S.LogMelSpectrogram(sample_rate=16000, n_fft=64, n_mels=10**6), ["n_mels", "filter bank"]),
    (lambda: S.dct_matrix(20, 10**6), ["n_mels", "DCT"]),
    # finite input whose result would overflow, and a ref callable returning NaN/Inf
    (lambda: S.resample(torch.tensor([3e38, -3e38] * 50), orig_sample_rate=16000, new_sample_rate=8000),
     ["x", "overflow"]),
    (lambda: S.quantize(torch.tensor([3.4e38, -1.0]), 1e-3), ["x", "overflow"]),
    (lambda: S.quantize(torch.tensor([3.4e38]), 1.3e38), ["x", "overflow"]),
    (lambda: S.log_mel_spectrogram(X, sample_rate=8000, ref=lambda s: s.max() * math.nan), ["ref", "nan"]),
    (lambda: S.log_mel_spectrogram(X, sample_rate=8000, ref=lambda s: s.max() * math.inf), ["ref", "inf"]),
    (lambda: S.power_to_db(X.abs(), ref=lambda s: torch.tensor(math.nan)), ["ref", "nan"]),
    (lambda: S.AmplitudeToDB(ref=lambda s: s.max() * math.inf)(X.abs()), ["ref"]),
])
def test_the_tail_of_issue_20_is_refused_with_a_named_argument(call, names, monkeypatch):
    for key in LIMITS:  # the default limits, as a user has them
        monkeypatch.delenv(key, raising=False)
    result = check_call(call, names[:1])
    assert isinstance(result, ValueError), f"expected a polysense error, got a result {type(result)}"
    assert all(n in str(result) for n in names), str(result)


# The strict contract, one hostile argument at a time among valid ones: a function that refused
# everything, or an error naming another argument than the one at fault, fails here.
SIGNAL = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0)) * 0.1
MEL_GOOD = dict(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32, f_min_hz=0.0, f_max_hz=4000.0)
STRICT = {
    "stft": (S.stft, (SIGNAL,), dict(n_fft=256, hop_length=64, win_length=200, window="hann", center=True,
                                      pad_mode="constant", convention="librosa")),
    "spectrogram": (S.spectrogram, (SIGNAL,), dict(n_fft=256, hop_length=64, power=2.0)),
    "mel_spectrogram": (S.mel_spectrogram, (SIGNAL,), dict(**MEL_GOOD, power=2.0, mel_scale="slaney", norm="slaney")),
    "log_mel_spectrogram": (S.log_mel_spectrogram, (SIGNAL,), dict(**MEL_GOOD, amin=1e-10, top_db=80.0, ref=1.0,
                                                                    top_db_scope="global")),
    "mfcc": (S.mfcc, (SIGNAL,), dict(sample_rate=8000, n_mfcc=13, n_fft=256, n_mels=32, lifter=22.0, dct_norm="ortho")),
    "resample": (S.resample, (SIGNAL,), dict(orig_sample_rate=16000, new_sample_rate=8000, quality="HQ")),
    "quantize_bits": (S.quantize_bits, (SIGNAL,), dict(bits=8, full_scale=1.0)),
    "quantize": (S.quantize, (SIGNAL,), dict(step=0.01)),
    "mu_law_encode": (S.mu_law_encode, (SIGNAL,), dict(quantization_channels=256)),
    "frame": (S.frame, (SIGNAL,), dict(frame_length=256, hop_length=64)),
    "power_to_db": (S.power_to_db, (SIGNAL.abs(),), dict(ref=1.0, amin=1e-10, top_db=80.0)),
    "time_stretch": (S.time_stretch, (SIGNAL,), dict(rate=1.1, n_fft=256)),
    "pitch_shift": (S.pitch_shift, (SIGNAL,), dict(semitones=2.0, sample_rate=8000)),
    "mel_filterbank": (S.mel_filterbank, (), dict(**{k: v for k, v in MEL_GOOD.items() if k != "hop_length"},
                                                  dtype=torch.float32, device="cpu")),
    "chirp": (S.chirp, (), dict(f0_hz=100.0, f1_hz=1000.0, sample_rate=8000, num_samples=800, phase=0.0,
                                dtype=torch.float32, device="cpu")),
    "sinusoid": (S.sinusoid, (), dict(freq_hz=440.0, sample_rate=8000, num_samples=800, dtype=torch.float32)),
    "get_window": (S.get_window, (), dict(name="hann", length=256, dtype=torch.float32, device="cpu")),
    "dct_matrix": (S.dct_matrix, (), dict(n_mfcc=13, n_mels=32)),
    "istft": (S.istft, (S.stft(SIGNAL, n_fft=256, hop_length=64),), dict(n_fft=256, hop_length=64, length=4000)),
    "griffin_lim": (S.griffin_lim, (S.stft(SIGNAL, n_fft=256, hop_length=64).abs(),),
                    dict(n_fft=256, hop_length=64, n_iter=2, momentum=0.99, seed=0, length=4000)),
    "mu_law_decode": (S.mu_law_decode, (S.mu_law_encode(SIGNAL, 256),), dict(quantization_channels=256)),
    "amplitude_to_db": (S.amplitude_to_db, (SIGNAL.abs(),), dict(ref=1.0, amin=1e-5, top_db=80.0)),
    "speed_perturb": (S.speed_perturb, (SIGNAL,), dict(factor=1.1, sample_rate=8000, quality="HQ")),
    "vtlp_mel_filterbank": (S.vtlp_mel_filterbank, (), dict(alpha=1.1, sample_rate=8000, n_fft=256, n_mels=32,
                                                           f_min_hz=0.0, oversample=4, dtype=torch.float32)),
    "sample_times": (S.sample_times, (), dict(sample_rate=8000, num_samples=100, start_s=0.5, dtype=torch.float32)),
    "fft_frequencies": (S.fft_frequencies, (), dict(n_fft=256, sample_rate=8000, dtype=torch.float32)),
    "linear_filterbank": (S.linear_filterbank, (), dict(sample_rate=8000, n_fft=256, n_bands=16, f_min_hz=0.0)),
    "log_filterbank": (S.log_filterbank, (), dict(sample_rate=8000, n_fft=256, n_bands=16, f_min_hz=50.0)),
    "resolution": (S.resolution, (), dict(sample_rate=8000, n_fft=256, hop_length=64, win_length=200)),
}
# words a user knows an argument by, accepted in its place
ALSO = {"name": ["window"], "win_length": ["window"], "hop_length": ["n_fft"], "full_scale": ["step"],
        "bits": ["step"], "convention": ["center", "window"]}


@pytest.mark.parametrize("name", sorted(STRICT))
def test_one_hostile_argument_is_refused_by_its_own_name(name, monkeypatch):
    for key in LIMITS:  # the default limits, as a user has them
        monkeypatch.delenv(key, raising=False)
    fn, args, good = STRICT[name]
    check_one_at_a_time(fn, args, good, HOSTILE + ["nope", [], {}], also=ALSO)
