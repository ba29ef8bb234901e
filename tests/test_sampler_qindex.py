"""SizeBatchSampler (one node size per batch, seeded epochs, weighted draws) and the cq-level
to qindex table."""

import numpy as np
import pytest

from av1tools.model.staged.data import SizeBatchSampler
from av1tools.partition import cq_level_to_qindex

# counts chosen so that, with batch size 4, no size ends in a lone batch of one
COUNTS = {8: 10, 16: 7, 32: 4, 64: 6}
BATCH = 4


def mixed_sizes(seed: int = 0) -> np.ndarray:
    sizes = np.concatenate([np.full(n, s) for s, n in COUNTS.items()])
    return np.random.default_rng(seed).permutation(sizes)


def epoch(sampler) -> list[list[int]]:
    return [list(b) for b in sampler]


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_hold_one_size_each(shuffle):
    sizes = mixed_sizes()
    batches = epoch(SizeBatchSampler(sizes, BATCH, shuffle, seed=1))
    assert batches
    for batch in batches:
        assert 1 <= len(batch) <= BATCH
        assert len(set(sizes[batch].tolist())) == 1, batch


def test_unshuffled_batches_are_in_index_order_by_size():
    sizes = mixed_sizes()
    expected = []
    for s in sorted(COUNTS):
        members = [i for i in range(len(sizes)) if sizes[i] == s]
        expected += [members[i : i + BATCH] for i in range(0, len(members), BATCH)]
    sampler = SizeBatchSampler(sizes, BATCH, shuffle=False)
    assert epoch(sampler) == expected
    assert epoch(sampler) == expected  # every epoch alike
    assert len(expected) == 3 + 2 + 1 + 2


def test_shuffled_epoch_holds_every_item_once():
    sizes = mixed_sizes()
    sampler = SizeBatchSampler(sizes, BATCH, shuffle=True, seed=5)
    for _ in range(3):
        batches = epoch(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(sizes)))
        # per size: full batches, plus one partial at most
        for s, n in COUNTS.items():
            lengths = sorted(len(b) for b in batches if sizes[b[0]] == s)
            assert sum(lengths) == n
            assert lengths[1:] == [BATCH] * (len(lengths) - 1)


def test_shuffled_order_is_not_trivial():
    sizes = np.full(64, 16)
    batches = epoch(SizeBatchSampler(sizes, 8, shuffle=True, seed=0))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(64))
    assert flat != list(range(64))


def test_len_does_not_advance_the_epoch():
    sizes = mixed_sizes()
    fresh = SizeBatchSampler(sizes, BATCH, shuffle=True, seed=11)
    probed = SizeBatchSampler(sizes, BATCH, shuffle=True, seed=11)
    for _ in range(3):
        n = len(probed)
        assert len(probed) == n
        batches = epoch(probed)
        assert batches == epoch(fresh)
        assert n == len(batches)


def test_len_counts_the_coming_epoch_with_dropped_batches():
    # weighted draws change per-size counts, so the number of batches varies by epoch
    sizes = np.array([8] * 6 + [16] * 6)
    weights = np.ones(12)
    sampler = SizeBatchSampler(sizes, 4, shuffle=True, seed=2, weights=weights)
    for _ in range(10):
        n = len(sampler)
        assert n == len(epoch(sampler))


def test_epochs_differ_and_repeat_by_seed():
    sizes = mixed_sizes()
    a = SizeBatchSampler(sizes, BATCH, shuffle=True, seed=3)
    b = SizeBatchSampler(sizes, BATCH, shuffle=True, seed=3)
    first, second = epoch(a), epoch(a)
    assert first != second
    assert [epoch(b), epoch(b)] == [first, second]
    other = SizeBatchSampler(sizes, BATCH, shuffle=True, seed=4)
    assert epoch(other) != first


def test_weighted_draws_follow_weights():
    n = 30000
    rng = np.random.default_rng(0)
    sizes = rng.choice([8, 16, 32], size=n)
    # three groups of items: weight 0 (never drawn), 1 and 3
    group = np.arange(n) % 3
    weights = np.array([0.0, 1.0, 3.0])[group]
    sampler = SizeBatchSampler(sizes, 64, shuffle=True, seed=7, weights=weights)
    drawn = np.array([i for b in sampler for i in b])
    assert len(drawn) > 0.99 * n  # n draws (only lone batches of one may be left out)
    assert len(np.unique(drawn)) < len(drawn)  # with replacement
    counts = np.bincount(group[drawn], minlength=3)
    assert counts[0] == 0
    assert counts[2] / len(drawn) == pytest.approx(0.75, abs=0.015)
    # within a group, items are drawn alike: no item far above its expected count
    per_item = np.bincount(drawn, minlength=n)
    expected = len(drawn) * weights / weights.sum()
    assert per_item[group == 2].mean() == pytest.approx(expected[group == 2].mean(), rel=0.03)
    assert per_item[group == 1].mean() == pytest.approx(expected[group == 1].mean(), rel=0.05)
    # batches still hold one size each
    for b in sampler:
        assert len(set(sizes[b].tolist())) == 1


def test_weighted_draws_follow_unnormalised_weights_per_item():
    sizes = np.full(4, 32)
    weights = np.array([1.0, 2.0, 3.0, 4.0]) * 7  # scale does not matter
    sampler = SizeBatchSampler(sizes, 2, shuffle=True, seed=0, weights=weights)
    counts = np.zeros(4)
    for _ in range(5000):
        for b in sampler:
            counts += np.bincount(b, minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.015)


def test_lone_8x8_batch_dropped_only_when_shuffling():
    sizes = np.array([8] * 5 + [16] * 4)
    kept = epoch(SizeBatchSampler(sizes, 4, shuffle=False))
    assert kept == [[0, 1, 2, 3], [4], [5, 6, 7, 8]]
    for seed in range(5):
        batches = epoch(SizeBatchSampler(sizes, 4, shuffle=True, seed=seed))
        assert sorted(len(b) for b in batches) == [4, 4]
        assert all(len(b) > 1 for b in batches)
        flat = sorted(i for b in batches for i in b)
        assert flat[4:] == [5, 6, 7, 8]  # every 16x16 kept, one 8x8 left out
        assert len(set(flat[:4])) == 4 and set(flat[:4]) < {0, 1, 2, 3, 4}
    # a pair of 8x8 blocks is no lone batch
    sizes = np.array([8] * 6)
    assert sorted(len(b) for b in epoch(SizeBatchSampler(sizes, 4, shuffle=True))) == [2, 4]


# libaom av1/encoder/av1_quantize.c quantizer_to_qindex[]
QUANTIZER_TO_QINDEX = [
    0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48,
    52, 56, 60, 64, 68, 72, 76, 80, 84, 88, 92, 96, 100,
    104, 108, 112, 116, 120, 124, 128, 132, 136, 140, 144, 148, 152,
    156, 160, 164, 168, 172, 176, 180, 184, 188, 192, 196, 200, 204,
    208, 212, 216, 220, 224, 228, 232, 236, 240, 244, 249, 255,
]  # fmt: skip


@pytest.mark.parametrize(("cq", "qindex"), [(0, 0), (1, 4), (30, 120), (61, 244), (62, 249), (63, 255)])
def test_cq_level_to_qindex_points(cq, qindex):
    assert cq_level_to_qindex(cq) == qindex


def test_cq_level_to_qindex_whole_table():
    assert len(QUANTIZER_TO_QINDEX) == 64
    assert [cq_level_to_qindex(q) for q in range(64)] == QUANTIZER_TO_QINDEX


@pytest.mark.parametrize("cq", [-1, 64, 255, -100])
def test_cq_level_to_qindex_out_of_range(cq):
    with pytest.raises(ValueError):
        cq_level_to_qindex(cq)
