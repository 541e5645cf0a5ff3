"""Decoding summaries and measuring them: ROUGE, OOV entity copying, repetition, p_gen, coverage.

- ROUGE-1/2/L: F1 of ``rouge-score`` (Google's reimplementation of Lin 2004's ROUGE, no stemming),
  averaged over the examples, in %.
- ``oov_copy``: of the reference summaries' key entities that are out of the vocabulary, the %
  that the output contains (a baseline can only write ``<unk>`` for them: ~0).
- ``repeat_trigrams``: of all output trigrams, the % that repeat an earlier trigram of the same
  output (See et al. Fig. 4's duplicates); ``reference_repeat_trigrams``: the same of the references.
- ``p_gen``: the mean generation probability over output words (eq. 8; the baseline: 1).
- ``coverage_loss``: the mean over output words of ``sum_i min(a_i^t, c_i^t)`` (eq. 12): how much
  the decoder attends again to what it attended to before.
- ``unk``: % of output words that are ``<unk>``; ``length``: mean output words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from attnzoo.attention import coverage_loss
from attnzoo.recipes.base import device_of, evaluating
from attnzoo.tasks.news import NewsExample
from attnzoo.tasks.summaries import Encoded, collate_summaries, decode_extended
from attnzoo.tasks.vocab import BOS_ID, UNK, Vocabulary


class Summary(NamedTuple):
    """One decoded summary: its words (copied OOV words spelled out), and for each word the
    attention ``(T, S)`` over the article's ``S`` tokens, ``p_gen`` ``(T,)`` and the coverage ``(T, S)``."""

    tokens: list[str]
    attention: Tensor
    p_gen: Tensor
    coverage: Tensor


@torch.no_grad()
def summarize_examples(
    model, vocab: Vocabulary, encoded: Sequence[Encoded], beam: int, max_len: int, batch_size: int = 100
) -> list[Summary]:
    """Decode ``encoded`` articles (greedy for ``beam = 1``, else beam search) into :class:`Summary` items.

    The attention, ``p_gen`` and coverage of each output word come from a teacher-forced pass over
    the decoded words, which computes exactly what the decoding step that chose them computed.
    """
    device = device_of(model)
    with evaluating(model):
        summaries = []
        for start in range(0, len(encoded), batch_size):
            items = encoded[start : start + batch_size]
            batch = {key: value.to(device) for key, value in collate_summaries(items).items()}
            inputs = (batch["source"], batch["source_lengths"])
            decoded = model.generate(*inputs, max_len, beam_size=beam, source_extended=batch["source_extended"])
            target_in = torch.cat([torch.full_like(decoded.tokens[:, :1], BOS_ID), decoded.tokens[:, :-1]], dim=1)
            output = model(*inputs, batch["source_extended"], target_in)
            for row, item in enumerate(items):
                words = decode_extended(decoded.tokens[row].tolist(), vocab, item.oovs)
                steps, width = len(words), len(item.source) - 1  # the article's tokens, without <eos>
                parts = (
                    output.attentions[row, :steps, :width],
                    output.p_gens[row, :steps],
                    output.coverages[row, :steps, :width],
                )
                summaries.append(Summary(words, *(part.cpu() for part in parts)))
    return summaries


def repeated_trigrams(texts: Sequence[Sequence[str]]) -> tuple[int, int]:
    """``(repeats, trigrams)``: trigrams that repeat an earlier trigram of the same text, and all trigrams."""
    repeats = total = 0
    for tokens in texts:
        seen = set()
        for trigram in zip(tokens, tokens[1:], tokens[2:], strict=False):
            repeats += trigram in seen
            seen.add(trigram)
            total += 1
    return repeats, total


def oov_entity_counts(outputs: Sequence[Sequence[str]], examples: Sequence[NewsExample], vocab: Vocabulary):
    """``(copied, total)``: the references' out-of-vocabulary key entities, and those the outputs contain."""
    copied = total = 0
    for words, example in zip(outputs, examples, strict=True):
        for entity in example.entities:
            if entity not in vocab:
                total += 1
                copied += entity in words
    return copied, total


def summary_scores(summaries: Sequence[Summary], examples: Sequence[NewsExample], vocab: Vocabulary) -> dict:
    """The measures of the module docstring for ``summaries`` of ``examples`` (in order)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    outputs = [summary.tokens for summary in summaries]
    rouge = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for words, example in zip(outputs, examples, strict=True):
        scores = scorer.score(" ".join(example.summary), " ".join(words))  # (target, prediction)
        for name in rouge:
            rouge[name] += scores[name].fmeasure
    copied, entities = oov_entity_counts(outputs, examples, vocab)
    repeats, trigrams = repeated_trigrams(outputs)
    reference_repeats, reference_trigrams = repeated_trigrams([example.summary for example in examples])
    words = [word for output in outputs for word in output]
    p_gens = torch.cat([summary.p_gen for summary in summaries])
    overlap = torch.cat([coverage_loss(summary.attention, summary.coverage) for summary in summaries])
    return {
        **{name: 100 * value / len(examples) for name, value in rouge.items()},
        "oov_copy": 100 * copied / max(entities, 1),
        "repeat_trigrams": 100 * repeats / max(trigrams, 1),
        "reference_repeat_trigrams": 100 * reference_repeats / max(reference_trigrams, 1),
        "p_gen": float(p_gens.mean()) if len(p_gens) else 1.0,
        "coverage_loss": float(overlap.mean()) if len(overlap) else 0.0,
        "unk": 100 * sum(word == UNK for word in words) / max(len(words), 1),
        "length": len(words) / len(examples),
    }
