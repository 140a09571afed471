"""The CPU engine: the same numbers as the plain pad → unfold → window → rfft path, faster.

Private to :func:`polysense.signal.stft.apply_plan`, which calls :func:`spectra` first; the
engine takes the call on the CPU when nothing needs a gradient. What buys speed, each trick
measured in ``benchmarks/RESULTS.md`` ("Front end: what each engine trick buys"):

* blocks of about :data:`BLOCK_ELEMENTS` samples (frames × frame length): every temporary of a
  block stays in cache, and the result is written straight into its slice of the output;
* frames read straight from the signal, only the few edge frames cut from small padded copies
  (no padded copy of the whole signal);
* |X|² as re² + im² in place on the interleaved spectrum (complex ``abs`` costs more than the FFT);
* the mel product with the bank in CSR form (a Slaney bank is ~1.5 % non-zero), the log per block;
* with ``torch.get_num_threads() > 1``, that many Python threads for one call, each taking whole
  blocks with single-threaded kernels (torch releases the GIL inside them), instead of an
  OpenMP team forked and joined for every small kernel;
* those threads kept between calls (:func:`_pool`, one per process, replaced after a fork):
  threads started for each call took fresh malloc arenas and faulted their block temporaries in
  again on every call, 7-15 % of a 2-thread call (RESULTS.md); idle threads cost no CPU;
* per-thread scratch buffers reused from block to block: a worker thread's malloc arena hands
  freed 2 MiB temporaries back to the kernel, so fresh ones are faulted in again every block;
* outputs of 4 MiB or more from ``numpy.empty``: numpy asks the kernel for transparent huge pages
  for such buffers, which faults an 82 MB spectrogram in ~650 pieces instead of ~20,000.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

#: Samples (frames × frame length) per block: 2 MiB of float32, the best of the sizes tried (RESULTS.md).
BLOCK_ELEMENTS = 1 << 19
#: Most threads for one call: beyond this the Python part of each block (holding the GIL) limits the speed-up.
MAX_WORKERS = 8
#: Outputs of at least this many bytes come from numpy.empty (huge pages where the kernel has them).
NUMPY_OUTPUT_BYTES = 4 << 20
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.complex64: np.complex64,
                 torch.complex128: np.complex128}


def spectra(
    x2: torch.Tensor,
    *,
    window: torch.Tensor,
    n_fft: int,
    hop_length: int,
    left_pad: int,
    right_pad: int,
    pad_mode: str,
    n_frames: int,
    phase: torch.Tensor | None,
    power: float | None,
    mel_bank: torch.Tensor | None,
    db: Callable[[torch.Tensor], object] | None,
) -> torch.Tensor:
    """For (B, T) signals: (B, width, frames) of ``db(W @ |rfft(frame·window)·phase|^power)``, or None.

    None when the engine does not apply (a tensor on another device, one that needs a gradient,
    or a graph being traced for export, which records the plain path): the caller takes the plain path. ``power=None`` returns the complex spectra
    (B, bins, frames) (a transposed view). ``db``, if given, converts a block to dB in place.
    Same values as the plain path up to float summation order in the mel product.
    """
    tensors = (x2, window, mel_bank)
    if x2.device.type != "cpu" or torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors) \
            or torch.compiler.is_compiling():
        return None
    batch = x2.shape[0]
    frame_length, n_bins = window.shape[-1], n_fft // 2 + 1
    if power is None:
        ctype = torch.complex128 if x2.dtype == torch.float64 else torch.complex64
        out = _empty((batch, n_frames, n_bins), ctype)
    else:
        width = n_bins if mel_bank is None else mel_bank.shape[0]
        out = _empty((batch, width, n_frames), x2.dtype)
    csr = None
    if mel_bank is not None:
        with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is stable
            warnings.simplefilter("ignore", UserWarning)
            csr = mel_bank.to_sparse_csr()
    block = max(1, BLOCK_ELEMENTS // max(frame_length, n_fft))
    jobs = []
    for offset, frames in _frame_pieces(x2.contiguous(), frame_length, hop_length, left_pad, right_pad, pad_mode,
                                        n_frames):
        count = frames.shape[1]
        if count >= block:  # long items: blocks of frames within one item
            jobs += [(frames, offset, b, b + 1, g, min(g + block, count)) for b in range(batch)
                     for g in range(0, count, block)]
        else:  # short items: several whole items per block
            step = max(1, block // count)
            jobs += [(frames, offset, b, min(b + step, batch), 0, count) for b in range(0, batch, step)]

    def run(job, scratch: _Scratch) -> None:
        frames, offset, b0, b1, g0, g1 = job
        windowed = scratch.get("frames", (b1 - b0, g1 - g0, frame_length), window.dtype)
        # no out= for rfft: torch's out variant computes into a temporary and copies it
        spec = torch.fft.rfft(torch.mul(frames[b0:b1, g0:g1], window, out=windowed), n=n_fft)
        if phase is not None:
            spec.mul_(phase)
        if power is None:
            out[b0:b1, offset + g0 : offset + g1] = spec
        else:
            _reduce(spec, power, csr, db, scratch, out[b0:b1, :, offset + g0 : offset + g1])

    _run(jobs, run)
    return out.transpose(-1, -2) if power is None else out


def _reduce(spec, power, csr, db, scratch: _Scratch, dest: torch.Tensor) -> None:
    """Fill dest (items, width, frames) from a spectrum block (items, frames, bins) it may overwrite.

    The pair sum re² + im² is written frame-contiguous, (bins, frames): without a mel bank straight
    into dest, otherwise into scratch, the layout the sparse product reads fastest.
    """
    ri = torch.view_as_real(spec)
    ri.mul_(ri)
    items, frames, bins = spec.shape
    p = dest if csr is None else scratch.get("power", (bins, items, frames), ri.dtype).transpose(0, 1)
    torch.add(ri[..., 0], ri[..., 1], out=p.transpose(-1, -2))
    if power == 1.0:
        p.sqrt_()
    elif power != 2.0:
        p.pow_(power / 2.0)
    if csr is None:
        if db is not None:
            db(p)
        return
    bands = scratch.get("bands", (csr.shape[0], items * frames), p.dtype)
    torch.mm(csr, p.transpose(0, 1).reshape(bins, items * frames), out=bands)
    if db is not None:
        db(bands)
    dest.copy_(bands.view(-1, items, frames).transpose(0, 1))


def _frame_pieces(x2, frame_length, hop, left_pad, right_pad, pad_mode, n_frames):
    """The frames of the padded signal as up to three (B, n, L) views: [(first frame index, frames)].

    Frames wholly inside the signal are a strided view of ``x2`` (no copy); only the few that reach
    into the padding are cut from small padded copies of the two ends. Every piece has exactly the
    values of ``pad(x2).unfold(-1, L, hop)``.
    """
    n = x2.shape[-1]
    first_inner = -(-left_pad // hop)  # first frame starting at or after sample 0
    last_inner = min(n_frames - 1, (n + left_pad - frame_length) // hop)  # last frame ending inside the signal
    if pad_mode == "circular" or last_inner < first_inner:
        return [(0, _pad(x2, left_pad, right_pad, pad_mode).unfold(-1, frame_length, hop)[:, :n_frames])]
    pieces = []
    if first_inner > 0:
        need = (first_inner - 1) * hop + frame_length - left_pad
        head = _pad(x2[:, : max(need, left_pad + 1)], left_pad, 0, pad_mode)
        pieces.append((0, head.unfold(-1, frame_length, hop)[:, :first_inner]))
    start = first_inner * hop - left_pad
    pieces.append((first_inner, x2[:, start:].unfold(-1, frame_length, hop)[:, : last_inner - first_inner + 1]))
    if n_frames > last_inner + 1:
        first = last_inner + 1
        begin = first * hop - left_pad  # in signal samples
        cut = max(0, min(begin, n - right_pad - 1))
        tail = _pad(x2[:, cut:], 0, right_pad, pad_mode)
        pieces.append((first, tail[:, begin - cut :].unfold(-1, frame_length, hop)[:, : n_frames - first]))
    return pieces


def _pad(x2: torch.Tensor, left: int, right: int, pad_mode: str) -> torch.Tensor:
    if left == 0 and right == 0:
        return x2
    if pad_mode == "constant":
        return F.pad(x2, (left, right))
    return F.pad(x2.unsqueeze(1), (left, right), mode=pad_mode).squeeze(1)


class _Scratch:
    """One thread's temporaries, grown on demand and reused from block to block within a call."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        size = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < size or buf.dtype != dtype:
            buf = self._buffers[key] = torch.empty(size, dtype=dtype)
        return buf[:size].view(shape)


def _run(jobs: list, run: Callable[[object, _Scratch], None]) -> None:
    """``run(job, scratch)`` for every job: serially, or on ``torch.get_num_threads()`` threads of this call.

    Each thread takes jobs from a shared counter with ``torch.set_num_threads(1)`` (a per-thread
    setting) and writes disjoint slices of the output; the caller's thread count is untouched.
    """
    threads = torch.get_num_threads()
    workers = min(threads, MAX_WORKERS)
    if workers <= 1 or len(jobs) < 2 * workers:
        scratch = _Scratch()
        for job in jobs:
            run(job, scratch)
        return
    counter = itertools.count()

    def worker() -> None:
        torch.set_num_threads(max(1, threads // workers))
        scratch = _Scratch()
        try:
            while (i := next(counter)) < len(jobs):
                run(jobs[i], scratch)
        finally:  # the setting is per thread, but restore it so no later reader sees 1
            torch.set_num_threads(threads)

    pool = _pool(workers)
    for future in [pool.submit(worker) for _ in range(workers)]:
        future.result()


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None  # (process id, threads, pool)
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """This process's engine threads (at least ``workers``), started on first use and kept idle between
    calls. A process forked from one that had them gets its own (threads do not survive a fork)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
            if _POOL is not None and _POOL[0] == os.getpid():
                _POOL[2].shutdown(wait=False)  # a larger one replaces it; its idle threads exit
            _POOL = (os.getpid(), workers, ThreadPoolExecutor(workers, thread_name_prefix="polysense-frames"))
        return _POOL[2]


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor; from NUMPY_OUTPUT_BYTES on, a numpy buffer (huge pages, see the module notes)."""
    np_dtype = _NUMPY_DTYPES.get(dtype)
    if np_dtype is None or math.prod(shape) * dtype.itemsize < NUMPY_OUTPUT_BYTES:
        return torch.empty(shape, dtype=dtype)
    return torch.from_numpy(np.empty(shape, dtype=np_dtype))
