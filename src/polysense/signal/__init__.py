"""The acoustic front end: pure functions on tensors of shape (..., time), and thin modules.

Everything here works on float32/float64 tensors on any device, batched over leading
dimensions, differentiable where the maths is. No state, no file I/O (see :mod:`polysense.audio`).

- :mod:`.sampling`: sinusoids and their sums, Nyquist, aliasing, band checks.
- :mod:`.quantization`: the lecture's quantizer Q(a), PCM bit depths, SQNR, μ-law.
- :mod:`.dft`: the DFT as a matrix, one-sided spectra, frequency axes, amplitude spectra.
- :mod:`.windows`: the eight analysis windows, periodic and symmetric.
- :mod:`.plan`: the resolved analysis plan shared by functions, modules and the stream; frame times.
- :mod:`.stft`: STFT, inverse STFT (NOLA), Griffin-Lim, framing; the one spectrogram path.
- :mod:`.filterbanks`: mel (HTK/Slaney), linear and logarithmic banks, the DCT-II.
- :mod:`.spectrogram`: complex/magnitude/power spectrograms, dB, mel, log-mel, MFCC.
- :mod:`.resolution`: Δt, Δf, f_max and the wideband/narrowband presets.
- :mod:`.resample`: band-limited resampling with soxr.
- :mod:`.conventions`: the librosa / torchaudio / scipy defaults in one table.
- :mod:`.transforms`: ``nn.Module`` wrappers holding windows and filter banks as buffers.
- :mod:`.streaming`: windows and log-mel over a stream of blocks, in bounded memory.
- :mod:`.normalization`: per-utterance and sliding-window CMVN over time.
- :mod:`.perturb`: speaker perturbations: VTLP-warped mel banks, speed perturbation, pitch shift.
"""

from polysense.signal.conventions import CONVENTIONS, Convention, get_convention
from polysense.signal.dft import amplitude_spectrum, dft, dft_matrix, fft_frequencies, one_sided
from polysense.signal.filterbanks import (
    dct_matrix,
    hz_to_mel,
    linear_filterbank,
    log_filterbank,
    mel_filterbank,
    mel_frequencies,
    mel_to_hz,
)
from polysense.signal.normalization import cmvn, sliding_cmvn
from polysense.signal.perturb import pitch_shift, speed_perturb, time_stretch, vtlp_mel_filterbank, vtlp_warp
from polysense.signal.plan import DecibelScale, SpectrogramPlan, frame_times
from polysense.signal.quantization import (
    mu_law_compress,
    mu_law_decode,
    mu_law_encode,
    mu_law_expand,
    quantization_error,
    quantization_step,
    quantize,
    quantize_bits,
    sqnr_db,
)
from polysense.signal.resample import QUALITIES, resample
from polysense.signal.resolution import PRESETS, Resolution, preset, resolution
from polysense.signal.sampling import (
    alias_frequency,
    check_band,
    chirp,
    nyquist_frequency,
    sample_times,
    sinusoid,
)
from polysense.signal.spectrogram import (
    amplitude_to_db,
    log_mel_spectrogram,
    mel_plan,
    mel_spectrogram,
    mfcc,
    power_to_db,
    spectrogram,
)
from polysense.signal.stft import apply_plan, frame, griffin_lim, istft, nola_ok, stft
from polysense.signal.streaming import StreamingLogMel
from polysense.signal.transforms import (
    MFCC,
    AmplitudeToDB,
    LogMelSpectrogram,
    MelSpectrogram,
    Resample,
    Spectrogram,
)
from polysense.signal.windows import get_window, window_names

__all__ = [
    "vtlp_warp",
    "vtlp_mel_filterbank",
    "time_stretch",
    "speed_perturb",
    "pitch_shift",
    "sliding_cmvn",
    "cmvn",
    "CONVENTIONS",
    "MFCC",
    "PRESETS",
    "QUALITIES",
    "AmplitudeToDB",
    "Convention",
    "DecibelScale",
    "LogMelSpectrogram",
    "MelSpectrogram",
    "Resample",
    "Resolution",
    "Spectrogram",
    "SpectrogramPlan",
    "StreamingLogMel",
    "alias_frequency",
    "amplitude_spectrum",
    "amplitude_to_db",
    "apply_plan",
    "check_band",
    "chirp",
    "dct_matrix",
    "dft",
    "dft_matrix",
    "fft_frequencies",
    "frame",
    "frame_times",
    "get_convention",
    "get_window",
    "griffin_lim",
    "hz_to_mel",
    "istft",
    "linear_filterbank",
    "log_filterbank",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mel_frequencies",
    "mel_plan",
    "mel_spectrogram",
    "mel_to_hz",
    "mfcc",
    "mu_law_compress",
    "mu_law_decode",
    "mu_law_encode",
    "mu_law_expand",
    "nola_ok",
    "nyquist_frequency",
    "one_sided",
    "power_to_db",
    "preset",
    "quantization_error",
    "quantization_step",
    "quantize",
    "quantize_bits",
    "resample",
    "resolution",
    "sample_times",
    "sinusoid",
    "spectrogram",
    "sqnr_db",
    "stft",
    "window_names",
]
