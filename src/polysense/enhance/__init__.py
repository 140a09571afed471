"""Denoising and source separation built from the library's parts (ORCA-CLEAN / ORCA-PARTY style).

- :mod:`.noise`: noise generators (white, pink, brown, babble, hum, clicks, bursts).
- :mod:`.mixtures`: on-the-fly mixture datasets ``fsdd_mixtures`` and ``fsdd_pairs``.
- :mod:`.classical`: spectral subtraction, Wiener filter, IBM / IRM oracles.
- :mod:`.unet`: ``mask_unet`` spectrogram-mask denoiser and ``mask_unet_separator``;
  :mod:`.tasnet`: ``conv_tasnet`` time-domain separator.
- :mod:`.outputs`: what denoisers and separators return (valid-sample masks, the PIT output).
- :mod:`.blockwise`: overlap-add inference for files of any length.
"""
