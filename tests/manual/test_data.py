"""manual.data: splitter properties for random sizes (hypothesis), scikit-learn's folds, seeded batching."""
import math
from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from manual.data import DataLoader, KFold, LeaveOneOut, StratifiedKFold, batch_indices, holdout_split

SETTINGS = settings(max_examples=60, deadline=None)


def labelled(draw, n_min=2, n_max=120):
    """(n, k, y): y with 1-4 classes; K ≤ the largest class, as StratifiedKFold needs."""
    n = draw(st.integers(n_min, n_max))
    y = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    assume(np.bincount(y).max() >= 2)
    k = draw(st.integers(2, np.bincount(y).max()))
    return n, k, y


def assert_partition(splits, n):
    """No index on both sides; train ∪ test = range(n); every index tested exactly once over the splits."""
    tested = np.zeros(n, dtype=int)
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(n))
        assert len(train) + len(test) == n
        tested[test] += 1
    np.testing.assert_array_equal(tested, 1)


@SETTINGS
@given(n=st.integers(2, 200), k=st.integers(2, 12), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_kfold_partitions_and_balances(n, k, shuffle, seed):
    if k > n:
        with pytest.raises(ValueError, match="n_splits=.*greater than the number of samples"):
            list(KFold(k).split(np.zeros(n)))
        return
    splits = list(KFold(k, shuffle=shuffle, seed=seed if shuffle else None).split(np.zeros(n)))
    assert len(splits) == k
    assert_partition(splits, n)
    sizes = sorted(len(test) for _, test in splits)
    assert sizes[0] == n // k and sizes[-1] == math.ceil(n / k)


@SETTINGS
@given(data=st.data(), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_stratified_kfold_keeps_class_proportions(data, shuffle, seed):
    n, k, y = labelled(data.draw)
    with pytest.warns(UserWarning) if k > np.bincount(y)[np.bincount(y) > 0].min() else nullcontext():
        splits = list(StratifiedKFold(k, shuffle=shuffle, seed=seed if shuffle else None).split(np.zeros(n), y))
    assert_partition(splits, n)
    for label, count in zip(*np.unique(y, return_counts=True), strict=True):
        per_fold = [np.count_nonzero(y[test] == label) for _, test in splits]
        assert set(per_fold) <= {count // k, math.ceil(count / k)}, (label, count, per_fold)
    sizes = [len(test) for _, test in splits]
    assert max(sizes) - min(sizes) <= 1


@SETTINGS
@given(n=st.integers(2, 60))
def test_leave_one_out_tests_each_sample_once(n):
    splits = list(LeaveOneOut().split(np.zeros(n)))
    assert len(splits) == n == LeaveOneOut().get_n_splits(np.zeros(n))
    assert all(len(test) == 1 for _, test in splits)
    assert_partition(splits, n)


@SETTINGS
@given(data=st.data(), test_size=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_holdout_sizes_and_stratified_shares(data, test_size, seed):
    n, _, y = labelled(data.draw, n_min=3)
    n_test = math.ceil(test_size * n)
    if not 1 <= n_test <= n - 1:
        with pytest.raises(ValueError, match="test_size"):
            holdout_split(n, test_size, seed=seed)
        return
    for stratify in (None, y):
        train, test = holdout_split(n, test_size, seed=seed, stratify=stratify)
        assert np.intersect1d(train, test).size == 0 and len(test) == n_test
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(n))
    for label, count in zip(*np.unique(y, return_counts=True), strict=True):  # the stratified split's test part
        share = np.count_nonzero(y[test] == label)
        assert abs(share - n_test * count / n) < 1, (label, share, n_test * count / n)


def test_splits_are_seeded():
    y = np.repeat([0, 1, 2], 20)
    def folds(splitter):
        return [test.tolist() for _, test in splitter.split(np.zeros(60), y)]
    for cls in (KFold, StratifiedKFold):
        assert folds(cls(5, shuffle=True, seed=3)) == folds(cls(5, shuffle=True, seed=3))
        assert folds(cls(5, shuffle=True, seed=3)) != folds(cls(5, shuffle=True, seed=4))
    assert [a.tolist() for a in holdout_split(60, 0.3, seed=1)] == [a.tolist() for a in holdout_split(60, 0.3, seed=1)]


@pytest.mark.parametrize("shuffle", [False, True])
def test_folds_equal_scikit_learns(shuffle):
    """Unshuffled folds are scikit-learn's exactly; shuffled ones have the same fold sizes (and, stratified, the
    same class counts per fold: the allocation does not depend on the shuffle)."""
    model_selection = pytest.importorskip("sklearn.model_selection")
    y = np.random.default_rng(0).integers(0, 4, 97)
    ours_and_theirs = [(KFold(6, shuffle=shuffle, seed=0 if shuffle else None), model_selection.KFold(6)),
                       (StratifiedKFold(6, shuffle=shuffle, seed=0 if shuffle else None),
                        model_selection.StratifiedKFold(6))]
    for ours, theirs in ours_and_theirs:
        for (a_train, a_test), (b_train, b_test) in zip(ours.split(np.zeros(97), y), theirs.split(np.zeros(97), y), strict=True):
            if shuffle:
                assert len(a_test) == len(b_test)
                if isinstance(ours, StratifiedKFold):
                    np.testing.assert_array_equal(np.bincount(y[a_test], minlength=4),
                                                  np.bincount(y[b_test], minlength=4))
            else:
                np.testing.assert_array_equal(a_test, b_test)
                np.testing.assert_array_equal(a_train, b_train)


@pytest.mark.parametrize("call, message", [
    (lambda: KFold(1), "n_splits must be an integer of at least 2"),
    (lambda: KFold(3, seed=0), "no effect without shuffle"),
    (lambda: list(StratifiedKFold(3).split(np.zeros(4), [0, 0, 1, 1])), "greater than the number of members"),
    (lambda: list(StratifiedKFold(2).split(np.zeros(4))), "labels y are required"),
    (lambda: list(StratifiedKFold(2).split(np.zeros(4), [0, 1, 1])), r"shape \(4,\)"),
    (lambda: holdout_split(10, 1.5), "test_size"),
    (lambda: holdout_split(10, 10), "test_size"),
    (lambda: list(LeaveOneOut().split(np.zeros(1))), "n_samples=1"),
    (lambda: DataLoader(np.zeros(3), np.zeros(4)), "same length"),
    (lambda: batch_indices(5, 0), "batch_size"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@SETTINGS
@given(n=st.integers(1, 100), batch_size=st.integers(1, 40), drop_last=st.booleans(), seed=st.integers(0, 1000))
def test_batches_cover_each_sample_once_per_epoch(n, batch_size, drop_last, seed):
    X, y = np.arange(n) * 10.0, np.arange(n)
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=True, drop_last=drop_last, seed=seed)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader) == (n // batch_size if drop_last else math.ceil(n / batch_size))
        seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=int)
        assert all(len(yb) == batch_size for _, yb in (batches if drop_last else batches[:-1]))
        assert len(np.unique(seen)) == len(seen) == (n - n % batch_size if drop_last else n)
        assert all(np.array_equal(xb, yb * 10.0) for xb, yb in batches)


def test_loader_is_seeded_and_reshuffles_every_epoch():
    def epochs(seed):
        loader = DataLoader(np.arange(20), batch_size=6, shuffle=True, seed=seed)
        return [np.concatenate([b for (b,) in loader]).tolist() for _ in range(3)]
    first = epochs(7)
    assert first == epochs(7) and first != epochs(8)
    assert first[0] != first[1]
    plain = [b.tolist() for (b,) in DataLoader(np.arange(7), batch_size=3)]
    assert plain == [[0, 1, 2], [3, 4, 5], [6]]

