"""Structured self-attention (Lin et al. 2017) and multi-dimensional pooling as classifiers: eq. (6) and
M = AH against a reference, the penalty in the loss, padding, the routing task's ground truth and metric."""

import pytest
import torch

from attnzoo import create_model
from attnzoo.models.self_attentive import SelfAttentiveConfig
from attnzoo.models.self_attentive.recipe import SelfAttentiveOutput, routed
from attnzoo.registry import load_recipe
from attnzoo.tasks.routing import COLOUR_MARK, SHAPE_MARK, generate_routing

SMALL = {"vocab_size": 9, "classes": 3, "embed_dim": 4, "hidden": 3, "attention_dim": 5, "hops": 2, "mlp": 6}


def test_structured_classifier_matches_eq_6_on_each_unpadded_sequence():
    torch.manual_seed(0)
    model = create_model("self-attentive", SelfAttentiveConfig(**SMALL)).double()
    tokens = torch.tensor([[4, 5, 6, 7], [8, 4, 0, 0]])
    output = model(tokens)
    for b, length in enumerate([4, 2]):
        H = model.encoder(model.embeddings[0](tokens[b, :length])[None])[0][0]  # (n, 2u), no padding
        A = torch.softmax(model.pooling.W_s2 @ torch.tanh(model.pooling.W_s1.weight @ H.T), dim=1)  # eq. (6)
        torch.testing.assert_close(output.weights[b, :, :length], A)
        assert (output.weights[b, :, length:] == 0).all(), "padding gets zero weight"
        torch.testing.assert_close(output.logits[b], model.classifier((A @ H).flatten()))  # M = A H, MLP


def test_multidim_classifier_weights_per_feature_and_padding():
    torch.manual_seed(0)
    model = create_model("self-attentive", SelfAttentiveConfig(**SMALL, attention="multidim", encoder="none"))
    output = model(torch.tensor([[4, 5, 6], [7, 0, 0]]))
    assert output.feature_weights.shape == (2, 3, 4)
    torch.testing.assert_close(output.feature_weights.sum(1), torch.ones(2, 4))
    assert (output.feature_weights[1, 1:] == 0).all()
    with pytest.raises(ValueError, match="tokens: expected"):
        model(torch.ones(2, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="attention: expected"):
        SelfAttentiveConfig(attention="hops")


def test_routing_labels_follow_the_marked_tokens():
    data = generate_routing(200, 6, 5, seed=0)
    features, marks = data.tokens - 1, data.tokens[..., 3] - 1
    for n in range(200):
        (a,) = (marks[n] == COLOUR_MARK).nonzero()[0]
        (b,) = (marks[n] == SHAPE_MARK).nonzero()[0]
        assert (a, b) == (data.colour_token[n], data.shape_token[n])
        assert data.labels[n] == (features[n, a, 0] + features[n, b, 1]) % 5
        changed = features[n].clone()
        changed[a, 0] = (changed[a, 0] + 1) % 5  # another colour on the colour token: another label
        assert (changed[a, 0] + changed[b, 1]) % 5 != data.labels[n]
    assert data.tokens.min() >= 1, "0 stays padding"


def test_routed_metric_and_penalty_enter_the_loss():
    marked = torch.tensor([[0, 2], [1, 0]])
    weights = torch.tensor([[[0.9, 0.1, 0.0], [0.0, 0.2, 0.8]], [[0.2, 0.8, 0.0], [0.4, 0.6, 0.0]]])
    output = SelfAttentiveOutput(torch.zeros(2, 3), weights, None)
    assert routed(output, marked, 4).tolist() == [True, False]
    one_hop = SelfAttentiveOutput(torch.zeros(2, 3), torch.tensor([[[0.5, 0.1, 0.4]], [[0.5, 0.1, 0.4]]]), None)
    assert routed(one_hop, marked, 4).tolist() == [True, False], "one hop: its two top tokens"
    plain = load_recipe("self-attentive", {"problem": "routing", "length": 4, "train_size": 8, "eval_size": 4})
    penalised = load_recipe("self-attentive", {**vars(plain.settings), "penalty": 2.0})
    task = plain.build_task(0)
    model = create_model("self-attentive", plain.sized_config(SelfAttentiveConfig(**SMALL, encoder="none"), task))
    batch = next(iter(plain.train_batches(task, 8, 0)))
    loss, logs = plain.loss(model, batch, {})
    with_penalty, _ = penalised.loss(model, batch, {})
    torch.testing.assert_close(with_penalty, loss + 2.0 * logs["penalty"])
    metrics = plain.evaluate(model, task, "test")
    assert {"accuracy", "penalty", "overlap", "routed"} <= set(metrics)
