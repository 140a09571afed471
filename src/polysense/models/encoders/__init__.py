"""polysense.models.encoders: one tower per modality, each returning an ``EncoderOutput`` (:mod:`.base`).

- :mod:`.audio`: the log-mel front end, ``audio_cnn`` and the spectrogram transformer
  (``audio_spectrogram_transformer``); :mod:`.speech`: ``speech_cnn`` for short words;
  :mod:`.whisper`: the pretrained ``whisper_encoder``.
- :mod:`.image`: ``image_cnn`` and ``image_vit``.
- :mod:`.text`: ``text_transformer``; :mod:`.minilm`: the pretrained ``minilm``; :mod:`.tokenizer`.
- :mod:`.features`: a pass-through for precomputed features.
- :mod:`.tower_cache`: a frozen tower's outputs cached per input.
"""
