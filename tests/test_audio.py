"""polysense.audio: the integer mapping, round trips, shapes, streaming blocks and every error path."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from polysense import audio
from polysense.errors import AudioError


def _on_grid(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Values exactly representable as q / 2**(bits-1) inside the code range."""
    scale = 2.0 ** (bits - 1)
    return (x * scale).round().clamp(-scale, scale - 1) / scale


@pytest.fixture
def stereo(rng) -> torch.Tensor:
    return (0.5 * torch.randn(2, 4000, generator=rng, dtype=torch.float64)).clamp(-1, 1)


# --- the integer mapping (reference: the formula q / 2**(bits-1), exact) -------------------------


@pytest.mark.parametrize(
    ("subtype", "np_dtype", "bits"),
    [("PCM_16", "int16", 16), ("PCM_32", "int32", 32)],
)
def test_integer_codes_map_to_half_open_unit_interval(tmp_path, subtype, np_dtype, bits):
    info = np.iinfo(np_dtype)
    codes = np.array([info.min, -1, 0, 1, info.max], dtype=np_dtype)
    path = tmp_path / "codes.wav"
    sf.write(path, codes, 8000, subtype=subtype)
    x, sr = audio.load(path, dtype=torch.float64)
    assert sr == 8000
    expected = torch.tensor(codes.astype(np.float64) / 2.0 ** (bits - 1))
    torch.testing.assert_close(x, expected, rtol=0, atol=0)
    assert x.min() == -1.0 and x.max() == 1 - 2.0 ** (1 - bits)


def test_24_bit_codes_map_exactly(tmp_path):
    codes = np.array([-(2**23), -5, 0, 7, 2**23 - 1], dtype=np.int64)
    path = tmp_path / "codes24.wav"
    sf.write(path, (codes << 8).astype(np.int32), 8000, subtype="PCM_24")
    x, _ = audio.load(path, dtype=torch.float64)
    torch.testing.assert_close(x, torch.tensor(codes / 2.0**23), rtol=0, atol=0)


def test_unsigned_8_bit_is_recentred(tmp_path):
    # WAV stores 8-bit as unsigned 0..255 with 128 as zero; libsndfile recentres it to -128..127.
    path = tmp_path / "u8.wav"
    sf.write(path, np.array([-128, 0, 127], dtype=np.int16) << 8, 8000, subtype="PCM_U8")
    x, _ = audio.load(path, dtype=torch.float64)
    torch.testing.assert_close(x, torch.tensor([-1.0, 0.0, 127 / 128], dtype=torch.float64), rtol=0, atol=0)


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "subtype", "bits"),
    [
        (".wav", "PCM_16", 16),
        (".wav", "PCM_24", 24),
        (".wav", "PCM_32", 32),
        (".wav", "PCM_U8", 8),
        (".flac", "PCM_16", 16),
        (".flac", "PCM_24", 24),
        (".flac", "PCM_S8", 8),
    ],
)
def test_save_load_round_trip_is_bit_exact_on_the_grid(tmp_path, stereo, suffix, subtype, bits):
    x = _on_grid(stereo, bits)
    path = audio.save(tmp_path / f"x{suffix}", x, 16000, subtype=subtype)
    y, sr = audio.load(path, mono=False, dtype=torch.float64)
    assert sr == 16000 and y.shape == (2, 4000)
    torch.testing.assert_close(y, x, rtol=0, atol=0)


def test_float_subtype_round_trip(tmp_path, stereo):
    x = stereo.float()
    audio.save(tmp_path / "x.wav", x, 16000, subtype="FLOAT")
    y, _ = audio.load(tmp_path / "x.wav", mono=False, dtype=torch.float32)
    torch.testing.assert_close(y, x, rtol=0, atol=0)


def test_save_quantises_off_grid_values_within_half_a_step(tmp_path, stereo):
    x = stereo.clamp(-1, 1 - 2.0**-15)  # inside the code range: no clipping
    audio.save(tmp_path / "x.wav", x, 8000)  # default PCM_16
    y, _ = audio.load(tmp_path / "x.wav", mono=False, dtype=torch.float64)
    assert (y - x).abs().max() <= 0.5 / 2**15


def test_save_clips_to_the_code_range(tmp_path):
    audio.save(tmp_path / "clip.wav", torch.tensor([-3.0, 1.0, 2.0]), 8000)
    y, _ = audio.load(tmp_path / "clip.wav", dtype=torch.float64)
    torch.testing.assert_close(y, torch.tensor([-1.0, 1 - 2.0**-15, 1 - 2.0**-15], dtype=torch.float64))


def test_ogg_vorbis_round_trip_keeps_a_tone(tmp_path):
    t = torch.arange(16000, dtype=torch.float64) / 16000
    x = 0.5 * torch.sin(2 * math.pi * 440 * t)
    audio.save(tmp_path / "tone.ogg", x, 16000)
    i = audio.info(tmp_path / "tone.ogg")
    assert (i.format, i.subtype, i.bit_depth, i.frames) == ("OGG", "VORBIS", None, 16000)
    y, _ = audio.load(tmp_path / "tone.ogg", dtype=torch.float64)
    # Lossy codec: compare energy and correlation rather than samples.
    corr = torch.dot(x, y) / (x.norm() * y.norm())
    assert corr > 0.99


# --- shapes and channels -------------------------------------------------------------------------


def test_mono_mixes_channels_by_mean_and_keeps_channels_otherwise(tmp_path, stereo):
    x = _on_grid(stereo, 16)
    audio.save(tmp_path / "s.wav", x, 8000)
    kept, _ = audio.load(tmp_path / "s.wav", mono=False, dtype=torch.float64)
    mixed, _ = audio.load(tmp_path / "s.wav", dtype=torch.float64)
    assert kept.shape == (2, 4000) and mixed.shape == (4000,)
    torch.testing.assert_close(mixed, x.mean(dim=0), rtol=0, atol=1e-15)


def test_mono_file_with_mono_false_is_one_channel(tmp_path):
    audio.save(tmp_path / "m.wav", torch.zeros(100), 8000)
    x, _ = audio.load(tmp_path / "m.wav", mono=False)
    assert x.shape == (1, 100) and x.dtype == torch.float32


def test_info_fields(tmp_path, stereo):
    audio.save(tmp_path / "s.flac", stereo, 22050, subtype="PCM_24")
    i = audio.info(tmp_path / "s.flac")
    assert (i.sample_rate, i.channels, i.frames, i.format, i.subtype, i.bit_depth) == (
        22050, 2, 4000, "FLAC", "PCM_24", 24,
    )
    assert i.duration_s == pytest.approx(4000 / 22050, rel=1e-12)
    assert i.nyquist_hz == 11025.0


# --- real recordings -----------------------------------------------------------------------------


@pytest.mark.fsdd
def test_fsdd_files_load_as_documented(fsdd_dir):
    files = sorted(fsdd_dir.glob("*.wav"))[:20]
    for path in files:
        i = audio.info(path)
        assert (i.sample_rate, i.channels, i.format, i.subtype, i.bit_depth) == (8000, 1, "WAV", "PCM_16", 16)
        x, sr = audio.load(path, dtype=torch.float64)
        codes, _ = sf.read(path, dtype="int16")
        assert sr == 8000 and x.shape == (i.frames,)
        torch.testing.assert_close(x, torch.from_numpy(codes / 32768.0), rtol=0, atol=0)


@pytest.mark.fsdd
def test_fsdd_blocks_concatenate_to_the_whole_file(fsdd_dir):
    path = sorted(fsdd_dir.glob("*.wav"))[0]
    whole, _ = audio.load(path)
    parts = list(audio.blocks(path, block_size=1000))
    assert all(p.shape[-1] <= 1000 for p in parts)
    assert all(p.shape[-1] == 1000 for p in parts[:-1])
    torch.testing.assert_close(torch.cat(parts), whole, rtol=0, atol=0)


# --- blocks --------------------------------------------------------------------------------------


def test_blocks_keep_channels(tmp_path, stereo):
    audio.save(tmp_path / "s.wav", stereo, 8000)
    whole, _ = audio.load(tmp_path / "s.wav", mono=False)
    parts = list(audio.blocks(tmp_path / "s.wav", block_size=999, mono=False))
    assert [p.shape for p in parts] == [(2, 999)] * 4 + [(2, 4)]
    torch.testing.assert_close(torch.cat(parts, dim=-1), whole, rtol=0, atol=0)


def test_blocks_never_read_more_than_one_block(tmp_path, monkeypatch):
    n = 16000 * 60  # one minute at 16 kHz
    audio.save(tmp_path / "long.wav", torch.zeros(n), 16000)
    requested: list[int] = []
    original = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        requested.append(frames)
        return original(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    total = sum(b.shape[-1] for b in audio.blocks(tmp_path / "long.wav", block_size=4096))
    assert total == n
    assert requested and max(requested) == 4096


def test_blocks_reject_bad_block_size(tmp_path):
    audio.save(tmp_path / "x.wav", torch.zeros(10), 8000)
    with pytest.raises(ValueError, match="block_size"):
        next(audio.blocks(tmp_path / "x.wav", block_size=0))


# --- errors: each names the file and the cause ---------------------------------------------------


def _wav_bytes(tmp_path: Path, n: int = 8000) -> bytes:
    audio.save(tmp_path / "src.wav", 0.1 * torch.ones(n), 8000)
    return (tmp_path / "src.wav").read_bytes()


@pytest.mark.parametrize("reader", ["load", "info", "blocks"])
def test_missing_file(tmp_path, reader):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=r"nope\.wav.*not found"):
        _call(reader, path)


@pytest.mark.parametrize("reader", ["load", "info", "blocks"])
def test_zero_byte_file(tmp_path, reader):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav.*empty file \(0 bytes\)"):
        _call(reader, path)


def test_zero_frame_file(tmp_path):
    path = tmp_path / "noframes.wav"
    sf.write(path, np.zeros(0, dtype=np.int16), 8000)
    with pytest.raises(AudioError, match=r"noframes\.wav.*no audio frames"):
        audio.load(path)


@pytest.mark.parametrize("reader", ["load", "info", "blocks"])
@pytest.mark.parametrize("keep", [44, 5000, 15000])
def test_truncated_wav(tmp_path, reader, keep):
    data = _wav_bytes(tmp_path)
    path = tmp_path / "cut.wav"
    path.write_bytes(data[:keep])  # header says 16000 bytes of samples; fewer follow
    with pytest.raises(AudioError, match=r"cut\.wav.*truncated"):
        _call(reader, path)


def test_truncated_flac(tmp_path, rng):
    audio.save(tmp_path / "src.flac", 0.3 * torch.randn(20000, generator=rng).clamp(-3, 3) / 3, 8000)
    data = (tmp_path / "src.flac").read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"cut\.flac.*truncated"):
        audio.load(path)


@pytest.mark.parametrize("content", [b"hello, this is not a sound file at all", bytes(range(256)) * 8])
def test_non_audio_file(tmp_path, content):
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=r"notes\.wav.*not a readable audio file"):
        audio.load(path)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(AudioError, match="not a regular file"):
        audio.load(tmp_path)


def test_audio_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        audio.load(tmp_path / "missing.flac")


def test_save_rejects_unknown_extension_and_bad_shapes(tmp_path):
    with pytest.raises(AudioError, match=r"\.xyz"):
        audio.save(tmp_path / "x.xyz", torch.zeros(10), 8000)
    with pytest.raises(AudioError, match="expected \\(time,\\) or \\(channels, time\\)"):
        audio.save(tmp_path / "x.wav", torch.zeros(1, 2, 10), 8000)
    with pytest.raises(ValueError, match="NaN"):
        audio.save(tmp_path / "x.wav", torch.tensor([0.0, float("nan")]), 8000)


def test_load_rejects_bad_arguments(tmp_path):
    audio.save(tmp_path / "x.wav", torch.zeros(10), 8000)
    with pytest.raises(ValueError, match="dtype"):
        audio.load(tmp_path / "x.wav", dtype=torch.int16)
    with pytest.raises(ValueError, match="quality"):
        audio.load(tmp_path / "x.wav", quality="best")
    with pytest.raises(ValueError, match="sample_rate"):
        audio.load(tmp_path / "x.wav", sample_rate=0)


def _call(reader: str, path: Path):
    if reader == "load":
        return audio.load(path)
    if reader == "info":
        return audio.info(path)
    return list(audio.blocks(path, block_size=256))



# --- resampling on load (reference: polysense.signal.resample on the loaded signal) --------------


def test_load_resamples_with_the_front_end_resampler(tmp_path, stereo):
    from polysense.signal.resample import resample

    audio.save(tmp_path / "s.wav", stereo, 8000)
    native, sr = audio.load(tmp_path / "s.wav", mono=False, dtype=torch.float64)
    up, new_sr = audio.load(tmp_path / "s.wav", mono=False, dtype=torch.float64, sample_rate=16000)
    assert (sr, new_sr) == (8000, 16000) and up.shape == (2, 8000)
    expected = resample(native, orig_sample_rate=8000, new_sample_rate=16000, quality="HQ")
    torch.testing.assert_close(up, expected, rtol=0, atol=0)
    same, _ = audio.load(tmp_path / "s.wav", mono=False, dtype=torch.float64, sample_rate=8000)
    torch.testing.assert_close(same, native, rtol=0, atol=0)  # no-op at the file's own rate


@pytest.mark.fsdd
def test_blocks_resampled_on_the_fly_equal_resampling_the_whole_file(fsdd_dir):
    path = sorted(fsdd_dir.glob("*.wav"))[3]
    whole, _ = audio.load(path, sample_rate=16000, dtype=torch.float64)
    parts = list(audio.blocks(path, block_size=777, sample_rate=16000, dtype=torch.float64))
    torch.testing.assert_close(torch.cat(parts), whole, rtol=0, atol=1e-12)


# --- streaming log-mel (reference: one-shot log_mel_spectrogram, 1e-5 relative) ------------------


def _one_shot(path, sample_rate=None, **kwargs):
    from polysense.signal.spectrogram import log_mel_spectrogram

    x, sr = audio.load(path, sample_rate=sample_rate)
    return log_mel_spectrogram(x, sample_rate=sr, top_db=None, **kwargs)


@pytest.mark.parametrize("block_size", [1000, 4096, 100_000])
def test_stream_log_mel_equals_one_shot(tmp_path, rng, block_size):
    t = torch.arange(5 * 16000, dtype=torch.float64) / 16000
    x = 0.4 * torch.sin(2 * math.pi * (200 + 300 * t) * t) + 0.05 * torch.randn(t.shape, generator=rng, dtype=torch.float64)
    audio.save(tmp_path / "chirp.wav", x, 16000)
    params = dict(n_fft=512, hop_length=128, n_mels=64)
    streamed = torch.cat(list(audio.stream_log_mel(tmp_path / "chirp.wav", block_size=block_size, **params)), dim=-1)
    reference = _one_shot(tmp_path / "chirp.wav", **params)
    assert streamed.shape == reference.shape
    torch.testing.assert_close(streamed, reference, rtol=1e-5, atol=1e-5 * float(reference.abs().max()))


@pytest.mark.fsdd
def test_stream_log_mel_equals_one_shot_on_a_real_recording_resampled(fsdd_dir):
    path = sorted(fsdd_dir.glob("*.wav"))[10]
    params = dict(n_fft=400, hop_length=160, n_mels=40)
    streamed = torch.cat(list(audio.stream_log_mel(path, sample_rate=16000, block_size=2048, **params)), dim=-1)
    reference = _one_shot(path, sample_rate=16000, **params)
    torch.testing.assert_close(streamed, reference, rtol=1e-5, atol=1e-5 * float(reference.abs().max()))


def test_stream_log_mel_memory_is_bounded_by_the_block_not_the_file(tmp_path, monkeypatch):
    # Two minutes at 16 kHz: 1.92 M samples, 7.7 MB as int32/float32. Reading it in 8192-frame
    # blocks must never ask libsndfile for more than a block, and the traced (numpy) memory peak
    # must stay near a few blocks, not the file.
    n = 16000 * 120
    g = torch.Generator().manual_seed(1)
    audio.save(tmp_path / "long.wav", 0.1 * torch.randn(n, generator=g).clamp(-5, 5) / 5, 16000)
    requested: list[int] = []
    original = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        requested.append(frames)
        return original(self, frames, *args, **kwargs)

    params = dict(n_fft=512, hop_length=256, n_mels=40)
    audio.save(tmp_path / "short.wav", torch.zeros(4000), 16000)
    list(audio.stream_log_mel(tmp_path / "short.wav", **params))  # warm-up: imports are not the signal
    monkeypatch.setattr(sf.SoundFile, "read", spy)
    tracemalloc.start()
    try:
        frames = 0
        for chunk in audio.stream_log_mel(tmp_path / "long.wav", block_size=8192, **params):
            frames += chunk.shape[-1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames == 1 + n // 256
    assert max(requested) == 8192
    # Measured: ~80 kB (one int32 block and its float copy); the whole signal would be 7.7 MB.
    assert peak < 400_000, f"peak traced memory {peak} bytes for a {4 * n}-byte signal"


# --- headers are not trusted (issue: bad input) ---------------------------------------------------


def _claim_frames_flac(path: Path, frames: int) -> None:
    """Rewrite STREAMINFO's 36-bit total-samples field (bytes 21..25 of a FLAC file)."""
    data = bytearray(path.read_bytes())
    field = int.from_bytes(data[18:26], "big")
    field = (field & ~((1 << 36) - 1)) | frames
    data[18:26] = field.to_bytes(8, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("reader", ["load", "info", "blocks"])
def test_a_header_claiming_more_frames_than_the_file_can_hold_is_refused_up_front(tmp_path, reader):
    path = tmp_path / "claim.flac"
    sf.write(path, np.zeros(4000), 8000, subtype="PCM_16")
    _claim_frames_flac(path, 2**36 - 1)
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match=r"claim\.flac: the header claims 68,719,476,735 frames but .* at most"):
            _read(reader, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # nothing near the 256 GiB the header asks for


def test_a_plausible_but_false_claim_reads_what_is_there_and_reports_truncation(tmp_path, monkeypatch):
    # 4,000 real frames claimed as 4,000,000: within what the bytes could hold compressed, so the
    # reader tries, in blocks of 2**20 frames, and its memory follows the audio actually present.
    path = tmp_path / "claim.flac"
    sf.write(path, 0.1 * np.sin(np.arange(4000) / 3.0), 8000, subtype="PCM_16")
    _claim_frames_flac(path, 4_000_000)
    with pytest.raises(AudioError, match=r"claim\.flac: .*(truncated|corrupt)"):
        audio.load(path)


def test_a_header_sample_rate_outside_the_limits_is_refused(tmp_path):
    path = tmp_path / "rate.wav"
    sf.write(path, np.zeros(100), 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = (2_100_000_000).to_bytes(4, "little")  # fmt chunk: the sample rate
    path.write_bytes(bytes(data))
    for reader in (audio.info, audio.load):
        with pytest.raises(AudioError, match=r"rate\.wav: the header claims a sample rate of 2,100,000,000 Hz.*POLYSENSE_MAX_SAMPLE_RATE"):
            reader(path)


@pytest.mark.parametrize("value, shown", [(math.nan, "NaN"), (math.inf, "infinite"), (1e300, "1e\\+300"), (1e30, "1e\\+30")])
@pytest.mark.parametrize("reader", ["load", "blocks"])
def test_float_samples_that_are_not_finite_or_far_beyond_full_scale_are_refused(tmp_path, value, shown, reader):
    path = tmp_path / "bad.wav"
    x = np.zeros((3000, 2))
    x[2500, 1] = value
    sf.write(path, x, 8000, subtype="DOUBLE")
    with pytest.raises(AudioError, match=rf"bad\.wav: sample {shown} at frame 2,500 \(channel 1\).*POLYSENSE_MAX_SAMPLE_VALUE"):
        _read(reader, path)


def test_loud_but_sane_float_audio_loads(tmp_path):
    path = tmp_path / "loud.wav"
    x = np.full(100, 1000.0)  # 60 dB above full scale, within the default limit of 1e4
    sf.write(path, x, 8000, subtype="FLOAT")
    assert audio.load(path)[0].max().item() == 1000.0


def test_load_refuses_more_samples_than_the_limit_saying_what_it_would_need(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros((5000, 2)), 8000, subtype="PCM_16")
    monkeypatch.setenv("POLYSENSE_MAX_SAMPLES", "9999")
    with pytest.raises(AudioError, match=r"long\.wav: 5,000 frames x 2 channel\(s\) = 10,000 samples would need 39.1 KiB.*blocks"):
        audio.load(path)
    assert sum(b.shape[-1] for b in audio.blocks(path, block_size=1024)) == 5000  # streaming has no such limit



# --- spans (reference: soundfile's read(start, stop) and the whole file sliced) ---------------------


@pytest.mark.parametrize(("offset_s", "duration_s", "start", "stop"), [
    (0.0, None, 0, 5000), (0.25, 0.1, 2000, 2800), (0.5, 1.0, 4000, 5000), (0.6, None, 4800, 5000),
    (0.7, 0.5, 5000, 5000), (0.2, 0.0, 1600, 1600)])
def test_load_reads_the_span_soundfile_reads(tmp_path, offset_s, duration_s, start, stop):
    path = tmp_path / "s.wav"
    codes = np.random.default_rng(1).integers(-2**15, 2**15, size=(5000, 2), dtype=np.int16)
    sf.write(path, codes, 8000, subtype="PCM_16")
    span, rate = audio.load(path, mono=False, dtype=torch.float64, offset_s=offset_s, duration_s=duration_s)
    reference, _ = sf.read(path, start=start, stop=stop, dtype="int16", always_2d=True)
    assert rate == 8000 and span.shape == (2, stop - start)
    torch.testing.assert_close(span, torch.from_numpy(reference.T / 32768.0), rtol=0, atol=0)
    mono, _ = audio.load(path, offset_s=offset_s, duration_s=duration_s)
    torch.testing.assert_close(mono, audio.load(path)[0][start:stop], rtol=0, atol=0)


def test_a_span_is_resampled_and_bounded_by_its_own_length(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(path, 0.1 * np.sin(np.arange(40000) / 7.0), 8000, subtype="FLOAT")
    span, rate = audio.load(path, sample_rate=16000, offset_s=1.0, duration_s=0.5)
    assert rate == 16000 and span.shape == (8000,)
    monkeypatch.setenv("POLYSENSE_MAX_SAMPLES", "10000")
    with pytest.raises(AudioError, match="40,000 frames"):
        audio.load(path)
    assert audio.load(path, offset_s=2.0, duration_s=1.0)[0].shape == (8000,)  # a span under the limit loads
    with pytest.raises(ValueError, match=r"offset_s=-0.5 is invalid: expected a finite number >= 0 \(seconds\)"):
        audio.load(path, offset_s=-0.5)
    with pytest.raises(ValueError, match=r"duration_s=nan is invalid"):
        audio.load(path, duration_s=float("nan"))

@pytest.mark.parametrize("name", ["x\x00.wav", "x" * 300 + ".wav"])
def test_paths_the_os_refuses_are_audio_errors(tmp_path, name):
    with pytest.raises(AudioError):
        audio.load(tmp_path / name)


def test_a_symlink_loop_is_an_audio_error(tmp_path):
    (tmp_path / "a.wav").symlink_to("b.wav")
    (tmp_path / "b.wav").symlink_to("a.wav")
    with pytest.raises(AudioError, match=r"a\.wav"):
        audio.info(tmp_path / "a.wav")


@pytest.mark.parametrize("rate", [1.5, True, "8000", 10**10])
def test_load_target_rate_must_be_a_whole_number_of_hz_in_range(tmp_path, rate):
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros(100), 8000, subtype="PCM_16")
    with pytest.raises(ValueError, match="sample_rate"):
        audio.load(path, sample_rate=rate)


def _read(reader: str, path: Path):
    if reader == "info":
        return audio.info(path)
    if reader == "blocks":
        return list(audio.blocks(path, block_size=1024))
    return audio.load(path)
