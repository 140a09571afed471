"""The run report's training-curves figure, by what it draws."""

from __future__ import annotations

from matplotlib.figure import Figure

from polysense.evaluate.report import plot_curves


def _drawn(monkeypatch, tmp_path, metrics, select):
    saved: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *args, **kwargs: saved.append(self))
    plot_curves(metrics, tmp_path / "curves.png", best_epoch=2, select=select)
    return saved[0].axes[1]


def test_validation_panel_shows_the_selection_metric_when_it_is_not_a_fraction(monkeypatch, tmp_path):
    metrics = [{"split": "train", "step": 1, "loss": 0.0},
               {"split": "val", "step": 1, "epoch": 1, "loss": -3.0, "si_sdri": 3.5},
               {"split": "val", "step": 2, "epoch": 2, "loss": -4.0, "si_sdri": 4.5}]
    right = _drawn(monkeypatch, tmp_path, metrics, "val/si_sdri")
    curve = right.get_lines()[0]
    assert curve.get_label() == "val si_sdri" and list(curve.get_ydata()) == [3.5, 4.5]
    assert right.get_ylim()[1] >= 4.5  # its own scale (dB), not the [0, 1] of accuracies


def test_validation_panel_of_a_classifier_keeps_the_fractions_on_0_to_1(monkeypatch, tmp_path):
    metrics = [{"split": "train", "step": 1, "loss": 2.0},
               {"split": "val", "step": 1, "epoch": 1, "loss": 1.5, "accuracy": 0.4, "macro_f1": 0.3},
               {"split": "val", "step": 2, "epoch": 2, "loss": 1.0, "accuracy": 0.6, "macro_f1": 0.5}]
    right = _drawn(monkeypatch, tmp_path, metrics, "val/accuracy")
    assert [line.get_label() for line in right.get_lines()[:2]] == ["val accuracy", "val macro_f1"]
    assert right.get_ylim() == (0, 1.02)
