"""nn.Module wrappers: module == functional, batch consistency, buffers, state_dict, dtype, device."""

from __future__ import annotations

import io

import pytest
import torch

from polysense.errors import ParameterError
from polysense.signal.spectrogram import amplitude_to_db, log_mel_spectrogram, mel_spectrogram, mfcc, spectrogram
from polysense.signal.transforms import MFCC, AmplitudeToDB, LogMelSpectrogram, MelSpectrogram, Resample, Spectrogram

KW = dict(n_fft=512, hop_length=128)
MEL = dict(sample_rate=16000, n_mels=40, **KW)


@pytest.fixture
def batch(rng) -> torch.Tensor:
    return torch.randn(3, 2, 6000, generator=rng)


def modules_and_functions():
    return [
        (Spectrogram(**KW), lambda x: spectrogram(x, **KW)),
        (Spectrogram(power=1, **KW), lambda x: spectrogram(x, power=1, **KW)),
        (MelSpectrogram(**MEL), lambda x: mel_spectrogram(x, **MEL)),
        (MelSpectrogram(convention="torchaudio", **MEL), lambda x: mel_spectrogram(x, convention="torchaudio", **MEL)),
        (LogMelSpectrogram(**MEL), lambda x: log_mel_spectrogram(x, **MEL)),
        (LogMelSpectrogram(top_db_scope="spectrogram", **MEL), lambda x: log_mel_spectrogram(x, top_db_scope="spectrogram", **MEL)),
        (LogMelSpectrogram(top_db=None, **MEL), lambda x: log_mel_spectrogram(x, top_db=None, **MEL)),
        (LogMelSpectrogram(convention="torchaudio", **MEL), lambda x: log_mel_spectrogram(x, convention="torchaudio", **MEL)),
        (MFCC(n_mfcc=13, **MEL), lambda x: mfcc(x, n_mfcc=13, **MEL)),
        (MFCC(n_mfcc=13, top_db_scope="spectrogram", **MEL), lambda x: mfcc(x, n_mfcc=13, top_db_scope="spectrogram", **MEL)),
    ]


def clips_per_batch(module) -> bool:
    """Whether top_db is clipped against one maximum over the whole batch (librosa's scope)."""
    plan = module.log_mel.plan if isinstance(module, MFCC) else module.plan
    return plan.db is not None and plan.db.top_db is not None and plan.db.top_db_scope == "global"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_module_equals_functional(batch, dtype):
    x = batch.to(dtype)
    for module, function in modules_and_functions():
        torch.testing.assert_close(module(x), function(x), rtol=0, atol=0, msg=repr(module))


def test_batch_equals_items_one_by_one(batch):
    # float32; tolerance 1e-5 relative (the mel product may sum in another order for other shapes)
    for module, _ in modules_and_functions():
        if clips_per_batch(module):
            continue
        whole = module(batch)
        for i in range(batch.shape[0]):
            for j in range(batch.shape[1]):
                torch.testing.assert_close(whole[i, j], module(batch[i, j]), rtol=1e-5, atol=1e-4, msg=repr(module))


def test_buffers_are_non_persistent_and_state_dict_round_trips(batch):
    module = MFCC(n_mfcc=13, **MEL)
    names = {name for name, _ in module.named_buffers()}
    assert {"log_mel.window", "log_mel.fb", "dct", "lift"} <= names
    assert dict(module.state_dict()) == {}  # no learnable parameters, and every buffer is non-persistent
    blob = io.BytesIO()
    torch.save(module.state_dict(), blob)
    blob.seek(0)
    fresh = MFCC(n_mfcc=13, **MEL)
    fresh.load_state_dict(torch.load(blob), strict=True)
    torch.testing.assert_close(fresh(batch), module(batch), rtol=0, atol=0)
    # inside a model with learnable parameters the front end adds nothing to the checkpoint
    model = torch.nn.Sequential(LogMelSpectrogram(**MEL), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    model(batch[0])
    assert set(model.state_dict()) == {"2.weight", "2.bias"}


def test_to_dtype_moves_buffers_and_keeps_results(batch):
    module = LogMelSpectrogram(**MEL)
    assert module.fb.dtype == torch.float64 and module.window.dtype == torch.float64
    as32 = module.float()
    assert as32.fb.dtype == torch.float32
    torch.testing.assert_close(as32(batch), log_mel_spectrogram(batch, **MEL), rtol=0, atol=0)
    as64 = LogMelSpectrogram(**MEL).to(torch.float64)
    x = batch.double()
    torch.testing.assert_close(as64(x), log_mel_spectrogram(x, **MEL), rtol=0, atol=0)


@pytest.mark.parametrize("convention", ["librosa", "torchaudio"])
def test_functions_and_modules_share_the_top_db_defaults_of_the_convention(convention, rng):
    # one place decides: the convention (librosa: 80 dB below the maximum of the whole batch)
    from polysense.signal.conventions import get_convention

    conv = get_convention(convention)
    module = LogMelSpectrogram(convention=convention, **MEL)
    assert (module.plan.db.top_db, module.plan.db.top_db_scope) == (conv.top_db, conv.top_db_scope)
    quiet_and_loud = torch.randn(2, 4000, generator=rng) * torch.tensor([[1e-3], [1.0]])
    torch.testing.assert_close(module(quiet_and_loud), log_mel_spectrogram(quiet_and_loud, convention=convention, **MEL),
                               rtol=0, atol=0)


def test_amplitude_to_db_module(rng):
    S = torch.rand(2, 10, 7, generator=rng) + 1e-3
    torch.testing.assert_close(AmplitudeToDB()(S), 10 * torch.log10(S))
    torch.testing.assert_close(AmplitudeToDB("magnitude", top_db=20.0)(S), amplitude_to_db(S, top_db=20.0, top_db_scope="spectrogram"))
    with pytest.raises(ParameterError, match="stype='energy'"):
        AmplitudeToDB("energy")


def test_resample_module_wraps_the_function(rng):
    from polysense.signal.resample import resample

    x = torch.randn(2, 16000, generator=rng)
    y = Resample(16000, 8000)(x)
    torch.testing.assert_close(y, resample(x, orig_sample_rate=16000, new_sample_rate=8000), rtol=0, atol=0)
    assert y.shape == (2, 8000) and y.dtype == torch.float32
    with pytest.raises(ParameterError, match="new_sample_rate=0"):
        Resample(16000, 0)


def test_constructor_validates_once():
    with pytest.raises(ParameterError, match="n_fft=1"):
        Spectrogram(n_fft=1)
    with pytest.raises(ParameterError, match="f_max_hz=9000"):
        MelSpectrogram(sample_rate=16000, f_max_hz=9000)
    with pytest.raises(ParameterError, match="power=None"):
        MelSpectrogram(power=None)
    with pytest.raises(ParameterError, match="to_db"):
        LogMelSpectrogram(to_db=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(batch):
    for module, _ in modules_and_functions():
        cpu = module(batch)
        gpu = module.to("cuda")(batch.to("cuda"))
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-3, msg=repr(module))
