"""Streaming: windows and log-mel features of an arbitrarily long signal from blocks of samples.

:func:`window_spans` is the one rule for cutting a signal into analysis windows (every ``hop``,
and a last window that ends at the end of the signal, so no tail is left out); it works on
lengths alone, in samples or in seconds, so the search index plans its windows from a file's
duration with it. :func:`stream_windows` applies the same rule to a stream of blocks, holding at
most a window and a block (what the predictor of a run and the Whisper transcriber read).

:class:`StreamingLogMel` accepts blocks of any size (including 0 and 1 samples), emits every
log-mel frame as soon as its samples have arrived, and keeps at most ``n_fft + block`` samples
per channel, so memory does not grow with the length of the file. After :meth:`~StreamingLogMel.flush`
the concatenated output equals the one-shot
``log_mel_spectrogram(x, ..., top_db=None)`` of the whole signal (same frames, same numbers
up to float summation order; tested at 1e-5 relative).

Edges, with ``center=True`` (the default, as the one-shot functions):

* start: the ⌊n_fft/2⌋ samples of front padding are generated from the first samples, zeros
  for ``pad_mode="constant"``, the mirror image x[p] … x[1] for ``"reflect"`` (frames are held
  back until p+1 samples have arrived), x[0] repeated for ``"replicate"``;
* end: :meth:`flush` appends the matching end padding from the last p+1 samples (kept in a
  small tail buffer) and emits the remaining frames; the total is 1 + ⌊(T + 2p − N)/H⌋ frames
  as the one-shot result. ``"circular"`` padding needs the far end of the signal and is not
  supported in streaming.

``top_db`` clips against the maximum of the *whole* signal, which is unknown until the end, so
a streaming front end cannot apply it without holding every frame: ``StreamingLogMel`` only
accepts ``top_db=None`` (and a numeric ``ref``). Apply ``torch.maximum(db, db_max − top_db)``
afterwards with :attr:`StreamingLogMel.max_db` (the running maximum, in dB) if needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import torch

from polysense._checks import check_tensor
from polysense.errors import ParameterError
from polysense.signal.conventions import FROM_CONVENTION, Convention
from polysense.signal.spectrogram import mel_plan
from polysense.signal.stft import apply_plan

__all__ = ["StreamingLogMel", "stream_windows", "window_spans"]


def window_spans(lengths: Iterable[float], *, window: float, hop: float,
                 tail: str = "end") -> Iterator[tuple[float, float]]:
    """``(start, end)`` of every window over a signal that arrives in pieces of ``lengths``
    (samples or seconds; one piece: the whole signal), each as soon as its end has arrived.

    Windows start every ``hop`` and are ``window`` long; a signal no longer than ``window`` is one
    window. The rest after the last full window becomes one more window, ending at the signal's
    end: ``tail="end"`` gives it the full length (it overlaps the one before), ``tail="rest"``
    starts it where the last full window ended (windows that tile the signal when ``hop ==
    window``). Nothing for an empty signal.
    """
    if tail not in ("end", "rest"):
        raise ParameterError(f"tail={tail!r} is invalid: choose 'end' or 'rest'")
    received = next_start = last_start = last_end = 0
    for length in lengths:
        received += length
        while next_start + window <= received:
            yield next_start, next_start + window
            last_start, last_end, next_start = next_start, next_start + window, next_start + hop
    if received > last_end:
        start = max(0, received - window) if tail == "end" else last_end
        if start > last_start or last_end == 0:
            yield start, received


def stream_windows(blocks: Iterable[torch.Tensor], *, window: int, hop: int,
                   tail: str = "end") -> Iterator[tuple[int, torch.Tensor]]:
    """``(start sample, samples)`` of every window of :func:`window_spans` over a stream of 1-D
    blocks, holding at most a window and a block."""
    state = {"buffer": torch.zeros(0), "offset": 0, "next": 0}  # buffer[0] is stream sample `offset`

    def lengths() -> Iterator[int]:
        for block in blocks:
            buffer, offset = state["buffer"], state["offset"]
            # keep the next window's samples and the stream's last `window` (a tail window needs them)
            drop = max(0, min(state["next"] - offset, buffer.shape[-1] - window))
            state["buffer"], state["offset"] = torch.cat([buffer[drop:], block.float()]), offset + drop
            yield block.shape[-1]

    for start, end in window_spans(lengths(), window=window, hop=hop, tail=tail):
        state["next"] = start + hop
        offset = state["offset"]
        yield start, state["buffer"][start - offset:end - offset]

_STREAM_PAD_MODES = ("constant", "reflect", "replicate")


class StreamingLogMel:
    """Log-mel spectrogram of a signal pushed in blocks; equal to the one-shot result.

    Args:
        sample_rate: Hz. Other arguments as :func:`polysense.signal.spectrogram.log_mel_spectrogram`,
            except ``top_db`` (must be None, see the module notes) and ``ref`` (a number).

    Use::

        stream = StreamingLogMel(16000, n_fft=1024, hop_length=256, n_mels=128)
        parts = [stream.push(block) for block in blocks]   # each (..., n_mels, k)
        parts.append(stream.flush())
        log_mel = torch.cat(parts, dim=-1)

    or ``torch.cat(list(stream.stream(blocks)), dim=-1)``. Blocks are (..., samples) with the
    same leading (channel) shape each time. After :meth:`flush` the object is reset and can
    take a new signal.
    """

    def __init__(
        self,
        sample_rate: float,
        *,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: str | tuple | torch.Tensor = "hann",
        center: bool | None = None,
        pad_mode: str | None = None,
        power: float = 2.0,
        n_mels: int = 128,
        f_min_hz: float = 0.0,
        f_max_hz: float | None = None,
        mel_scale: str | None = None,
        norm=FROM_CONVENTION,
        periodic: bool | None = None,
        convention: str | Convention | None = None,
        ref: float = 1.0,
        amin: float | None = None,
        top_db: float | None = None,
    ):
        plan = mel_plan(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, f_min_hz=f_min_hz, f_max_hz=f_max_hz,
            mel_scale=mel_scale, norm=norm, periodic=periodic, convention=convention,
        )
        if plan.convention.framing != "center":
            raise ParameterError(
                f"convention={plan.convention.name!r} is not supported for streaming: use 'librosa' or 'torchaudio' framing"
            )
        if top_db is not None:
            raise ParameterError(
                f"top_db={top_db!r} is not supported for streaming: clipping needs the maximum of the whole signal. "
                "Use top_db=None and clip afterwards with StreamingLogMel.max_db"
            )
        if callable(ref):
            raise ParameterError("ref must be a number for streaming: a callable ref (e.g. max) needs the whole signal")
        self.center, self.pad_mode = plan.center, plan.pad_mode
        if self.center and self.pad_mode not in _STREAM_PAD_MODES:
            raise ParameterError(
                f"pad_mode={self.pad_mode!r} is not supported for streaming: choose one of "
                + ", ".join(repr(m) for m in _STREAM_PAD_MODES)
            )
        # Frames are computed on the already padded stream, hence center=False inside.
        self.plan = dataclasses.replace(plan.with_db(ref=ref, amin=amin, top_db=None), center=False, pad_mode="constant")
        self.n_fft, self.hop_length, self.n_mels = plan.n_fft, plan.hop_length, plan.n_mels
        self._pad = self.n_fft // 2 if self.center else 0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the current signal (buffers and counters; :attr:`max_db` is kept until the next push)."""
        self._buffer: torch.Tensor | None = None  # padded samples from the next frame's start
        self._tail: torch.Tensor | None = None  # last p+1 input samples (end padding)
        self._started = False  # front padding emitted
        self._skip = 0  # samples still to drop before the next frame's start (hop > n_fft)
        self.samples_in = 0
        self.frames_out = 0
        if not hasattr(self, "max_db"):
            #: running maximum of the emitted frames in dB (for applying top_db afterwards)
            self.max_db: float = float("-inf")

    @property
    def buffered_samples(self) -> int:
        """Samples currently held (≤ n_fft + the last block): the memory bound."""
        return 0 if self._buffer is None else int(self._buffer.shape[-1])

    def _check_block(self, block: torch.Tensor) -> torch.Tensor:
        if not isinstance(block, torch.Tensor) or not block.is_floating_point() or block.ndim == 0:
            raise ParameterError(
                f"block must be a real floating-point tensor (..., samples), got {getattr(block, 'dtype', type(block))}"
            )
        check_tensor("block", block)
        if self._buffer is not None:
            if block.shape[:-1] != self._buffer.shape[:-1]:
                raise ParameterError(
                    f"block has leading shape {tuple(block.shape[:-1])}: expected {tuple(self._buffer.shape[:-1])} "
                    "like the previous blocks"
                )
            block = block.to(device=self._buffer.device, dtype=self._buffer.dtype)
        if block.numel() and not bool(torch.isfinite(block).all()):
            raise ParameterError(
                f"block contains NaN or Inf values (after {self.samples_in} samples): replace them before analysis"
            )
        return block

    def _front_pad(self, start: torch.Tensor) -> torch.Tensor:
        p = self._pad
        if p == 0:
            return start[..., :0]
        if self.pad_mode == "constant":
            return start.new_zeros(*start.shape[:-1], p)
        if self.pad_mode == "replicate":
            return start[..., :1].expand(*start.shape[:-1], p)
        return start[..., 1 : p + 1].flip(-1)  # reflect: x[p] … x[1]

    def _emit(self) -> torch.Tensor:
        buf = self._buffer
        n = buf.shape[-1]
        k = 0 if n < self.n_fft else 1 + (n - self.n_fft) // self.hop_length
        lead = buf.shape[:-1]
        if k == 0:
            return buf.new_empty(*lead, self.n_mels, 0)
        used = (k - 1) * self.hop_length + self.n_fft
        db = apply_plan(buf[..., :used], self.plan)
        # with hop > n_fft the next frame starts after samples not yet received: skip them
        self._skip = max(0, k * self.hop_length - n)
        self._buffer = buf[..., k * self.hop_length :].clone()
        self.frames_out += k
        self.max_db = max(self.max_db, float(db.max()))
        return db

    def _append(self, samples: torch.Tensor) -> None:
        if self._skip:
            drop = min(self._skip, samples.shape[-1])
            samples, self._skip = samples[..., drop:], self._skip - drop
        self._buffer = torch.cat([self._buffer, samples], dim=-1)

    # ------------------------------------------------------------------ API
    def push(self, block: torch.Tensor) -> torch.Tensor:
        """Add samples; return the log-mel frames (..., n_mels, k) completed by them (k ≥ 0), in dB."""
        block = self._check_block(block)
        if self.samples_in == 0:
            self.max_db = float("-inf")
        self.samples_in += block.shape[-1]
        tail = block.detach() if self._tail is None else torch.cat([self._tail, block.detach()], dim=-1)
        self._tail = tail[..., -(self._pad + 1) :].clone()
        if self._buffer is None:
            self._buffer = block.detach().clone()
        elif self._started:
            self._append(block.detach())
        else:
            self._buffer = torch.cat([self._buffer, block.detach()], dim=-1)
        if not self._started:
            needs = self._pad + 1 if (self.center and self.pad_mode == "reflect") else 1
            if self._buffer.shape[-1] < needs:
                return self._buffer.new_empty(*self._buffer.shape[:-1], self.n_mels, 0)
            self._buffer = torch.cat([self._front_pad(self._buffer), self._buffer], dim=-1)
            self._started = True
        return self._emit()

    def flush(self) -> torch.Tensor:
        """End of signal: add the end padding, return the remaining frames, and reset."""
        if self._buffer is None or self.samples_in == 0:
            self.reset()
            raise ParameterError("the stream received 0 samples: expected at least one non-empty block before flush()")
        p = self._pad
        if not self._started:
            if self.center and self.pad_mode == "reflect":
                raise ParameterError(
                    f"pad_mode='reflect' needs more than {p} samples, the stream had {self.samples_in}: "
                    "use pad_mode='constant' or a longer signal"
                )
            self._buffer = torch.cat([self._front_pad(self._buffer), self._buffer], dim=-1)
            self._started = True
        if p:
            tail = self._tail
            if self.pad_mode == "constant":
                end = tail.new_zeros(*tail.shape[:-1], p)
            elif self.pad_mode == "replicate":
                end = tail[..., -1:].expand(*tail.shape[:-1], p)
            else:
                end = tail[..., -p - 1 : -1].flip(-1)  # reflect: x[T-2] … x[T-1-p]
            self._append(end)
        total_frames = self.frames_out
        if total_frames == 0 and self._buffer.shape[-1] < self.n_fft:
            n = self.samples_in
            self.reset()
            raise ParameterError(
                f"the stream had {n} samples: expected at least {self.n_fft - 2 * p} for one frame of "
                f"n_fft={self.n_fft} samples"
            )
        out = self._emit()
        self.reset()
        return out

    def stream(self, blocks: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Push every block and flush at the end, yielding each non-empty piece of output."""
        for block in blocks:
            out = self.push(block)
            if out.shape[-1]:
                yield out
        out = self.flush()
        if out.shape[-1]:
            yield out
