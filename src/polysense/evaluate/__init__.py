"""polysense.evaluate: the evaluation of a trained run, its report and comparisons.

- :mod:`.runner`: ``evaluate_run(run, split | data=manifest)``, every metric a run's model supports,
  from one pass of the one inference path (:mod:`polysense.inference`) scored by the pure
  functions of :mod:`polysense.metrics`;
- :mod:`.enhancement`: ``evaluate_enhancement`` of a denoiser or separator over data;
  :mod:`.detection`: a detector's events over a split; :mod:`.zero_shot`: zero-shot classifiers
  from class names; :mod:`.missing_modality`: accuracy with each modality removed;
- :mod:`.report`: a run's ``report.md`` with figures; :mod:`.compare`: configs side by side;
  :mod:`.ensemble`: stacking over trained runs.
"""
