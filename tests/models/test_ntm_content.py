"""The NTM's content focus (Graves et al. 2014, eqs. 5-6) is computed by attnzoo's CosineScore."""

import torch
import torch.nn.functional as F

from attnzoo.attention import CosineScore, masked_softmax
from attnzoo.models.ntm import addressing, ntm_address

DTYPE = torch.float64


class CountingCosine(CosineScore):
    """A CosineScore that records the shapes it scores."""

    def __init__(self) -> None:
        super().__init__(eps=addressing.COSINE_EPS)
        self.calls = []

    def cosine(self, query, keys, key_norms):
        self.calls.append((tuple(query.shape), tuple(keys.shape)))
        return super().cosine(query, keys, key_norms)


def head_inputs(batch=3, heads=2, rows=7, width=5):
    memory, key = torch.randn(batch, rows, width, dtype=DTYPE), torch.randn(batch, heads, width, dtype=DTYPE)
    beta = F.softplus(torch.randn(batch, heads, dtype=DTYPE)) * 3
    previous = torch.softmax(torch.randn(batch, heads, rows, dtype=DTYPE), dim=-1)
    return memory, key, beta, previous


def test_the_addressing_forward_calls_cosine_score(monkeypatch):
    counting = CountingCosine()
    monkeypatch.setattr(addressing, "CONTENT_SCORE", counting)
    memory, key, beta, previous = head_inputs()
    ones = torch.ones_like(beta)
    ntm_address(memory, key, beta, ones, torch.softmax(torch.randn(3, 2, 3, dtype=DTYPE), -1), ones, previous)
    assert counting.calls == [((3, 2, 5), (3, 7, 5))]  # keys k (B, H, M) against memory rows (B, N, M)


def test_content_focus_equals_cosine_score_with_zero_keys_and_rows():
    """g = 1, no shift, gamma = 1 leave w^c = softmax(CosineScore(k, M, beta)); a zero key or row scores 0."""
    memory, key, beta, previous = head_inputs()
    key[0, 1] = 0.0
    memory[2, 3] = 0.0
    ones = torch.ones_like(beta)
    no_shift = torch.tensor([0.0, 1.0, 0.0], dtype=DTYPE).expand(3, 2, 3)
    weights = ntm_address(memory, key, beta, ones, no_shift, ones, previous)
    expected = masked_softmax(CosineScore(eps=addressing.COSINE_EPS)(key, memory, beta))
    torch.testing.assert_close(weights, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(weights[0, 1], torch.full((7,), 1 / 7, dtype=DTYPE))  # zero key: uniform
