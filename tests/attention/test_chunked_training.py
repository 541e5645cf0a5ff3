"""``chunk_size`` bounds the memory of training: chunks are recomputed in the backward pass.

The gradients of a chunked mechanism equal the unchunked ones; what autograd keeps for the
backward pass shrinks with the chunk (counted exactly, with saved-tensor hooks, not timed);
dropout in a recomputed chunk draws the same mask as in its forward pass.
"""

import pytest
import torch

import attnzoo.attention.functional as functional
from attnzoo import AdditiveScore, Attention, CosineScore, GeneralScore, MultiHeadAttention
from attnzoo.attention.scores import AdditiveScores

SCORES = {
    "additive": lambda d: AdditiveScore(d, d, 16),
    "general": lambda d: GeneralScore(d, d),
    "cosine": lambda d: CosineScore(strength=2.0),
}


def gradients(module, *inputs):
    """Output, and the gradients of every input and parameter, of ``(context * fixed weights).sum()``."""
    inputs = [x.detach().requires_grad_() for x in inputs]
    module.zero_grad()
    context = module(*inputs).context
    (context * torch.linspace(-1, 1, context.numel()).view_as(context)).sum().backward()
    return [context.detach()] + [x.grad for x in inputs] + [p.grad.clone() for p in module.parameters()]


def saved_bytes(module, *inputs) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one forward pass (a tensor that
    several operations keep, such as the keys every chunk attends to, is counted once)."""
    total, seen = 0, set()

    def pack(tensor):
        nonlocal total
        if (tensor.data_ptr(), tensor.numel()) not in seen:
            seen.add((tensor.data_ptr(), tensor.numel()))
            total += tensor.numel() * tensor.element_size()
        return tensor

    inputs = [x.detach().requires_grad_() for x in inputs]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(*inputs).context.sum()
    return total


@pytest.mark.parametrize("name", sorted(SCORES))
def test_chunked_gradients_equal_unchunked(name):
    torch.manual_seed(0)
    score = SCORES[name](6)
    q, k = torch.randn(2, 9, 6), torch.randn(2, 7, 6)
    whole, chunked = gradients(Attention(score), q, k), gradients(Attention(score, chunk_size=2), q, k)
    for expected, got in zip(whole, chunked, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_multihead_chunked_gradients_equal_unchunked():
    torch.manual_seed(0)
    whole = MultiHeadAttention(8, 2, score=AdditiveScore(4, 4, 8))
    chunked = MultiHeadAttention(8, 2, score=AdditiveScore(4, 4, 8), chunk_size=3)
    chunked.load_state_dict(whole.state_dict())
    x = torch.randn(2, 10, 8)
    for expected, got in zip(gradients(whole, x, x), gradients(chunked, x, x), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_training_memory_shrinks_with_the_chunk():
    """Additive attention keeps (B, Tq, Tk, H) for its backward unchunked; chunked only inputs and outputs."""
    torch.manual_seed(0)
    score = AdditiveScore(16, 16, 32)
    q, k = torch.randn(2, 64, 16), torch.randn(2, 64, 16)
    whole = saved_bytes(Attention(score), q, k)
    chunked = saved_bytes(Attention(score, chunk_size=8), q, k)
    per_chunk_intermediate = 2 * 8 * 64 * 32 * 4  # one chunk's (B, chunk, Tk, H) float32
    assert whole > 64 * 64 * 2 * 32 * 4  # at least the full (B, Tq, Tk, H)
    assert chunked * 8 < whole, (chunked, whole)
    assert chunked < 2 * 64 * 64 * 4 * 3 + per_chunk_intermediate  # a few (B, Tq, Tk) tensors, not (..., H)


def test_recomputed_dropout_draws_the_same_mask(monkeypatch):
    """With dropout, the checkpointed backward gives the gradients of the very forward pass it ran."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, score=GeneralScore(4, 4), dropout=0.5, chunk_size=2).train()
    x = torch.randn(2, 6, 8)
    torch.manual_seed(1)
    recomputed = gradients(mha, x, x)
    monkeypatch.setattr(functional, "checkpoint", lambda function, *args, **_: function(*args))
    torch.manual_seed(1)
    kept = gradients(mha, x, x)
    for expected, got in zip(kept, recomputed, strict=True):
        torch.testing.assert_close(got, expected)


def test_no_recomputation_without_gradients(monkeypatch):
    calls = []
    monkeypatch.setattr(functional, "checkpoint", lambda function, *args, **_: calls.append(1) or function(*args))
    attention = Attention(GeneralScore(4, 4), chunk_size=2)
    q = torch.randn(1, 5, 4)
    with torch.no_grad():
        attention(q, q)
    assert calls == []
    attention(q, q)
    assert len(calls) == 3


def test_chunked_additive_training_recomputes_in_its_own_backward_not_by_checkpointing(monkeypatch):
    """The additive score's backward recomputes tanh itself: no chunk is checkpointed (run twice)."""
    calls = []
    monkeypatch.setattr(functional, "checkpoint", lambda function, *args, **_: calls.append(1) or function(*args))
    used, original = [], AdditiveScores.apply
    monkeypatch.setattr(AdditiveScores, "apply", lambda *args: used.append(1) or original(*args))
    torch.manual_seed(0)
    score = AdditiveScore(4, 4, 8)
    q = torch.randn(1, 5, 4, requires_grad=True)
    Attention(score, chunk_size=2)(q, q).context.sum().backward()
    assert calls == [] and len(used) == 3
    Attention(score)(q, q).context.sum().backward()  # unchunked: plain autograd
    assert len(used) == 3


def test_the_additive_scores_function_has_the_gradients_of_its_equation():
    """gradcheck in float64 of AdditiveScores against finite differences of e_ij = v^T tanh(q_i + k_j)."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in ((2, 3, 5), (2, 4, 5), (5,)))
    assert torch.autograd.gradcheck(AdditiveScores.apply, (q, k, v))
    expected = torch.einsum("bijh,h->bij", torch.tanh(q[:, :, None] + k[:, None]), v)
    torch.testing.assert_close(AdditiveScores.apply(q, k, v), expected)


def test_a_subclass_that_scores_more_than_q_plus_k_checkpoints_instead(monkeypatch):
    """LocationAwareScore overrides score (it also reads the previous alignment): AdditiveScores would
    compute another function, so its chunks are checkpointed, with the unchunked gradients."""
    from attnzoo.attention import LocationAwareScore

    used, original = [], AdditiveScores.apply
    monkeypatch.setattr(AdditiveScores, "apply", lambda *args: used.append(1) or original(*args))
    torch.manual_seed(0)
    score = LocationAwareScore(4, 4, 6, filters=2, width=3)
    assert AdditiveScore(4, 4, 6).recomputes_in_backward and not score.recomputes_in_backward
    results = []
    for chunk_size in (None, 2):
        q = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1)).requires_grad_()
        context = Attention(score, chunk_size=chunk_size)(q, q).context
        (context * torch.linspace(-1, 1, context.numel()).view_as(context)).sum().backward()
        results.append((context.detach(), q.grad))
    assert used == []
    for expected, got in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
