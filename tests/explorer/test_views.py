"""The explorer's views and scores against their definitions, the recipes' exports, the formation record's bounds."""

from __future__ import annotations

import json
import math

import pytest
import torch

from attnzoo.explorer.views import (
    alignment_view,
    check_view,
    heads_view,
    image_view,
    memory_view,
    pointer_view,
    view_scores,
)
from attnzoo.registry import create_model, load_recipe, make_config
from attnzoo.training import formation


def tiny(name: str, **task):
    """An untrained tiny model of ``name`` (its recipe's example sizes), its recipe and its task."""
    model_sizes, task_sizes = load_recipe(name).example()
    recipe = load_recipe(name, {**task_sizes, **task})
    data = recipe.build_task(0)
    model = create_model(name, recipe.sized_config(make_config(name, None, **model_sizes), data))
    return recipe, model.eval(), data


def test_entropy_and_accuracy_follow_their_definitions():
    weights = torch.softmax(torch.randn(4, 6, dtype=torch.float64) * 2, dim=-1)
    gold = [int(weights[0].argmax()), (int(weights[1].argmax()) + 1) % 6, -1, int(weights[3].argmax())]
    view = alignment_view(weights, list("abcdef"), list("wxyz"), title="t", gold=gold)
    reference = float(-(weights * weights.log()).sum(-1).mean())  # H(α_t) = -Σ_j α_tj log α_tj, averaged over t
    scores = view_scores(view)
    assert scores["entropy"] == pytest.approx(reference, abs=1e-3)
    assert scores["accuracy"] == pytest.approx(2 / 3)  # rows 0 and 3 right, row 1 wrong, row 2 has no gold


def test_a_one_hot_alignment_has_zero_entropy_and_no_gold_no_accuracy():
    view = alignment_view(torch.eye(3), ["a", "b", "c"], ["x", "y", "z"], title="t")
    assert view_scores(view) == {"entropy": 0.0}


def test_shapes_are_checked_at_the_boundary():
    with pytest.raises(ValueError, match=r"weights: expected shape \(2, 3\), got \(3, 3\)"):
        alignment_view(torch.eye(3), ["a", "b", "c"], ["x", "y"], title="t")
    with pytest.raises(ValueError, match="gold"):
        alignment_view(torch.eye(3), ["a", "b", "c"], ["x", "y", "z"], title="t", gold=[0, 1, 3])
    with pytest.raises(ValueError, match=r"groups\['cross'\]\[0\]: expected shape \(H, 2, 3\)"):
        heads_view({"cross": [torch.rand(2, 3, 3)]}, {"cross": (["x", "y"], ["a", "b", "c"])}, title="t")
    with pytest.raises(ValueError, match="maps: expected 2"):
        image_view(torch.rand(8, 8), ["one", "two"], maps=[torch.rand(2, 2)], title="t")
    with pytest.raises(ValueError, match=r"read: expected shape \(2, 4\)"):
        memory_view({"read": torch.rand(3, 4)}, ["t0", "t1"], list("abcd"), title="t")
    with pytest.raises(ValueError, match="chosen"):
        pointer_view(torch.rand(3, 2), torch.rand(2, 3), [0, 3], title="t")
    with pytest.raises(ValueError, match="view kind"):
        check_view({"kind": "sound"})
    with pytest.raises(ValueError, match="weights"):
        check_view({"kind": "alignment", "title": "t", "source": [], "target": []})


def test_reversal_gold_alignment_points_at_the_word_each_output_word_translates():
    from attnzoo.tasks.corpus import TRANSDUCTION_LEXICON
    from attnzoo.tasks.vocab import EOS

    recipe = load_recipe("seq2seq", {"kind": "transduction"})
    source = "ba zi no ye qu"
    target = " ".join(TRANSDUCTION_LEXICON[word] for word in reversed(source.split()))
    gold = recipe.gold_alignment([*source.split(), EOS], [*target.split(), EOS, "extra"])
    for i, word in enumerate(target.split()):
        assert TRANSDUCTION_LEXICON[source.split()[gold[i]]] == word
    assert gold[5:] == [-1, -1]  # EOS, and past it: no gold
    assert load_recipe("seq2seq").gold_alignment(["a", EOS], ["b", EOS]) is None  # dates: no gold alignment


@pytest.mark.parametrize(
    ("name", "kinds", "task"),
    [
        ("seq2seq", {"alignment"}, {"kind": "transduction", "train_max_len": 6, "test_max_len": 6}),
        ("transformer", {"alignment", "heads"}, {"kind": "transduction", "train_max_len": 5, "test_max_len": 5}),
        ("pointer", {"pointer"}, {}),
        ("ntm", {"memory"}, {}),
        ("ram", {"image"}, {}),
    ],
)
def test_recipes_export_checked_json_views_of_distributions(name, kinds, task):
    recipe, model, data = tiny(name, **task)
    views = recipe.attention_views(model, data)
    assert views and {view["kind"] for view in views} == kinds
    for view in views:
        check_view(json.loads(json.dumps(view)))
        for row in view.get("weights", []):
            assert sum(row) == pytest.approx(1, abs=1e-3)  # each step's attention is a distribution


def test_pointer_gives_inputs_already_chosen_zero_weight():
    recipe, model, data = tiny("pointer")
    for view in recipe.attention_views(model, data):
        for step, row in enumerate(view["weights"]):
            assert all(row[index] == 0 for index in view["chosen"][:step])  # eq. 3 masked to unvisited cities


def test_ram_reads_a_png_of_a_dark_digit_on_white_as_bright_ink(tmp_path):
    import matplotlib.image

    from attnzoo.models.ram.recipe import read_images

    picture = torch.ones(40, 30)
    picture[10:30, 12:18] = 0  # a dark bar on white paper
    matplotlib.image.imsave(tmp_path / "bar.png", picture.numpy(), cmap="gray", vmin=0, vmax=1)
    images = read_images([str(tmp_path / "bar.png")], (20, 15))
    assert images.shape == (1, 1, 20, 15)
    assert images[0, 0, 10, 7] > 0.9 and images[0, 0, 0, 0] < 0.1  # inverted: the bar is the bright ink
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable PNG"):
        read_images([str(tmp_path / "text.png")], (20, 15))


def test_a_snapshot_is_bounded_and_thinning_keeps_the_first_and_newest(monkeypatch):
    letters = "abcdefghijklmnopqrst"
    view = alignment_view(torch.full((20, 20), 0.05), list(letters), list(letters.upper()), title="t")
    monkeypatch.setattr(formation, "MAX_SNAPSHOT_BYTES", 2 * len(json.dumps(view)) + 10)
    item = formation.snapshot(7, [view] * 6)
    assert len(item["views"]) == 2 and item["scores"]["entropy"] == pytest.approx(math.log(20), abs=1e-3)
    steps = list(range(formation.MAX_SNAPSHOTS + 1))
    kept = [snap["step"] for snap in formation.thinned([{"step": step} for step in steps])]
    assert kept[0] == 0 and kept[-1] == steps[-1] and len(kept) <= formation.MAX_SNAPSHOTS
    assert kept == sorted(set(kept))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("show-attend-tell", "image"),
        ("memn2n", "memory"),
        ("entailment", "alignment"),
        ("pointer-generator", "alignment"),
        ("sagan", "image"),
        ("self-attentive", "alignment"),
        ("han", "memory"),
        ("snail", "alignment"),
        ("aoa-reader", "alignment"),
        ("as-reader", "alignment"),
    ],
)
def test_the_newer_recipes_export_checked_views(name, kind):
    recipe, model, data = tiny(name)
    views = recipe.attention_views(model, data)
    assert views and views[0]["kind"] == kind and {view["kind"] for view in views} <= {kind, "alignment"}
    for view in views:
        check_view(json.loads(json.dumps(view)))
        for row in (item for matrix in view.get("weightings", {}).values() for item in matrix):
            assert sum(row) <= 1 + 1e-3  # the story's sentences get at most all of a hop's weight
        for step in view.get("steps", []):
            if "map" in step:
                cells = len(step["map"]) * len(step["map"][0])  # each rounded to 4 decimals
                assert sum(map(sum, step["map"])) == pytest.approx(1, abs=cells * 5e-5)  # α over the grid sums to 1
        for row in view.get("weights", []) if view["kind"] == "alignment" else []:
            assert 0 < sum(row) <= 1 + 1e-3  # a distribution (pointer-generator: the article's <eos> is not shown)


def test_entailment_gold_is_the_generated_alignment_of_the_scored_content_words():
    recipe, model, data = tiny("entailment")  # the word-by-word reader: one row per hypothesis word
    views = recipe.attention_views(model, data)
    assert len(views) == 3
    for view, example in zip(views, data.examples["test"], strict=False):
        assert view["target"] == list(example.hypothesis) and view["source"] == list(example.premise)
        for gold, scored, index in zip(view["gold"], example.content, example.alignment, strict=True):
            assert gold == (index if scored else -1)


def test_image_accuracy_is_the_share_of_gold_steps_whose_largest_cell_centre_is_in_the_box():
    image = torch.zeros(3, 12, 12)
    maps = [torch.zeros(3, 3) for _ in range(3)]
    maps[0][0, 2] = 1  # cell centre (2, 10) in pixels: inside the box below
    maps[1][2, 0] = 1  # cell centre (10, 2): outside
    maps[2][1, 1] = 1  # no gold for this step
    box = [0, 8, 4, 4]  # top, left, height, width: rows 0-3, columns 8-11
    view = image_view(image, ["a", "b", "c"], maps=maps, gold=[box, box, None], title="t")
    assert view_scores(view)["accuracy"] == 0.5
    with pytest.raises(ValueError, match="gold: expected 3"):
        image_view(image, ["a", "b", "c"], maps=maps, gold=[box], title="t")


def test_captioning_probes_are_reference_captions_with_the_named_objects_boxes():
    recipe, model, data = tiny("show-attend-tell")
    scenes = [item for item in data.split("test") if len(item.objects) == 3]
    for view, scene in zip(recipe.attention_views(model, data), scenes, strict=False):
        assert [step["label"] for step in view["steps"]] == [*scene.captions[0], "<eos>"]
        for step, link in zip(view["steps"], scene.links[0], strict=False):
            if link < 0:
                assert "gold" not in step
                continue
            top, left, bottom, right = scene.objects[link].box
            assert step["gold"] == [top, left, bottom - top, right - left]
            assert step["label"] in scene.objects[link].words()  # the word names that object
