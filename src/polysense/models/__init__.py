"""polysense.models: every model is encoders + fusion + head + objective, built by name from a config.

- :mod:`.registry`: the one factory (``build_model(config)``); parts register under (kind, name)
  in :mod:`polysense.registry`, the built-ins listed in :mod:`polysense.builtins`.
- :mod:`.output`: the one output contract (``ModelOutput``: loss, losses, metrics; classifier,
  embedding and enhancement outputs).
- :mod:`.batch`: where each modality sits in a batch and how an encoder runs on it.
- :mod:`.encoders`: the towers per modality (audio CNN/AST, speech CNN, Whisper, image CNN/ViT,
  text transformer, MiniLM).
- :mod:`.layers`, :mod:`.attention`: the shared blocks (transformer, attention, patches, masks).
- :mod:`.fusion`: the lecture's fusion taxonomy (early, late, hybrid, joint, coordinated, cross-modal).
- :mod:`.classifier`: one encoder + head, or encoders → fusion → head.
- :mod:`.heads`, :mod:`.combining`, :mod:`.momentum`: heads, combining models, EMA encoders.
- :mod:`.paradigms`: VSE++, CLIP, ViLBERT, ViLT, ALBEF.
- :mod:`.whisper`: Whisper on the project's own blocks (loaders, features, tokenizer, decoding).
"""
