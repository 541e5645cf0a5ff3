"""Hard (stochastic) attention of Xu et al. 2015 §4.1 and the REINFORCE loss (Mnih et al. 2014)."""

import pytest
import torch

from attnzoo import AdditiveScore, DotScore, GeneralScore, HardAttention, LocationScore, reinforce_loss

B, TQ, TK, D = 3, 2, 5, 4


def test_eval_takes_the_argmax():
    """s_t = argmax alpha in eval mode; z_t = the chosen value; log p(s_t) and H[alpha] from alpha."""
    score = GeneralScore(D, D)
    attention = HardAttention(score).eval()
    q, k, v = torch.randn(B, TQ, D), torch.randn(B, TK, D), torch.randn(B, TK, 6)
    out = attention(q, k, v)
    alpha = torch.softmax(score(q, k), dim=-1)
    torch.testing.assert_close(out.probs, alpha)
    for n in range(B):
        for i in range(TQ):
            best = int(alpha[n, i].argmax())
            expected_weights = torch.zeros(TK)
            expected_weights[best] = 1.0
            assert torch.equal(out.weights[n, i], expected_weights)
            torch.testing.assert_close(out.context[n, i], v[n, best])
            torch.testing.assert_close(out.log_prob[n, i], alpha[n, i, best].log())
            torch.testing.assert_close(out.entropy[n, i], -(alpha[n, i] * alpha[n, i].log()).sum())


def test_training_samples_one_hot_from_the_allowed_keys():
    attention = HardAttention(DotScore()).train()
    q, k = torch.randn(B, TQ, D), torch.randn(B, TK, D)
    mask = torch.rand(B, TQ, TK) > 0.4
    mask[..., 0] = True
    out = attention(q, k, mask=mask)
    assert torch.equal(out.weights.sum(-1), torch.ones(B, TQ))
    assert set(out.weights.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out.weights * ~mask, torch.zeros(B, TQ, TK))  # never a masked key
    chosen = out.weights.argmax(-1)
    torch.testing.assert_close(out.context, k.gather(1, chosen.view(B, TQ, 1).expand(-1, -1, D)))
    torch.testing.assert_close(out.log_prob, out.probs.gather(-1, chosen[..., None]).squeeze(-1).log())


def test_samples_follow_the_attention_distribution():
    """With sample=True in eval mode too; the empirical frequencies approach alpha."""
    attention = HardAttention(DotScore()).eval()
    q, k = torch.randn(1, 1, D), torch.randn(1, TK, D)
    draws = 4000
    out = attention(q.expand(draws, -1, -1), k.expand(draws, -1, -1), sample=True)
    frequencies = out.weights.mean(0)[0]
    torch.testing.assert_close(frequencies, out.probs[0, 0], atol=0.03, rtol=0)


def test_single_query_and_fully_masked_row():
    attention = HardAttention(AdditiveScore(D, D, 3)).train()
    q = torch.randn(B, D, requires_grad=True)
    mask = torch.ones(B, TK, dtype=torch.bool)
    mask[1] = False
    out = attention(q, torch.randn(B, TK, D), mask=mask)
    assert out.context.shape == (B, D)
    assert out.weights.shape == out.probs.shape == (B, TK)
    assert out.log_prob.shape == out.entropy.shape == (B,)
    for part in out:
        assert torch.equal(part[1], torch.zeros_like(part[1]))
    (out.log_prob.sum() + out.entropy.sum()).backward()
    assert torch.isfinite(q.grad).all()


def test_reinforce_loss_gradient_sign():
    """loss = -mean((R - b) log p) + mean((R - b)^2): d/d log p = -(R - b)/N, d/d b = -2 (R - b)/N."""
    log_prob = torch.log(torch.tensor([[0.2, 0.5], [0.3, 0.9]])).requires_grad_()
    reward = torch.tensor([1.0, 0.0])
    baseline = torch.full((2, 2), 0.25, requires_grad=True)
    reinforce_loss(log_prob, reward, baseline).backward()
    advantage = (reward[:, None] - 0.25).expand(2, 2)
    torch.testing.assert_close(log_prob.grad, -advantage / 4)
    torch.testing.assert_close(baseline.grad, -2 * advantage / 4)
    # a better-than-expected action becomes more likely after a gradient-descent step, a worse one less
    assert log_prob.grad[0].lt(0).all() and log_prob.grad[1].gt(0).all()
    # the baseline moves towards the reward
    assert baseline.grad[0].lt(0).all() and baseline.grad[1].gt(0).all()


def test_reinforce_loss_without_baseline():
    log_prob = torch.log(torch.tensor([0.2, 0.5, 0.7])).requires_grad_()
    reward = torch.tensor([1.0, -1.0, 2.0])
    loss = reinforce_loss(log_prob, reward)
    torch.testing.assert_close(loss, -(reward * log_prob).mean())
    loss.backward()
    torch.testing.assert_close(log_prob.grad, -reward / 3)


def test_reinforce_trains_hard_attention_towards_the_rewarded_key():
    score = LocationScore(D, max_source_len=TK)  # scores positions: key 2 can be learnt
    attention = HardAttention(score).train()
    optimiser = torch.optim.SGD(score.parameters(), lr=0.5)
    q, k = torch.randn(64, D), torch.randn(64, TK, D)
    before = attention(q, k).probs[:, 2].mean()
    for _ in range(60):
        out = attention(q, k)
        reward = out.weights[:, 2]  # 1 for choosing key 2
        loss = reinforce_loss(out.log_prob, reward, torch.full_like(reward, float(reward.mean())))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = attention(q, k).probs[:, 2].mean()
    assert before < 0.4 and after > 0.75


def test_reinforce_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"reward: expected \(B,\) = \(2,\), got \(3,\)"):
        reinforce_loss(torch.zeros(2, 4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"baseline: expected log_prob's shape \(2, 4\), got \(2,\)"):
        reinforce_loss(torch.zeros(2, 4), torch.zeros(2), torch.zeros(2))
