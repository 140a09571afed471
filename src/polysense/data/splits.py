"""Train/val/test splits: reproducible from a seed, stratified by label, and group-aware.

A group is what a fair evaluation must keep on one side of the split (a speaker, a recording site,
a patient): :func:`split_indices` never puts one group in two splits. Without groups every class is
split in the requested proportions (each split's count of a class within two samples of its share,
each split's total within one sample of its share: the rounding error carries from class to class); with groups, whole groups are dealt out greedily, each to
the split that most lacks the group's classes, so the proportions are as close as the group sizes
allow.

:func:`split_manifest` takes a manifest's own ``split`` column when it has one, or makes the splits
from a seed, and refuses splits that cannot be used: an empty split, a label in val/test that
training never sees, or a group in two splits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

from polysense._checks import check_positive_float
from polysense.data.manifest import SPLITS, Manifest
from polysense.errors import ParameterError

__all__ = ["assign_splits", "split_indices", "split_manifest", "validate_splits"]


def split_indices(
    labels: Sequence[Hashable] | None,
    groups: Sequence[Hashable | None] | None = None,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: bool = True,
    names: Sequence[str] | None = None,
) -> dict[str, list[int]]:
    """Partition ``range(n)`` into named, sorted index lists: ``{"train": [...], "val": [...], ...}``.

    Parameters
    ----------
    labels: one class per sample (``None`` or ``stratify=False`` ignores them).
    groups: one group per sample, or ``None`` for "every sample is its own group". Samples of one
        group always land in the same split. A ``None`` entry is a group of its own.
    fractions: the share of samples per split (normalised to sum to 1); a zero share gives an
        empty split.
    seed: the same seed gives the same split; a different seed shuffles differently.
    stratify: keep each class's proportions equal across splits as far as possible.
    names: one name per fraction; by default ``train, val, test`` for three fractions and
        ``train, test`` for two.

    Every split with a positive share gets at least one sample (one group) when there are enough;
    otherwise :class:`ParameterError` says how many are needed.
    """
    shares = _check_fractions(fractions)
    names = _split_names(names, len(shares))
    n = len(labels) if labels is not None else (len(groups) if groups is not None else None)
    if n is None:
        raise ParameterError("split_indices needs labels or groups: pass labels=[...] (one per sample)")
    if labels is not None and groups is not None and len(groups) != len(labels):
        raise ParameterError(f"groups has {len(groups)} entries but labels has {len(labels)}: give one group per sample")
    if n == 0:
        raise ParameterError("labels is empty: there is nothing to split")
    classes = list(labels) if (labels is not None and stratify) else [0] * n
    rng = np.random.default_rng(seed)
    needed = int(np.count_nonzero(shares))

    if groups is None:
        if n < needed:
            raise ParameterError(f"{n} sample(s) cannot fill {needed} non-empty splits: give more samples or fewer splits")
        assignment = _stratified(classes, shares, rng)
    else:
        units: dict[Hashable, list[int]] = defaultdict(list)
        for i, g in enumerate(groups):
            units[("__row__", i) if g is None else g].append(i)
        if len(units) < needed:
            raise ParameterError(
                f"{len(units)} group(s) cannot fill {needed} non-empty splits without putting a group in two "
                "splits: give more groups, set a zero fraction for a split, or split without groups"
            )
        assignment = _grouped(list(units.values()), classes, shares, rng)

    out: dict[str, list[int]] = {name: [] for name in names}
    for i, s in enumerate(assignment):
        out[names[s]].append(i)
    return out


def split_manifest(
    manifest: Manifest,
    *,
    fractions: Sequence[float] | None = None,
    seed: int = 0,
    stratify: bool = True,
    names: Sequence[str] | None = None,
) -> dict[str, Manifest]:
    """Split a manifest into named parts and validate them.

    With ``fractions=None`` the manifest's ``split`` column decides (an error if it has none);
    otherwise the split is made by :func:`split_indices` from the labels and groups with ``seed``
    (one fraction per name, see :func:`assign_splits`). ``names`` defaults to ``train, val, test``
    (``train, test`` for two fractions); pass e.g. ``names=("train", "test")`` for a manifest
    without a val split. Raises :class:`ManifestError` for an empty split, a val/test label that is
    not in train, or a group in more than one split.
    """
    if fractions is None:
        if not manifest.has_splits:
            raise manifest.error(
                None,
                "the manifest has no 'split' column",
                "add a split column (train/val/test) or pass fractions=(0.8, 0.1, 0.1) and a seed to make splits",
            )
        names = SPLITS if names is None else tuple(names)
        unknown = sorted({r.split for r in manifest.rows} - set(names))
        if unknown:
            raise manifest.error(
                None,
                f"rows have split(s) {unknown} not among the requested {list(names)}",
                f"pass names={tuple(sorted(set(names) | set(unknown)))}",
            )
    else:
        names = _split_names(names, len(fractions))
        manifest = assign_splits(manifest, fractions=fractions, seed=seed, stratify=stratify, names=names)
    parts = {name: manifest.select(i for i, r in enumerate(manifest.rows) if r.split == name) for name in names}
    validate_splits(manifest, parts)
    return parts


def assign_splits(
    manifest: Manifest,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: bool = True,
    names: Sequence[str] | None = None,
) -> Manifest:
    """The manifest with its ``split`` column (re)assigned by :func:`split_indices` from ``seed``.

    Stratified by the ``label`` column and group-aware by the ``group`` column when they exist.
    """
    labels = manifest.labels if "label" in manifest.columns else None
    groups = manifest.groups if "group" in manifest.columns else None
    if labels is None and groups is None:
        labels = [0] * len(manifest)
    indices = split_indices(labels, groups, fractions=fractions, seed=seed, stratify=stratify, names=names)
    assignment = [""] * len(manifest)
    for name, idx in indices.items():
        for i in idx:
            assignment[i] = name
    return manifest.with_splits(assignment)


def validate_splits(manifest: Manifest, parts: dict[str, Manifest], *, train: str = "train") -> None:
    """Raise :class:`ManifestError` for an empty split, an unseen label or a group in two splits."""
    for name, part in parts.items():
        if len(part) == 0:
            raise manifest.error(
                None,
                f"split {name!r} is empty: no row is assigned to it",
                f"add rows with split={name}, drop {name!r} from names, or make splits from a seed with a larger fraction for {name!r}",
            )
    if train in parts and "label" in manifest.columns:
        seen = {r.label for r in parts[train].rows}
        for name, part in parts.items():
            if name == train:
                continue
            unseen = [r for r in part.rows if r.label not in seen]
            if unseen:
                labels = sorted({r.label for r in unseen})
                raise manifest.error(
                    unseen[0],
                    f"label {unseen[0].label} (split {name!r}) never occurs in {train!r}; "
                    f"{len(unseen)} {name} row(s) have labels {labels} unseen in training",
                    f"move some rows of those classes to {train!r}, or remove the classes from {name!r}",
                )
    if "group" in manifest.columns:
        where: dict[str, list[str]] = defaultdict(list)
        first_row = {}
        for name, part in parts.items():
            for r in part.rows:
                if r.group is not None and name not in where[r.group]:
                    where[r.group].append(name)
                    first_row.setdefault((r.group, name), r)
        leaks = {g: s for g, s in where.items() if len(s) > 1}
        if leaks:
            group, splits = next(iter(leaks.items()))
            raise manifest.error(
                first_row[(group, splits[1])],
                f"group {group!r} appears in splits {splits} ({len(leaks)} group(s) leak across splits)",
                "keep each group in one split (make splits from a seed: they are group-aware)",
            )


# ----------------------------------------------------------------------------------------------


def _split_names(names: Sequence[str] | None, count: int) -> tuple[str, ...]:
    if names is None:
        defaults = {3: SPLITS, 2: ("train", "test")}
        if count not in defaults:
            raise ParameterError(f"{count} fractions need {count} split names: pass names=(...) with one name per fraction")
        return defaults[count]
    names = tuple(names)
    if len(names) != count or len(set(names)) != count:
        raise ParameterError(f"names={names} must give {count} distinct split names, one per fraction")
    return names


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    if len(fractions) == 0:
        raise ParameterError("fractions is empty: give one share per split, e.g. (0.8, 0.1, 0.1)")
    values = [check_positive_float(f"fractions[{i}]", f, allow_zero=True) for i, f in enumerate(fractions)]
    total = sum(values)
    if total <= 0:
        raise ParameterError(f"fractions={tuple(fractions)} sum to 0: give at least one positive share")
    return np.asarray(values) / total


def _round_to_total(exact: np.ndarray, total: int) -> np.ndarray:
    """Non-negative integers summing to ``total``, each within one of ``exact`` (largest remainder)."""
    exact = np.clip(exact, 0, None)
    out = np.floor(exact).astype(int)
    while out.sum() > total:
        out[int(np.argmax(out - exact))] -= 1
    order = np.argsort(-(exact - out), kind="stable")
    out[order[: total - out.sum()]] += 1
    return out


def _stratified(classes: list[Hashable], shares: np.ndarray, rng: np.random.Generator) -> list[int]:
    by_class: dict[Hashable, list[int]] = defaultdict(list)
    for i, c in enumerate(classes):
        by_class[c].append(i)
    assignment = [0] * len(classes)
    filled = np.zeros(len(shares), dtype=int)
    done = 0
    # A fixed class order (sorted by repr) keeps the result independent of dict/hash order.
    for c in sorted(by_class, key=repr):
        idx = np.asarray(by_class[c])
        rng.shuffle(idx)
        done += len(idx)
        # Round the running totals, not each class alone: the rounding error carries over to the
        # next class, so small classes do not all round the same way (and no split stays empty).
        counts = _round_to_total(shares * done - filled, len(idx))
        start = 0
        for s, k in enumerate(counts):
            for i in idx[start : start + k]:
                assignment[int(i)] = s
            start += k
        filled += counts
    # A split whose share is under one sample may round to nothing: give it one sample from the
    # largest split (taken from that split's most common class, to disturb the strata least).
    for s in np.flatnonzero((filled == 0) & (shares > 0)):
        donor = int(np.argmax(filled))
        in_donor = [i for i in range(len(classes)) if assignment[i] == donor]
        common = Counter(classes[i] for i in in_donor).most_common(1)[0][0]
        i = next(i for i in in_donor if classes[i] == common)
        assignment[i] = int(s)
        filled[donor] -= 1
        filled[s] += 1
    return assignment


def _grouped(units: list[list[int]], classes: list[Hashable], shares: np.ndarray, rng: np.random.Generator) -> list[int]:
    totals = Counter(classes)
    n = len(classes)
    target = {c: shares * k for c, k in totals.items()}
    have = {c: np.zeros(len(shares)) for c in totals}
    size = np.zeros(len(shares))
    members: list[list[int]] = [[] for _ in shares]
    order = rng.permutation(len(units))
    # Big groups first (they are the hard ones to place); the shuffle breaks ties by seed.
    order = sorted(order, key=lambda u: -len(units[u]))
    for u in order:
        hist = Counter(classes[i] for i in units[u])
        # How much each split still lacks of this group's classes, relative to each class's size.
        need = sum((target[c] - have[c]) * k / totals[c] for c, k in hist.items())
        need = need + 1e-9 * (shares * n - size)  # tie-break: the split furthest below its size
        need[shares == 0] = -np.inf
        s = int(np.argmax(need))
        members[s].append(u)
        size[s] += len(units[u])
        for c, k in hist.items():
            have[c][s] += k
    for s in np.flatnonzero((size == 0) & (shares > 0)):
        donor = max((d for d in range(len(shares)) if len(members[d]) > 1), key=lambda d: size[d])
        u = min(members[donor], key=lambda u: len(units[u]))
        members[donor].remove(u)
        members[s].append(u)
        size[donor] -= len(units[u])
        size[s] += len(units[u])
    assignment = [0] * n
    for s, us in enumerate(members):
        for u in us:
            for i in units[u]:
                assignment[i] = s
    return assignment
