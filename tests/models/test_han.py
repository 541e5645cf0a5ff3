"""HAN (Yang et al. 2016) against eqs. (2)-(11) computed document by document without padding, its
baselines (mean pooling, flat), padding, the evidence metrics and the classify command."""

import pytest
import torch

from attnzoo import create_model
from attnzoo.models.han import HANConfig
from attnzoo.models.han.recipe import HANOutput, classify_text, evidence_metrics
from attnzoo.registry import load_recipe
from attnzoo.tasks.reviews import ReviewData

SMALL = {"vocab_size": 12, "classes": 3, "embed_dim": 5, "hidden": 4, "attention_dim": 6}
DOCUMENTS = [  # word ids per sentence; padded below to (B, S, W) = (2, 3, 4)
    [[4, 5, 6], [7, 8, 9, 10], [11, 4]],
    [[5, 7], [6, 8, 9]],
]


def padded() -> torch.Tensor:
    words = torch.zeros(2, 3, 4, dtype=torch.long)
    for b, document in enumerate(DOCUMENTS):
        for s, sentence in enumerate(document):
            words[b, s, : len(sentence)] = torch.tensor(sentence)
    return words


def attend(pooling, h):
    """Eqs. (5)-(7) / (10) for one unpadded sequence h (T, 2H): u = tanh(W h + b), α = softmax(u . u_w)."""
    u = torch.tanh(h @ pooling.W_s1.weight.T + pooling.W_s1.bias)  # (T, A)
    alpha = torch.softmax(u @ pooling.W_s2[0], dim=0)  # (T,)
    return alpha @ h, alpha


def bigru(rnn, x):
    return rnn(x[None])[0][0]  # (T, 2H): eqs. (2)-(4), one unpadded sequence


def test_han_matches_the_equations_document_by_document():
    torch.manual_seed(0)
    model = create_model("han", HANConfig(**SMALL)).double()
    output = model(padded())
    for b, document in enumerate(DOCUMENTS):
        vectors = []
        for s, sentence in enumerate(document):
            h = bigru(model.word_encoder, model.embed(torch.tensor(sentence)))
            s_i, alpha = attend(model.word_attention, h)
            torch.testing.assert_close(output.word_weights[b, s, : len(sentence)], alpha)
            assert (output.word_weights[b, s, len(sentence) :] == 0).all(), "padded words get zero weight"
            vectors.append(s_i)
        h_sentences = bigru(model.sentence_encoder, torch.stack(vectors))  # eqs. (8)-(9)
        v, beta = attend(model.sentence_attention, h_sentences)  # eq. (10)
        torch.testing.assert_close(output.sentence_weights[b, : len(document)], beta)
        assert (output.sentence_weights[b, len(document) :] == 0).all(), "padded sentences get zero weight"
        torch.testing.assert_close(output.logits[b], model.classifier(v))  # eq. (11), before the softmax


def test_flat_baseline_reads_the_whole_document_and_sums_word_weights():
    torch.manual_seed(0)
    model = create_model("han", HANConfig(**SMALL, hierarchical=False)).double()
    output = model(padded())
    for b, document in enumerate(DOCUMENTS):
        tokens = torch.tensor([word for sentence in document for word in sentence])
        v, alpha = attend(model.word_attention, bigru(model.word_encoder, model.embed(tokens)))
        mask = padded()[b] != 0
        torch.testing.assert_close(output.word_weights[b][mask], alpha)
        torch.testing.assert_close(output.sentence_weights[b], output.word_weights[b].sum(-1))
        torch.testing.assert_close(output.logits[b], model.classifier(v))


def test_mean_baseline_has_uniform_weights_and_errors_are_clear():
    model = create_model("han", preset="mean", **SMALL)
    output = model(padded())
    torch.testing.assert_close(output.sentence_weights[1], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(output.word_weights[0, 1], torch.full((4,), 0.25))
    with pytest.raises(ValueError, match="words: expected"):
        model(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="empty one"):
        model(torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="pooling: expected"):
        HANConfig(pooling="max")


def test_evidence_metrics_count_top_sentences_and_words():
    evidence = torch.tensor([[False, True], [True, False]])
    polarity = torch.zeros(2, 2, 3, dtype=torch.bool)
    polarity[0, 1, 2] = polarity[1, 0, 0] = True
    cues = polarity.clone()
    cues[1, 0, 1] = True
    data = ReviewData(torch.ones(2, 2, 3, dtype=torch.long), torch.tensor([1, 0]), evidence, polarity, cues)
    word_weights = torch.tensor([[[1.0, 0, 0], [0.1, 0.2, 0.7]], [[0.2, 0.8, 0], [1, 0, 0]]])
    output = HANOutput(torch.tensor([[0.0, 1.0], [0.0, 1.0]]), torch.tensor([[0.2, 0.8], [0.4, 0.6]]), word_weights)
    metrics = evidence_metrics(output, data)
    assert metrics == {
        "accuracy": 50.0,
        "evidence_sentence": 50.0,
        "polarity_word": 50.0,
        "cue_word": 100.0,
        "plain_polarity_word": 100.0,
    }


def test_classify_prints_the_rating_and_the_attended_words():
    recipe = load_recipe("han", {"train_size": 4, "eval_size": 4})
    task = recipe.build_task(0)
    model = create_model("han", recipe.sized_config(HANConfig(embed_dim=4, hidden=4, attention_dim=4), task))
    text = classify_text(model, task, ["The food was not good. We paid by card."], None)
    lines = text.splitlines()
    assert lines[0].startswith("class ") and len(lines) == 3
    assert all(line.count("[") == 1 for line in lines[1:])
    with pytest.raises(ValueError, match="unknown word 'yummy'"):
        classify_text(model, task, ["yummy"], None)


def test_a_labelled_tsv_file_is_a_task_without_evidence(tmp_path):
    words = ["great", "awful"]
    lines = [f"{('neg', 'pos')[n % 2]}\tWe came on day {n}. It was {words[n % 2]}!" for n in range(40)]
    (tmp_path / "texts.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    recipe = load_recipe("han", {"data": str(tmp_path / "texts.tsv")})
    task = recipe.build_task(0)
    assert task.labels == ["neg", "pos"] and "great" in task.vocabulary and "13" not in task.vocabulary  # min_count 2
    assert [len(task.split(name)) for name in ("train", "valid", "test")] == [32, 4, 4]
    config = recipe.sized_config(HANConfig(embed_dim=4, hidden=4, attention_dim=4), task)
    assert (config.classes, config.vocab_size) == (2, len(task.vocabulary))
    model = create_model("han", config)
    loss, _ = recipe.loss(model, next(iter(recipe.train_batches(task, 4, 0))), {})
    assert torch.isfinite(loss)
    assert set(recipe.evaluate(model, task, "test")) == {"accuracy"}, "real texts have no gold evidence"
    assert recipe.restore_task(0, recipe.task_documents(task)).labels == ["neg", "pos"]
    text = classify_text(model, task, ["It was unheard-of. Great"], None)  # unknown words: <unk>
    assert text.splitlines()[0].startswith("class ") and "of neg, pos" in text
