"""Every built-in model part and dataset, and the module that defines each: the one list.

The registries (:mod:`polysense.registry`) import a module listed here on the first lookup of a
name it defines, so ``data/`` and ``models/`` never name the applications built on them
(``enhance/``, ``detect/``, ``recognize/``) to find their entries. A new built-in is added here,
beside the ``register`` decorator in its module; ``tests/test_builtins.py`` checks that the two agree.
"""

from __future__ import annotations

from polysense.registry import DATASETS, MODEL_PARTS

__all__ = ["BUILTIN_DATASETS", "BUILTIN_MODEL_PARTS"]

#: kind → module → the names its import registers.
BUILTIN_MODEL_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "encoder": {
        "polysense.models.encoders.audio": ("audio_cnn", "audio_spectrogram_transformer"),
        "polysense.models.encoders.speech": ("speech_cnn",),
        "polysense.models.encoders.image": ("image_cnn", "image_vit"),
        "polysense.models.encoders.text": ("text_transformer",),
        "polysense.models.encoders.minilm": ("minilm",),
        "polysense.models.encoders.whisper": ("whisper_encoder",),
        "polysense.models.encoders.features": ("features",),
    },
    "fusion": {
        "polysense.models.fusion": ("coordinated", "cross_modal", "early", "hybrid", "joint", "late"),
    },
    "head": {
        "polysense.models.heads": ("linear", "mlp", "projection"),
    },
    "model": {
        "polysense.models.classifier": ("classifier", "fusion_classifier", "coordinated_fusion", "cross_modal_fusion",
                                        "early_fusion", "hybrid_fusion", "joint_fusion", "late_fusion"),
        "polysense.models.ctc.model": ("ctc_recognizer",),
        "polysense.models.speaker": ("speaker_embedding",),
        "polysense.models.paradigms.vsepp": ("vsepp",),
        "polysense.models.paradigms.clip": ("clip",),
        "polysense.models.paradigms.vilbert": ("vilbert",),
        "polysense.models.paradigms.vilt": ("vilt",),
        "polysense.models.paradigms.albef": ("albef",),
        "polysense.enhance.unet": ("mask_unet", "mask_unet_separator"),
        "polysense.enhance.tasnet": ("conv_tasnet",),
        "polysense.detect.model": ("frame_crnn",),
        "polysense.models.generators.specgan": ("specgan",),
    },
}

#: module → the datasets its import registers.
BUILTIN_DATASETS: dict[str, tuple[str, ...]] = {
    "polysense.data.builtin": ("av_digits", "fsdd", "manifest", "synthetic"),
    "polysense.data.espeak": ("fsdd_plus_tts",),
    "polysense.enhance.mixtures": ("fsdd_mixtures", "fsdd_pairs"),
    "polysense.detect.scenes": ("fsdd_scenes",),
    "polysense.detect.speakers": ("fsdd_speakers",),
    "polysense.recognize.sequences": ("fsdd_sequences",),
    "polysense.data.takes": ("fsdd_takes",),
}

for _kind, _modules in BUILTIN_MODEL_PARTS.items():
    for _module, _names in _modules.items():
        MODEL_PARTS[_kind].declare(_module, _names)
for _module, _names in BUILTIN_DATASETS.items():
    DATASETS.declare(_module, _names)
