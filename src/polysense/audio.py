"""Reading, writing and streaming audio files (WAV, FLAC, OGG and whatever libsndfile reads).

Sample values
-------------
Integer PCM is mapped to floating point by

    x = q / 2**(bits - 1)

for a ``bits``-bit two's-complement code ``q`` (unsigned 8-bit WAV is first re-centred by
libsndfile to the signed range), so the values lie in ``[-1, 1)``: the most negative code maps to
exactly ``-1.0`` and the largest positive code to ``1 - 2**(1 - bits)``. :func:`save` applies the
inverse, ``q = clip(round(x * 2**(bits - 1)), -2**(bits - 1), 2**(bits - 1) - 1)``, so a waveform on
the quantisation grid survives ``save`` → ``load`` bit-exactly. Floating-point files (``FLOAT``,
``DOUBLE``, Vorbis, Opus) are returned as stored.

Shapes
------
``mono=True`` mixes the channels to one by their mean and returns ``(time,)``; ``mono=False``
keeps them and returns ``(channels, time)`` (a mono file gives ``(1, time)``).

Errors
------
A missing, empty (0 bytes or 0 frames), truncated (the header promises more audio than the file
holds) or non-audio file raises :class:`~polysense.errors.AudioError` whose message names the file
and the cause.

Headers are not trusted: a header whose sample rate lies outside the limits, or whose frame count
the file's size cannot hold (more bytes than the file has for uncompressed samples, more than
:data:`MAX_FRAMES_PER_BYTE` frames per byte for compressed ones), is refused before anything is
read; :func:`load` refuses a file longer than ``POLYSENSE_MAX_SAMPLES`` samples (frames x channels)
saying how much memory it would need (:func:`blocks` streams any length), and reads in blocks, so
memory follows the audio actually present, never the header's claim. Floating-point samples that
are NaN, infinite or larger in magnitude than ``POLYSENSE_MAX_SAMPLE_VALUE`` (full scale is 1) are
refused too, naming the frame: they would turn every feature computed from them into NaN or Inf.
See :mod:`polysense.limits`.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from polysense import limits
from polysense._checks import check_choice, check_positive_float, check_positive_int, check_sample_rate, check_signal
from polysense.errors import AudioError
from polysense.signal.resample import QUALITIES, check_ratio, resample
from polysense.signal.streaming import StreamingLogMel

__all__ = ["AUDIO_SUFFIXES", "AudioInfo", "blocks", "info", "load", "save", "span_frames", "stream_log_mel"]

PathLike = str | os.PathLike

#: file suffixes taken as audio when a folder is walked (anything libsndfile reads)
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3", ".opus"})

# libsndfile subtypes holding two's-complement integer codes, and their bit depth.
_INTEGER_SUBTYPES = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
_FLOAT_SUBTYPES = {"FLOAT": 32, "DOUBLE": 64}
# Placeholder data-chunk sizes written by streaming encoders that never went back to fix the header.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
# The most frames a byte of a compressed file can plausibly hold: a FLAC frame of 65,535 constant
# samples takes at least 8 bytes, a Vorbis packet of 4,096 new samples at least 1. A header claiming
# more (a 100 kB FLAC claiming 2**36 frames) is corrupt.
MAX_FRAMES_PER_BYTE = 8192
# Frames per read in load(): memory grows with the audio actually decoded, not with the header.
_READ_FRAMES = 1 << 20


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, checked against what the file holds.

    Attributes: ``sample_rate`` (Hz), ``channels``, ``frames`` (samples per channel),
    ``duration_s`` (= frames / sample_rate), ``format`` (libsndfile's container name, e.g. ``"WAV"``),
    ``subtype`` (sample encoding, e.g. ``"PCM_16"``) and ``bit_depth`` (bits per stored sample for
    PCM and float encodings, ``None`` for compressed ones such as Vorbis).
    """

    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    format: str
    subtype: str
    bit_depth: int | None

    @property
    def nyquist_hz(self) -> float:
        """Half the sample rate: the highest frequency the file can represent."""
        return self.sample_rate / 2


def info(path: PathLike) -> AudioInfo:
    """Describe an audio file without reading its samples.

    Raises :class:`AudioError` for a missing, empty, truncated or non-audio file.
    """
    path = Path(path)
    raw = _open_info(path)
    return AudioInfo(
        sample_rate=int(raw.samplerate),
        channels=int(raw.channels),
        frames=int(raw.frames),
        duration_s=raw.frames / raw.samplerate,
        format=raw.format,
        subtype=raw.subtype,
        bit_depth=_INTEGER_SUBTYPES.get(raw.subtype, _FLOAT_SUBTYPES.get(raw.subtype)),
    )


def span_frames(offset_s: float, duration_s: float | None, *, sample_rate: float, frames: int) -> tuple[int, int]:
    """The frames ``[first, stop)`` of the span ``[offset_s, offset_s + duration_s)`` seconds of a signal of
    ``frames`` frames at ``sample_rate`` Hz: ``first = round(offset_s · rate)``, ``stop = first +
    round(duration_s · rate)`` (``None``: to the end), both clipped to the signal. The one rounding rule
    of :func:`load`'s spans, for slicing a waveform already in memory the same way."""
    first = min(frames, round(offset_s * sample_rate))
    stop = frames if duration_s is None else min(frames, first + round(duration_s * sample_rate))
    return first, stop


def load(
    path: PathLike,
    *,
    sample_rate: int | None = None,
    mono: bool = True,
    dtype: torch.dtype = torch.float32,
    quality: str = "HQ",
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Read an audio file (or the span ``[offset_s, offset_s + duration_s)`` of it) into a tensor.

    Parameters
    ----------
    path: the file.
    sample_rate: target rate in Hz; when it differs from the file's, the signal is resampled with
        :func:`polysense.signal.resample` (soxr) at ``quality``. ``None`` keeps the file's rate.
    mono: mix channels to one by their mean and return ``(time,)``; ``False`` returns
        ``(channels, time)``.
    dtype: ``torch.float32`` or ``torch.float64``.
    quality: soxr quality, one of ``"QQ" "LQ" "MQ" "HQ" "VHQ"``.
    offset_s: seconds from the start of the file where reading begins (as librosa's ``offset``);
        frame ``round(offset_s · rate)`` of the file's rate. Past the end: an empty span.
    duration_s: seconds to read from ``offset_s`` (``None``: to the end); a span running past the
        end of the file stops there.

    Returns
    -------
    ``(waveform, sample_rate)``, integer PCM mapped to ``[-1, 1)`` as ``q / 2**(bits-1)``.
    """
    path = Path(path)
    dtype = _check_dtype(dtype)
    check_choice("quality", quality, QUALITIES)
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate, integer=True)
    offset_s = check_positive_float("offset_s", offset_s, allow_zero=True, what="seconds")
    if duration_s is not None:
        duration_s = check_positive_float("duration_s", duration_s, allow_zero=True, what="seconds")
    raw = _open_info(path)
    first, stop = span_frames(offset_s, duration_s, sample_rate=raw.samplerate, frames=raw.frames)
    _check_loadable(path, raw, dtype, frames=stop - first)
    try:
        with sf.SoundFile(path) as f:
            if first:
                f.seek(first)
            parts, total = [], 0
            while total < stop - first:
                part = _read(f, min(_READ_FRAMES, stop - first - total), dtype, path, first + total)
                if part.shape[-1] == 0:
                    break
                parts.append(part)
                total += part.shape[-1]
    except sf.LibsndfileError as exc:
        raise AudioError(f"{path}: corrupt or truncated audio data ({exc})") from None
    except MemoryError:
        raise AudioError(f"{path}: not enough memory to load {raw.frames:,} frames; use polysense.audio.blocks") from None
    _check_complete(path, first + total, stop)
    if not parts:  # a span at or past the end of the file
        return torch.zeros(0 if mono else (raw.channels, 0), dtype=dtype), sample_rate or int(raw.samplerate)
    waveform = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
    if mono:
        waveform = waveform.mean(dim=0)
    file_rate = int(raw.samplerate)
    if sample_rate is not None and sample_rate != file_rate:
        try:
            waveform = resample(waveform, orig_sample_rate=file_rate, new_sample_rate=sample_rate, quality=quality)
        except ValueError as exc:  # the file's rate and the target are too far apart
            raise AudioError(f"{path}: {exc}") from None
        return waveform, sample_rate
    return waveform, file_rate


def save(path: PathLike, waveform: torch.Tensor, sample_rate: int, *, subtype: str | None = None) -> Path:
    """Write ``waveform`` ((time,) or (channels, time), values in [-1, 1)) to ``path``.

    The container follows the file extension (``.wav``, ``.flac``, ``.ogg``, ...). ``subtype``
    defaults to libsndfile's choice for the container (``PCM_16`` for WAV and FLAC, ``VORBIS`` for
    OGG). For integer subtypes the samples are quantised as ``round(x * 2**(bits-1))`` and clipped to
    the code range, the exact inverse of :func:`load`'s mapping. Returns the path written.
    """
    path = Path(path)
    try:
        sample_rate = check_sample_rate(sample_rate, integer=True)
    except ValueError as exc:
        raise AudioError(f"{path}: {exc} (a file stores a whole number of Hz)") from None
    waveform = check_signal("waveform", torch.as_tensor(waveform))
    if waveform.ndim not in (1, 2):
        raise AudioError(f"{path}: waveform has shape {tuple(waveform.shape)}: expected (time,) or (channels, time)")
    data = waveform.detach().cpu().double().numpy()
    data = data.T if data.ndim == 2 else data  # soundfile wants (frames, channels)
    try:
        subtype = subtype or sf.default_subtype(_format_from_suffix(path))
    except (TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot choose a format from the extension {path.suffix!r} ({exc})") from None
    if subtype in _INTEGER_SUBTYPES:
        bits = _INTEGER_SUBTYPES[subtype]
        codes = np.clip(np.round(data * 2.0 ** (bits - 1)), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        # libsndfile takes int32 input left-justified and keeps its top `bits` bits.
        data = np.left_shift(codes.astype(np.int64), 32 - bits).astype(np.int32)
    try:
        sf.write(path, data, int(sample_rate), subtype=subtype)
    except (sf.LibsndfileError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot write subtype {subtype!r} ({exc})") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be written ({exc.strerror or exc})") from None
    return path


def blocks(
    path: PathLike,
    *,
    block_size: int,
    mono: bool = True,
    dtype: torch.dtype = torch.float32,
    sample_rate: int | None = None,
    quality: str = "HQ",
) -> Iterator[torch.Tensor]:
    """Yield consecutive blocks of ``block_size`` frames ((time,) or (channels, time)) from ``path``.

    Only one block is held at a time, so memory does not grow with the file's length. The last
    block may be shorter. With ``sample_rate`` set, blocks are resampled on the fly with a streaming
    soxr resampler (block lengths then follow the rate ratio). Values are mapped as in :func:`load`.
    A file that ends before its header says it should raises :class:`AudioError`.
    """
    path = Path(path)
    block_size = check_positive_int("block_size", block_size, what="frames per block")
    dtype = _check_dtype(dtype)
    check_choice("quality", quality, QUALITIES)
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate, integer=True)
    raw = _open_info(path)
    if sample_rate is not None:
        try:
            check_ratio(raw.samplerate, sample_rate)
        except ValueError as exc:
            raise AudioError(f"{path}: {exc}") from None
    return _iter_blocks(path, raw, block_size, mono, dtype, sample_rate, quality)


def _iter_blocks(path, raw, block_size, mono, dtype, sample_rate, quality) -> Iterator[torch.Tensor]:
    stream = None
    if sample_rate is not None and sample_rate != raw.samplerate:
        stream = soxr.ResampleStream(raw.samplerate, sample_rate, 1 if mono else raw.channels, dtype="float64", quality=quality)
    total = 0
    try:
        with sf.SoundFile(path) as f:
            while True:
                block = _read(f, block_size, torch.float64 if stream else dtype, path, total)
                n = block.shape[-1]
                total += n
                last = n < block_size or total >= raw.frames
                if mono:
                    block = block.mean(dim=0)
                if stream is not None:
                    out = stream.resample_chunk(block.T.numpy() if block.ndim == 2 else block.numpy(), last=last)
                    block = torch.from_numpy(np.ascontiguousarray(out.T if out.ndim == 2 else out)).to(dtype)
                if block.shape[-1] > 0:
                    yield block
                if last:
                    break
    except sf.LibsndfileError as exc:
        raise AudioError(f"{path}: corrupt or truncated audio data ({exc})") from None
    _check_complete(path, total, raw.frames)


def stream_log_mel(
    path: PathLike,
    *,
    block_size: int = 65536,
    sample_rate: int | None = None,
    quality: str = "HQ",
    dtype: torch.dtype = torch.float32,
    **log_mel_kwargs,
) -> Iterator[torch.Tensor]:
    """Yield the log-mel spectrogram of a file in chunks of frames, reading it block by block.

    Each yielded tensor is ``(n_mels, k)`` in dB; concatenated along the last axis they equal the
    one-shot ``log_mel_spectrogram(load(path), ..., top_db=None)`` of the whole (mono) signal with
    the same parameters (``log_mel_kwargs``: ``n_fft``, ``hop_length``, ``n_mels``, ``convention``...,
    as :class:`polysense.signal.streaming.StreamingLogMel`; ``top_db`` needs the whole signal and is
    not available here). The analysis rate is ``sample_rate`` (the file is resampled on the fly) or
    the file's own. Memory is bounded by ``block_size`` and ``n_fft``, never by the file's length:
    a one-hour file is never held in memory, only its features as they are yielded.
    """
    rate = sample_rate if sample_rate is not None else info(path).sample_rate
    streamer = StreamingLogMel(rate, **log_mel_kwargs)
    source = blocks(path, block_size=block_size, sample_rate=sample_rate, quality=quality, mono=True, dtype=dtype)
    yield from streamer.stream(source)


# ----------------------------------------------------------------------------------------------
# internals


def _check_dtype(dtype: torch.dtype) -> torch.dtype:
    return check_choice("dtype", dtype, (torch.float32, torch.float64))


def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        raise ValueError("no extension")
    formats = {"oga": "OGG", "aif": "AIFF"}
    fmt = formats.get(suffix, suffix.upper())
    if fmt not in sf.available_formats():
        raise ValueError(f"not one of {', '.join(sorted(sf.available_formats()))}")
    return fmt


def _open_info(path: Path):
    """soundfile's header info after checking the file exists, is not empty, is complete and has a
    header the file's size can back."""
    try:
        exists, regular = path.exists(), path.is_file()
        size = path.stat().st_size if regular else 0
    except ValueError:  # an embedded NUL byte
        raise AudioError(f"{str(path)!r}: not a valid path (it contains a NUL byte)") from None
    except OSError as exc:  # a name too long, a symbolic-link loop, no permission
        raise AudioError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    if not exists:
        raise AudioError(f"{path}: file not found")
    if not regular:
        raise AudioError(f"{path}: not a regular file")
    if size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        raw = sf.info(str(path))
    except sf.LibsndfileError as exc:
        detail = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
        raise AudioError(f"{path}: not a readable audio file ({detail.strip()})") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({exc})") from None
    if raw.format in ("WAV", "WAVEX"):
        _check_wav_data_chunk(path, size)
    if raw.frames <= 0 or raw.samplerate <= 0 or raw.channels <= 0:
        raise AudioError(f"{path}: contains no audio frames (empty or truncated {raw.format} file)")
    _check_header(path, raw, size)
    return raw


def _check_header(path: Path, raw, size: int) -> None:
    """Refuse a header whose sample rate is out of range or whose length the file cannot hold."""
    lim = limits.current()
    if not lim.min_sample_rate <= raw.samplerate <= lim.max_sample_rate:
        raise AudioError(
            f"{path}: the header claims a sample rate of {raw.samplerate:,} Hz, outside "
            f"[{lim.min_sample_rate:g}, {lim.max_sample_rate:,.0f}] Hz: a corrupt header? (the limits are set by "
            f"{limits.env_name('min_sample_rate')} and {limits.env_name('max_sample_rate')})"
        )
    bits = _INTEGER_SUBTYPES.get(raw.subtype, _FLOAT_SUBTYPES.get(raw.subtype))
    if bits is not None and raw.format not in ("FLAC",):
        need = raw.frames * raw.channels * bits // 8
        if need > size:
            raise AudioError(
                f"{path}: the header claims {raw.frames:,} frames x {raw.channels} channel(s) of {raw.subtype} "
                f"({need:,} bytes) but the file has {size:,} bytes: a corrupt header or a truncated file"
            )
    elif raw.frames > MAX_FRAMES_PER_BYTE * size:
        raise AudioError(
            f"{path}: the header claims {raw.frames:,} frames but a {raw.format}/{raw.subtype} file of {size:,} bytes "
            f"holds at most {MAX_FRAMES_PER_BYTE * size:,}: a corrupt header"
        )


def _check_loadable(path: Path, raw, dtype: torch.dtype, *, frames: int) -> None:
    """Refuse to load more samples (``frames`` of the file's channels) than ``POLYSENSE_MAX_SAMPLES``,
    saying what it would need."""
    samples = frames * raw.channels
    top = limits.current().max_samples
    if samples > top:
        itemsize = torch.finfo(dtype).bits // 8
        raise AudioError(
            f"{path}: {frames:,} frames x {raw.channels} channel(s) = {samples:,} samples would need "
            f"{limits.format_bytes(samples * itemsize)} of memory, more than the limit of {top:,} samples: read it "
            "in pieces with polysense.audio.blocks (or a span with offset_s and duration_s), or raise the limit "
            f"with {limits.env_name('max_samples')}"
        )


def _check_wav_data_chunk(path: Path, size: int) -> None:
    """Raise if the RIFF ``data`` chunk declares more bytes than the file holds.

    libsndfile silently shortens such files; a cut-off download or copy should be reported.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return
        endian = "<" if head[:4] == b"RIFF" else ">"
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", fh.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size not in _UNKNOWN_SIZES and chunk_size > available:
                    raise AudioError(
                        f"{path}: truncated WAV file: the header declares {chunk_size} bytes of audio "
                        f"but only {available} are present (a cut-off copy or download?)"
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def _check_complete(path: Path, got: int, expected: int) -> None:
    if got < expected:
        raise AudioError(
            f"{path}: truncated audio: the header promises {expected} frames but only {got} could be read"
        )


def _read(f: sf.SoundFile, frames: int, dtype: torch.dtype, path: Path, start: int) -> torch.Tensor:
    """Read up to ``frames`` frames as (channels, n) with the documented integer mapping; ``start``
    (the frames read before) only words the error for a bad sample."""
    bits = _INTEGER_SUBTYPES.get(f.subtype)
    if bits is not None:
        # libsndfile left-justifies every integer code into int32 (q << (32 - bits)), so dividing
        # by 2**31 is q / 2**(bits-1) exactly; the power-of-two scale adds no rounding.
        codes = f.read(frames, dtype="int32", always_2d=True)
        return torch.from_numpy(codes.T.copy()).to(dtype).mul_(math.ldexp(1.0, -31))
    # Floating-point (and decoded compressed) samples are read as float64 and checked before the
    # cast, so a stored 1e300 is reported as such, not as the inf float32 would make of it.
    data = f.read(frames, dtype="float64", always_2d=True)
    _check_samples(path, data, start)
    return torch.from_numpy(data.T.copy()).to(dtype)


def _check_samples(path: Path, data: np.ndarray, start: int) -> None:
    """Refuse NaN, Inf and samples beyond ``POLYSENSE_MAX_SAMPLE_VALUE`` in a (frames, channels) block."""
    if data.size == 0:
        return
    top = limits.current().max_sample_value
    peak = float(np.max(np.abs(data)))  # NaN propagates
    if peak <= top:
        return
    bad = np.argwhere(~(np.abs(data) <= top))[0]
    value = float(data[bad[0], bad[1]])
    what = "NaN" if math.isnan(value) else "infinite" if math.isinf(value) else f"{value:.3g}"
    raise AudioError(
        f"{path}: sample {what} at frame {start + int(bad[0]):,} (channel {int(bad[1])}): floating-point audio "
        f"must be finite and within ±{top:g} (full scale is 1); fix or re-export the file (the limit is set by "
        f"{limits.env_name('max_sample_value')})"
    )
