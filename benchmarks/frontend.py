"""Front-end speed and accuracy: polysense against librosa, scipy, plain torch and the FFT floor.

Workload (issue 2): power spectrogram and 128-band Slaney log-mel, n_fft 1024, hop 256,
16 kHz, centred frames; a batch of 64 × 10 s clips and one 10-minute clip; 1 and 2 threads.
The audio is real speech: FSDD recordings (8 kHz) concatenated and resampled to 16 kHz with
soxr; when ../shared/data/fsdd is absent a seeded chirp+noise signal stands in (and the table
says so).

Every configuration (threads × allocator setting) runs in a fresh subprocess, so thread pools
and the allocator's state never leak between them:
- ``default``: glibc's allocator as users get it;
- ``tuned``: ``MALLOC_MMAP_MAX_=0`` and a 1 GiB trim threshold so freed memory is kept and
  reused (compute cost with fewer page faults; see ALLOCATOR_ENV for what glibc accepts).

Anchors, all on the same array in the same process:
- ``fft_floor``: ``torch.fft.rfft`` of frames already framed and windowed (outside the timer);
- ``torch_plain``: ``torch.stft`` → ``abs()**2`` → dense mel matmul → ``10·log10`` (what
  torchaudio's MelSpectrogram + AmplitudeToDB do);
- ``librosa``: ``librosa.feature.melspectrogram`` + ``librosa.power_to_db``;
- ``scipy``: ``scipy.signal.ShortTimeFFT.spectrogram`` + dense mel matmul + dB.

Accuracy: each method's log-mel against a float64 reference (numpy float64 framing, rfft and
a float64 Slaney bank), max |error| in dB over bins within 60 dB of the clip's maximum, and
max relative error of the power spectrogram over the same bins.

Run: ``.venv/bin/python benchmarks/frontend.py`` (add ``--quick`` for a short smoke run).
Writes its tables between the ``frontend`` markers of ``benchmarks/RESULTS.md``.

``--engine`` instead measures what each trick of the private CPU engine
(``polysense/signal/_engine.py``) buys: the same polysense calls with one trick switched off at a
time (see ENGINE_VARIANTS), each variant in fresh subprocesses, the variants interleaved round by
round so a busy machine slows them alike. It reports the best wall time and the best CPU time
(``time.process_time``: at 1 thread it hardly moves when other processes take the cores) and
writes the ``frontend-engine`` section. ``--baseline-src DIR`` adds the same calls on another
checkout's ``src`` (e.g. the previous front end) as one more variant.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
FSDD = Path(os.environ.get("POLYSENSE_FSDD", HERE.parents[1] / "shared" / "data" / "fsdd" / "recordings"))

SAMPLE_RATE = 16_000
N_FFT = 1024
HOP = 256
N_MELS = 128
AMIN = 1e-10
TOP_DB = 80.0
BATCH = 64
CLIP_S = 10.0
LONG_S = 600.0
METHODS = ("fft_floor", "polysense", "torch_plain", "librosa", "scipy")
FEATURES = ("power", "logmel")
# glibc rejects values it cannot hold (MALLOC_MMAP_THRESHOLD_ is capped at 32 MiB, the trim
# threshold is an int), so "tuned" turns mmap off and keeps up to 1 GiB of freed heap instead.
# Measured here: buffers of the floor's size (164 MB) still fault part of their pages per call
# (32k faults vs 40k by default), which is why the floor is the best of its repeats.
ALLOCATOR_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_TOP_PAD_": str(1 << 29)}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
# Engine ablation: variant -> what it switches off (applied in the worker by switch_off()).
ENGINE_VARIANTS = {
    "engine": "nothing: the engine as shipped",
    "no_engine": "the whole engine: the plain pad → unfold → window → rfft path",
    "padded_copy": "edge frames from small padded copies: frames cut from a padded copy of the whole signal",
    "dense_mel": "the CSR mel product: the dense bank in the same blocked product",
    "fresh_scratch": "scratch reuse: a fresh temporary per block",
    "torch_empty": "numpy.empty outputs: torch.empty for every output",
    "openmp": "the call's own threads: one thread taking the blocks, each kernel on torch's OpenMP threads",
    "call_threads": "threads kept between calls: the engine's threads started for each call and ended with it",
}


# ----------------------------------------------------------------------------- data
def make_audio(path: Path, quick: bool) -> str:
    """Write the batch and the long clip to ``path`` (.npz); return a description of the source."""
    batch_len = int(CLIP_S * SAMPLE_RATE)
    long_len = int((60.0 if quick else LONG_S) * SAMPLE_RATE)
    total = BATCH * batch_len + long_len
    files = sorted(FSDD.glob("*.wav")) if FSDD.is_dir() else []
    if files:
        import soundfile as sf
        import soxr

        pieces, have = [], 0
        for i in range(total // 4000 + 1):  # FSDD clips average ~0.45 s at 8 kHz
            data, sr = sf.read(files[i % len(files)], dtype="float64")
            piece = soxr.resample(data, sr, SAMPLE_RATE, quality="HQ")
            pieces.append(piece)
            have += piece.size
            if have >= total:
                break
        audio = np.concatenate(pieces)
        while audio.size < total:
            audio = np.concatenate([audio, audio])
        source = f"FSDD speech ({len(files)} recordings available), resampled 8→16 kHz with soxr"
    else:
        rng = np.random.default_rng(0)
        t = np.arange(total) / SAMPLE_RATE
        audio = 0.5 * np.sin(2 * np.pi * (200 * t + 30 * t**2 % 4000)) + 0.05 * rng.standard_normal(total)
        source = "synthetic chirp + noise (FSDD not found)"
    audio = (audio[:total] / max(1e-9, np.abs(audio[:total]).max()) * 0.9).astype(np.float32)
    np.savez(path, batch=audio[: BATCH * batch_len].reshape(BATCH, batch_len), long=audio[BATCH * batch_len :])
    return source


# ----------------------------------------------------------------------------- methods
def build_methods(torch, mel_fb: np.ndarray):
    """Return {method: {feature: fn(x_numpy) -> result}} closures, each doing the whole job."""
    import librosa
    import scipy.signal

    window_t = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32)
    mel_t = torch.from_numpy(mel_fb.astype(np.float32))
    window_np = scipy.signal.get_window("hann", N_FFT, fftbins=True)
    stfft = scipy.signal.ShortTimeFFT(window_np.astype(np.float32), hop=HOP, fs=SAMPLE_RATE, mfft=N_FFT)

    def db_torch(mel):
        db = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
        return torch.maximum(db, db.amax() - TOP_DB)

    def torch_power(x):
        spec = torch.stft(
            torch.from_numpy(x), N_FFT, HOP, window=window_t, center=True, pad_mode="constant", return_complex=True
        )
        return spec.abs() ** 2

    def torch_logmel(x):
        return db_torch(torch.matmul(mel_t, torch_power(x)))

    def librosa_power(x):
        return np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP, center=True, pad_mode="constant")) ** 2

    def librosa_logmel(x):
        mel = librosa.feature.melspectrogram(
            y=x, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, center=True, pad_mode="constant"
        )
        return librosa.power_to_db(mel, ref=1.0, amin=AMIN, top_db=TOP_DB)

    def scipy_power(x):
        # ShortTimeFFT centres slice p on sample p·hop and zero-pads outside the signal:
        # librosa's centre=True framing with constant padding, so all methods share frames.
        return stfft.spectrogram(x, p0=0, p1=x.shape[-1] // HOP + 1)

    def scipy_logmel(x):
        mel = np.matmul(mel_fb.astype(np.float32), scipy_power(x))
        db = 10.0 * np.log10(np.maximum(mel, AMIN))
        return np.maximum(db, db.max() - TOP_DB)

    methods = {
        "torch_plain": {"power": torch_power, "logmel": torch_logmel},
        "librosa": {"power": librosa_power, "logmel": librosa_logmel},
        "scipy": {"power": scipy_power, "logmel": scipy_logmel},
    }
    methods["polysense"] = polysense_methods(torch)
    return methods


def polysense_methods(torch):
    from polysense.signal.spectrogram import log_mel_spectrogram, spectrogram

    def power(x):
        return spectrogram(
            torch.from_numpy(x), n_fft=N_FFT, hop_length=HOP, window="hann", center=True, pad_mode="constant", power=2.0
        )

    def logmel(x):
        return log_mel_spectrogram(
            torch.from_numpy(x),
            sample_rate=SAMPLE_RATE,
            n_fft=N_FFT,
            hop_length=HOP,
            n_mels=N_MELS,
            convention="librosa",
            amin=AMIN,
            top_db=TOP_DB,
        )

    return {"power": power, "logmel": logmel}


def framed_windowed(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Frames of the centre-padded signal times the periodic Hann window: (..., frames, n_fft)."""
    import scipy.signal

    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(N_FFT // 2, N_FFT // 2)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[..., ::HOP, :]
    return np.ascontiguousarray(frames * scipy.signal.get_window("hann", N_FFT, fftbins=True).astype(dtype))


def reference_power(x: np.ndarray) -> np.ndarray:
    """float64 power spectrogram (..., bins, frames) by the formula, one row at a time."""
    out = []
    for row in x.reshape(-1, x.shape[-1]):
        frames = framed_windowed(row[None].astype(np.float64), dtype=np.float64)[0]
        spec = np.fft.rfft(frames, axis=-1)
        out.append((spec.real**2 + spec.imag**2).T)
    return np.stack(out).reshape(*x.shape[:-1], N_FFT // 2 + 1, -1)


def accuracy(result, ref_power: np.ndarray, mel64: np.ndarray, feature: str) -> float:
    """Max error against the float64 reference over bins within 60 dB of the maximum.

    power: max relative error; logmel: max absolute dB error.
    """
    value = result.numpy() if hasattr(result, "numpy") else np.asarray(result)
    value = value.astype(np.float64)
    if feature == "power":
        keep = ref_power >= ref_power.max() * 1e-6
        return float(np.max(np.abs(value[keep] - ref_power[keep]) / ref_power[keep]))
    ref_mel = np.matmul(mel64, ref_power)
    ref_db = 10.0 * np.log10(np.maximum(ref_mel, AMIN))
    ref_db = np.maximum(ref_db, ref_db.max() - TOP_DB)
    keep = ref_db >= ref_db.max() - 60.0
    return float(np.max(np.abs(value[keep] - ref_db[keep])))


# ----------------------------------------------------------------------------- worker
def time_call(fn, x, repeats: int, summary=np.median) -> float:
    fn(x)  # warm-up: plans, caches, first-touch of pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return float(summary(times))


def worker(data_path: str, threads: int, quick: bool, check_accuracy: bool) -> dict:
    import librosa
    import torch

    torch.set_num_threads(threads)
    data = np.load(data_path)
    workloads = {"batch": data["batch"], "long": data["long"]}
    mel_fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, htk=False, norm="slaney", dtype=np.float64)
    methods = build_methods(torch, mel_fb)
    repeats = 2 if quick else 5
    timings: dict = {}
    errors: dict = {}
    for name, x in workloads.items():
        frames = torch.from_numpy(framed_windowed(x))
        # The floor is a lower bound, so its best repeat (page-fault luck included); methods: medians.
        floor = time_call(lambda f: torch.fft.rfft(f, dim=-1), frames, repeats, summary=min)
        timings[name] = {"fft_floor": {"power": floor, "logmel": floor}}
        if check_accuracy:
            ref = reference_power(x if name == "batch" else x[None])
            ref = ref if name == "batch" else ref[0]
            errors[name] = {}
        for method in ("polysense", "torch_plain", "librosa", "scipy"):
            timings[name][method] = {}
            for feature in FEATURES:
                fn = methods[method][feature]
                timings[name][method][feature] = time_call(fn, x, repeats)
                if check_accuracy:
                    errors[name].setdefault(method, {})[feature] = accuracy(fn(x), ref, mel_fb, feature)
        del frames
    return {"timings": timings, "errors": errors, "torch": torch.__version__, "librosa": librosa.__version__}


# ----------------------------------------------------------------------------- engine ablation
def switch_off(variant: str) -> None:
    """Turn one trick of polysense's CPU engine off in this process (private names: a benchmark may)."""
    import torch

    from polysense.signal import _engine

    if variant == "no_engine":
        _engine.spectra = lambda *args, **kwargs: None  # apply_plan then takes its plain path
    elif variant == "padded_copy":
        _engine._frame_pieces = lambda x2, L, hop, left, right, mode, n: [
            (0, _engine._pad(x2, left, right, mode).unfold(-1, L, hop)[:, :n])]
    elif variant == "dense_mel":
        torch.Tensor.to_sparse_csr = lambda self: self
    elif variant == "fresh_scratch":
        _engine._Scratch.get = lambda self, key, shape, dtype: torch.empty(shape, dtype=dtype)
    elif variant == "torch_empty":
        _engine.NUMPY_OUTPUT_BYTES = 1 << 62
    elif variant == "openmp":
        _engine.MAX_WORKERS = 1
    elif variant == "call_threads":
        from concurrent.futures import ThreadPoolExecutor

        _engine._pool = lambda workers: ThreadPoolExecutor(workers)  # fresh threads per call


def engine_worker(data_path: str, threads: int, variant: str, repeats: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    if variant != "baseline":
        switch_off(variant)
    data = np.load(data_path)
    methods = polysense_methods(torch)
    out = {}
    for name in ("batch", "long"):
        x = data[name]
        for feature in FEATURES:
            fn = methods[feature]
            fn(x)
            times = []
            for _ in range(repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                fn(x)
                times.append((time.perf_counter() - wall, time.process_time() - cpu))
            out[f"{name}/{feature}"] = times
    return out


def run_engine_ablation(data_path: str, rounds: int, repeats: int, baseline_src: str | None) -> dict:
    variants = list(ENGINE_VARIANTS) + (["baseline"] if baseline_src else [])
    results: dict = {}
    for threads in (1, 2):
        for r in range(rounds):
            for variant in variants:
                if variant in ("openmp", "call_threads") and threads == 1:
                    continue  # one thread either way
                print(f"engine ablation: threads={threads} round={r} {variant} ...", file=sys.stderr, flush=True)
                env = dict(os.environ, **{var: str(threads) for var in THREAD_VARS})
                for var in ALLOCATOR_ENV:
                    env.pop(var, None)
                if variant == "baseline":
                    env["PYTHONPATH"] = baseline_src
                cmd = [sys.executable, __file__, "--engine-worker", data_path, "--threads", str(threads),
                       "--variant", variant, "--repeats", str(repeats)]
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                for key, times in json.loads(out.stdout.strip().splitlines()[-1]).items():
                    results.setdefault((threads, variant), {}).setdefault(key, []).extend(times)
    return results


def format_engine_table(results: dict, source: str, rounds: int, repeats: int, baseline_src: str | None) -> str:
    keys = ["batch/power", "batch/logmel", "long/power", "long/logmel"]
    lines = [
        "<!-- frontend-engine:start -->",
        "## Front end: what each engine trick buys (`benchmarks/frontend.py --engine`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(load average {os.getloadavg()[1]:.1f} over the last 5 minutes: above the core count, the machine was "
        "shared with other jobs); default allocator. "
        f"Audio: {source}; the workload of the table above. Each variant switches one trick of "
        "`src/polysense/signal/_engine.py` off; variants interleaved over "
        f"{rounds} rounds × {repeats} calls in fresh processes. Cells: best / median wall ms / best CPU ms "
        "(CPU = process time, all threads). `cost` = the variant's time / the engine's "
        "(best CPU time at 1 thread; median wall time at 2, where single calls vary most): what removing the trick costs.",
        "",
    ]
    variants = list(ENGINE_VARIANTS) + (["baseline"] if baseline_src else [])
    for threads in (1, 2):
        lines += [f"### {threads} thread{'s' if threads > 1 else ''}", "",
                  "| switched off | " + " | ".join(f"{k} ms | cost" for k in keys) + " |",
                  "|---|" + "---:|---:|" * len(keys)]
        ref = results[(threads, "engine")]
        for variant in variants:
            if (threads, variant) not in results:
                continue
            cells = []
            for key in keys:
                wall = min(t[0] for t in results[(threads, variant)][key])
                median = float(np.median([t[0] for t in results[(threads, variant)][key]]))
                cpu = min(t[1] for t in results[(threads, variant)][key])
                if threads == 1:
                    cost = cpu / min(t[1] for t in ref[key])
                else:
                    cost = median / float(np.median([t[0] for t in ref[key]]))
                cells.append(f"{wall * 1e3:.1f} / {median * 1e3:.1f} / {cpu * 1e3:.1f} | {cost:.2f}×")
            label = "— (previous front end)" if variant == "baseline" else ENGINE_VARIANTS[variant].split(":")[0]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("<!-- frontend-engine:end -->")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- report
def run_config(data_path: str, threads: int, allocator: str, quick: bool, check_accuracy: bool) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    if allocator == "tuned":
        env.update(ALLOCATOR_ENV)
    else:
        for var in ALLOCATOR_ENV:
            env.pop(var, None)
    cmd = [sys.executable, __file__, "--worker", data_path, "--threads", str(threads)]
    if quick:
        cmd.append("--quick")
    if check_accuracy:
        cmd.append("--accuracy")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_tables(results: dict, source: str, quick: bool, meta: dict) -> str:
    lines = [
        "<!-- frontend:start -->",
        "## Front end: spectrogram and log-mel speed (`benchmarks/frontend.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (load average {os.getloadavg()[1]:.1f} over the last 5 minutes of the run: "
        "above the core count means the machine was shared with other jobs, and times are slower and noisier); "
        f"torch {meta['torch']}, librosa {meta['librosa']}"
        + (" (**--quick run**: fewer repeats, 1-minute long clip)" if quick else "")
        + ".",
        f"Audio: {source}. n_fft {N_FFT}, hop {HOP}, 128 Slaney mels, {SAMPLE_RATE} Hz, centred frames.",
        "Times are medians of repeated calls after a warm-up (the FFT floor: its best repeat); "
        "× RT = audio seconds per wall second.",
        "`vs librosa` = librosa's time / polysense's time (higher is better); `vs floor` = time / FFT-floor time.",
        "",
    ]
    batch_s = BATCH * CLIP_S
    long_s = 60.0 if quick else LONG_S
    for allocator in ("default", "tuned"):
        lines += [
            f"### Allocator: {allocator}"
            + (" (glibc defaults, what users get)" if allocator == "default" else " (MALLOC_MMAP_MAX_=0, trim threshold 1 GiB: freed memory kept)"),
            "",
            "| workload | feature | threads | " + " | ".join(f"{m} ms" for m in METHODS) + " | polysense × RT | vs librosa | vs torch_plain | polysense vs floor |",
            "|" + "---|" * (3 + len(METHODS) + 4),
        ]
        for workload in ("batch", "long"):
            audio_s = batch_s if workload == "batch" else long_s
            for feature in FEATURES:
                for threads in (1, 2):
                    t = results[(allocator, threads)]["timings"][workload]
                    ms = [t[m][feature] * 1e3 for m in METHODS]
                    ps = t["polysense"][feature]
                    lines.append(
                        f"| {workload} | {feature} | {threads} | "
                        + " | ".join(f"{v:.1f}" for v in ms)
                        + f" | {audio_s / ps:,.0f} | {t['librosa'][feature] / ps:.2f}× | "
                        f"{t['torch_plain'][feature] / ps:.2f}× | {ps / t['fft_floor'][feature]:.2f}× |"
                    )
        lines.append("")
    errors = results[("default", 1)]["errors"]
    if errors:
        lines += [
            "### Accuracy against a float64 reference (bins within 60 dB of the maximum)",
            "",
            "| workload | method | power: max rel. error | log-mel: max abs. error (dB) |",
            "|---|---|---|---|",
        ]
        for workload, per_method in errors.items():
            for method, err in per_method.items():
                lines.append(f"| {workload} | {method} | {err['power']:.2e} | {err['logmel']:.2e} |")
        lines.append("")
    lines.append("<!-- frontend:end -->")
    return "\n".join(lines)


def write_section(text: str, start: str = "<!-- frontend:start -->", end: str = "<!-- frontend:end -->") -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), leaving the others alone."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nEach section is written by the script it names.\n"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        _, tail = rest.split(end, 1)
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", metavar="NPZ")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="short smoke run: fewer repeats, 1-minute long clip")
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--engine", action="store_true", help="measure what each engine trick buys instead")
    parser.add_argument("--baseline-src", help="with --engine: another checkout's src folder, timed as one more variant")
    parser.add_argument("--rounds", type=int, default=3, help="with --engine: rounds over the variants")
    parser.add_argument("--repeats", type=int, default=5, help="with --engine: timed calls per variant and round")
    parser.add_argument("--engine-worker", metavar="NPZ")
    parser.add_argument("--variant", default="engine")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.quick, args.accuracy)))
        return
    if args.engine_worker:
        print(json.dumps(engine_worker(args.engine_worker, args.threads, args.variant, args.repeats)))
        return
    if args.engine:
        with tempfile.TemporaryDirectory() as tmp:
            data_path = str(Path(tmp) / "audio.npz")
            source = make_audio(Path(data_path), args.quick)
            results = run_engine_ablation(data_path, args.rounds, args.repeats, args.baseline_src)
        text = format_engine_table(results, source, args.rounds, args.repeats, args.baseline_src)
        print(text)
        if not args.no_write:
            write_section(text, "<!-- frontend-engine:start -->", "<!-- frontend-engine:end -->")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_path = str(Path(tmp) / "audio.npz")
        source = make_audio(Path(data_path), args.quick)
        results = {}
        for allocator in ("default", "tuned"):
            for threads in (1, 2):
                print(f"running allocator={allocator} threads={threads} ...", file=sys.stderr, flush=True)
                check = allocator == "default" and threads == 1
                results[(allocator, threads)] = run_config(data_path, threads, allocator, args.quick, check)
    text = format_tables(results, source, args.quick, results[("default", 1)])
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
