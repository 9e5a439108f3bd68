"""The theory columns against independent computations: Men et al.'s bound by brute force over the distances m
(and a denser scan of bases than the module's), Liu et al.'s critical dimension from the periods one by one."""

import math

import pytest

from gptkit.study.rope_theory import base_lower_bound, critical_dimension, extrapolation_limit, passes


def brute_force_margin(base, head_size, length):
    """min over m = 0 ... length of sum_i cos(m * base^(-2i/d)), in plain Python."""
    pairs = [base ** (-2 * i / head_size) for i in range(head_size // 2)]
    return min(sum(math.cos(m * theta) for theta in pairs) for m in range(length + 1))


@pytest.mark.parametrize("head_size, length", [(16, 64), (8, 32)])
def test_the_lower_bound_is_the_smallest_base_that_passes(head_size, length):
    bound = base_lower_bound(head_size, length)
    assert brute_force_margin(bound, head_size, length) >= -1e-9
    assert brute_force_margin(bound / 1.002, head_size, length) < 0
    base, step = 2.0, 1.003  # a scan four times as dense as the module's grid: no smaller base passes
    while base < bound / 1.002:
        assert brute_force_margin(base, head_size, length) < 0, base
        base *= step


def test_pass_or_fail_is_the_condition_itself():
    for base in (50.0, 500.0, 2000.0, 1e4, 1e6):
        assert passes(base, 16, 64) == (brute_force_margin(base, 16, 64) >= 0)
    assert not passes(100.0, 16, 64) and passes(1e4, 16, 64)


def test_the_bound_grows_with_the_context_and_matches_the_paper_for_llama_heads():
    assert base_lower_bound(16, 64) < base_lower_bound(16, 256)
    # Men et al., Table 1 (head size 128): 4.3e3 for a context of 1k tokens
    assert base_lower_bound(128, 1024) == pytest.approx(4.3e3, rel=0.01)


def first_unseen_pair(base, head_size, length):
    """The first rotary pair whose period 2 pi base^(2i/d) is at least the training length, or None."""
    for i in range(head_size // 2):
        if 2 * math.pi * base ** (2 * i / head_size) >= length:
            return i
    return None


@pytest.mark.parametrize("base", [10.0, 100.0, 1e4, 5e5, 1e7])
@pytest.mark.parametrize("head_size, length", [(16, 64), (48, 1024), (64, 8192)])
def test_critical_dimension_and_limit_follow_the_periods(base, head_size, length):
    pair = first_unseen_pair(base, head_size, length)
    if pair is None:
        assert critical_dimension(base, head_size, length) == head_size
        assert extrapolation_limit(base, head_size, length) is None
    else:
        assert critical_dimension(base, head_size, length) == 2 * pair
        assert extrapolation_limit(base, head_size, length) == pytest.approx(
            2 * math.pi * base ** (2 * pair / head_size)
        )


def test_the_papers_llama2_example():
    # Liu et al.: LLaMA2 (head size 128, trained at 4096, base 10000) has critical dimension 92
    assert critical_dimension(10000.0, 128, 4096) == 92
    assert extrapolation_limit(10000.0, 128, 4096) == pytest.approx(2 * math.pi * 10000 ** (92 / 128))
