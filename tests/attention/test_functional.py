"""The pure helpers: masked_softmax, lengths_to_mask, causal_mask, attend, query chunks."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnzoo import attend, causal_mask, lengths_to_mask, masked_softmax
from attnzoo.attention.functional import query_chunks, rows_of


def test_masked_softmax_without_mask_is_softmax():
    scores = torch.randn(2, 3, 5)
    torch.testing.assert_close(masked_softmax(scores), torch.softmax(scores, dim=-1))
    torch.testing.assert_close(masked_softmax(scores, dim=1), torch.softmax(scores, dim=1))


def test_masked_softmax_renormalises_over_allowed_positions():
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    mask = torch.tensor([[True, False, True, False]])
    expected = torch.tensor([[torch.e**1, 0.0, torch.e**3, 0.0]]) / (torch.e**1 + torch.e**3)
    torch.testing.assert_close(masked_softmax(scores, mask), expected)


def test_masked_softmax_fully_masked_row_is_zero_with_finite_gradient():
    scores = torch.randn(2, 4, requires_grad=True)
    mask = torch.tensor([[True, True, False, True], [False, False, False, False]])
    weights = masked_softmax(scores, mask)
    assert torch.equal(weights[1], torch.zeros(4))
    (weights * torch.randn(2, 4)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.equal(scores.grad[1], torch.zeros(4))  # no key, no signal


def test_masked_softmax_handles_very_negative_scores_and_half_precision():
    scores = torch.tensor([[-1e30, -1e30, 0.0]])
    mask = torch.tensor([[True, True, False]])
    torch.testing.assert_close(masked_softmax(scores, mask), torch.tensor([[0.5, 0.5, 0.0]]))
    half = masked_softmax(torch.randn(3, 4, dtype=torch.float16), torch.zeros(3, 4, dtype=torch.bool))
    assert torch.equal(half, torch.zeros(3, 4, dtype=torch.float16))


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 6),
    data=st.data(),
)
def test_masked_softmax_sums_to_one_over_allowed_and_zero_on_masked(rows, cols, data):
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols))).view(rows, cols)
    scores = torch.randn(rows, cols) * data.draw(st.sampled_from([0.1, 1.0, 30.0]))
    weights = masked_softmax(scores, mask)
    assert torch.equal(weights[~mask], torch.zeros_like(weights[~mask]))
    torch.testing.assert_close(weights.sum(-1), mask.any(-1).to(weights.dtype))
    assert (weights >= 0).all()


def test_masked_softmax_rejects_non_bool_and_unbroadcastable_masks():
    with pytest.raises(ValueError, match=r"mask: expected a bool tensor .*got dtype torch.float32"):
        masked_softmax(torch.randn(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"mask: expected a shape that broadcasts to \(2, 3\), got \(2, 4\)"):
        masked_softmax(torch.randn(2, 3), torch.ones(2, 4, dtype=torch.bool))


def test_lengths_to_mask():
    mask = lengths_to_mask(torch.tensor([3, 1, 0]), max_len=4)
    expected = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    assert lengths_to_mask(torch.tensor([2, 5])).shape == (2, 5)  # default width: the longest
    assert lengths_to_mask(torch.tensor([], dtype=torch.long)).shape == (0, 0)


def test_lengths_to_mask_rejects_bad_input():
    with pytest.raises(ValueError, match=r"lengths: expected a 1-D integer tensor \(B,\), got torch.float32 \(2,\)"):
        lengths_to_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"lengths: .*\(2, 1\)"):
        lengths_to_mask(torch.tensor([[1], [2]]))
    with pytest.raises(ValueError, match=r"max_len: expected at least the longest length 5, got 3"):
        lengths_to_mask(torch.tensor([5, 2]), max_len=3)


def test_causal_mask():
    assert torch.equal(causal_mask(3), torch.ones(3, 3, dtype=torch.bool).tril())
    # queries aligned with the last keys: the new query of a cached decoder sees every key
    assert torch.equal(causal_mask(1, 4), torch.ones(1, 4, dtype=torch.bool))
    expected = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(2, 4), expected)
    with pytest.raises(ValueError, match=r"tk: expected at least tq = 3 keys, got 2"):
        causal_mask(3, 2)


def test_attend_is_weighted_sum():
    weights = torch.rand(2, 3, 4)
    values = torch.randn(2, 4, 5)
    expected = torch.einsum("bqk,bkd->bqd", weights, values)
    torch.testing.assert_close(attend(weights, values), expected)


def test_query_chunks_and_rows_of():
    assert query_chunks(5, None) == [slice(0, 5)]
    assert query_chunks(5, 8) == [slice(0, 5)]
    assert query_chunks(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    with pytest.raises(ValueError, match=r"chunk_size: expected a positive integer or None, got 0"):
        query_chunks(5, 0)
    mask = torch.rand(2, 5, 3) > 0.5
    assert torch.equal(rows_of(mask, slice(1, 3)), mask[:, 1:3])
    broadcast_row = mask[:, :1]
    assert rows_of(broadcast_row, slice(1, 3)) is broadcast_row
    assert rows_of(None, slice(0, 1)) is None
