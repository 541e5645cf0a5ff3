"""Why a location-aware recogniser trained on 1-3 words runs away on 10-30: measurements for ``speech.py``.

Three measurements of a trained run (its test utterances, the same as :mod:`speech`'s):

- :func:`spread`: teacher-forced on the 10× test utterances, the letters of the words that end
  within the longest validation (1×) utterance, attended three ways: over the whole utterance
  (as trained), with the attention masked to that first stretch (the same encoder states), and with
  the audio itself cut there (the encoder sees only that stretch). If masking restores the share
  of letters inside their word, the encoder states are fine and the weights spread over the extra states;
- :func:`runaway`: decoded greedily at 10×, the share of utterances that stop (``<eos>`` before the
  length limit), that jump back (the argmax moves more than 100 ms backwards) and the time at which
  the transcript first differs from the reference;
- :func:`misses`: teacher-forced at 1×, where the argmax of the letters outside their word is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from attnzoo.models.speech.model import SpeechConfig
from attnzoo.models.speech.recipe import (
    SpeechData,
    SpeechRecipe,
    SpeechSet,
    letter_hits,
    pad_frames,
    transcript_batch,
    transcript_limit,
)

BACK_FRAMES = 10  # a jump back of more than this many 10 ms frames counts as jumping back


def forced_weights(model: Any, frames: torch.Tensor, ids: list[int], keep: int | None = None) -> np.ndarray:
    """Teacher-forced α ``(L, Tk)`` of one utterance ``(T, M)`` with transcript ``ids``; with ``keep``,
    the attention may only reach the states of the first ``keep`` frames."""
    padded, lengths = pad_frames([frames])
    inputs, _ = transcript_batch([ids])
    with torch.no_grad():
        state, weights = model.start(padded, lengths), []
        if keep is not None:
            state["mask"] = state["mask"] & (torch.arange(state["mask"].size(1)) < -(-keep // model.config.reduction))
        for index in range(inputs.size(1)):
            _, state = model.advance(inputs[:, index], state)
            weights.append(state["alpha"][0])
    return torch.stack(weights).numpy()


def spread(model: Any, data: SpeechSet, keep: int) -> dict[str, dict[str, float]]:
    """:func:`forced_weights` on the words of each utterance of ``data`` that end within ``keep`` frames,
    three ways (module docstring): share of letters inside, median largest weight, mean weight in the stretch."""
    found: dict[str, list[tuple[bool, float, float, float]]] = {"whole": [], "masked": [], "cut": []}
    reduction = model.config.reduction
    for frames, text, segments, ids in zip(data.frames, data.texts, data.segments, data.targets, strict=True):
        words = sum(end <= keep for _, end in segments)
        if not words:
            continue
        short = " ".join(text.split(" ")[:words])
        ids = ids[: len(short)]
        ways = {"whole": (frames, None), "masked": (frames, keep), "cut": (frames[:keep], None)}
        for way, (heard, reach) in ways.items():
            weights = forced_weights(model, heard, ids, reach)
            hits = [hit for hit, _ in letter_hits(weights, short, segments, reduction)]
            letters = [step for step, character in enumerate(short) if character != " "]
            stretch = weights[letters, : -(-keep // reduction)].sum(-1)
            same = same_word_beyond(weights, text, short, segments, -(-keep // reduction), reduction)[letters]
            found[way] += list(zip(hits, weights[letters].max(-1), stretch, same, strict=True))
    return {
        way: {"inside": float(np.mean([f[0] for f in rows])), "largest": float(np.median([f[1] for f in rows]))}
        | {"mass": float(np.mean([f[2] for f in rows])), "same": float(np.mean([f[3] for f in rows]))}
        | {"letters": len(rows)}
        for way, rows in found.items()
    }


def same_word_beyond(
    weights: np.ndarray, text: str, short: str, segments: np.ndarray, first: int, reduction: int
) -> np.ndarray:
    """The weight ``(L,)`` each step of ``short`` (the start of ``text``) puts on states from ``first`` on
    that overlap another occurrence of the word it spells (a content confusion, not a spread)."""
    words, word_of = text.split(" "), np.cumsum([character == " " for character in short])
    owner = np.full(weights.shape[1], "")  # (Tk,) the word each state overlaps ("" silence)
    owner = owner.astype(object)
    for word, (start, end) in zip(words, segments, strict=True):
        owner[start // reduction : -(-end // reduction)] = word
    beyond = np.arange(weights.shape[1]) >= first
    return np.array([weights[step, beyond & (owner == words[word_of[step]])].sum() for step in range(len(short))])


def runaway(recipe: SpeechRecipe, model: Any, task: SpeechData, data: SpeechSet) -> dict[str, float]:
    """Greedy transcripts of ``data``: share that stop, share that jump back, median time (s) of the
    first wrong letter's attention (utterances transcribed right count at their end)."""
    seen, reduction = recipe.transcribe_set(model, task, data), model.config.reduction
    stops = backs = 0
    times = []
    pairs = zip(seen["texts"], data.texts, seen["alignments"], data.frames, strict=True)
    for text, reference, weights, frames in pairs:
        states = weights.argmax(-1) * reduction  # (L,) first frame of each step's argmax state
        stops += len(weights) < transcript_limit(len(frames))  # the recipe's length limit
        backs += bool((np.diff(states) < -BACK_FRAMES).any())
        same = [a == b for a, b in zip(text, reference, strict=False)]  # the shorter one's length
        wrong = same.index(False) if False in same else len(same)
        times.append(states[min(wrong, len(states) - 1)] / 100)
    count = len(data.texts)
    return {"stop": stops / count, "back": backs / count, "wrong_at": float(np.median(times))}


def misses(model: Any, data: SpeechSet) -> dict[str, float]:
    """Teacher-forced at 1×: share of letters outside their word, the share of those before it, their
    median distance (ms, negative before), and the miss rate of the first letter of a word."""
    rows = []
    for frames, text, segments, ids in zip(data.frames, data.texts, data.segments, data.targets, strict=True):
        found = letter_hits(forced_weights(model, frames, ids), text, segments, model.config.reduction)
        firsts = [step == 0 or text[step - 1] == " " for step, character in enumerate(text) if character != " "]
        rows += [(hit, offset, first) for (hit, offset), first in zip(found, firsts, strict=True)]
    missed = [offset for hit, offset, _ in rows if not hit]
    return {
        "outside": len(missed) / len(rows),
        "before": float(np.mean([offset < 0 for offset in missed])) if missed else 0.0,
        "median_ms": float(np.median(missed)) * 10 if missed else 0.0,
        "first": float(np.mean([not hit for hit, _, first in rows if first])),
        "others": float(np.mean([not hit for hit, _, first in rows if not first])),
    }


def diagnose(recipe: SpeechRecipe, model: Any, task: SpeechData) -> dict[str, Any]:
    """The three measurements of the module docstring for one trained ``model``."""
    model.eval()
    keep = max(len(frames) for frames in task.split("valid").frames)  # the longest 1× utterance, frames
    long = task.split("test", 10)
    return {
        "keep": keep,
        "spread": spread(model, long, keep),
        "runaway": runaway(recipe, model, task, long),
        "misses": misses(model, task.split("test")),
    }


SECTION = """Teacher-forced on the 10× test utterances, the {letters} letters of the words that end within the
first {seconds:.2f} s (the longest validation utterance: every word there is as far from the start as
in training): the share of letters whose attention argmax is inside their word, the median largest
weight and the mean weight on that first stretch ("mass"; "same word": the mean weight beyond it
on other occurrences of the word being spelled), attending over the whole utterance (as trained),
over the first {seconds:.2f} s only (the same encoder states, the others masked) and with the audio
itself cut at {seconds:.2f} s (the encoder hears only that stretch):

| model | whole: inside / largest / mass | whole: same word | masked: inside / largest | cut: inside / largest |
| --- | ---: | ---: | ---: | ---: |
{spread}

Decoded greedily at 10×: the share of utterances that stop (`<eos>` before the length limit of 20
characters a second), that jump back (the argmax moves more than {back} ms backwards), and the
median time (s) the attention is at when the transcript first differs from the reference:

| model | stop | jump back | first wrong letter at |
| --- | ---: | ---: | ---: |
{runaway}

For the location-aware model as trained, masking the attention to the first stretch restores the
share inside from {whole:.2f} to {masked:.2f} (cutting the audio: {cut:.2f}), so the bidirectional
encoder's states over 10× more frames are not what fails: the weights spread over the states the long
utterance adds (the largest weight falls from {largest_masked:.2f} to {largest_whole:.2f}; {away:.0%} of the
weight is on states beyond the stretch although the word is inside it, only {same:.0%} on other
occurrences of the same word: a spread, not a confusion of two "sevens"). The location features
reach ± {reach} states (r = {width}) and add a bounded amount to the score of the states near the previous
alignment; every other state keeps its content score, and their number grows with the utterance. In
training, over at most about {states} states, that margin sufficed; at 10× the far states together outweigh the
near ones, the decoder reads a blurred glimpse, loses its place, and then repeats words and jumps
back instead of reaching the end, so it rarely emits `<eos>` (the runaway CER above 1).
The two fixes measured below are the ones the diagnosis points to: longer training utterances (the far states then
exist in training and the margin has to grow) and the window in training (the far states are never
in the softmax).

At 1× the location-aware model's letters outside their word are mostly the first letters of words,
most often attended just before the word starts (a state or two before its gold frames), which is
what keeps its share inside below the content-only model's:

| model | letters outside their word | of them before it | median distance | first letters outside | others outside |
| --- | ---: | ---: | ---: | ---: | ---: |
{misses}"""


def section(diagnosed: dict[str, dict[str, Any]], labels: dict[str, str], config: SpeechConfig) -> str:
    """The report's diagnosis (:data:`SECTION`) of the ``diagnosed`` runs; the prose's numbers are the
    ``"location"`` run's, ``config`` its model config."""
    rows = {"spread": [], "runaway": [], "misses": []}
    for name, found in diagnosed.items():
        whole, masked, cut = (found["spread"][way] for way in ("whole", "masked", "cut"))
        rows["spread"].append(
            f"| {labels[name]} | {whole['inside']:.3f} / {whole['largest']:.3f} / {whole['mass']:.3f} "
            f"| {whole['same']:.3f} | {masked['inside']:.3f} / {masked['largest']:.3f} "
            f"| {cut['inside']:.3f} / {cut['largest']:.3f} |"
        )
        run = found["runaway"]
        rows["runaway"].append(f"| {labels[name]} | {run['stop']:.3f} | {run['back']:.3f} | {run['wrong_at']:.1f} s |")
        miss = found["misses"]
        rows["misses"].append(
            f"| {labels[name]} | {miss['outside']:.3f} | {miss['before']:.3f} | {miss['median_ms']:+.0f} ms "
            f"| {miss['first']:.3f} | {miss['others']:.3f} |"
        )
    location = diagnosed["location"]
    spread_of = location["spread"]
    return SECTION.format(
        letters=spread_of["whole"]["letters"],
        seconds=location["keep"] / 100,
        back=BACK_FRAMES * 10,
        whole=spread_of["whole"]["inside"],
        masked=spread_of["masked"]["inside"],
        cut=spread_of["cut"]["inside"],
        largest_whole=spread_of["whole"]["largest"],
        largest_masked=spread_of["masked"]["largest"],
        away=1 - spread_of["whole"]["mass"],
        same=spread_of["whole"]["same"],
        reach=config.location_width // 2,
        width=config.location_width,
        states=-(-location["keep"] // config.reduction),
        **{key: "\n".join(lines) for key, lines in rows.items()},
    )
