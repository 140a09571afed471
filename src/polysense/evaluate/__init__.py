"""polysense.evaluate: metrics, the evaluation of a run, its report and comparisons.

- Metrics as pure functions: :mod:`.classification` (accuracy, macro-F1, confusion),
  :mod:`.retrieval` (Recall@K, ranks), :mod:`.transcription` (WER/CER), :mod:`.enhancement`
  (SI-SDR, SNR, STOI, PESQ), :mod:`.zero_shot`, :mod:`.missing_modality`.
- Per task: :mod:`.detection` and :mod:`.events` (sound events), :mod:`.diarization`,
  :mod:`.verification` (speaker EER, minDCF).
- :mod:`.runner`: ``evaluate_run(run, split | data=manifest)``, every metric a run's model supports.
- :mod:`.report`: a run's ``report.md`` with figures; :mod:`.compare`: configs side by side;
  :mod:`.ensemble`: stacking over trained runs.
"""
