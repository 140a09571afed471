"""polysense.deploy: a trained run put to use outside training.

- :mod:`~polysense.deploy.prediction`: ``Predictor`` applies a run to new, unlabelled audio files
  (labels with probabilities, or vectors; long files per window; unreadable files skipped).
- :mod:`~polysense.deploy.export`: ``export_run`` writes the model with its front end inside
  (waveform in, probabilities or vectors out) as ONNX or TorchScript, checked against PyTorch.
"""

from polysense.deploy.prediction import FilePrediction, Prediction, Predictor, audio_files

__all__ = ["FilePrediction", "Prediction", "Predictor", "audio_files"]
