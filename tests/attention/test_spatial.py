"""SAGAN's self-attention block (Zhang et al. 2018, §3) against eqs. 1–3 written out here."""

import pytest
import torch

from attnzoo.attention import SpatialSelfAttention


def reference(block: SpatialSelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. 1–3 one position at a time, from the 1×1 convolutions' weight matrices."""
    batch, channels, height, width = x.shape
    w_f, w_g, w_h, w_v = (conv.weight[:, :, 0, 0] for conv in (block.key, block.query, block.value, block.out))
    y, betas = torch.empty_like(x), torch.empty(batch, height * width, height * width, dtype=x.dtype)
    for b in range(batch):
        positions = x[b].reshape(channels, -1).T  # x_i: (N, C)
        for j in range(height * width):
            s = torch.stack([(w_f @ positions[i]) @ (w_g @ positions[j]) for i in range(height * width)])  # s_ij
            beta = torch.exp(s) / torch.exp(s).sum()  # β_{j,i}, eq. 1
            o = w_v @ sum(beta[i] * (w_h @ positions[i]) for i in range(height * width))  # eq. 2
            y[b, :, j // width, j % width] = block.gamma * o + positions[j]  # eq. 3
            betas[b, j] = beta
    return y, betas


def test_the_block_follows_equations_1_to_3():
    torch.manual_seed(0)
    block = SpatialSelfAttention(16).double()
    with torch.no_grad():
        block.gamma.fill_(0.7)
    x = torch.randn(2, 16, 3, 4, dtype=torch.float64)
    y, weights = block(x)
    want_y, want_weights = reference(block, x)
    assert weights.shape == (2, 12, 12)
    torch.testing.assert_close(weights, want_weights)
    torch.testing.assert_close(y, want_y)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 12, dtype=torch.float64))


def test_gamma_zero_is_the_identity_and_starts_at_zero():
    block = SpatialSelfAttention(8)
    assert block.gamma.item() == 0.0
    x = torch.randn(3, 8, 5, 5)
    assert torch.equal(block(x).context, x)


def test_query_chunks_give_the_same_result_and_gradients():
    torch.manual_seed(1)
    whole, chunked = SpatialSelfAttention(16), SpatialSelfAttention(16, chunk_size=5)
    chunked.load_state_dict(whole.state_dict())
    with torch.no_grad():
        whole.gamma.fill_(0.5)
        chunked.gamma.fill_(0.5)
    x = torch.randn(2, 16, 4, 6)
    out_whole, out_chunked = whole(x), chunked(x)
    torch.testing.assert_close(out_chunked.context, out_whole.context)
    torch.testing.assert_close(out_chunked.weights, out_whole.weights)
    out_whole.context.square().sum().backward()
    out_chunked.context.square().sum().backward()
    torch.testing.assert_close(chunked.key.weight.grad, whole.key.weight.grad)
    assert chunked(x, need_weights=False).weights is None


def test_gradcheck_float64():
    torch.manual_seed(2)
    block = SpatialSelfAttention(8, chunk_size=3).double()
    with torch.no_grad():
        block.gamma.fill_(0.3)
    x = torch.randn(1, 8, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda value: block(value).context, (x,))
    assert torch.autograd.gradcheck(lambda value: block(value).weights, (x,))


def test_bad_shapes_are_refused_with_the_shape():
    block = SpatialSelfAttention(8)
    with pytest.raises(ValueError, match=r"x: expected \(B, C, H, W\) with C = 8, got \(2, 4, 3, 3\)"):
        block(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        SpatialSelfAttention(4)
