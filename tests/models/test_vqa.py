"""VQA: co-attention against Lu et al. 2016's equations, stacked attention against Yang et al. 2016's, padding,
the recipe and its command (the question generator: tests/tasks/test_questions.py)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch

from attnzoo.attention import AlternatingCoAttention, ParallelCoAttention, affinity, lengths_to_mask
from attnzoo.models.vqa import VQAConfig
from attnzoo.models.vqa.recipe import VQARecipe, VQATask, gold_regions
from attnzoo.registry import create_model, presets
from attnzoo.tasks import questions
from attnzoo.tasks.vocab import Vocabulary
from attnzoo.training.run import from_json


def test_gold_regions_are_the_cells_that_overlap_a_box():
    objects = questions.generate_examples(1, seed=2)[0].objects
    top, left, bottom, right = objects[0].box
    covered = gold_regions(objects, (0,), 64, 8).reshape(8, 8)
    expected = np.zeros((8, 8), dtype=bool)
    for row in range(8):
        for col in range(8):
            pixels = np.zeros((64, 64), dtype=bool)
            pixels[row * 8 : row * 8 + 8, col * 8 : col * 8 + 8] = True
            expected[row, col] = pixels[top:bottom, left:right].any()
    assert (covered == expected).all() and covered.sum() == 4  # an object in its 16-px cell: a 2 x 2 block
    assert gold_regions(objects, (0,), 64, 4).sum() == 1  # and one region of the model's 4 x 4 grid


# ---- co-attention against Lu et al. 2016 ---------------------------------------------------------


def inputs(batch=2, words=5, regions=6, dim=4, dtype=torch.float32):
    torch.manual_seed(0)
    question = torch.randn(batch, words, dim, dtype=dtype)
    image = torch.randn(batch, regions, dim, dtype=dtype)
    mask = lengths_to_mask(torch.tensor([words, words - 2]), words)
    return question, image, mask


def test_affinity_is_tanh_of_q_transposed_w_b_v_with_padded_rows_zero():
    layer = ParallelCoAttention(4, 3)
    question, image, mask = inputs()
    c = affinity(layer.W_b, question, image, mask)
    w_b = layer.W_b.W_a.weight  # (d, d): score = q^T W_b v
    for b in range(2):
        expected = torch.tanh(question[b] @ w_b @ image[b].T) * mask[b, :, None]  # (T, N)
        torch.testing.assert_close(c[b], expected)
    assert (c[1, 3:] == 0).all()


def parallel_reference(layer, q, v, length):
    """Eqs. (3)-(4) in the paper's column form: Q (d, T), V (d, N), one example, no padding
    (``layer.average``: the two affinity products divided by T and N)."""
    q, v = q[:length].T, v.T  # (d, T), (d, N)
    c = torch.tanh(q.T @ layer.W_b.W_a.weight @ v)  # (T, N)
    w_q, w_v = layer.W_q.weight, layer.W_v.weight  # (k, d)
    words, regions = (q.size(1), v.size(1)) if layer.average else (1, 1)
    h_v = torch.tanh(w_v @ v + (w_q @ q) @ c / words)  # (k, N)
    h_q = torch.tanh(w_q @ q + (w_v @ v) @ c.T / regions)  # (k, T)
    a_v = torch.softmax(layer.w_hv.weight @ h_v, dim=-1)[0]  # (N,)
    a_q = torch.softmax(layer.w_hq.weight @ h_q, dim=-1)[0]  # (T,)
    return v @ a_v, a_v, q @ a_q, a_q


def alternating_reference(layer, q, v, length):
    """Eq. (6): x̂ = A(X; g) with H = tanh(W_x X + (W_g g) 1ᵀ), three steps, one example, no padding."""

    def attend(step, x, g):  # x: (n, d), g: (d,)
        score = step.score
        h = torch.tanh(x @ score.U_a.weight.T + score.U_a.bias + score.W_a.weight @ g)  # (n, k)
        a = torch.softmax(h @ score.v_a.weight[0], dim=0)  # (n,)
        return a @ x, a

    q = q[:length]
    s, _ = attend(layer.summarise, q, torch.zeros(q.size(1)))
    v_hat, a_v = attend(layer.look, v, s)
    q_hat, a_q = attend(layer.read, q, v_hat)
    return v_hat, a_v, q_hat, a_q


@pytest.mark.parametrize(
    "kind, reference",
    [
        (ParallelCoAttention, parallel_reference),
        (functools.partial(ParallelCoAttention, average=True), parallel_reference),
        (AlternatingCoAttention, alternating_reference),
    ],
)
def test_coattention_matches_the_papers_equations_and_padding_gets_zero_weight(kind, reference):
    torch.manual_seed(1)
    layer = kind(4, 3)
    question, image, mask = inputs()
    output = layer(question, image, query_mask=mask)
    for b, length in enumerate((5, 3)):
        for got, want in zip(output, reference(layer, question[b], image[b], length), strict=True):
            torch.testing.assert_close(got[b][: len(want)], want)
    assert (output.question_weights[1, 3:] == 0).all()
    noisy = question.clone()
    noisy[1, 3:] = 100.0  # what padding holds cannot matter
    again = layer(noisy, image, query_mask=mask)
    for got, want in zip(again, output, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("kind", [ParallelCoAttention, AlternatingCoAttention])
def test_coattention_gradcheck_in_float64(kind):
    layer = kind(3, 2).double()
    question, image, mask = inputs(words=4, regions=3, dim=3, dtype=torch.float64)
    question.requires_grad_(True)
    image.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q, v: layer(q, v, query_mask=mask), (question, image))


def test_coattention_refuses_mismatched_shapes_in_one_line():
    layer = ParallelCoAttention(4, 3)
    question, image, mask = inputs()
    with pytest.raises(ValueError, match=r"question: expected \(B, T, d\) = \(2, \?, 4\), got \(2, 5, 3\)"):
        layer(question[..., :3], image, query_mask=mask)
    with pytest.raises(ValueError, match="query_mask"):
        layer(question, image, query_mask=mask[:, :2])


# ---- the models ------------------------------------------------------------------------------------

TINY = {"vocab_size": 20, "answers": 7, "image_size": 32, "channels": (4, 4), "dim": 8, "attention_dim": 6}


def tiny_inputs():
    torch.manual_seed(2)
    images = torch.rand(2, 3, 32, 32)
    question = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    return images, question, torch.tensor([4, 2])


def test_every_issue_preset_is_registered_and_returns_its_maps():
    assert set(presets("vqa")) == {"baseline", "san-1", "san-2", "coatt-parallel", "coatt-alternating"}
    expected = {"baseline": (None, None), "san-1": (1, None), "san-2": (2, None), "coatt-parallel": (3, 3)}
    expected["coatt-alternating"] = (3, 3)
    for name, (image_maps, question_maps) in expected.items():
        model = create_model("vqa", preset=name, **TINY).eval()
        output = model(*tiny_inputs())
        assert output.logits.shape == (2, 7)
        assert (output.image_weights is None) == (image_maps is None) and len(model.maps) == (image_maps or 0)
        if image_maps:
            assert output.image_weights.shape == (2, image_maps, 64)
            torch.testing.assert_close(output.image_weights.sum(-1), torch.ones(2, image_maps))
        if question_maps:
            assert output.question_weights.shape == (2, 3, 4) and (output.question_weights[1, :, 2:] == 0).all()


def test_stacked_attention_adds_each_hops_context_to_the_query():
    model = create_model("vqa", preset="san-2", **TINY).eval()
    images, question, lengths = tiny_inputs()
    regions = model.regions(images)
    query = model.question_vector(question, lengths)  # u_0 = v_Q
    for k, hop in enumerate(model.hops):
        score = hop.score  # p = softmax(W_P tanh(W_I,A v_I + W_Q,A u + b_A)), eq. (15)-(16)
        hidden = torch.tanh(regions @ score.U_a.weight.T + score.U_a.bias + (query @ score.W_a.weight.T)[:, None])
        p = torch.softmax(hidden @ score.v_a.weight[0], dim=-1)  # (B, N)
        torch.testing.assert_close(model(images, question, lengths).image_weights[:, k], p)
        query = query + (p[:, :, None] * regions).sum(1)  # u_k = u_{k-1} + ṽ_k
    torch.testing.assert_close(model(images, question, lengths).logits, model.W_u(query))


def test_phrase_features_are_max_over_widths_of_tanh_convolutions():
    model = create_model("vqa", preset="coatt-parallel", **TINY).eval()
    _, question, lengths = tiny_inputs()
    words = model.embed(question)
    mask = lengths_to_mask(lengths, 4)
    got = model.phrase_features(words, mask)
    for b in range(2):
        for t in range(int(lengths[b])):
            grams = []
            for conv in model.phrases:
                width = conv.kernel_size[0]
                window = torch.zeros(width, 8)
                span = words[b, t : t + width]
                window[: len(span)] = span  # zero-padded on the right
                grams.append(torch.tanh(torch.einsum("oiw,wi->o", conv.weight, window) + conv.bias))
            torch.testing.assert_close(got[b, t], torch.stack(grams).amax(0))
    assert (got[1, 2:] == 0).all()


def test_padding_the_question_further_does_not_change_the_answer():
    for name in ("baseline", "san-2", "coatt-parallel", "coatt-alternating"):
        model = create_model("vqa", preset=name, **TINY).eval()
        images, question, lengths = tiny_inputs()
        longer = torch.cat([question, torch.zeros(2, 3, dtype=torch.long)], dim=1)
        torch.testing.assert_close(model(images, longer, lengths).logits, model(images, question, lengths).logits)


def test_bad_question_lengths_are_refused():
    model = create_model("vqa", preset="san-1", **TINY)
    images, question, _ = tiny_inputs()
    with pytest.raises(ValueError, match="lengths: expected 1 to T = 4"):
        model(images, question, torch.tensor([5, 2]))
    with pytest.raises(ValueError, match=r"images: expected \(B, 3, S, S\)"):
        model(images[:, :, :16], question, torch.tensor([4, 2]))


# ---- the recipe --------------------------------------------------------------------------------------


def tiny_recipe(preset: str, task_changes: dict | None = None, **changes):
    overrides, task_overrides = VQARecipe("vqa").example()
    overrides = overrides | changes
    recipe = VQARecipe("vqa", task_overrides | (task_changes or {}))
    task = recipe.build_task(0)
    sizes = {"vocab_size": len(task.words), "answers": len(task.answers), "image_size": task.settings.image_size}
    model = create_model("vqa", preset=preset, **overrides, **sizes)
    return recipe, task, model.eval()


def test_the_task_asks_side_questions_in_its_side_form_and_old_runs_read_as_yes_no(tmp_path):
    recipe, task, _ = tiny_recipe("san-1")
    assert task.settings.side_form == "choice" and task.answers == list(questions.answers("choice"))
    assert all(item.question.answer in questions.SIDES for item in task.split("test") if item.question.kind == "side")
    old = VQARecipe("vqa", VQATask(side_form="yes-no")).build_task(0)
    assert old.answers == list(questions.ANSWERS) and list(old.words) == list(Vocabulary(questions.WORDS))
    assert {item.question.answer for item in old.split("test") if item.question.kind == "side"} <= {"yes", "no"}
    saved = {key: value for key, value in dataclasses.asdict(VQATask()).items() if key != "side_form"}
    assert from_json(VQATask, saved, tmp_path / "task.json").side_form == "yes-no"  # a run from before the field
    with pytest.raises(ValueError, match="side_form"):
        VQATask(side_form="maybe")


def test_evaluate_reports_accuracy_by_category_and_attention_on_the_ground_truth():
    recipe, task, model = tiny_recipe("coatt-alternating")
    metrics = recipe.evaluate(model, task, "valid")
    keys = ("accuracy", "accuracy_nonrel", "accuracy_rel", "accuracy_count", "mass_word", "keyword_question")
    for key in (*keys, "accuracy_side", "mass_shape_word", "mass_nonrel_phrase"):
        assert 0 <= metrics[key] <= 1, key
    _, _, baseline = tiny_recipe("baseline")
    assert set(recipe.evaluate(baseline, task, "valid")) == {
        "accuracy",
        *(f"accuracy_{name}" for name in (*questions.CATEGORIES, *questions.KINDS)),
    }


def test_attention_mass_by_kind_is_the_weight_on_the_gold_objects_cells():
    recipe, task, model = tiny_recipe("san-1")  # one map, a 4 x 4 grid over 32 px scenes
    items = [item for item in task.split("test") if item.question.objects]
    on_gold = np.stack([gold_regions(item.objects, item.question.objects, 32, 4) for item in items]).astype(float)
    metrics = recipe.attention_on_objects(model, items, (on_gold / on_gold.sum(-1, keepdims=True))[:, None])
    assert all(metrics[f"mass_{group}hop1"] == pytest.approx(1) for group in ("", "nonrel_", "shape_", "closest_"))
    uniform = recipe.attention_on_objects(model, items, np.full((len(items), 1, 16), 1 / 16))
    shape = [item for item in items if item.question.kind == "shape"]  # one object: one cell of 16
    assert uniform["mass_shape_hop1"] == pytest.approx(1 / 16) and len(shape) > 0


def test_object_loss_is_the_cross_entropy_of_each_regions_colour_and_shape():
    recipe, task, model = tiny_recipe("san-1")
    batch = task.batch(task.split("valid")[:4])
    loss, metrics = recipe.loss(model, batch, {})
    output = model(batch.images, batch.question, batch.lengths)
    colour, shape = model.objects(output.regions).split([7, 4], dim=-1)  # (4, 16, 7), (4, 16, 4)
    expected = sum(
        -logits.log_softmax(-1).gather(-1, labels[..., None]).mean()
        for logits, labels in ((colour, batch.colours), (shape, batch.shapes))
    )
    answer = torch.nn.functional.cross_entropy(output.logits, batch.answers)
    torch.testing.assert_close(metrics["object_loss"], expected.detach())
    torch.testing.assert_close(loss, answer + expected)
    _, _, plain = tiny_recipe("san-1", object_loss=0.0)
    assert plain.objects is None and "object_loss" not in recipe.loss(plain, batch, {})[1]
    _, _, coarse = tiny_recipe("san-1", channels=(4, 4))  # 32 px -> an 8 x 8 grid, not the 4 x 4 layout
    with pytest.raises(ValueError, match="object_loss: expected the CNN's grid to be the scenes' 4 x 4 layout"):
        recipe.loss(coarse, batch, {})


def test_ask_reports_unknown_words_and_refuses_bad_input(tmp_path):
    recipe, task, model = tiny_recipe("san-2")
    image = tmp_path / "scene.png"
    recipe.write_example(task, [str(image)])
    answer = recipe.ask(model, task, [str(image), "What shape is the zorblax object?"], tmp_path / "a.png")
    assert answer.splitlines()[0] in task.answers and "unknown words, read as <unk>: zorblax" in answer
    assert (tmp_path / "a.png").stat().st_size > 0
    with pytest.raises(ValueError, match="nothing.png: no such file"):
        recipe.ask(model, task, [str(tmp_path / "nothing.png"), "what shape"], None)
    with pytest.raises(ValueError, match="question: expected some words"):
        recipe.ask(model, task, [str(image), "?!"], None)
    assert VQAConfig(attention="none").grid == 4 and VQAConfig(channels=(4, 4, 4)).grid == 8
    for side_form in questions.SIDE_FORMS:  # the issue's example question: every word known in both forms
        recipe, task, model = tiny_recipe("san-2", {"side_form": side_form})
        answer = recipe.ask(model, task, [str(image), "Is the green object on the left?"], None)
        assert "\n" not in answer and answer in questions.answers(side_form)


def test_explorer_views_are_each_map_over_the_image_and_the_words_with_their_gold():
    recipe, task, model = tiny_recipe("coatt-alternating")
    items, grid = task.split("test")[: recipe.probes], model.config.grid
    views = recipe.attention_views(model, task)
    assert [view["kind"] for view in views] == ["image", "alignment"] * recipe.probes
    for item, image, words in zip(items, views[::2], views[1::2], strict=True):
        assert [step["label"] for step in image["steps"]] == list(model.maps) == words["target"]
        for step in image["steps"]:
            assert len(step["map"]) == grid and sum(map(sum, step["map"])) == pytest.approx(1, abs=grid * grid * 5e-5)
            if len(item.question.objects) == 1:  # the queried object's box, as [top, left, height, width]
                top, left, bottom, right = item.objects[item.question.objects[0]].box
                assert step["gold"] == [top, left, bottom - top, right - left]
            else:
                assert "gold" not in step
        assert words["source"] == list(item.question.words)
        assert words["gold"] == [item.question.keywords[0] if item.question.keywords else -1] * len(model.maps)
    _, _, baseline = tiny_recipe("baseline")
    assert recipe.attention_views(baseline, task) == []
    with pytest.raises(ValueError, match="attnzoo ask"):
        recipe.attention_views(model, task, ["what shape is the red object?"])
