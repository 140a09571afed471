"""Fuzz the audio reader, the dataset and ``data check`` with mutated WAV/FLAC/OGG bytes, under a
memory limit. Run by tests/fuzz/test_files.py in a subprocess:

    python -m tests.fuzz._file_worker FOLDER MAX_EXAMPLES MEMORY_BYTES

The address-space limit (``resource.setrlimit(RLIMIT_AS)``) makes any attempt to allocate what a
lying header claims fail with MemoryError, which the contract counts as a failure. Exit status 0
means every example held the contract; otherwise hypothesis prints the shrunk failing example.
"""

from __future__ import annotations

import math
import resource
import struct
import sys
import warnings
from pathlib import Path

# Values a corrupt or hostile header field may hold.
INTERESTING = (0, 1, 2, 3, 7, 8, 255, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
               2_100_000_000, 44100, 48000, 2**36 - 1, 2**63 - 1)
BAD_SAMPLES = (math.nan, math.inf, -math.inf, 1e300, -1e30, 5e4)


def make_seeds(folder: Path) -> dict[str, bytes]:
    """Real files of each kind polysense reads, a few thousand frames each."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(4000) / 8000) + 0.01 * rng.standard_normal(4000)).astype(np.float32)
    stereo = np.stack([x, -x], axis=1)
    specs = {
        "pcm16.wav": (x, "PCM_16"), "float.wav": (x, "FLOAT"), "double.wav": (stereo, "DOUBLE"),
        "pcm24.flac": (stereo, "PCM_24"), "vorbis.ogg": (x, "VORBIS"), "u8.wav": (x, "PCM_U8"),
    }
    seeds = {}
    for name, (data, subtype) in specs.items():
        path = folder / f"seed-{name}"
        sf.write(path, data, 8000, subtype=subtype)
        seeds[name] = path.read_bytes()
    return seeds


def apply(data: bytes, name: str, mutations) -> bytes:
    buf = bytearray(data)
    for kind, arg in mutations:
        if not buf:
            break
        if kind == "flip":
            for pos, value in arg:
                buf[pos % len(buf)] = value
        elif kind == "field":
            offset, width, value, big = arg
            fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
            raw = struct.pack((">" if big else "<") + fmt, value % (1 << (8 * width)))
            offset %= max(1, min(len(buf), 96) - width + 1)
            buf[offset:offset + width] = raw
        elif kind == "truncate":
            buf = buf[: int(len(buf) * arg)]
        elif kind == "extend":
            buf += arg
        elif kind == "samples" and name.endswith(("float.wav", "double.wav")):
            size, code = (4, "<f") if "float" in name else (8, "<d")
            for index, value in arg:
                pos = 44 + (index * size) % max(size, len(buf) - 44 - size)
                pos -= (pos - 44) % size
                if size == 4 and math.isfinite(value) and abs(value) > 3e38:
                    value = math.copysign(3e38, value)  # the largest a float32 file can hold
                if pos + size <= len(buf):
                    buf[pos:pos + size] = struct.pack(code, value)
        elif kind == "flac" and name.endswith(".flac") and len(buf) >= 26:
            rate, channels, bits, frames = arg  # STREAMINFO's packed 64-bit field at bytes 18..25
            field = (rate % (1 << 20)) << 44 | (channels % 8) << 41 | (bits % 32) << 36 | (frames % (1 << 36))
            buf[18:26] = field.to_bytes(8, "big")
    return bytes(buf)


def main() -> None:
    folder, examples, memory = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from polysense import audio
    from polysense.data.check import check_manifest
    from polysense.data.dataset import ManifestDataset
    from tests.fuzz.contract import check_call

    seeds = make_seeds(folder)
    mutation = st.one_of(
        st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8)),
        st.tuples(st.just("field"), st.tuples(st.integers(0, 95), st.sampled_from([1, 2, 4, 8]),
                                              st.sampled_from(INTERESTING), st.booleans())),
        st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
        st.tuples(st.just("extend"), st.binary(min_size=1, max_size=512)),
        st.tuples(st.just("samples"), st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(BAD_SAMPLES)),
                                               min_size=1, max_size=3)),
        st.tuples(st.just("flac"), st.tuples(st.sampled_from([0, 1, 8000, 655350, 2**20 - 1]), st.integers(0, 7),
                                             st.integers(0, 31), st.sampled_from([0, 1, 4000, 2**30, 2**36 - 1]))),
    )

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(name=st.sampled_from(sorted(seeds)), mutations=st.lists(mutation, min_size=1, max_size=3))
    def case(name, mutations):
        path = folder / f"case-{name}"
        path.write_bytes(apply(seeds[name], name, mutations))
        names = [path.name]
        check_call(lambda: audio.info(path), names)
        loaded = check_call(lambda: audio.load(path, mono=False), names)
        check_call(lambda: list(audio.blocks(path, block_size=1024)), names)
        check_call(lambda: audio.load(path, sample_rate=16000), names)
        # The manifest layer: data check and the dataset must agree, and never raise.
        manifest = folder / "m.csv"
        manifest.write_text(f"id,audio,label\na,{path.name},0\n", encoding="utf-8")
        report = check_call(lambda: check_manifest(manifest), names)
        assert not isinstance(report, Exception), f"check_manifest raised: {report}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = ManifestDataset(manifest, sample_rate=8000, on_error="skip")
            item = check_call(lambda: dataset[0], names)
        assert not isinstance(item, Exception), f"on_error='skip' raised: {item}"
        if item is None:
            assert [r.id for r in dataset.skipped] == ["a"] and path.name in dataset.skipped[0].file
        ok = not isinstance(loaded, Exception)
        assert report.usable == ok == (item is not None), (
            f"data check says usable={report.usable}, load ok={ok}, dataset item={item is not None}: they must agree"
        )

    case()
    print(f"ok: {examples} mutated files held the contract")


if __name__ == "__main__":
    main()
