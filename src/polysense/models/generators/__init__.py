"""Generators of new, labelled sounds, trained by alternating updates (see
:class:`polysense.models.output.TrainingStep`): :mod:`.specgan` (a conditional spectrogram GAN
inverted by the front end's Griffin-Lim)."""

from polysense.models.generators.specgan import SpecGAN

__all__ = ["SpecGAN"]
