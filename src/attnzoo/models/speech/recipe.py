"""How the recogniser trains and is measured on synthetic speech (:mod:`attnzoo.tasks.speech`).

Utterances are ``min_words``-``max_words`` words (digits and a few commands) of one of ``voices``
espeak-ng voice settings, with random silences, gain and noise; the transcript is their characters
with single spaces. The loss is the negative log-likelihood per character of the teacher-forced
transcript (``<eos>`` included).

Metrics, decoding greedily (or ``--beam K``):

- ``cer``: the character error rate, the edit distance between hypothesis and reference summed
  over the utterances, divided by the references' total length (:func:`edit_distance`);
- ``prefix_cer``: a diagnostic, the same with each hypothesis cut to its reference's length: it
  separates a model that lost its place from one that spelled everything and did not stop;
- ``inside``: the share of the reference's letters whose teacher-forced attention argmax lies
  inside the gold segment of the word being spelled (an encoder state covers ``reduction`` 10 ms
  frames; it counts as inside when those frames overlap the word's frames). Spaces and ``<eos>``
  have no segment and are not counted.

The ``test`` split also decodes utterances 3× and 10× longer (``cer_3x``, ``inside_3x``,
``cer_10x``, ``inside_10x``): the same voices, ``factor × [min_words, max_words]`` words each,
the concatenated-utterance test of Chorowski et al. 2015, §4.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnzoo.models.speech.batches import LengthBuckets, eval_batches
from attnzoo.models.speech.model import SpeechRecognizer
from attnzoo.recipes.base import Command, EpochLoader, Recipe, Training, device_of, evaluating, split_seed
from attnzoo.tasks import speech
from attnzoo.tasks.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

LONGER = (3, 10)  # the test's longer utterances: this many times the training length
CONCATENATED = (2, 4)  # a concatenated training utterance joins this many (fewest, most) ordinary ones


@dataclass(frozen=True)
class SpeechTask:
    """The synthetic utterances and the decoding."""

    voices: int = 24  # espeak-ng voice settings (voice, variant, speed, pitch), shared by every split
    min_words: int = 1  # fewest words of a training utterance
    max_words: int = 3  # most words of a training utterance
    train_size: int = 4_000  # training utterances (fixed)
    valid_size: int = 200  # validation utterances (training length)
    test_size: int = 200  # test utterances at the training length
    long_test_size: int = 40  # test utterances at each longer length (3x, 10x)
    snr_min: float = 15.0  # lowest signal-to-noise ratio of the additive white noise, dB
    snr_max: float = 35.0  # highest signal-to-noise ratio, dB
    beam: int = 1  # beam size of the evaluation's transcripts (1: greedy)
    concatenated_share: float = 0.0  # share of training utterances made of 2-4 ordinary ones joined (tests unchanged)

    fields_added_later: ClassVar[dict[str, Any]] = {"concatenated_share": 0.0}  # runs written before it

    def __post_init__(self) -> None:
        checks = {
            "voices": self.voices >= 1,
            "min_words": self.min_words >= 1,
            "max_words": self.max_words >= self.min_words,
            "train_size": self.train_size >= 1,
            "valid_size": self.valid_size >= 1,
            "test_size": self.test_size >= 1,
            "long_test_size": self.long_test_size >= 0,
            "snr_max": self.snr_max >= self.snr_min,
            "beam": self.beam >= 1,
            "concatenated_share": 0.0 <= self.concatenated_share <= 1.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"speech task {name}: got {getattr(self, name)!r}, which is out of range")


@dataclass
class SpeechSet(Dataset):
    """Utterances as model inputs: log-mel ``frames[i]`` ``(T_i, M)``, the transcript's character ids
    ``targets[i]`` (no ``<eos>``), the words' frame segments ``segments[i]`` ``(K_i, 2)`` and texts."""

    frames: list[Tensor]
    targets: list[list[int]]
    segments: list[np.ndarray]
    texts: list[str]
    waves: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[Tensor, list[int]]:
        return self.frames[index], self.targets[index]

    def take(self, count: int) -> SpeechSet:
        """The first ``count`` utterances."""
        parts = (self.frames, self.targets, self.segments, self.texts, self.waves)
        return SpeechSet(*(part[:count] for part in parts))


@dataclass
class SpeechData:
    """A run's speech: the characters, the voices' words and the splits (each built on first use)."""

    vocabulary: Vocabulary
    settings: list[speech.VoiceSetting]
    bank: list[dict[str, np.ndarray]]
    task: SpeechTask
    seed: int
    sets: dict[str, SpeechSet] = field(default_factory=dict)

    def split(self, name: str, factor: int = 1) -> SpeechSet:
        """The utterances of ``"train"``, ``"valid"`` or ``"test"``, ``factor`` times the training length."""
        key = f"{name}x{factor}"
        if key not in self.sets:
            sizes = {"train": self.task.train_size, "valid": self.task.valid_size, "test": self.task.test_size}
            count = sizes[name] if factor == 1 else self.task.long_test_size
            seed = split_seed(name, self.seed) * 100 + factor
            joined = self.task.concatenated_share if name == "train" else 0.0
            self.sets[key] = self.utterances(count, seed, factor, keep_waves=name != "train", concatenated=joined)
        return self.sets[key]

    def utterances(
        self, count: int, seed: int, factor: int, keep_waves: bool = True, concatenated: float = 0.0
    ) -> SpeechSet:
        """``count`` utterances of ``factor × [min_words, max_words]`` words, drawn from ``seed`` (their
        waveforms kept only with ``keep_waves``: the training set drops them). A share ``concatenated``
        of them is instead as long as 2-4 (:data:`CONCATENATED`) such utterances joined: the sum of that
        many word counts (2-12 words with the defaults)."""
        rng, task = np.random.default_rng(seed), self.task
        made = []
        for _ in range(count):
            words = int(rng.integers(task.min_words * factor, task.max_words * factor + 1))
            if concatenated and rng.random() < concatenated:  # no draw without it: the same sets as before
                joined = int(rng.integers(CONCATENATED[0], CONCATENATED[1] + 1))
                words += int(rng.integers(task.min_words * factor, task.max_words * factor + 1, size=joined - 1).sum())
            voice = self.bank[int(rng.integers(len(self.bank)))]
            made.append(speech.make_utterance(rng, voice, words, (task.snr_min, task.snr_max)))
        return self.from_utterances(made, keep_waves)

    def from_utterances(self, made: list[speech.Utterance], keep_waves: bool = True) -> SpeechSet:
        """The model's inputs of ``made``."""
        frames = speech.features([item.wave for item in made])
        targets = [self.vocabulary.encode(list(item.text), add_eos=False) for item in made]
        segments = [speech.frame_segments(item.segments) for item in made]
        return SpeechSet(
            frames, targets, segments, [item.text for item in made], [item.wave for item in made if keep_waves]
        )


def edit_distance(first: str, second: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each cost 1), by dynamic programming."""
    previous = list(range(len(second) + 1))
    for row, a in enumerate(first, start=1):
        current = [row]
        for column, b in enumerate(second, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (a != b)))
        previous = current
    return previous[-1]


def pad_frames(frames: list[Tensor]) -> tuple[Tensor, Tensor]:
    """``(B, T, M)`` zero-padded frames and their lengths ``(B,)``."""
    lengths = torch.tensor([len(item) for item in frames])
    padded = frames[0].new_zeros(len(frames), int(lengths.max()), frames[0].size(-1))
    for row, item in enumerate(frames):
        padded[row, : len(item)] = item
    return padded, lengths


def transcript_batch(ids: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Teacher-forcing inputs ``<bos> y..`` and targets ``y.. <eos>``, both ``(B, L)`` padded with PAD_ID."""
    longest = max(len(item) for item in ids) + 1
    inputs = torch.full((len(ids), longest), PAD_ID, dtype=torch.long)
    targets = torch.full((len(ids), longest), PAD_ID, dtype=torch.long)
    for row, item in enumerate(ids):
        inputs[row, : len(item) + 1] = torch.tensor([BOS_ID, *item])
        targets[row, : len(item) + 1] = torch.tensor([*item, EOS_ID])
    return inputs, targets


def collate(items: list[tuple[Tensor, list[int]]]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(frames (B, T, M), lengths (B,), inputs (B, L), targets (B, L))``."""
    frames, lengths = pad_frames([frames for frames, _ in items])
    return (frames, lengths, *transcript_batch([ids for _, ids in items]))


def transcript_limit(frames: int) -> int:
    """The most characters decoded from ``frames`` 10 ms frames: 20 a second, however the model spells."""
    return frames // 5 + 10


def letter_hits(weights: np.ndarray, text: str, segments: np.ndarray, reduction: int) -> list[tuple[bool, int]]:
    """For each letter of one utterance (spaces skipped): whether its argmax state overlaps its word's
    frames, and by how many frames it misses (negative: before the word's start; 0 when inside).

    Args:
        weights: ``(L, Tk)`` teacher-forced α, row ``i`` the step that emits ``text[i]``.
        segments: ``(K, 2)`` ``[start, end)`` frames of the ``K`` words of ``text``.
    """
    word_of, found = np.cumsum([character == " " for character in text]), []  # the word of each character
    for step, character in enumerate(text):
        if character == " ":
            continue
        start, end = segments[word_of[step]]
        first = int(weights[step].argmax()) * reduction  # the state's first frame
        hit = first < end and first + reduction > start
        found.append((hit, 0 if hit else (first + reduction - start if first < start else first - end + 1)))
    return found


def letters_inside(weights: np.ndarray, text: str, segments: np.ndarray, reduction: int) -> tuple[int, int]:
    """``(letters whose argmax state overlaps their word's frames, letters)`` for one utterance
    (:func:`letter_hits`' arguments)."""
    hits = letter_hits(weights, text, segments, reduction)
    return sum(hit for hit, _ in hits), len(hits)


class SpeechRecipe(Recipe):
    """Content-only, location-aware and pyramidal recognisers on synthetic speech (the module docstring)."""

    Task = SpeechTask
    training = Training(steps=4_000, batch_size=32, lr=2e-3, val_every=250, checkpoint_every=250)
    selection = ("cer", "min")
    keep_best = True

    @classmethod
    def unavailable(cls) -> str | None:
        return None if speech.espeak_available() else speech.ESPEAK_MISSING

    def build_task(self, seed: int) -> SpeechData:
        if self.unavailable():
            raise ValueError(self.unavailable())
        settings = speech.voice_settings(self.settings.voices)
        vocabulary = Vocabulary(sorted(set("".join(speech.WORDS)) | {" "}))
        return SpeechData(vocabulary, settings, speech.word_bank(settings), self.settings, seed)

    def task_documents(self, task: SpeechData) -> dict[str, Any]:
        return {"vocabulary": list(task.vocabulary), "voices": [setting.name for setting in task.settings]}

    def sized_config(self, config: Any, task: SpeechData) -> Any:
        return dataclasses.replace(config, vocab_size=len(task.vocabulary), features=speech.N_MELS)

    def train_batches(self, task: SpeechData, batch_size: int, seed: int) -> Any:
        data = task.split("train")
        buckets = LengthBuckets([len(item) for item in data.frames], batch_size, seed)
        return EpochLoader(data, batch_sampler=buckets, collate_fn=collate)

    def loss(self, model: SpeechRecognizer, batch: Any, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        frames, lengths, inputs, targets = batch
        output = model(frames, lengths, inputs)
        mask = targets != PAD_ID  # (B, L)
        nll = -(output.log_probs.gather(-1, targets[..., None]).squeeze(-1) * mask).sum() / mask.sum()
        return nll, {"nll_per_char": nll.detach()}

    # ---- measuring -----------------------------------------------------------------------------

    @torch.no_grad()
    def transcribe_set(
        self, model: SpeechRecognizer, task: SpeechData, data: SpeechSet, inside_share: bool = False
    ) -> dict[str, Any]:
        """Greedy/beam transcripts and decoded α ``(L_i, Tk_i)``; with ``inside_share``, also the share of
        the teacher-forced letters whose attention is inside their word (a second pass: measures only)."""
        device = device_of(model)
        texts, alignments, inside, letters = [""] * len(data), [np.zeros((0, 0))] * len(data), 0, 0
        reduction = model.config.reduction
        with evaluating(model):
            for rows in eval_batches([len(item) for item in data.frames]):
                frames, lengths = pad_frames([data.frames[index] for index in rows])
                frames, lengths = frames.to(device), lengths.to(device)
                max_len = transcript_limit(int(lengths.max()))
                decoded = model.generate(frames, lengths, max_len=max_len, beam_size=task.task.beam)
                encoded = ((lengths + reduction - 1) // reduction).tolist()  # encoder states of each
                for row, index in enumerate(rows):
                    texts[index] = "".join(task.vocabulary.decode(decoded.tokens[row].tolist()))
                    steps = int(decoded.lengths[row])
                    alignments[index] = decoded.alignments[row, :steps, : encoded[row]].cpu().numpy()  # (L, Tk)
                if not inside_share:
                    continue
                inputs, _ = transcript_batch([data.targets[index] for index in rows])
                forced = model(frames, lengths, inputs.to(device)).weights.cpu().numpy()  # (b, L, Tk)
                for row, index in enumerate(rows):
                    found = letters_inside(forced[row], data.texts[index], data.segments[index], reduction)
                    inside, letters = inside + found[0], letters + found[1]
        share = inside / max(letters, 1) if inside_share else None
        return {"texts": texts, "alignments": alignments, "inside": share}

    def measure(self, model: SpeechRecognizer, task: SpeechData, data: SpeechSet) -> dict[str, float]:
        """``cer``, ``prefix_cer`` and ``inside`` (the module docstring) on ``data``."""
        seen, total = self.transcribe_set(model, task, data, inside_share=True), sum(len(t) for t in data.texts)
        pairs = list(zip(seen["texts"], data.texts, strict=True))
        errors = sum(edit_distance(hypothesis, text) for hypothesis, text in pairs)
        prefix_errors = sum(edit_distance(hypothesis[: len(text)], text) for hypothesis, text in pairs)
        return {"cer": errors / total, "prefix_cer": prefix_errors / total, "inside": float(seen["inside"])}

    def evaluate(self, model: nn.Module, task: SpeechData, split: str) -> dict[str, float]:
        """The metrics on ``split``; ``"test"`` adds the 3× and 10× longer utterances' (``cer_3x`` ...)."""
        metrics = self.measure(model, task, task.split(split))
        if split == "test" and task.task.long_test_size:
            for factor in LONGER:
                longer = self.measure(model, task, task.split(split, factor))
                metrics |= {f"{key}_{factor}x": value for key, value in longer.items()}
        return metrics

    # ---- pictures and the transcribe command ---------------------------------------------------

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"alignment": self.draw_alignment}

    def draw_alignment(self, model: SpeechRecognizer, task: SpeechData, path: Path) -> None:
        """The first test utterance and the first 10× one: the spectrogram, the decoded alignment under it."""
        sets = [task.split("test")]
        if task.task.long_test_size:
            sets.append(task.split("test", LONGER[-1]))
        self.draw_sets(model, task, [data.take(1) for data in sets], path)

    def draw_sets(self, model: SpeechRecognizer, task: SpeechData, sets: list[SpeechSet], path: Path) -> list[str]:
        """One panel per utterance of ``sets`` (each decoded), drawn to ``path``: returns the transcripts."""
        from attnzoo.viz.speech import plot_speech_alignment

        panels = [panel for data in sets for panel in self.panels(model, task, data)]
        plot_speech_alignment(panels, path)
        return [panel.text for panel in panels]

    def panels(self, model: SpeechRecognizer, task: SpeechData, data: SpeechSet) -> list[Any]:
        """A :class:`~attnzoo.viz.speech.SpeechPanel` per utterance of ``data``: its spectrogram, gold
        word segments and the decoded transcript's alignment."""
        from attnzoo.viz.speech import SpeechPanel

        seen, panels = self.transcribe_set(model, task, data), []
        for index, text in enumerate(seen["texts"]):
            reference = data.texts[index]
            title = f"reference: {reference}\n{model.config.attention}: {text}" if reference else text
            panel = SpeechPanel(data.frames[index].numpy(), seen["alignments"][index], model.config.reduction, text)
            words = reference.split(" ") if reference else []
            panels.append(dataclasses.replace(panel, title=title, segments=data.segments[index], words=words))
        return panels

    probes = 2  # test utterances the explorer shows and the formation record follows (the first ones)

    def attention_views(
        self, model: SpeechRecognizer, task: SpeechData, inputs: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The decoded alignment of the first :attr:`probes` test utterances: one row per output letter,
        one column per encoder state (labelled by its time in seconds; LAS: one per ``reduction`` frames)."""
        from attnzoo.explorer.views import alignment_view

        if inputs is not None:
            raise ValueError("speech takes no typed input here: transcribe a WAV with attnzoo transcribe RUN FILE.wav")
        data = task.split("test").take(self.probes)
        seen, seconds = self.transcribe_set(model, task, data), model.config.reduction * speech.HOP / speech.SAMPLE_RATE
        views = []
        for text, reference, weights in zip(seen["texts"], data.texts, seen["alignments"], strict=True):
            letters = [*text, "<eos>"][: len(weights)]
            times = [f"{index * seconds:.2f}s" for index in range(weights.shape[1])]
            title = f"{reference} → {text}"
            views.append(alignment_view(torch.from_numpy(weights), times, letters, title=title))
        return views

    def commands(self) -> dict[str, Command]:
        return {
            "transcribe": Command(
                self.transcribe, ("WAV",), "Transcribe a 16 kHz mono 16-bit WAV file.", self.write_example
            )
        }

    def transcribe(self, model: SpeechRecognizer, task: SpeechData, arguments: list[str], out: Path | None) -> str:
        """The transcript of the WAV file ``arguments[0]``; with ``out``, its alignment drawn there."""
        path = Path(arguments[0])
        samples, rate, channels = speech.read_wav(path, name=str(path))
        if channels != 1 or rate != speech.SAMPLE_RATE:
            raise ValueError(f"{path}: expected a 16 kHz mono WAV, got {rate} Hz with {channels} channel(s)")
        if len(samples) < speech.WINDOW:
            raise ValueError(f"{path}: too short ({len(samples)} samples; at least {speech.WINDOW})")
        data = SpeechSet(speech.features([samples]), [[]], [np.zeros((0, 2), np.int64)], [""], [samples])
        if out is not None:
            text = self.draw_sets(model, task, [data], out)[0]
            return f"{text}\n(the alignment drawn to {out})"
        return self.transcribe_set(model, task, data)["texts"][0]

    def write_example(self, task: SpeechData, arguments: list[str]) -> None:
        """The first test utterance as a 16 kHz mono WAV at ``arguments[0]``."""
        speech.write_wav(arguments[0], task.split("test").waves[0])

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {"encoder_layers": 2, "encoder_size": 8, "embed_dim": 4, "decoder_size": 8, "attention_dim": 8}
        model |= {"location_filters": 2, "location_width": 3}
        task = {"voices": 2, "min_words": 1, "max_words": 2, "train_size": 16, "valid_size": 4, "test_size": 4}
        return model, task | {"long_test_size": 2}


RECIPE = SpeechRecipe
