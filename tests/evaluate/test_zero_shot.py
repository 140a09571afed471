"""Zero-shot classification: prompt averaging by hand, correctness on separable embeddings."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.evaluate.zero_shot import TEMPLATES, ZeroShotClassifier, class_embeddings


def test_template_averaging_and_renormalisation_by_hand():
    vectors = {"cat": [3.0, 4.0, 0.0], "a photo of cat.": [0.0, 0.0, 2.0],
               "dog": [0.0, 1.0, 0.0], "a photo of dog.": [0.0, 5.0, 0.0]}
    calls = []

    def embed_text(texts):
        calls.append(list(texts))
        return torch.tensor([vectors[t] for t in texts], dtype=torch.float64)

    weights = class_embeddings(["cat", "dog"], embed_text=embed_text, templates=["{}", "a photo of {}."])
    assert calls == [["cat", "a photo of cat."], ["dog", "a photo of dog."]]
    # cat: normalise -> (0.6, 0.8, 0) and (0, 0, 1); mean (0.3, 0.4, 0.5); norm sqrt(0.5).
    expected_cat = torch.tensor([0.3, 0.4, 0.5], dtype=torch.float64) / math.sqrt(0.5)
    torch.testing.assert_close(weights[0], expected_cat, rtol=1e-12, atol=1e-12)
    # dog: both normalise to (0, 1, 0): the length of the raw embeddings does not weigh in.
    torch.testing.assert_close(weights[1], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


def _separable_world(num_classes=4, dim=8, per_class=5, seed=0):
    """Class c lives along basis vector c; prompts and items are that vector plus bounded noise
    (each coordinate within +-0.1 of it, relative to the vector's length), so every item is
    closer in angle to its own class than to any other by construction."""
    g = torch.Generator().manual_seed(seed)
    names = [f"class {c}" for c in range(num_classes)]
    basis = torch.eye(dim)[:num_classes]

    def embed_text(texts):
        rows = []
        for text in texts:
            c = next(i for i, n in enumerate(names) if n in text)
            rows.append(3 * (basis[c] + 0.2 * (torch.rand(dim, generator=g) - 0.5)))
        return torch.stack(rows)

    labels = torch.arange(num_classes).repeat_interleave(per_class)
    items = basis[labels] + 0.2 * (torch.rand(len(labels), dim, generator=g) - 0.5)
    return names, embed_text, items, labels


def test_classifier_is_correct_on_separable_embeddings():
    names, embed_text, items, labels = _separable_world()
    clf = ZeroShotClassifier.from_class_names(names, embed_text=embed_text, templates=TEMPLATES["audio"], logit_scale=100.0)
    assert clf.num_classes == 4 and clf.class_names == names
    assert torch.equal(clf.predict(items), labels)
    assert clf.accuracy(items, labels, top_k=(1, 2)) == {1: 1.0, 2: 1.0}
    torch.testing.assert_close(clf.class_weights.norm(dim=1), torch.ones(4))
    logits = clf(items)
    assert logits.shape == (20, 4) and logits.abs().max() <= 100.0 + 1e-4


def test_accuracy_counts_wrong_predictions():
    clf = ZeroShotClassifier(torch.eye(3))
    items = torch.tensor([[1.0, 0.1, 0.0], [0.0, 1.0, 0.5], [0.9, 0.0, 0.3]])
    # predictions 0, 1, 0 against labels 0, 1, 2: 2 of 3; class 2 is second for the last item.
    assert clf.predict(items).tolist() == [0, 1, 0]
    assert clf.accuracy(items, torch.tensor([0, 1, 2]), top_k=(1, 2)) == pytest.approx({1: 2 / 3, 2: 1.0})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(class_names=[]), "non-empty list"),
        (dict(class_names="cat"), "non-empty list"),
        (dict(class_names=["cat", "cat"]), "duplicates"),
        (dict(class_names=["cat", ""]), r"class_names\[1\]"),
        (dict(class_names=["cat"], templates=["a photo"]), "exactly one"),
        (dict(class_names=["cat"], templates=["{} and {}"]), "exactly one"),
        (dict(class_names=["cat"], templates=["{0} x"]), "exactly one"),
    ],
)
def test_bad_class_names_and_templates(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        class_embeddings(embed_text=lambda t: torch.ones(len(t), 2), **kwargs)


def test_bad_embedder_output_and_inputs():
    with pytest.raises(ParameterError, match="embed_text returned"):
        class_embeddings(["cat"], embed_text=lambda t: torch.ones(2), templates=["{}"])
    clf = ZeroShotClassifier(torch.eye(3), class_names=["a", "b", "c"])
    with pytest.raises(ParameterError, match=r"\(batch, 3\)"):
        clf(torch.ones(2, 4))
    with pytest.raises(ParameterError, match="labels must lie"):
        clf.accuracy(torch.ones(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ParameterError, match="one each"):
        ZeroShotClassifier(torch.eye(3), class_names=["a", "b"])


def test_templates_default_to_the_modality_and_a_model_without_tokenizer_is_refused():
    from torch import nn

    from polysense.evaluate.zero_shot import default_templates, text_embedder

    seen = []

    def embed_text(texts):
        seen.extend(texts)
        return torch.randn(len(texts), 4)

    ZeroShotClassifier.from_class_names(["cat"], embed_text=embed_text, modality="audio")
    assert seen == [t.format("cat") for t in TEMPLATES["audio"]] and "the sound of cat." in seen
    assert default_templates("image") == TEMPLATES["image"]
    with pytest.raises(ParameterError, match="modality="):
        ZeroShotClassifier.from_class_names(["cat"], embed_text=embed_text)
    with pytest.raises(ParameterError, match="no default prompt templates"):
        default_templates("smell")

    class NoTokenizer(nn.Module):
        modalities = ("audio", "text")
        tokenizer = None

        def encode(self, modality, batch):
            raise AssertionError("not reached")

    with pytest.raises(ParameterError, match="has no tokenizer"):
        text_embedder(NoTokenizer())
