"""polysense.metrics: metrics as pure functions of predictions and references, below the trainer.

- :mod:`.classification`: accuracy, macro-F1, confusion matrix, accuracy per group (scikit-learn);
- :mod:`.retrieval`: Recall@K, median and mean rank, mAP, and :func:`~.retrieval.retrieval_report`
  over every pair of embedded modalities;
- :mod:`.enhancement`: SI-SDR(i), SNR(i) in dB, STOI (pystoi), PESQ (ITU-T P.862);
- :mod:`.transcription`: word and character error rates (jiwer);
- :mod:`.events`: event- and segment-based detection metrics (sed_eval's definitions);
- :mod:`.diarization`: the diarization error rate (pyannote.metrics' definition);
- :mod:`.verification`: speaker verification EER and minDCF;
- :mod:`.generation`: Fréchet distance, inception score and nearest-neighbour distances of
  generated sounds.

The one loop that runs a model to feed them is :mod:`polysense.inference`; what a run's evaluation
adds on top (zero-shot, robustness, reports) lives in :mod:`polysense.evaluate`.
"""
