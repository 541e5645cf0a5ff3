"""The AS and AoA readers against Kadlec et al. 2016 §3 and Cui et al. 2017 eqs. 4-9, written out here."""

from __future__ import annotations

import pytest
import torch

from attnzoo.models.aoa import AoAReader, ASReader, ReaderConfig, sum_attention
from attnzoo.models.aoa.recipe import top_word_gold

CONFIG = ReaderConfig(vocab_size=20, embed_dim=6, hidden_size=5, dropout=0.0)


def batch():
    documents = torch.tensor([[4, 5, 6, 4, 7, 8], [9, 4, 10, 9, 0, 0]])
    queries = torch.tensor([[11, 5, 12], [11, 13, 0]])
    candidates = torch.tensor([[4, 7, 8], [9, 4, 0]])
    return documents, queries, candidates


def test_sum_attention_adds_the_weight_of_every_occurrence():
    documents, _, candidates = batch()
    weights = torch.rand(2, 6)
    got = sum_attention(weights, documents, candidates)
    for b in range(2):
        for c in range(3):
            word = int(candidates[b, c])
            want = sum(float(weights[b, i]) for i in range(6) if word != 0 and int(documents[b, i]) == word)
            assert float(got[b, c]) == pytest.approx(want, abs=1e-6)


def test_as_reader_is_a_softmax_of_document_states_against_one_query_vector():
    model = ASReader(CONFIG).double().eval()
    documents, queries, candidates = batch()
    out = model(documents, queries, candidates)
    H = CONFIG.hidden_size
    for b in range(2):
        T, Q = int((documents[b] != 0).sum()), int((queries[b] != 0).sum())
        h_doc = model.encode(model.document_gru, documents[b : b + 1, :T])[0]  # unpadded: (T, 2H)
        h_query = model.encode(model.query_gru, queries[b : b + 1, :Q])[0]
        q = torch.cat([h_query[Q - 1, :H], h_query[0, H:]])  # last forward state, first backward state
        torch.testing.assert_close(out.weights[b, :T], torch.softmax(h_doc @ q, 0))
        assert (out.weights[b, T:] == 0).all()
    assert out.beta is None


def test_aoa_reader_follows_eqs_4_to_9():
    model = AoAReader(CONFIG).double().eval()
    documents, queries, candidates = batch()
    out = model(documents, queries, candidates)
    b, T, Q = 1, 4, 2
    h_doc = model.encode(model.document_gru, documents[b : b + 1, :T])[0]  # (T, 2H)
    h_query = model.encode(model.query_gru, queries[b : b + 1, :Q])[0]  # (Q, 2H)
    M = h_doc @ h_query.T  # eq. 4
    alpha, beta = torch.softmax(M, 0), torch.softmax(M, 1).mean(0)  # eqs. 5, 6, 7
    s = alpha @ beta  # eq. 8
    torch.testing.assert_close(out.weights[b, :T], s)
    torch.testing.assert_close(out.beta[b, :Q], beta)
    want = torch.stack([s[documents[b, :T] == 9].sum(), s[documents[b, :T] == 4].sum()]).log()  # eq. 9
    torch.testing.assert_close(out.log_probs[b, :2], want)
    assert out.log_probs[b, 2] == float("-inf")  # no third candidate


@pytest.mark.parametrize("reader", [ASReader, AoAReader])
def test_padding_changes_nothing(reader):
    model = reader(CONFIG).eval()
    documents, queries, candidates = batch()
    out = model(documents, queries, candidates)
    pad = torch.zeros(2, 3, dtype=torch.long)
    longer = model(torch.cat([documents, pad], 1), torch.cat([queries, pad], 1), torch.cat([candidates, pad], 1))
    torch.testing.assert_close(longer.log_probs[:, :3], out.log_probs)
    assert torch.isinf(longer.log_probs[:, 3:]).all()


def test_top_word_gold_and_shape_checks():
    beta = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    gold = torch.tensor([[False, True, True], [False, True, False]])
    assert top_word_gold(beta, gold).tolist() == [True, False]
    model = AoAReader(CONFIG)
    documents, queries, candidates = batch()
    with pytest.raises(ValueError, match=r"query: expected \(B, Q\) = \(2, \?\), got \(1, 3\)"):
        model(documents, queries[:1], candidates)
