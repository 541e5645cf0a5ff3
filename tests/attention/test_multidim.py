"""Multi-dimensional attention (Shen et al. 2018, eqs. 7-9) and learned-query pooling (Lin et al. 2017,
eq. 6, §2.2) against the equations written out here with loops, gradcheck, masks and shapes."""

import pytest
import torch
import torch.nn.functional as F

from attnzoo.attention import MultiDimensionalAttention, StructuredSelfAttention, attention_penalty, hop_overlap


def reference_multidim(layer: MultiDimensionalAttention, query, keys, values, allowed):
    """Eqs. (7)-(9) one query, one key, one feature at a time; ``allowed`` (B, Tq, Tk) bool."""
    B, Tq, Tk, Dv = query.size(0), query.size(1), keys.size(1), values.size(-1)
    context, weights = torch.zeros(B, Tq, Dv, dtype=query.dtype), torch.zeros(B, Tq, Tk, Dv, dtype=query.dtype)
    for b in range(B):
        for i in range(Tq):
            keep = [j for j in range(Tk) if allowed[b, i, j]]
            if not keep:
                continue
            f = torch.stack(  # eq. (7): f(x_j, q) = W^T elu(W1 x_j + W2 q + b1) + b, (kept, Dv)
                [
                    layer.W.weight @ F.elu(layer.W1.weight @ keys[b, j] + layer.W1.bias + layer.W2.weight @ query[b, i])
                    + layer.W.bias
                    for j in keep
                ]
            )
            for k in range(Dv):
                p = torch.exp(f[:, k]) / torch.exp(f[:, k]).sum()  # eq. (8), per feature k
                for slot, j in enumerate(keep):
                    weights[b, i, j, k] = p[slot]
                    context[b, i, k] += p[slot] * values[b, j, k]  # eq. (9)
    return context, weights


def make_layer(dtype=torch.float32):
    torch.manual_seed(0)
    return MultiDimensionalAttention(query_dim=3, key_dim=4, value_dim=5, hidden=6).to(dtype)


def test_multidim_matches_eqs_7_to_9_with_padding():
    layer = make_layer(torch.float64)
    query, keys, values = torch.randn(2, 3, 3).double(), torch.randn(2, 4, 4).double(), torch.randn(2, 4, 5).double()
    lengths = torch.tensor([4, 2])
    allowed = (torch.arange(4)[None, :] < lengths[:, None])[:, None, :].expand(2, 3, 4)  # (B, Tq, Tk)
    context, weights = layer(query, keys, values, mask=allowed)
    expected_context, expected_weights = reference_multidim(layer, query, keys, values, allowed)
    assert weights.shape == (2, 3, 4, 5)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(context, expected_context)
    assert (weights[1, :, 2:] == 0).all(), "padding gets zero weight"
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(2, 3, 5, dtype=torch.float64))


def test_multidim_features_choose_different_keys():
    """Unlike one scalar per key, feature 0 may come from key 0 and feature 1 from key 1."""
    layer = MultiDimensionalAttention(query_dim=1, key_dim=2, value_dim=2, hidden=2, activation=torch.nn.Identity())
    with torch.no_grad():
        layer.W1.weight.copy_(torch.eye(2) * 10)
        layer.W1.bias.zero_()
        layer.W2.weight.zero_()
        layer.W.weight.copy_(torch.eye(2))
        layer.W.bias.zero_()
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # key 0 scores feature 0, key 1 feature 1
    context, weights = layer(torch.zeros(1, 1), keys)
    assert weights[0, 0, 0] > 0.99 and weights[0, 1, 1] > 0.99  # single query: (B, Tk, Dv)
    torch.testing.assert_close(context, torch.ones(1, 2), atol=1e-4, rtol=0)


def test_multidim_gradcheck_float64():
    layer = make_layer(torch.float64)
    query = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    values = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, True, True]])[:, None, :]
    assert torch.autograd.gradcheck(lambda q, k, v: layer(q, k, v, mask=mask).context, (query, keys, values))


def test_multidim_single_query_chunks_all_masked_and_no_weights():
    layer = make_layer()
    query, keys, values = torch.randn(2, 5, 3), torch.randn(2, 4, 4), torch.randn(2, 4, 5)
    full = layer(query, keys, values)
    layer.chunk_size = 2
    chunked = layer(query, keys, values)
    torch.testing.assert_close(chunked.context, full.context)
    torch.testing.assert_close(chunked.weights, full.weights)
    single = layer(query[:, 0], keys, values)
    assert single.context.shape == (2, 5) and single.weights.shape == (2, 4, 5)
    torch.testing.assert_close(single.context, full.context[:, 0])
    nothing = layer(query, keys, values, mask=torch.zeros(2, 4, dtype=torch.bool)[:, None])
    assert (nothing.context == 0).all() and (nothing.weights == 0).all()
    assert layer(query, keys, values, need_weights=False).weights is None


def test_multidim_shape_errors_name_the_argument():
    layer = make_layer()
    with pytest.raises(ValueError, match="values: expected"):
        layer(torch.randn(2, 3), torch.randn(2, 4, 4), torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="query: expected"):
        layer(torch.randn(2, 7), torch.randn(2, 4, 4), torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="mask: expected a bool"):
        layer(torch.randn(2, 3), torch.randn(2, 4, 4), torch.randn(2, 4, 5), mask=torch.ones(2, 4))


def test_structured_self_attention_matches_eq_6_and_padding():
    torch.manual_seed(0)
    layer = StructuredSelfAttention(input_dim=4, attention_dim=3, hops=2, bias=False).double()
    states = torch.randn(2, 5, 4, dtype=torch.float64)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    M, A = layer(states, mask)
    for b, length in enumerate([5, 3]):
        H = states[b, :length]  # (n, 2u)
        expected_A = torch.softmax(layer.W_s2 @ torch.tanh(layer.W_s1.weight @ H.T), dim=1)  # eq. (6), (r, n)
        torch.testing.assert_close(A[b, :, :length], expected_A)
        torch.testing.assert_close(M[b], expected_A @ H)  # M = A H
    assert (A[1, :, 3:] == 0).all()
    states.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda h: layer(h, mask).context, (states,))


def test_penalty_is_the_frobenius_norm_of_AAT_minus_I():
    A = torch.softmax(torch.randn(3, 4, 6, dtype=torch.float64), dim=-1)
    for b in range(3):
        expected = sum(
            (sum(A[b, i, t] * A[b, j, t] for t in range(6)) - (1.0 if i == j else 0.0)) ** 2
            for i in range(4)
            for j in range(4)
        )
        torch.testing.assert_close(attention_penalty(A)[b], expected)
    disjoint = torch.eye(4, 6, dtype=torch.float64)[None]  # each hop on its own token
    assert attention_penalty(disjoint).item() == 0
    assert hop_overlap(disjoint).item() == 0
    same = torch.full((1, 3, 4), 0.25)
    assert hop_overlap(same).item() == pytest.approx(1.0)
    half = torch.tensor([[[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]])
    assert hop_overlap(half).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="r >= 2"):
        hop_overlap(torch.ones(1, 1, 3))
