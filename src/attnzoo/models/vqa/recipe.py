"""How the VQA models train and are measured on generated scenes with questions (:mod:`attnzoo.tasks.questions`).

Every epoch draws new training examples (a scene and one question each; the five question kinds in
equal shares), seeded by the run's seed and the epoch. The loss is the cross-entropy of the answer.

Metrics, on the fixed ``valid`` / ``test`` examples:

- ``accuracy`` and its split by category: ``accuracy_nonrel`` (shape, side), ``accuracy_rel``
  (closest, furthest), ``accuracy_count``, and by kind (``accuracy_shape``, ``accuracy_side``, ...);
- for each image attention map (``hop1``, ``hop2`` / ``word``, ``phrase``, ``question``):
  ``mass_MAP``, the share of the map's mass on the regions that overlap a gold object's box (mean
  over the questions with a gold object; ``mass_nonrel_MAP`` on the non-relational ones, whose gold
  is one object: a uniform map over the 4 × 4 regions puts 1/16 = 0.06 there; ``mass_KIND_MAP`` on
  one kind of question, e.g. ``mass_shape_hop1``);
- for each question attention map (co-attention): ``keyword_MAP``, the share of questions whose
  most attended word is a gold keyword (the colour or shape word that names the queried object).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnzoo.models.vqa.model import VQAModel, VQAOutput
from attnzoo.recipes.base import Command, Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks import questions
from attnzoo.tasks.scenes import COLOURS, SceneObject, read_image, scene_rng
from attnzoo.tasks.vocab import PAD_ID, UNK, Vocabulary

EVAL_BATCH = 250  # examples per evaluation batch
PICTURE_EXAMPLES = 5  # test examples drawn by the attention picture: one of each kind


@dataclass(frozen=True)
class VQATask:
    """The scenes and questions."""

    image_size: int = 64  # side of the square RGB scenes in pixels
    min_objects: int = 4  # fewest objects in a scene
    max_objects: int = 6  # most objects in a scene (at most 6: one per colour)
    train_size: int = 20_000  # training examples per epoch (new scenes every epoch)
    valid_size: int = 500  # validation examples (the five kinds in equal shares)
    test_size: int = 2_000  # test examples (the five kinds in equal shares)
    side_form: str = "choice"  # side questions: choice ("left or right?" -> left) or yes-no ("on the left?" -> yes)

    fields_added_later: ClassVar[dict[str, Any]] = {"side_form": "yes-no"}  # runs written before it asked yes / no

    def __post_init__(self) -> None:
        checks = {
            "image_size": self.image_size >= 32,
            "min_objects": 2 <= self.min_objects <= self.max_objects,
            "max_objects": self.max_objects <= 6,
            "train_size": self.train_size >= 1,
            "valid_size": self.valid_size >= 1,
            "test_size": self.test_size >= 1,
            "side_form": self.side_form in questions.SIDE_FORMS,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"vqa task {name}: got {getattr(self, name)!r}, which is out of range")


class Batch(NamedTuple):
    """images ``(B, 3, S, S)`` in [0, 1]; question ``(B, T)`` ids (PAD_ID after the end); lengths ``(B,)``;
    answers ``(B,)`` answer ids; colours and shapes ``(B, L²)``: the object in each cell of the scenes'
    L × L layout, as the object loss's classes (0: none, else 1 + the index in COLOURS / SHAPES)."""

    images: Tensor
    question: Tensor
    lengths: Tensor
    answers: Tensor
    colours: Tensor
    shapes: Tensor


class QuestionStream(Dataset):
    """``size`` training examples, new every epoch: item ``i`` of epoch ``e`` is example ``(seed, e, i)``."""

    def __init__(self, size: int, seed: int, settings: VQATask) -> None:
        self.size, self.seed, self.settings, self.epoch = size, seed, settings, 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> questions.Example:
        kind = questions.KINDS[index % len(questions.KINDS)]
        return example_for(scene_rng(self.seed, index, self.epoch), self.settings, kind)


def example_for(rng: np.random.Generator, settings: VQATask, kind: str) -> questions.Example:
    """One example of ``kind`` with the task's sizes."""
    sizes = {"image_size": settings.image_size, "objects": (settings.min_objects, settings.max_objects)}
    return questions.generate_example(rng, kind=kind, side_form=settings.side_form, **sizes)


@dataclass
class VQAData:
    """A run's data: vocabularies, the training stream and the fixed evaluation examples (built on first use)."""

    words: Vocabulary
    answers: list[str]
    settings: VQATask
    seed: int
    train: QuestionStream
    fixed: dict[str, list[questions.Example]] = field(default_factory=dict)

    def split(self, name: str) -> list[questions.Example]:
        """The fixed examples of ``"train"``, ``"valid"`` or ``"test"``."""
        if name not in self.fixed:
            size = self.settings.test_size if name == "test" else self.settings.valid_size
            seed, kinds = split_seed(name, self.seed), questions.KINDS
            self.fixed[name] = [
                example_for(scene_rng(seed, i), self.settings, kinds[i % len(kinds)]) for i in range(size)
            ]
        return self.fixed[name]

    def batch(self, items: list[questions.Example]) -> Batch:
        """Collate examples into a :class:`Batch`."""
        images = np.stack([item.image for item in items])
        inputs = self.inputs(images, [list(item.question.words) for item in items])
        return Batch(*inputs, self.answer_ids(items), *object_classes(items))

    def inputs(self, images: np.ndarray, texts: list[list[str]]) -> tuple[Tensor, Tensor, Tensor]:
        """The model's inputs for uint8 images ``(B, S, S, 3)`` and questions (word lists): images
        ``(B, 3, S, S)`` in [0, 1], question ``(B, T)`` ids, lengths ``(B,)``."""
        return (torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255, *self.encode(texts))

    def encode(self, texts: list[list[str]]) -> tuple[Tensor, Tensor]:
        """Word lists -> ids ``(B, T)`` padded with PAD_ID, and lengths ``(B,)``."""
        ids = [self.words.encode(words, add_eos=False) for words in texts]
        question = torch.full((len(ids), max(map(len, ids))), PAD_ID, dtype=torch.long)
        for row, item in enumerate(ids):
            question[row, : len(item)] = torch.tensor(item)
        return question, torch.tensor([len(item) for item in ids])

    def answer_ids(self, items: list[questions.Example]) -> Tensor:
        return torch.tensor([self.answers.index(item.question.answer) for item in items])


def object_classes(items: list[questions.Example]) -> tuple[Tensor, Tensor]:
    """The object loss's labels: colour and shape classes ``(n, L²)`` of the object in each layout cell
    (0 where a cell is empty)."""
    colours = torch.zeros(len(items), questions.LAYOUT**2, dtype=torch.long)
    shapes = torch.zeros_like(colours)
    for row, item in enumerate(items):
        for thing in item.objects:
            cell = thing.cell[0] * questions.LAYOUT + thing.cell[1]
            colours[row, cell] = 1 + list(COLOURS).index(thing.colour)
            shapes[row, cell] = 1 + questions.SHAPES.index(thing.shape)
    return colours, shapes


def gold_regions(objects: list[SceneObject], indices: tuple[int, ...], image_size: int, grid: int) -> np.ndarray:
    """``(g * g,)`` bool: the grid regions that overlap the box of any of ``objects[indices]``."""
    edges = np.arange(grid + 1) * image_size / grid  # region borders in pixels
    covered = np.zeros((grid, grid), dtype=bool)
    for index in indices:
        top, left, bottom, right = objects[index].box
        rows = (edges[:-1] < bottom) & (edges[1:] > top)
        cols = (edges[:-1] < right) & (edges[1:] > left)
        covered |= rows[:, None] & cols[None, :]
    return covered.ravel()


def object_loss(model: VQAModel, regions: Tensor, batch: Batch) -> Tensor:
    """The cross-entropy of each region's colour and shape (class 0: no object) against the layout's
    objects: the image encoder learns what the objects are, as the papers' ImageNet-trained CNNs had."""
    if model.config.grid != questions.LAYOUT:
        raise ValueError(
            f"object_loss: expected the CNN's grid to be the scenes' {questions.LAYOUT} x {questions.LAYOUT} layout, "
            f"got {model.config.grid} x {model.config.grid}; set object_loss=0 or change channels/image_size"
        )
    colours, shapes = model.object_logits(regions)  # (B, N, 7), (B, N, 4)
    return F.cross_entropy(colours.flatten(0, 1), batch.colours.flatten()) + F.cross_entropy(
        shapes.flatten(0, 1), batch.shapes.flatten()
    )


def map_key(name: str) -> str:
    """A map's name as a metric suffix: ``"hop 1"`` -> ``"hop1"``."""
    return re.sub(r"\W", "", name)


class VQARecipe(Recipe):
    """Baseline, stacked attention and co-attention on :mod:`attnzoo.tasks.questions` (see the module docstring)."""

    Task = VQATask
    training = Training(steps=6_000, batch_size=32, lr=2e-3, val_every=250, checkpoint_every=250)
    selection = ("accuracy", "max")
    keep_best = True

    def build_task(self, seed: int) -> VQAData:
        stream = QuestionStream(self.settings.train_size, split_seed("train", seed), self.settings)
        form = self.settings.side_form
        return VQAData(
            Vocabulary(questions.vocabulary(form)), list(questions.answers(form)), self.settings, seed, stream
        )

    def task_documents(self, task: VQAData) -> dict[str, Any]:
        return {"vocabulary": list(task.words), "answers": task.answers}

    def sized_config(self, config: Any, task: VQAData) -> Any:
        sizes = {"vocab_size": len(task.words), "answers": len(task.answers), "image_size": task.settings.image_size}
        return dataclasses.replace(config, **sizes)

    def train_batches(self, task: VQAData, batch_size: int, seed: int) -> Any:
        generator = torch.Generator().manual_seed(seed)
        options = {"collate_fn": task.batch, "drop_last": True, "generator": generator}
        return shuffled_batches(task.train, batch_size, seed, **options)

    def on_epoch_start(self, task: VQAData, epoch: int) -> None:
        task.train.epoch = epoch  # new scenes every epoch

    def loss(self, model: VQAModel, batch: Batch, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        output = model(batch.images, batch.question, batch.lengths)
        loss = F.cross_entropy(output.logits, batch.answers)
        metrics = {"accuracy": (output.logits.argmax(-1) == batch.answers).float().mean()}
        if model.config.object_loss:
            metrics["object_loss"] = object_loss(model, output.regions, batch)
            loss = loss + model.config.object_loss * metrics["object_loss"]
        return loss, {name: value.detach() for name, value in metrics.items()}

    # ---- measuring -----------------------------------------------------------------------------

    @torch.no_grad()
    def run_model(self, model: VQAModel, task: VQAData, images: np.ndarray, texts: list[list[str]]) -> VQAOutput:
        """The model's output, on the CPU, for uint8 images ``(n, S, S, 3)`` and their questions (word
        lists), in batches; the question maps padded to the longest question."""
        device, outputs = device_of(model), []
        with evaluating(model):
            for start in range(0, len(texts), EVAL_BATCH):
                rows = slice(start, start + EVAL_BATCH)
                inputs = task.inputs(images[rows], texts[rows])
                output = model(*(part.to(device) for part in inputs))
                outputs.append(VQAOutput(*(None if part is None else part.cpu() for part in output)))
        longest = max(item.question_weights.size(-1) if item.question_weights is not None else 0 for item in outputs)
        question_maps = [o.question_weights for o in outputs if o.question_weights is not None]
        return VQAOutput(
            torch.cat([o.logits for o in outputs]),
            None if outputs[0].image_weights is None else torch.cat([o.image_weights for o in outputs]),
            torch.cat([F.pad(m, (0, longest - m.size(-1))) for m in question_maps]) if question_maps else None,
        )

    def evaluate(self, model: nn.Module, task: VQAData, split: str) -> dict[str, float]:
        """The metrics of the module docstring on ``split``."""
        items = task.split(split)
        output = self.run_model(model, task, *images_and_texts(items))
        right = (output.logits.argmax(-1) == task.answer_ids(items)).numpy()
        metrics = {"accuracy": float(right.mean())}
        for group, names in (("category", questions.CATEGORIES), ("kind", questions.KINDS)):
            labels = np.array([getattr(item.question, group) for item in items])
            metrics |= {f"accuracy_{name}": float(right[labels == name].mean()) for name in names if name in labels}
        if output.image_weights is not None:
            metrics |= self.attention_on_objects(model, items, output.image_weights.numpy())
        if output.question_weights is not None:
            top = output.question_weights.argmax(-1).numpy()  # (n, M)
            for m, name in enumerate(model.maps):
                hits = [top[i, m] in item.question.keywords for i, item in enumerate(items)]
                metrics[f"keyword_{map_key(name)}"] = float(np.mean(hits))
        return metrics

    def attention_on_objects(self, model: VQAModel, items: list[questions.Example], maps: np.ndarray) -> dict:
        """``mass_MAP``, ``mass_nonrel_MAP`` and ``mass_KIND_MAP`` of each image map ``maps`` ``(n, M, N)``
        (module docstring)."""
        size, grid = model.config.image_size, model.config.grid
        asked = [i for i, item in enumerate(items) if item.question.objects]
        gold = np.stack([gold_regions(items[i].objects, items[i].question.objects, size, grid) for i in asked])
        mass = (maps[asked] * gold[:, None, :]).sum(-1)  # (n asked, M)
        kinds = np.array([items[i].question.kind for i in asked])
        nonrel = np.array([questions.CATEGORY[kind] == "nonrel" for kind in kinds])
        groups = {"": np.ones_like(nonrel), "nonrel_": nonrel}
        groups |= {f"{kind}_": kinds == kind for kind in questions.KINDS if kind in kinds}
        return {
            f"mass_{group}{map_key(name)}": float(mass[rows, m].mean())
            for group, rows in groups.items()
            for m, name in enumerate(model.maps)
        }

    # ---- pictures and the ask command ------------------------------------------------------------

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {} if config is not None and config.attention == "none" else {"attention": self.draw_attention}

    def draw_attention(self, model: VQAModel, task: VQAData, path: Path) -> None:
        """The first test example of each question kind: each image map over the image, each question map as bars."""
        items = task.split("test")[:PICTURE_EXAMPLES]
        gold = [item.question.answer for item in items]
        boxes = [[item.objects[i].box for i in item.question.objects] for item in items]
        self.draw(model, task, *images_and_texts(items), path, gold=gold, boxes=boxes)

    def draw(
        self,
        model: VQAModel,
        task: VQAData,
        images: np.ndarray,
        texts: list[list[str]],
        path: Path,
        gold: list[str] | None = None,
        boxes: list[list[tuple[int, int, int, int]]] | None = None,
    ) -> list[str]:
        """Answer questions ``texts`` about uint8 ``images`` ``(n, S, S, 3)`` and draw their attention
        maps to ``path`` (with the ``gold`` answers and gold objects' ``boxes`` if known); returns the answers."""
        from attnzoo.viz.vqa import plot_vqa_attention

        output = self.run_model(model, task, images, texts)
        predicted = [task.answers[index] for index in output.logits.argmax(-1).tolist()]
        shown = predicted if gold is None else [f"{a} (gold: {b})" for a, b in zip(predicted, gold, strict=True)]
        grid = model.config.grid
        image_maps = None if output.image_weights is None else output.image_weights.numpy()
        plot_vqa_attention(
            images,
            texts,
            shown,
            None if image_maps is None else image_maps.reshape(len(texts), -1, grid, grid),
            None if output.question_weights is None else output.question_weights.numpy(),
            list(model.maps),
            path,
            boxes=boxes,
        )
        return predicted

    probes = 3  # test questions the explorer shows and the formation record follows (the first ones)

    def attention_views(self, model: VQAModel, task: VQAData, inputs: list[str] | None = None) -> list[dict]:
        """For the first :attr:`probes` test questions: each image map (hop or level) over the image, with
        the box of the queried object as gold when the question asks about one object, and the question
        maps as an alignment (rows: the maps, columns: the words) with the first gold keyword as gold."""
        from attnzoo.explorer.views import alignment_view, image_view

        if inputs is not None:
            raise ValueError('vqa needs an image and a question: use attnzoo ask RUN IMAGE.png "question"')
        items = task.split("test")[: self.probes]
        output, grid, views = self.run_model(model, task, *images_and_texts(items)), model.config.grid, []
        for number, item in enumerate(items):
            words, maps = list(item.question.words), list(model.maps)
            answer = task.answers[int(output.logits[number].argmax())]
            title = f"{' '.join(words)} → {answer} (gold: {item.question.answer})"
            if output.image_weights is not None:
                box = [item.objects[i].box for i in item.question.objects]
                gold = [box[0][0], box[0][1], box[0][2] - box[0][0], box[0][3] - box[0][1]] if len(box) == 1 else None
                image = torch.from_numpy(item.image).permute(2, 0, 1).float() / 255
                shown = list(output.image_weights[number].view(len(maps), grid, grid))
                views.append(image_view(image, maps, maps=shown, gold=[gold] * len(maps), title=title))
            if output.question_weights is not None:
                weights, keyword = output.question_weights[number, :, : len(words)], item.question.keywords
                gold = [keyword[0] if keyword else -1] * len(maps)
                views.append(alignment_view(weights, words, maps, title=title, gold=gold))
        return views

    def commands(self) -> dict[str, Command]:
        about = "Answer a question about a PNG image (resized to the run's size); unknown words are read as <unk>."
        return {"ask": Command(self.ask, ("IMAGE", "QUESTION"), about, self.write_example)}

    def ask(self, model: VQAModel, task: VQAData, arguments: list[str], out: Path | None) -> str:
        """The answer to question ``arguments[1]`` about image ``arguments[0]`` (``out``: draw its attention there)."""
        image = read_image(Path(arguments[0]), task.settings.image_size)
        words = questions.tokenize(arguments[1])
        if not words:
            raise ValueError(f"question: expected some words, got {arguments[1]!r}")
        unknown = [word for word in words if word not in task.words]
        if out is not None:
            answer = self.draw(model, task, image[None], [words], out)[0]
        else:
            answer = task.answers[int(self.run_model(model, task, image[None], [words]).logits[0].argmax())]
        lines = [answer]
        if unknown:
            lines.append(f"(unknown words, read as {UNK}: {', '.join(dict.fromkeys(unknown))})")
        if out is not None:
            lines.append(f"(attention drawn to {out})")
        return "\n".join(lines)

    def write_example(self, task: VQAData, arguments: list[str]) -> None:
        """The first test scene as a PNG at ``arguments[0]``."""
        from PIL import Image

        Image.fromarray(task.split("test")[0].image).save(arguments[0])

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {"channels": (4, 4, 4), "dim": 8, "attention_dim": 8}  # 32 px -> the 4 x 4 layout
        return model, {"image_size": 32, "train_size": 16, "valid_size": 10, "test_size": 10}


def images_and_texts(items: list[questions.Example]) -> tuple[np.ndarray, list[list[str]]]:
    """The uint8 images ``(n, S, S, 3)`` and the questions (word lists) of ``items``."""
    return np.stack([item.image for item in items]), [list(item.question.words) for item in items]


RECIPE = VQARecipe
