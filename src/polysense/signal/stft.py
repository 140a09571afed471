"""Short-time Fourier transform, its inverse, and Griffin-Lim phase recovery.

The STFT of a signal x (samples) with window w of length N_w, FFT size N and hop H is::

    X(m, k) = Σ_{n=0}^{N-1} x(n + mH) · w(n) · e^{−2πikn/N},   k = 0 … ⌊N/2⌋

(the lecture's formula (2)), one-sided because x is real. Frame m starts at sample mH of
the (padded) signal; bin k sits at k·sr/N Hz and frame m at mH/sr seconds. A window shorter
than N is zero-padded *centred* in the frame (⌊(N−N_w)/2⌋ zeros in front), as librosa and
torch.stft do. With ``center=True`` the signal is first padded by ⌊N/2⌋ samples at both
ends, so frame m is centred on sample mH and there are 1 + ⌊(T + 2⌊N/2⌋ − N)/H⌋ frames.

This module holds polysense's one framing path: :func:`stft`, and the power and mel
spectrograms in :mod:`polysense.signal.spectrogram`, all go through :func:`_framewise`,
which frames the signal with ``unfold`` (a strided view, no copy), multiplies the frames by
the window, takes ``torch.fft.rfft`` and hands the spectra to a reducer (identity, |X|², mel
projection, dB). On the CPU without autograd the frames are processed in blocks of about
512 K samples, taken straight from the signal (only the frames reaching into the padding
are cut from small padded copies), so every temporary stays in cache, the allocator reuses
the same few blocks, and no copy of the whole padded signal is made; each block's result is
written straight into its slice of the output, whose pages are 2 MiB huge pages where the
kernel allows (:func:`_empty_output`).
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from polysense._checks import (
    check_choice,
    check_positive_int,
    check_sample_rate,
    check_signal,
    check_size,
    check_stft_size,
    check_unit_interval,
)
from polysense.errors import NOLAError, ParameterError
from polysense.signal.conventions import Convention, get_convention
from polysense.signal.windows import get_window

__all__ = ["frame", "griffin_lim", "istft", "nola_ok", "stft", "stft_frame_count"]

PAD_MODES = ("constant", "reflect", "replicate", "circular")
# Elements (frames × frame length) handled per block on the CPU: 2 MiB of float32 (512 frames
# of 1024), so a block's temporaries stay in cache and the per-block Python cost (~15 small
# calls) is amortised. Measured at n_fft 1024 (1 thread, CPU ms for 64 × 10 s): 128 frames
# 63.8, 256 59.3, 512 55.0, 1024 52.1 / long clip 59.1, 53.4, 49.2, 50.8.
CPU_BLOCK_ELEMENTS = 1 << 19


# ----------------------------------------------------------------------------- arguments
def _check_fft_args(n_fft, hop_length, win_length, conv: Convention) -> tuple[int, int, int]:
    n_fft = check_size("n_fft", n_fft, minimum=2, limit="max_fft", bytes_each=16, what="FFT size in samples")
    if win_length is None:
        win_length = n_fft
    win_length = check_size("win_length", win_length, limit="max_fft", bytes_each=8, what="window length in samples")
    if win_length > n_fft:
        raise ParameterError(
            f"win_length={win_length} is invalid: expected 1 <= win_length <= n_fft={n_fft} "
            "(the window is zero-padded to n_fft samples)"
        )
    if hop_length is None:
        hop_length = max(1, win_length // conv.hop_divisor)
    hop_length = check_positive_int("hop_length", hop_length, what="samples between frames")
    return n_fft, hop_length, win_length


def _resolve_window(window, win_length: int, periodic: bool, dtype, device) -> torch.Tensor:
    """The analysis window of ``win_length`` samples as a tensor on ``device``/``dtype``."""
    if isinstance(window, torch.Tensor):
        if window.ndim != 1 or window.shape[0] != win_length:
            raise ParameterError(
                f"window has shape {tuple(window.shape)}: expected a 1-D tensor of win_length={win_length} samples"
            )
        if window.is_complex() or not window.is_floating_point():
            raise ParameterError(f"window has dtype {window.dtype}: expected a real floating-point tensor")
        if not bool(torch.isfinite(window).all()):
            raise ParameterError("window contains NaN or Inf values: expected finite window samples")
        return window.to(device=device, dtype=dtype)
    return get_window(window, win_length, periodic=periodic, dtype=dtype, device=device)


def _pad_center(w: torch.Tensor, size: int) -> torch.Tensor:
    left = (size - w.shape[-1]) // 2
    return F.pad(w, (left, size - w.shape[-1] - left))


def _analysis_setup(x, *, n_fft, hop_length, win_length, window, center, pad_mode, periodic, convention):
    """Validate everything once; returns the pieces :func:`_framewise` needs."""
    conv = get_convention(convention)
    n_fft, hop_length, win_length = _check_fft_args(n_fft, hop_length, win_length, conv)
    x = check_signal("x", x, n_fft=n_fft)
    check_stft_size(x, n_fft, hop_length)
    center = conv.center if center is None else bool(center)
    pad_mode = conv.pad_mode if pad_mode is None else pad_mode
    check_choice("pad_mode", pad_mode, PAD_MODES)
    periodic = conv.periodic if periodic is None else bool(periodic)
    w = _resolve_window(window, win_length, periodic, x.dtype, x.device)
    return conv, x, n_fft, hop_length, win_length, w, center, pad_mode


def stft_frame_count(num_samples: int, *, n_fft: int, hop_length: int, center: bool = True) -> int:
    """Frames of a centred (or not) STFT: 1 + ⌊(T + 2⌊N/2⌋·center − N)/H⌋ (0 if too short)."""
    padded = num_samples + (2 * (n_fft // 2) if center else 0)
    return 0 if padded < n_fft else 1 + (padded - n_fft) // hop_length


# ----------------------------------------------------------------------------- framing
def frame(x: torch.Tensor, *, frame_length: int, hop_length: int) -> torch.Tensor:
    """Frames of ``x`` as a strided view (no copy): shape (..., frames, frame_length).

    ``frame[..., m, n] = x[..., m·H + n]`` for m = 0 … ⌊(T − L)/H⌋ (T samples, L = frame_length,
    H = hop_length, all in samples). Unlike librosa's ``frame`` the frame axis comes before
    the sample axis (torch's ``unfold`` layout), so an FFT along the last axis is contiguous.
    """
    frame_length = check_size("frame_length", frame_length, limit="max_fft", what="samples per frame")
    hop_length = check_positive_int("hop_length", hop_length, what="samples between frames")
    x = check_signal("x", x, min_length=frame_length, allow_complex=True)
    return x.unfold(-1, frame_length, hop_length)


def _needs_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _pad_signal(x2: torch.Tensor, left: int, right: int, pad_mode: str) -> torch.Tensor:
    if left == 0 and right == 0:
        return x2
    if pad_mode == "constant":
        return F.pad(x2, (left, right))
    return F.pad(x2.unsqueeze(1), (left, right), mode=pad_mode).squeeze(1)


def _frame_pieces(x2, *, frame_length, hop, left_pad, right_pad, pad_mode, n_frames):
    """The frames of the padded signal as up to three (B, n, L) views: [(first frame index, frames)].

    Frames lying wholly inside the signal are a strided view of ``x2`` itself (no copy); only
    the few frames that reach into the padding are cut from small padded copies of the two
    ends. Every piece has exactly the values of ``pad(x2).unfold(-1, L, hop)``.
    """
    n = x2.shape[-1]
    first_inner = -(-left_pad // hop)  # first frame starting at or after sample 0
    last_inner = (n + left_pad - frame_length) // hop  # last frame ending inside the signal
    if pad_mode == "circular" or last_inner < first_inner:
        return [(0, _pad_signal(x2, left_pad, right_pad, pad_mode).unfold(-1, frame_length, hop)[:, :n_frames])]
    pieces = []
    if first_inner > 0:
        need = (first_inner - 1) * hop + frame_length - left_pad
        head = _pad_signal(x2[:, : max(need, left_pad + 1)], left_pad, 0, pad_mode)
        pieces.append((0, head.unfold(-1, frame_length, hop)[:, :first_inner]))
    start = first_inner * hop - left_pad
    pieces.append((first_inner, x2[:, start:].unfold(-1, frame_length, hop)[:, : last_inner - first_inner + 1]))
    if n_frames > last_inner + 1:
        first = last_inner + 1
        begin = first * hop - left_pad  # in signal samples
        cut = max(0, min(begin, n - right_pad - 1))
        tail = _pad_signal(x2[:, cut:], 0, right_pad, pad_mode)
        pieces.append((first, tail[:, begin - cut :].unfold(-1, frame_length, hop)[:, : n_frames - first]))
    return pieces


#: Most Python worker threads used for CPU blocks (see _run_jobs).
MAX_WORKERS = 8
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def _forget_pools_after_fork() -> None:
    # A forked child (e.g. a DataLoader worker) inherits the pool objects but not their threads.
    global _POOL_LOCK
    _POOLS.clear()
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


class Workspace:
    """Scratch buffers of one worker, reused from block to block.

    A block's temporaries are ~2 MiB each; allocated afresh per block, glibc hands them back to
    the kernel and faults them in again (about 15,000 page faults per 64 × 10 s batch).
    ``get`` returns a view of a buffer grown on demand, so each worker faults its pages once.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        size = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < size or buf.dtype != dtype:
            buf = self._buffers[key] = torch.empty(size, dtype=dtype)
        return buf[:size].view(shape)


def _run_jobs(jobs: list, run: Callable[[object, Workspace], None]) -> None:
    """Run ``run(job, workspace)`` for every job, on ``torch.get_num_threads()`` worker threads when > 1.

    Each block's kernels are small (~0.1 ms). Letting every kernel fork and join its own
    OpenMP team costs a barrier per kernel, and one descheduled thread stalls each of them
    (on a busy 2-core machine 2 threads ran 4× slower than 1). Instead, with n intra-op
    threads, n Python workers take blocks from a shared counter, each running its kernels
    single-threaded (torch releases the GIL inside kernels; ``torch.set_num_threads(1)``
    applies per thread to OpenMP and MKL). Workers write disjoint slices of the output.
    Each worker restores the caller's thread count when it finishes, so new threads
    created later still start with the user's setting. Beyond :data:`MAX_WORKERS` workers the
    Python part of each block (holding the GIL) would limit the speed-up, so many threads are
    split into at most that many workers with several intra-op threads each.
    """
    threads = torch.get_num_threads()
    workers = min(threads, MAX_WORKERS)
    if workers <= 1 or len(jobs) < 2 * workers:
        workspace = Workspace()
        for job in jobs:
            run(job, workspace)
        return
    with _POOL_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="polysense-frames")
    counter = itertools.count()

    def worker() -> None:
        torch.set_num_threads(max(1, threads // workers))
        workspace = Workspace()
        try:
            while (i := next(counter)) < len(jobs):
                run(jobs[i], workspace)
        finally:
            torch.set_num_threads(threads)

    for future in [pool.submit(worker) for _ in range(workers)]:
        future.result()


#: Outputs of at least this many bytes are allocated by :func:`_empty_output` with huge pages.
HUGE_PAGE_OUTPUT_BYTES = 4 << 20
_PAGE_BYTES = 4096
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.complex64: np.complex64,
                 torch.complex128: np.complex128}


_HUGE_PAGES: list[bool] = []


def _huge_pages_available() -> bool:
    """Whether numpy asks for, and the kernel grants, transparent huge pages (checked once).

    True when numpy's ``madvise(MADV_HUGEPAGE)`` is on and
    ``/sys/kernel/mm/transparent_hugepage/enabled`` selects ``[always]`` or ``[madvise]``.
    """
    if not _HUGE_PAGES:
        try:
            from numpy._core import multiarray
        except ImportError:  # numpy < 2
            from numpy.core import multiarray
        try:
            with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as f:
                mode = f.read()
            numpy_asks = bool(getattr(multiarray, "_get_madvise_hugepage", lambda: False)())
            _HUGE_PAGES.append(numpy_asks and ("[always]" in mode or "[madvise]" in mode))
        except OSError:  # not Linux, or no THP support
            _HUGE_PAGES.append(False)
    return _HUGE_PAGES[0]


def _empty_output(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor; from 4 MiB on, backed by transparent huge pages where the kernel has them.

    With glibc's default settings a fresh output of that size is a fresh ``mmap``, faulted in
    one 4 KiB page at a time on first write: 20,000 faults for a 64 × 10 s power spectrogram
    (82 MB), measured at ~20 ms of a 72 ms call at 1 thread, against 26 ms for the FFTs
    themselves (and faults taken by several workers at once stall each other, see below).
    numpy's allocator marks buffers of 4 MiB or more ``madvise(MADV_HUGEPAGE)``, so a kernel
    with transparent huge pages in "madvise" or "always" mode maps 2 MiB pages: 650 faults and
    51 ms for the same call. (The kernel may compact memory to find huge pages, which can make a
    first call slower; with THP off this is plain ``malloc``.) The tensor shares the numpy
    buffer and keeps it alive; shape, dtype and strides are those of ``torch.empty``, and it can
    be moved to shared memory (DataLoader workers) or saved like any tensor; only ``resize_``
    is refused (numpy owns the buffer). Smaller outputs and dtypes numpy lacks (bfloat16) use
    ``torch.empty``.
    """
    np_dtype = _NUMPY_DTYPES.get(dtype)
    if np_dtype is None or math.prod(shape) * dtype.itemsize < HUGE_PAGE_OUTPUT_BYTES or not _huge_pages_available():
        return torch.empty(shape, dtype=dtype)
    out = torch.from_numpy(np.empty(shape, dtype=np_dtype))
    # Fault every page in now, from this one thread, by writing one value per 4 KiB: blocks
    # written by several workers at once fault neighbouring huge pages concurrently and wait
    # on each other (measured, 64 × 10 s power at 2 threads: 45-49 ms a call faulting in the
    # workers, 31-33 ms pre-faulted; at 1 thread the same faults, only earlier). Without huge
    # pages this would be 20,000 serial faults, slower than the workers' (54 vs 44 ms), hence
    # the _huge_pages_available() test above.
    out.view(-1)[:: max(1, _PAGE_BYTES // dtype.itemsize)].zero_()
    return out


def _framewise(
    x: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    left_pad: int,
    right_pad: int,
    pad_mode: str,
    reducer: Callable[..., torch.Tensor | None] | None,
    width: int,
    out_dtype: torch.dtype,
    phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """``reducer(rfft(frame · window, n=n_fft))`` for every frame: (..., width, frames).

    The signal (..., T) is padded with ``left_pad``/``right_pad`` samples (``pad_mode``) and
    cut into frames of ``L = window.numel()`` samples every ``hop_length``; ``phase`` (bins,)
    multiplies each spectrum. The reducer maps spectra (..., frames, bins) to (..., width,
    frames); with ``reducer=None`` the complex spectra themselves are returned.

    Two schedules compute the same numbers:

    * differentiable inputs, or an accelerator: the whole padded batch at once
      ``reducer(spec, None, None)`` returns the result and must be out-of-place and
      differentiable;
    * CPU without autograd: blocks of about :data:`CPU_BLOCK_ELEMENTS` samples, frames taken
      as views of the signal itself (no padded copy), each block's temporaries staying in
      cache; ``reducer(spec, workspace, dest)`` gets a (items, frames, bins) block it may
      overwrite, a :class:`Workspace` for its temporaries and ``dest``, the (items, width,
      frames) slice of the output, which it fills (no temporary copy of the result). Large
      outputs come from :func:`_empty_output` (transparent huge pages).
    """
    lead, n = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, n)
    batch = x2.shape[0]
    frame_length, hop = window.shape[-1], hop_length
    padded = left_pad + n + right_pad
    if padded < frame_length:
        raise ParameterError(
            f"x has {n} samples: expected at least {frame_length - left_pad - right_pad} for frames of "
            f"{frame_length} samples (pad it, use center=True, or a smaller n_fft)"
        )
    if pad_mode == "reflect" and max(left_pad, right_pad) >= n:
        raise ParameterError(
            f"pad_mode='reflect' needs more than {max(left_pad, right_pad)} samples, x has {n}: "
            "use pad_mode='constant' or a longer signal"
        )
    n_frames = 1 + (padded - frame_length) // hop
    n_bins = n_fft // 2 + 1

    if x.device.type != "cpu" or _needs_grad(x, window, phase):
        frames = _pad_signal(x2, left_pad, right_pad, pad_mode).unfold(-1, frame_length, hop)[:, :n_frames]
        spec = torch.fft.rfft(frames * window, n=n_fft)
        if phase is not None:
            spec = spec * phase
        out = spec.transpose(-1, -2) if reducer is None else reducer(spec, None, None)
        return out.reshape(*lead, *out.shape[-2:])

    x2 = x2.contiguous()
    block = max(1, CPU_BLOCK_ELEMENTS // max(frame_length, n_fft))
    if reducer is None:
        out = _empty_output((batch, n_frames, n_bins), out_dtype)
    else:
        out = _empty_output((batch, width, n_frames), out_dtype)
    pieces = _frame_pieces(x2, frame_length=frame_length, hop=hop, left_pad=left_pad, right_pad=right_pad,
                           pad_mode=pad_mode, n_frames=n_frames)
    jobs = []
    for offset, frames in pieces:
        count = frames.shape[1]
        if count >= block:  # long items: blocks of frames within one item
            jobs += [(frames, offset, b, b + 1, g, min(g + block, count)) for b in range(batch) for g in range(0, count, block)]
        else:  # short items: several whole items per block
            step = max(1, block // count)
            jobs += [(frames, offset, b, min(b + step, batch), 0, count) for b in range(0, batch, step)]

    def run(job, workspace: Workspace) -> None:
        frames, offset, b0, b1, g0, g1 = job
        windowed = workspace.get("frames", (b1 - b0, g1 - g0, frame_length), window.dtype)
        # rfft gets no out=: torch's out variant computes into a temporary and copies it.
        spec = torch.fft.rfft(torch.mul(frames[b0:b1, g0:g1], window, out=windowed), n=n_fft)
        if phase is not None:
            spec.mul_(phase)
        if reducer is None:
            out[b0:b1, offset + g0 : offset + g1] = spec
        else:
            reducer(spec, workspace, out[b0:b1, :, offset + g0 : offset + g1])

    _run_jobs(jobs, run)
    if reducer is None:
        out = out.transpose(-1, -2)
    return out.reshape(*lead, *out.shape[-2:])


def _scipy_layout(window: torch.Tensor, n: int, hop: int) -> tuple[int, int, int]:
    """ShortTimeFFT's slice range for n samples: (left_pad, right_pad, number of slices).

    Slice p covers samples pH − ⌊M/2⌋ … pH − ⌊M/2⌋ + M − 1; p runs from p_min (the lowest
    slice whose window still overlaps t ≥ 0 with non-zero samples) to p_max(n) − 1, exactly
    as scipy's ``_pre_padding``/``_post_padding``.
    """
    m = window.shape[-1]
    mid = m // 2
    w2 = (window.detach().double() ** 2).cpu()
    k = -mid
    p = 0
    while True:  # move left while the next slice still overlaps t >= 0 with non-zero samples
        nxt = k - hop
        if nxt + m <= 0 or bool((w2[nxt:] == 0).all()):
            break
        k, p = nxt, p - 1
    k_min, p_min = k, p
    q1 = n // hop
    k1 = q1 * hop - mid
    q, kk = q1, k1
    while True:
        nxt = kk + hop
        if nxt >= n or bool((w2[: n - nxt] == 0).all()):
            k_max, p_max = kk + m, q + 1
            break
        q, kk = q + 1, nxt
    left = -k_min
    right = max(0, k_max - n)
    return left, right, p_max - p_min


def _setup_frames(conv, n: int, n_fft: int, hop: int, w: torch.Tensor, center: bool):
    """(window used per frame, left pad, right pad, phase or None) for a framing convention."""
    if conv.framing == "scipy":
        left, right, _ = _scipy_layout(w, n, hop)
        mid = w.shape[-1] // 2
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        # ShortTimeFFT (phase_shift=0) rolls the zero-padded slice left by ⌊M/2⌋ samples.
        phase = torch.polar(torch.ones_like(k), 2.0 * math.pi * k * (mid % n_fft) / n_fft)
        ctype = torch.complex128 if w.dtype == torch.float64 else torch.complex64
        return w, left, right, phase.to(device=w.device, dtype=ctype)
    full = _pad_center(w, n_fft)
    pad = n_fft // 2 if center else 0
    return full, pad, pad, None


# ----------------------------------------------------------------------------- public API
def stft(
    x: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str | tuple | torch.Tensor = "hann",
    center: bool | None = None,
    pad_mode: str | None = None,
    periodic: bool | None = None,
    convention: str | Convention | None = None,
    scaling: str | None = None,
    sample_rate: float | None = None,
) -> torch.Tensor:
    """Complex one-sided STFT ``X(m, k) = Σ_n x(n + mH)·w(n)·e^{−2πikn/N}``, shape (..., N//2+1, frames).

    Args:
        x: real signal (..., T), float32 or float64 (CPU or CUDA); leading dims are a batch.
        n_fft: FFT size N ≥ 2 (samples); bin k is at k·sr/N Hz.
        hop_length: H, samples between frames (default win_length // 4 for librosa/scipy,
            // 2 for torchaudio).
        win_length: window length N_w ≤ N (default N); a shorter window is centred in the frame.
        window: a name for :func:`~polysense.signal.windows.get_window`, a scipy-style tuple,
            or a 1-D tensor of ``win_length`` samples (it may require grad).
        center: pad ⌊N/2⌋ samples at both ends so frame m is centred on sample mH
            (default from the convention: True).
        pad_mode: how that padding is filled: "constant" (zeros), "reflect", "replicate",
            "circular" (default from the convention: librosa "constant", torchaudio "reflect").
        periodic: window symmetry (default from the convention: periodic).
        convention: "librosa" (default), "torchaudio" or "scipy"; see
            :mod:`polysense.signal.conventions`. "scipy" reproduces
            ``scipy.signal.ShortTimeFFT(win, hop, fs, mfft=n_fft).stft(x)``: its slices
            p_min … p_max−1, its phase reference and (with ``scaling``) its scaling.
        scaling: None, "magnitude" (window divided by Σw, so a unit sine peaks near 0.5 in a
            one-sided bin) or "psd" (window divided by √(Σw²·sr); needs ``sample_rate``);
            ShortTimeFFT's ``scale_to``.
        sample_rate: Hz, only for ``scaling="psd"``.

    Returns:
        complex tensor (..., N//2+1, frames) (complex64 for float32 input, complex128 for
        float64); units of x (times window gain).

    Raises:
        ParameterError: empty or non-finite x, n_fft < 2, hop_length ≤ 0, win_length > n_fft,
            unknown window/pad_mode/convention/scaling, a signal too short for one frame.
    """
    conv, x, n_fft, hop, win_length, w, center, pad_mode = _analysis_setup(
        x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, periodic=periodic, convention=convention,
    )
    if scaling is not None:
        check_choice("scaling", scaling, ("magnitude", "psd"))
        if scaling == "magnitude":
            w = w / w.sum()
        else:
            if sample_rate is None:
                raise ParameterError("scaling='psd' needs sample_rate= (Hz): the PSD is per Hz")
            w = w / torch.sqrt((w * w).sum() * check_sample_rate(sample_rate))
    frame_window, left, right, phase = _setup_frames(conv, x.shape[-1], n_fft, hop, w, center)
    ctype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    return _framewise(
        x, n_fft=n_fft, hop_length=hop, window=frame_window, left_pad=left, right_pad=right,
        pad_mode=pad_mode, reducer=None, width=n_fft // 2 + 1, out_dtype=ctype, phase=phase,
    )


def nola_ok(window: torch.Tensor, hop_length: int, n_fft: int | None = None, *, tol: float = 1e-10) -> bool:
    """The nonzero-overlap-add condition: Σ_j w²(r + jH) > tol·Σ w² for every r = 0 … H−1.

    Equivalent to ``scipy.signal.check_NOLA`` up to its absolute tolerance; when it holds,
    :func:`istft` inverts :func:`stft` exactly (hop H, window zero-padded to n_fft).
    """
    w = window.detach().double().cpu()
    if n_fft is not None:
        w = _pad_center(w, n_fft)
    total = float((w * w).sum())
    if total <= 0:
        return False
    size = -(-w.shape[-1] // hop_length) * hop_length
    sums = (F.pad(w * w, (0, size - w.shape[-1])).reshape(-1, hop_length)).sum(0)
    return bool(sums.min() > tol * total)


def istft(
    X: torch.Tensor,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str | tuple | torch.Tensor = "hann",
    center: bool | None = None,
    length: int | None = None,
    periodic: bool | None = None,
    convention: str | Convention | None = None,
) -> torch.Tensor:
    """Inverse STFT by weighted overlap-add (least-squares inverse of :func:`stft`).

    ``y(t) = Σ_m w(t − mH)·x_m(t − mH) / Σ_m w²(t − mH)``, where x_m = irfft(X[:, m], N);
    with the same window and hop as the analysis, ``istft(stft(x)) = x`` to rounding
    (< 1e-6 in float64) whenever the window/hop pair satisfies NOLA (:func:`nola_ok`).
    Samples that no window sample covers, i.e. Σ_m w²(t − mH) ≤ eps·max (machine epsilon of the
    dtype; only possible at the ends: with ``center=False``, or when a window shorter than n_fft
    and a long hop leave the last samples unseen), are returned as 0.

    Args:
        X: complex (..., N//2+1, frames). n_fft defaults to 2·(bins − 1).
        length: number of output samples (default: H·(frames − 1) when centred, else
            N + H·(frames − 1)); longer outputs are zero-padded.
        other arguments: as for :func:`stft` (only the centred framing is invertible here).

    Raises:
        NOLAError: the window/hop pair fails NOLA (e.g. a rectangular window of 256 samples
            with hop 512, or an all-zero window), so some samples cannot be recovered.
        ParameterError: as :func:`stft`, and for a real ``X``.
    """
    if not isinstance(X, torch.Tensor) or not X.is_complex() or X.ndim < 2:
        raise ParameterError(f"X must be a complex tensor (..., freq, frames), got {getattr(X, 'dtype', type(X))}")
    conv = get_convention(convention)
    if conv.framing != "center":
        raise ParameterError(
            f"convention={conv.name!r} has no inverse here: istft inverts the centred framing "
            "(convention='librosa' or 'torchaudio')"
        )
    check_signal("X", X, allow_complex=True)
    n_bins, n_frames = X.shape[-2], X.shape[-1]
    if n_fft is None:
        n_fft = 2 * (n_bins - 1) if n_bins >= 2 else f"the {n_bins} frequency bin(s) of X"
    n_fft, hop, win_length = _check_fft_args(n_fft, hop_length, win_length, conv)
    if n_bins != n_fft // 2 + 1:
        raise ParameterError(f"X has {n_bins} frequency bins: expected n_fft//2+1 = {n_fft // 2 + 1} for n_fft={n_fft}")
    if n_frames < 1:
        raise ParameterError("X has 0 frames: expected at least 1")
    center = conv.center if center is None else bool(center)
    periodic = conv.periodic if periodic is None else bool(periodic)
    real = X.real.dtype
    w = _pad_center(_resolve_window(window, win_length, periodic, real, X.device), n_fft)
    if not nola_ok(w, hop):
        raise NOLAError(
            f"window={window if isinstance(window, str) else 'tensor'!r} (win_length={win_length}, n_fft={n_fft}) "
            f"with hop_length={hop} fails the nonzero-overlap-add condition: some samples are covered by no "
            "non-zero window sample, so no inverse exists. Use a hop_length <= win_length (e.g. win_length // 4) "
            "or a window without zeros"
        )
    lead = X.shape[:-2]
    frames = torch.fft.irfft(X.reshape(-1, n_bins, n_frames).transpose(-1, -2), n=n_fft) * w  # (B, F, N)
    total = n_fft + hop * (n_frames - 1)
    y = F.fold(frames.transpose(-1, -2), output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop))
    y = y.reshape(frames.shape[0], total)
    env = F.fold(
        (w * w).view(1, n_fft, 1).expand(1, n_fft, n_frames), output_size=(1, total),
        kernel_size=(1, n_fft), stride=(1, hop),
    ).reshape(total)
    start = n_fft // 2 if center else 0
    name = "length"
    if length is None:
        length = total - 2 * start
        name = f"length (by default the {n_frames} frame(s) of X span {length} samples at hop_length={hop}; pass length=)"
    length = check_size(name, length, limit="max_samples", bytes_each=8 * max(1, X[..., 0, 0].numel()), what="output samples")
    stop = min(total, start + length)
    # A sample counts as covered where Σ w² > eps·max Σ w²: below that, dividing by the envelope
    # amplifies rounding (error ≈ eps/w) instead of recovering the sample.
    covered = env[start:stop] > torch.finfo(real).eps * env.max()
    env = env[start:stop]
    y = y[:, start:stop] / torch.where(covered, env, torch.ones_like(env))
    y = torch.where(covered, y, torch.zeros_like(y))
    if y.shape[-1] < length:
        y = F.pad(y, (0, length - y.shape[-1]))
    return y.reshape(*lead, length)


def griffin_lim(
    magnitude: torch.Tensor,
    *,
    n_iter: int = 32,
    n_fft: int | None = None,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str | tuple | torch.Tensor = "hann",
    center: bool | None = None,
    pad_mode: str | None = None,
    length: int | None = None,
    momentum: float = 0.99,
    init: str = "random",
    seed: int = 0,
    convention: str | Convention | None = None,
) -> torch.Tensor:
    """Signal whose STFT magnitude approximates ``magnitude`` (fast Griffin-Lim, Perraudin et al. 2013).

    Iterates ``c_i = P_C(P_A(S·e^{iφ}))``, ``φ ← angle(c_i − α/(1+α)·c_{i−1})``, where P_A is
    :func:`istft` then :func:`stft` (projection onto consistent spectrograms) and α is
    ``momentum`` (0.99 as librosa; 0 gives the original Griffin-Lim). The spectral
    convergence ‖S − |STFT(y)|‖_F / ‖S‖_F decreases with the iterations.

    Args:
        magnitude: |X|, real (..., N//2+1, frames) in the units of the signal.
        n_iter: iterations ≥ 1.
        init: "random" (uniform phases from a generator seeded with ``seed``, so the result
            is reproducible) or "zeros" (zero phase).
        others: as :func:`stft` / :func:`istft`.

    Returns:
        real signal (..., length).
    """
    if not isinstance(magnitude, torch.Tensor) or magnitude.is_complex() or magnitude.ndim < 2:
        raise ParameterError("magnitude must be a real tensor (..., freq, frames) of |X| values")
    magnitude = check_signal("magnitude", magnitude)
    n_iter = check_positive_int("n_iter", n_iter, maximum=100_000, what="iterations")
    check_choice("init", init, ("random", "zeros"))
    mom = check_unit_interval("momentum", momentum, what="a momentum (0.99 is librosa's fast GL)")
    seed = check_positive_int("seed", seed, minimum=0, maximum=2**63 - 1)
    if n_fft is None:
        n_fft = 2 * (magnitude.shape[-2] - 1)
    conv = get_convention(convention)
    n_fft, hop, win_length = _check_fft_args(n_fft, hop_length, win_length, conv)
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=win_length, window=window, center=center, convention=conv)
    if init == "random":
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        phi = torch.rand(magnitude.shape, generator=gen, dtype=torch.float64) * (2.0 * math.pi)
        angles = torch.polar(torch.ones_like(phi), phi).to(device=magnitude.device)
    else:
        angles = torch.ones(magnitude.shape, dtype=torch.complex128, device=magnitude.device)
    ctype = torch.complex128 if magnitude.dtype == torch.float64 else torch.complex64
    angles = angles.to(ctype)
    previous = torch.zeros_like(angles)
    eps = torch.finfo(magnitude.dtype).tiny
    n_frames = magnitude.shape[-1]
    for _ in range(n_iter):
        y = istft(magnitude * angles, length=length, **kw)
        rebuilt = stft(y, pad_mode=pad_mode, **kw)
        if rebuilt.shape[-1] != n_frames:  # an explicit length may give a frame more or less
            rebuilt = F.pad(rebuilt, (0, max(0, n_frames - rebuilt.shape[-1])))[..., :n_frames]
        angles = rebuilt - (mom / (1.0 + mom)) * previous
        angles = angles / (angles.abs() + eps)
        previous = rebuilt
    return istft(magnitude * angles, length=length, **kw)
