"""The NTM: addressing and memory access against the paper's equations (Graves et al. 2014, §3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnzoo.attention import CosineScore, masked_softmax
from attnzoo.models.ntm import (
    NTM,
    NTMConfig,
    access_memory,
    ntm_address,
    read_memory,
    write_memory,
)

DTYPE = torch.float64


def reference_address(memory, key, beta, gate, shift, gamma, previous, shifts):
    """Graves et al. 2014, eqs. (5)-(9), transcribed one sequence and one location at a time.

    memory (B, N, M); key (B, H, M); beta, gate, gamma (B, H); shift (B, H, K); previous (B, H, N).
    """
    batch, rows, _ = memory.shape
    heads = key.size(1)
    out = torch.zeros(batch, heads, rows, dtype=memory.dtype)
    for b in range(batch):
        for h in range(heads):
            k = key[b, h]
            similarity = []  # (6) K[u, v] = u.v / (|u| |v|)
            for i in range(rows):
                row = memory[b, i]
                norms = float(k.norm()) * float(row.norm())
                similarity.append(float(k @ row) / norms if norms > 0 else 0.0)
            exps = [math.exp(float(beta[b, h]) * value) for value in similarity]
            content = [value / sum(exps) for value in exps]  # (5)
            g = float(gate[b, h])
            gated = [g * content[i] + (1 - g) * float(previous[b, h, i]) for i in range(rows)]  # (7)
            weighting = dict(zip(shifts, shift[b, h].tolist(), strict=True))  # s(offset)
            shifted = []
            for i in range(rows):  # (8) w~(i) = sum_j w^g(j) s(i - j), indices modulo N
                total = 0.0
                for j in range(rows):
                    total += sum(w for offset, w in weighting.items() if (i - j - offset) % rows == 0) * gated[j]
                shifted.append(total)
            powered = [value ** float(gamma[b, h]) for value in shifted]  # (9)
            for i in range(rows):
                out[b, h, i] = powered[i] / sum(powered)
    return out


def random_head_inputs(batch=3, heads=2, rows=7, width=5, shifts=3, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=DTYPE)

    memory = normal(batch, rows, width)
    key = normal(batch, heads, width)
    beta = F.softplus(normal(batch, heads)) * 3
    gate = torch.sigmoid(normal(batch, heads))
    shift = torch.softmax(normal(batch, heads, shifts), dim=-1)
    gamma = 1 + F.softplus(normal(batch, heads))
    previous = torch.softmax(normal(batch, heads, rows) * 2, dim=-1)
    return memory, key, beta, gate, shift, gamma, previous


@pytest.mark.parametrize("shifts", [(-1, 0, 1), (-2, -1, 0, 1, 2), (0, 1), (-1, 0, 1, 2, 3, 4, 5, 6, 7)])
def test_address_matches_the_transcribed_equations(shifts):
    inputs = random_head_inputs(shifts=len(shifts), seed=len(shifts))
    expected = reference_address(*inputs, shifts)
    assert torch.allclose(ntm_address(*inputs, shifts=shifts), expected, atol=1e-10)


def test_address_of_one_head_takes_unbatched_head_arguments():
    memory, key, beta, gate, shift, gamma, previous = random_head_inputs(heads=1)
    one = ntm_address(memory, key[:, 0], beta[:, 0], gate[:, 0], shift[:, 0], gamma[:, 0], previous[:, 0])
    assert one.shape == (3, 7)
    assert torch.allclose(one, reference_address(memory, key, beta, gate, shift, gamma, previous, (-1, 0, 1))[:, 0])


def test_content_focus_is_cosine_score_then_softmax():
    """g = 1, no shift, gamma = 1 leaves eq. (5): masked_softmax of attnzoo's CosineScore."""
    memory, key, beta, _, _, _, previous = random_head_inputs()
    ones = torch.ones_like(beta)
    no_shift = torch.tensor([0.0, 1.0, 0.0], dtype=DTYPE).expand(3, 2, 3)
    weights = ntm_address(memory, key, beta, ones, no_shift, ones, previous)
    assert torch.allclose(weights, masked_softmax(CosineScore()(key, memory, beta)), atol=1e-12)


def test_shift_rotates_with_wrap_around():
    memory, key, beta, _, _, _, previous = random_head_inputs()
    zeros, ones = torch.zeros_like(beta), torch.ones_like(beta)  # g = 0: w^g = w_{t-1}; gamma = 1: no sharpening
    for offset, one_hot in [(-1, [1.0, 0, 0]), (0, [0, 1.0, 0]), (1, [0, 0, 1.0])]:
        shift = torch.tensor(one_hot, dtype=DTYPE).expand(3, 2, 3)
        weights = ntm_address(memory, key, beta, zeros, shift, ones, previous)
        assert torch.allclose(weights, previous.roll(offset, dims=-1), atol=1e-12), offset
    last = torch.zeros(1, 1, 7, dtype=DTYPE)
    last[..., 6] = 1.0  # all weight on the last location: a shift of +1 moves it to location 0
    plus_one = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=DTYPE)
    weights = ntm_address(memory[:1], key[:1, :1], beta[:1, :1], zeros[:1, :1], plus_one, ones[:1, :1], last)
    assert weights[0, 0, 0] == pytest.approx(1.0) and weights[0, 0, 1:].abs().max() < 1e-12


def test_a_spread_shift_blurs_and_sharpening_refocuses():
    memory, key, beta, _, _, _, _ = random_head_inputs(batch=1, heads=1)
    zeros = torch.zeros_like(beta)
    focused = torch.zeros(1, 1, 7, dtype=DTYPE)
    focused[..., 3] = 1.0
    spread = torch.full((1, 1, 3), 1 / 3, dtype=DTYPE)
    blurred = ntm_address(memory, key, beta, zeros, spread, torch.ones_like(beta), focused)
    assert torch.allclose(blurred[0, 0, 2:5], torch.full((3,), 1 / 3, dtype=DTYPE))
    sharp = ntm_address(memory, key, beta, zeros, spread, torch.full_like(beta, 50.0), focused)
    assert torch.allclose(sharp, blurred, atol=1e-12)  # equal values stay equal under any gamma
    tilted = torch.tensor([[[0.2, 0.5, 0.3]]], dtype=DTYPE)
    sharp = ntm_address(memory, key, beta, zeros, tilted, torch.full_like(beta, 100.0), focused)
    assert sharp[0, 0, 3] == pytest.approx(1.0, abs=1e-12)  # the largest value takes all the weight


def test_gamma_one_keeps_and_large_gamma_does_not_underflow():
    memory, key, beta, gate, shift, _, previous = random_head_inputs(rows=128)
    ones = torch.ones_like(beta)
    unsharpened = ntm_address(memory, key, beta, gate, shift, ones, previous)
    shifted_only = reference_address(memory, key, beta, gate, shift, ones, previous, (-1, 0, 1))
    assert torch.allclose(unsharpened, shifted_only, atol=1e-12)
    uniform = torch.full((3, 2, 128), 1 / 128)  # w~^gamma = 128^-60 underflows float32: a power-then-divide gives NaN
    huge = ntm_address(
        memory.float(), key.float(), beta.float(), ones.float() * 0, shift.float(), ones.float() * 60, uniform
    )
    assert torch.isfinite(huge).all() and torch.allclose(huge, uniform)


@pytest.mark.parametrize("seed", range(5))
def test_weights_stay_a_distribution(seed):
    memory, key, beta, gate, shift, gamma, previous = random_head_inputs(rows=16, seed=seed)
    weights = previous
    for _ in range(20):  # feed the weights back, as the NTM does
        weights = ntm_address(memory, key, beta * 10, gate, shift, gamma * 5, weights)
        assert (weights >= 0).all()
        assert torch.allclose(weights.sum(-1), torch.ones(3, 2, dtype=DTYPE))


def test_no_nan_with_an_all_zero_memory_or_a_zero_key():
    memory, key, beta, gate, shift, gamma, previous = (tensor.float() for tensor in random_head_inputs())
    for zero_memory, zero_key in [(True, False), (False, True), (True, True)]:
        m = (torch.zeros_like(memory) if zero_memory else memory).requires_grad_()
        k = (torch.zeros_like(key) if zero_key else key).requires_grad_()
        parameters = [tensor.clone().requires_grad_() for tensor in (beta, gate, shift, gamma)]
        weights = ntm_address(m, k, *parameters[:3], parameters[3], previous)
        assert torch.isfinite(weights).all()
        (weights * torch.randn_like(weights)).sum().backward()
        for tensor in [m, k, *parameters]:
            assert torch.isfinite(tensor.grad).all()
    content = ntm_address(
        torch.zeros_like(memory), key, beta, torch.ones_like(gate), shift, torch.ones_like(gamma), previous
    )
    assert torch.allclose(content, torch.full_like(content, 1 / 7))  # every location scores 0: uniform


def test_address_gradients():
    inputs = [tensor.requires_grad_() for tensor in random_head_inputs(batch=2, rows=5, width=3)]
    assert torch.autograd.gradcheck(lambda *args: ntm_address(*args), inputs)


def test_address_checks_shapes():
    memory, key, beta, gate, shift, gamma, previous = random_head_inputs()
    with pytest.raises(ValueError, match="previous_weights"):
        ntm_address(memory, key, beta, gate, shift, gamma, previous[..., :-1])
    with pytest.raises(ValueError, match="key"):
        ntm_address(memory, key[..., :-1], beta, gate, shift, gamma, previous)
    with pytest.raises(ValueError, match="shifts"):
        ntm_address(memory, key, beta, gate, shift, gamma, previous, shifts=(0, 1))


def test_read_and_write_match_equations_2_to_4():
    generator = torch.Generator().manual_seed(3)
    memory = torch.randn(2, 6, 4, generator=generator, dtype=DTYPE)
    for heads in (1, 3):
        weights = torch.softmax(torch.randn(2, heads, 6, generator=generator, dtype=DTYPE), dim=-1)
        erase = torch.rand(2, heads, 4, generator=generator, dtype=DTYPE)
        add = torch.randn(2, heads, 4, generator=generator, dtype=DTYPE)
        expected = memory.clone()
        reads = torch.zeros(2, heads, 4, dtype=DTYPE)
        for b in range(2):
            for i in range(6):
                for h in range(heads):
                    reads[b, h] += weights[b, h, i] * memory[b, i]  # (2)
                    expected[b, i] = expected[b, i] * (1 - weights[b, h, i] * erase[b, h])  # (3)
                for h in range(heads):
                    expected[b, i] = expected[b, i] + weights[b, h, i] * add[b, h]  # (4)
        assert torch.allclose(read_memory(memory, weights), reads)
        assert torch.allclose(write_memory(memory, weights, erase, add), expected)


@pytest.mark.parametrize(("read_heads", "write_heads"), [(1, 1), (2, 1), (1, 3)])
def test_access_memory_is_read_then_write_with_exact_gradients(read_heads, write_heads):
    generator = torch.Generator().manual_seed(4)
    memory = torch.randn(2, 6, 4, generator=generator, dtype=DTYPE)
    read_weights = torch.softmax(torch.randn(2, read_heads, 6, generator=generator, dtype=DTYPE), dim=-1)
    write_weights = torch.softmax(torch.randn(2, write_heads, 6, generator=generator, dtype=DTYPE), dim=-1)
    erase = torch.rand(2, write_heads, 4, generator=generator, dtype=DTYPE)
    add = torch.randn(2, write_heads, 4, generator=generator, dtype=DTYPE)
    inputs = [tensor.requires_grad_() for tensor in (memory, read_weights, write_weights, erase, add)]
    reads, written = access_memory(*inputs)
    assert torch.allclose(reads, read_memory(memory, read_weights))
    assert torch.allclose(written, write_memory(memory, write_weights, erase, add))
    assert torch.autograd.gradcheck(access_memory, inputs)


def test_model_gradients_are_exact():
    """The hand-written backward passes (addressing, memory access) in the whole model against
    finite differences, through a sequence, with some head parameters clipped."""
    torch.manual_seed(0)
    config = NTMConfig(input_size=3, output_size=2, controller_size=4, memory_rows=5, memory_width=3, clip=0.5)
    model = NTM(config).double()
    inputs = torch.randn(2, 4, 3, dtype=DTYPE)
    parameters = {name: value.detach().requires_grad_() for name, value in model.named_parameters()}
    raw = model.head_parameters(torch.rand(64, 4, dtype=DTYPE) * 2 - 1)  # h_t is in (-1, 1)
    assert (raw.abs() > config.clip).any() and (raw.abs() < config.clip).any()  # both sides of the clip are tested

    def logits(*values):
        return torch.func.functional_call(model, dict(zip(parameters, values, strict=True)), (inputs,)).logits

    assert torch.autograd.gradcheck(logits, tuple(parameters.values()))
