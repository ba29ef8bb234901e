"""t-intervals over a few seeds, paired differences, and the verdict drawn from them."""

import math

import pytest

from av1tools.stats import Interval, mean_interval, paired_difference, verdict

T_975_2 = 4.302653  # Student's t, 0.975 quantile, 2 degrees of freedom
T_95_2 = 2.919986  # 0.95 quantile, 2 degrees of freedom
T_975_4 = 2.776445  # 0.975 quantile, 4 degrees of freedom


def test_mean_interval_of_three():
    iv = mean_interval([1, 2, 3])
    half = T_975_2 * 1 / math.sqrt(3)
    assert iv.mean == pytest.approx(2)
    assert iv.sd == pytest.approx(1)
    assert iv.low == pytest.approx(2 - half, abs=1e-6)
    assert iv.high == pytest.approx(2 + half, abs=1e-6)
    assert iv.low == pytest.approx(-0.484138, abs=1e-5)
    assert iv.n == 3
    assert iv.confidence == 0.95


def test_mean_interval_order_free_and_other_confidence():
    iv = mean_interval([3.0, 1.0, 2.0], confidence=0.9)
    half = T_95_2 / math.sqrt(3)
    assert (iv.low, iv.high) == pytest.approx((2 - half, 2 + half), abs=1e-6)
    assert iv.confidence == 0.9


def test_mean_interval_of_five():
    values = [0.3, 0.5, 0.1, 0.4, 0.2]  # mean 0.3, sd sqrt(0.025)
    iv = mean_interval(values)
    sd = math.sqrt(0.1 / 4)
    assert iv.mean == pytest.approx(0.3)
    assert iv.sd == pytest.approx(sd)
    assert iv.high - iv.mean == pytest.approx(T_975_4 * sd / math.sqrt(5), abs=1e-6)
    assert iv.mean - iv.low == pytest.approx(T_975_4 * sd / math.sqrt(5), abs=1e-6)


def test_mean_interval_of_equal_values_is_a_point():
    iv = mean_interval([0.7, 0.7, 0.7])
    assert (iv.mean, iv.sd) == pytest.approx((0.7, 0.0))
    assert iv.low == pytest.approx(0.7) and iv.high == pytest.approx(0.7)


def test_single_value_has_nan_bounds():
    iv = mean_interval([0.42])
    assert iv.mean == pytest.approx(0.42)
    assert iv.n == 1
    assert math.isnan(iv.low) and math.isnan(iv.high) and math.isnan(iv.sd)
    assert not iv.excludes_zero()


def test_no_values():
    with pytest.raises(ValueError):
        mean_interval([])


def test_paired_difference():
    a, b = [0.5, 0.6, 0.7], [0.4, 0.45, 0.5]
    iv = paired_difference(a, b)
    # differences 0.1, 0.15, 0.2: mean 0.15, sd 0.05
    _assert_close(iv, mean_interval([0.1, 0.15, 0.2]))
    half = T_975_2 * 0.05 / math.sqrt(3)
    assert iv.mean == pytest.approx(0.15)
    assert iv.sd == pytest.approx(0.05)
    assert (iv.low, iv.high) == pytest.approx((0.15 - half, 0.15 + half), abs=1e-6)
    assert iv.n == 3
    # a - b, not b - a
    reverse = paired_difference(b, a)
    assert reverse.mean == pytest.approx(-0.15)
    assert (reverse.low, reverse.high) == pytest.approx((-iv.high, -iv.low))


def _assert_close(x: Interval, y: Interval) -> None:
    assert x.n == y.n and x.confidence == y.confidence
    assert (x.mean, x.sd, x.low, x.high) == pytest.approx((y.mean, y.sd, y.low, y.high))


def test_paired_difference_is_not_a_difference_of_means_interval():
    # pairing removes the shared per-seed variation: the raw values spread widely, their
    # differences do not
    a, b = [1.0, 5.0, 9.0], [0.8, 4.79, 8.81]  # differences 0.2, 0.21, 0.19
    iv = paired_difference(a, b)
    assert iv.mean == pytest.approx(0.2)
    assert iv.sd == pytest.approx(0.01)
    assert iv.low == pytest.approx(0.2 - T_975_2 * 0.01 / math.sqrt(3), abs=1e-6)
    assert iv.low > 0
    assert mean_interval(b).low < 0  # while b alone says little


def test_paired_difference_needs_pairs():
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


def test_excludes_zero():
    assert mean_interval([1.0, 1.1, 0.9]).excludes_zero()
    assert mean_interval([-1.0, -1.1, -0.9]).excludes_zero()
    assert not mean_interval([1.0, 2.0, 3.0]).excludes_zero()


ABOVE = mean_interval([0.10, 0.12, 0.11])
ABOVE_2 = mean_interval([2.0, 2.5, 3.0])
BELOW = mean_interval([-0.10, -0.12, -0.11])
SPANS = mean_interval([1.0, 2.0, 3.0])  # -0.48 .. 4.48
SINGLE_UP = mean_interval([0.5])
SINGLE_DOWN = mean_interval([-0.5])


def test_fixture_intervals():
    assert ABOVE.low > 0 and ABOVE_2.low > 0
    assert BELOW.high < 0
    assert SPANS.low < 0 < SPANS.high


def test_verdict_holds():
    assert verdict({"a": ABOVE}) == "holds"
    assert verdict({"a": ABOVE, "b": ABOVE_2}) == "holds"


def test_verdict_does_not_hold():
    assert verdict({"a": BELOW}) == "does not hold"
    assert verdict({"a": ABOVE, "b": BELOW}) == "does not hold"
    assert verdict({"a": SPANS, "b": BELOW, "c": ABOVE}) == "does not hold"
    assert verdict({"a": SINGLE_UP, "b": BELOW}) == "does not hold"


def test_verdict_cannot_be_decided():
    assert verdict({"a": SPANS}) == "cannot be decided"
    assert verdict({"a": ABOVE, "b": SPANS}) == "cannot be decided"
    # a single seed decides nothing, whichever side its value lies on
    assert verdict({"a": SINGLE_UP}) == "cannot be decided"
    assert verdict({"a": SINGLE_DOWN}) == "cannot be decided"
    assert verdict({"a": ABOVE, "b": SINGLE_UP}) == "cannot be decided"
    assert verdict({"a": ABOVE, "b": SINGLE_DOWN}) == "cannot be decided"


def test_verdict_touching_zero_is_undecided():
    touching = Interval(mean=1.0, sd=1.0, low=0.0, high=2.0, n=3)
    assert verdict({"a": touching}) == "cannot be decided"
    touching_below = Interval(mean=-1.0, sd=1.0, low=-2.0, high=0.0, n=3)
    assert verdict({"a": touching_below}) == "cannot be decided"
