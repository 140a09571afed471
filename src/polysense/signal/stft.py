"""Short-time Fourier transform, its inverse, and Griffin-Lim phase recovery.

The STFT of a signal x (samples) with window w of length N_w, FFT size N and hop H is::

    X(m, k) = Σ_{n=0}^{N-1} x(n + mH) · w(n) · e^{−2πikn/N},   k = 0 … ⌊N/2⌋

(the lecture's formula (2)), one-sided because x is real. Frame m starts at sample mH of
the (padded) signal; bin k sits at k·sr/N Hz and frame m at mH/sr seconds
(:func:`~polysense.signal.plan.frame_times`). A window shorter than N is zero-padded *centred*
in the frame (⌊(N−N_w)/2⌋ zeros in front), as librosa and torch.stft do. With ``center=True``
the signal is first padded by ⌊N/2⌋ samples at both ends, so frame m is centred on sample mH
and there are 1 + ⌊(T + 2⌊N/2⌋ − N)/H⌋ frames.

Every spectrogram of the front end is this X reduced: ``S = |X|^p`` (p = 2 power, 1 magnitude),
then ``M = W_mel @ S``, then ``10·log10(max(M, amin)) − ref_dB`` (:func:`apply_plan`, the one path
for functions, modules and the stream). The code below is that formula: pad → unfold (a strided
view) → multiply by the window → ``torch.fft.rfft`` → reduce. It serves autograd and every
device. On the CPU, when nothing needs a gradient, :mod:`polysense.signal._engine` computes the
same numbers in cache-sized blocks (see its notes and ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from polysense._checks import (
    check_choice,
    check_positive_int,
    check_representable,
    check_signal,
    check_size,
    check_stft_size,
    check_unit_interval,
    power_headroom,
)
from polysense.errors import NOLAError, ParameterError
from polysense.signal import _engine, _graph
from polysense.signal.conventions import Convention
from polysense.signal.plan import SpectrogramPlan

__all__ = ["apply_plan", "frame", "griffin_lim", "istft", "nola_ok", "stft"]


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


class _SafePow(torch.autograd.Function):
    """``s ** e`` for s ≥ 0 with gradient ``e·s^{e−1}`` where s > 0 and 0 where s = 0.

    Magnitudes are ``sqrt(re² + im²)``; the plain derivative 1/(2·sqrt(0)) is inf and turns
    into NaN in the chain rule at silent bins. Here the gradient there is 0 (a subgradient).
    """

    @staticmethod
    def forward(ctx, s: torch.Tensor, exponent: float) -> torch.Tensor:
        out = s.pow(exponent)
        ctx.save_for_backward(s, out)
        ctx.exponent = exponent
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        s, out = ctx.saved_tensors
        positive = s > 0
        local = torch.where(positive, ctx.exponent * out / torch.where(positive, s, torch.ones_like(s)), 0.0)
        return grad * local, None


def _pad(x2: torch.Tensor, left: int, right: int, pad_mode: str) -> torch.Tensor:
    if pad_mode == "constant" or left == right == 0:
        return F.pad(x2, (left, right))
    return F.pad(x2.unsqueeze(1), (left, right), mode=pad_mode).squeeze(1)


def apply_plan(x: torch.Tensor, plan: SpectrogramPlan) -> torch.Tensor:
    """The plan's spectrogram of ``x`` (..., T): (..., width, frames), complex when ``plan.power`` is None.

    ``X = rfft(pad(x) framed · window, N)`` (times the scipy phase factor), then ``|X|^power``,
    the mel product and the dB conversion the plan holds, in that order.

    Raises:
        ParameterError: empty or non-finite x, or a signal too short for one frame.
    """
    # samples whose spectrum would overflow the dtype, and spectrograms past the size limit, are refused
    headroom_power = 2.0 if plan.power is None else max(2.0, float(plan.power))
    x = check_signal("x", x, max_abs=power_headroom(x.dtype, plan.n_fft, headroom_power)
                     if isinstance(x, torch.Tensor) and x.dtype in (torch.float32, torch.float64) else None)
    check_stft_size(x, plan.n_fft, plan.hop_length, n_mels=None if plan.mel_bank is None else plan.mel_bank.shape[0])
    if plan.db is not None:  # the floor must be a number of x's dtype (power_to_db checks it the same way)
        check_representable("amin", plan.db.amin, x.dtype)
    lead, n = x.shape[:-1], x.shape[-1]
    left, right, n_frames = plan.layout(n)
    window = plan.frame_window().to(device=x.device, dtype=x.dtype)
    if left + n + right < window.shape[-1]:
        raise ParameterError(
            f"x has {n} samples: expected at least {window.shape[-1] - left - right} for frames of "
            f"{window.shape[-1]} samples (pad it, use center=True, or a smaller n_fft)"
        )
    if plan.pad_mode == "reflect" and max(left, right) >= n:
        raise ParameterError(
            f"pad_mode='reflect' needs more than {max(left, right)} samples, x has {n}: "
            "use pad_mode='constant' or a longer signal"
        )
    ctype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    phase = plan.phase()
    phase = None if phase is None else phase.to(device=x.device, dtype=ctype)
    bank = None if plan.mel_bank is None else plan.mel_bank.to(device=x.device, dtype=x.dtype)
    db, x2 = plan.db, x.reshape(-1, n)
    ref_db = None if db is None or callable(db.ref) else db.ref_db()  # a callable ref needs the whole result
    out = _engine.spectra(  # the same numbers, faster, on the CPU without autograd (None otherwise)
        x2, window=window, n_fft=plan.n_fft, hop_length=plan.hop_length, left_pad=left, right_pad=right,
        pad_mode=plan.pad_mode, n_frames=n_frames, phase=phase, power=plan.power, mel_bank=bank,
        db=None if ref_db is None else (lambda block: db.to_db(block, ref_db, inplace=True)),
    )
    if out is None and phase is None and plan.power is not None and torch.compiler.is_compiling():
        out = _graph.power_spectra(_pad(x2, left, right, plan.pad_mode), window, n_fft=plan.n_fft,
                                   hop_length=plan.hop_length, n_frames=n_frames, power=plan.power)
        if bank is not None:
            out = torch.matmul(bank, out)
        if ref_db is not None:
            out = db.to_db(out, ref_db)
    if out is None:
        frames = _pad(x2, left, right, plan.pad_mode).unfold(-1, window.shape[-1], plan.hop_length)[:, :n_frames]
        X = torch.fft.rfft(frames * window, n=plan.n_fft)  # (B, frames, bins)
        if phase is not None:
            X = X * phase
        if plan.power is None:
            out = X.transpose(-1, -2)
        else:
            ri = torch.view_as_real(X)
            out = (ri[..., 0] ** 2 + ri[..., 1] ** 2).transpose(-1, -2)  # |X|², no complex abs: see _engine
            if plan.power != 2.0:
                out = _SafePow.apply(out, plan.power / 2.0)
            if bank is not None:
                out = torch.matmul(bank, out)
            if ref_db is not None:
                out = db.to_db(out, ref_db)
    if db is not None:
        out = db(out) if ref_db is None else db.clip(out, inplace=not out.requires_grad)
    return out.reshape(*lead, *out.shape[-2:])


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
    plan = SpectrogramPlan.create(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode,
        periodic=periodic, convention=convention, power=None, scaling=scaling, sample_rate=sample_rate,
    )
    return apply_plan(x, plan)


def nola_ok(window: torch.Tensor, hop_length: int, n_fft: int | None = None, *, tol: float = 1e-10) -> bool:
    """The nonzero-overlap-add condition: Σ_j w²(r + jH) > tol·Σ w² for every r = 0 … H−1.

    Equivalent to ``scipy.signal.check_NOLA`` up to its absolute tolerance; when it holds,
    :func:`istft` inverts :func:`stft` exactly (hop H, window zero-padded to n_fft).
    """
    w = window.detach().double().cpu()
    if n_fft is not None:
        w = F.pad(w, ((n_fft - w.shape[-1]) // 2, n_fft - w.shape[-1] - (n_fft - w.shape[-1]) // 2))
    total = float((w * w).sum())
    if total <= 0 or hop_length > w.shape[-1]:  # a hop past the window leaves samples no frame covers
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
    check_signal("X", X, allow_complex=True)  # dtype, empty batch, NaN/Inf
    n_bins, n_frames = X.shape[-2], X.shape[-1]
    if n_fft is None:
        # name X, not n_fft, when X's bins give no FFT size (the user never passed n_fft)
        n_fft = 2 * (n_bins - 1) if n_bins >= 2 else f"the {n_bins} frequency bin(s) of X"
    plan = SpectrogramPlan.create(n_fft=n_fft, hop_length=hop_length,
                                  win_length=win_length, window=window, center=center, periodic=periodic,
                                  convention=convention, power=None)
    if plan.convention.framing != "center":
        raise ParameterError(
            f"convention={plan.convention.name!r} has no inverse here: istft inverts the centred framing "
            "(convention='librosa' or 'torchaudio')"
        )
    n_fft, hop, win_length = plan.n_fft, plan.hop_length, plan.win_length
    if n_bins != n_fft // 2 + 1:
        raise ParameterError(f"X has {n_bins} frequency bins: expected n_fft//2+1 = {n_fft // 2 + 1} for n_fft={n_fft}")
    if n_frames < 1:
        raise ParameterError("X has 0 frames: expected at least 1")
    if not bool(torch.isfinite(torch.view_as_real(X)).all()):
        raise ParameterError("X contains NaN or Inf values: expected a finite spectrogram")
    real = X.real.dtype
    w = plan.frame_window().to(device=X.device, dtype=real)
    if not nola_ok(w, hop):
        raise NOLAError(
            f"window={window if isinstance(window, str) else 'tensor'!r} (win_length={win_length}, n_fft={n_fft}) "
            f"with hop_length={hop} fails the nonzero-overlap-add condition: some samples are covered by no "
            "non-zero window sample, so no inverse exists. Use a hop_length <= win_length (e.g. win_length // 4) "
            "or a window without zeros"
        )
    lead = X.shape[:-2]
    # the overlap-add buffer spans every frame whatever length= keeps: bounded before it is made
    total = check_size(f"the overlap-add span of X's {n_frames} frames at hop_length={hop}", n_fft + hop * (n_frames - 1),
                       limit="max_samples", bytes_each=8 * max(1, X[..., 0, 0].numel()), what="samples")
    frames = torch.fft.irfft(X.reshape(-1, n_bins, n_frames).transpose(-1, -2), n=n_fft) * w  # (B, F, N)
    y = F.fold(frames.transpose(-1, -2), output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop))
    y = y.reshape(frames.shape[0], total)
    env = F.fold(
        (w * w).view(1, n_fft, 1).expand(1, n_fft, n_frames), output_size=(1, total),
        kernel_size=(1, n_fft), stride=(1, hop),
    ).reshape(total)
    start = n_fft // 2 if plan.center else 0
    name = "length"
    if length is None:
        length = total - 2 * start
        name = f"length (by default the {n_frames} frame(s) of X span {length} samples at hop_length={hop}; pass length=)"
    length = check_size(name, length, limit="max_samples", bytes_each=8 * max(1, X[..., 0, 0].numel()),
                        what="output samples")
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
    magnitude = check_signal("magnitude", magnitude)  # float dtype (not integers), non-empty, finite
    n_iter = check_positive_int("n_iter", n_iter, maximum=100_000, what="iterations")
    check_choice("init", init, ("random", "zeros"))
    mom = check_unit_interval("momentum", momentum, what="a momentum (0.99 is librosa's fast GL)")
    seed = check_positive_int("seed", seed, minimum=0, maximum=2**63 - 1)
    plan = SpectrogramPlan.create(n_fft=2 * (magnitude.shape[-2] - 1) if n_fft is None else n_fft,
                                  hop_length=hop_length, win_length=win_length, window="hann", convention=convention)
    if not bool(torch.isfinite(magnitude).all()):
        raise ParameterError("magnitude contains NaN or Inf values: expected a finite spectrogram")
    kw = dict(n_fft=plan.n_fft, hop_length=plan.hop_length, win_length=plan.win_length, window=window, center=center,
              convention=plan.convention)
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
