"""Show, Attend and Tell (Xu et al. 2015) and its scenes, against the paper's equations and the generator's rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnzoo.models.show_attend_tell import measures
from attnzoo.models.show_attend_tell.model import (
    CaptionOutput,
    HardShowAttendTell,
    ShowAttendTell,
    ShowAttendTellConfig,
    doubly_stochastic_penalty,
    encoder,
)
from attnzoo.models.show_attend_tell.recipe import CaptionRecipe, caption_batch, images_tensor
from attnzoo.registry import create_model
from attnzoo.tasks import scenes

TINY = {
    "channels": (4, 6),
    "kernels": (4, 2),
    "strides": (2, 2),
    "embed_dim": 6,
    "hidden_size": 8,
    "attention_dim": 5,
    "image_size": 24,
}


# ---- the generator --------------------------------------------------------------------------------


def test_boxes_hold_their_objects_pixels_and_nothing_else_is_coloured():
    for scene in scenes.generate_scenes(60, seed=3):
        painted = np.zeros(scene.image.shape[:2], dtype=bool)
        for item in scene.objects:
            top, left, bottom, right = item.box
            colour = np.all(scene.image == scenes.COLOURS[item.colour], axis=-1)  # (S, S)
            inside = colour[top:bottom, left:right]
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()  # tight
            painted[top:bottom, left:right] |= inside
        background = scene.image.max(axis=-1) - scene.image.min(axis=-1) == 0  # grey: R = G = B
        assert np.all(painted | background), "a coloured pixel lies outside every box"
        assert not np.any(painted & background)


def test_boxes_do_not_overlap_and_relations_follow_the_boxes():
    for scene in scenes.generate_scenes(60, seed=4, counts=(2, 3)):
        boxes = [item.box for item in scene.objects]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        for words, links in zip(scene.captions, scene.links, strict=True):
            first, second = links[1], [link for link in links[4:] if link >= 0][0]  # the two related objects
            a, b = scene.objects[first].box, scene.objects[second].box
            text = " ".join(words)
            if " left of " in text:
                assert a[3] <= b[1]
            elif " right of " in text:
                assert b[3] <= a[1]
            elif " above " in text or " over " in text:
                assert a[2] <= b[0]
            else:
                assert " below " in text or " under " in text
                assert b[2] <= a[0]


def test_each_token_links_to_the_object_it_names():
    for scene in scenes.generate_scenes(45, seed=5):
        assert len(scene.captions) >= 2
        for words, links in zip(scene.captions, scene.links, strict=True):
            assert len(words) == len(links)
            named = sorted({link for link in links if link >= 0})
            assert named == list(range(len(scene.objects)))  # every object is named
            for word, link in zip(words, links, strict=True):
                attributes = (
                    set()
                    if link < 0
                    else {scene.objects[link].size, scene.objects[link].colour, scene.objects[link].shape}
                )
                describes = word in scenes.SIZES or word in scenes.COLOURS or word in scenes.SHAPES
                assert describes == (link >= 0) and (link < 0 or word in attributes)


def test_reading_order_captions_name_the_objects_top_row_first_left_to_right():
    for scene in scenes.generate_scenes(45, seed=10):
        cells = [item.cell for item in scene.objects]
        assert cells == sorted(cells)  # the objects are listed in reading order
        ordered = scene.reading_order()
        assert ordered[0] == 0 and len(ordered) == 2  # caption 0, and its other wording of the relation
        for index, links in enumerate(scene.links):
            first_mentions = list(dict.fromkeys(link for link in links if link >= 0))
            rows_cols = [scene.objects[link].cell for link in first_mentions]
            assert (index in ordered) == (rows_cols == sorted(rows_cols))


def test_the_training_stream_in_reading_order_gives_only_reading_order_captions():
    recipe = CaptionRecipe("show-attend-tell", {"image_size": 24, "train_size": 40, "order": "reading"})
    task = recipe.build_task(0)
    for index in range(40):
        _, ids = task.train[index]
        scene = scenes.generate_scene(scenes.scene_rng(task.train.seed, index), image_size=24)
        descriptions = [" ".join(item.words()) for item in sorted(scene.objects, key=lambda item: item.cell)]
        text = " ".join(task.vocabulary.decode(ids))
        assert [text.index(description) for description in descriptions] == sorted(
            text.index(description) for description in descriptions
        ) or len(set(descriptions)) < len(descriptions)  # two alike objects: either order reads the same


def test_scenes_are_deterministic_and_the_held_out_pairs_only_in_novel():
    first, again, other = (scenes.generate_scenes(30, seed) for seed in (7, 7, 8))
    assert all(np.array_equal(a.image, b.image) and a.captions == b.captions for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a.image, b.image) for a, b in zip(first, other, strict=True))
    held = set(scenes.HELD_OUT)
    assert not any((o.colour, o.shape) in held for scene in scenes.generate_scenes(300, 1) for o in scene.objects)
    assert all(
        any((o.colour, o.shape) in held for o in s.objects) for s in scenes.generate_scenes(60, 1, split="novel")
    )


# ---- the model ------------------------------------------------------------------------------------


def test_soft_context_is_the_gated_expected_annotation():
    """§4.2: α = softmax(v^T tanh(W h + U a_i)), ẑ = σ(f_β(h)) Σ_i α_i a_i, written out here."""
    torch.manual_seed(0)
    model = ShowAttendTell(ShowAttendTellConfig(vocab_size=9, **TINY))
    state = model.start(torch.rand(2, 3, 24, 24))
    look = model.look(state)
    a, h, f = state["annotations"], state["h"], model.f_att
    scores = torch.stack([f.v_a(torch.tanh(f.W_a(h) + f.U_a(a[:, i]))).squeeze(-1) for i in range(a.size(1))], 1)
    alpha = torch.softmax(scores, dim=1)  # (B, L)
    beta = torch.sigmoid(model.f_beta(h))
    torch.testing.assert_close(look.weights, alpha)
    torch.testing.assert_close(look.context, beta * (alpha[..., None] * a).sum(1))
    assert model.config.grid**2 == a.size(1) == 36


def test_each_annotation_is_centred_on_the_grid_cell_that_alpha_is_drawn_and_scored_on():
    """The measures and pictures put α_i on the pixels of grid cell i; the encoder must look there.
    With positive weights, the input gradient of annotation (r, c) is symmetric about its receptive
    field's centre, which must be the cell's centre ((r + 1/2) S / grid - 1/2 in pixel indices)."""
    config = ShowAttendTellConfig(coordinates=False)  # the default CNN: 48 → 8 × 8
    network = encoder(config).eval()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.constant_(module.weight, 0.1)
            torch.nn.init.zeros_(module.bias)
    images = torch.ones(1, 3, 48, 48, requires_grad=True)
    out = network(images)
    assert out.shape[-2:] == (config.grid, config.grid) == (8, 8)
    row, col = 4, 3  # away from the border, where padding would cut the field
    out[0, :, row, col].sum().backward()
    weight = images.grad[0].abs().sum(0)  # (S, S)
    pixels = torch.arange(48, dtype=weight.dtype)
    centre_y = float((weight.sum(1) * pixels).sum() / weight.sum())
    centre_x = float((weight.sum(0) * pixels).sum() / weight.sum())
    cell = 48 / config.grid
    assert (centre_y, centre_x) == pytest.approx(((row + 0.5) * cell - 0.5, (col + 0.5) * cell - 0.5), abs=1e-4)


def test_hard_attention_picks_one_annotation_and_argmax_in_eval():
    torch.manual_seed(1)
    model = HardShowAttendTell(ShowAttendTellConfig(attention="hard", vocab_size=9, **TINY, expected_fraction=0.0))
    state = model.start(torch.rand(3, 3, 24, 24))
    look = model.look(state)  # training mode: a sample
    beta = torch.sigmoid(model.f_beta(state["h"]))
    chosen = [[torch.allclose(look.context[b], beta[b] * a) for a in state["annotations"][b]] for b in range(3)]
    assert all(any(row) for row in chosen) and torch.all(look.log_prob < 0)
    model.eval()
    state = model.start(torch.rand(3, 3, 24, 24))
    look = model.look(state)
    best = look.weights.argmax(dim=1)
    torch.testing.assert_close(
        look.context, torch.sigmoid(model.f_beta(state["h"])) * state["annotations"][torch.arange(3), best]
    )
    assert torch.all(look.log_prob <= 0)


def test_decoding_steps_give_the_teacher_forced_log_probabilities():
    torch.manual_seed(2)
    for attention in ("soft", "hard", "none"):
        model = create_model("show-attend-tell", ShowAttendTellConfig(attention=attention, vocab_size=9, **TINY)).eval()
        images = torch.rand(2, 3, 24, 24)
        decoded = model.generate(images, max_len=5)
        inputs = torch.cat([torch.ones(2, 1, dtype=torch.long), decoded.tokens[:, :-1]], dim=1)
        output = model(images, inputs)
        chosen = output.log_probs.gather(-1, decoded.tokens[..., None]).squeeze(-1)  # (B, T)
        steps = torch.arange(decoded.tokens.size(1))[None] < decoded.lengths[:, None]
        torch.testing.assert_close((chosen * steps).sum(1), decoded.scores)
        if attention != "none":
            torch.testing.assert_close(decoded.alignments, output.weights[:, : decoded.tokens.size(1)])


def test_doubly_stochastic_penalty_against_its_formula_and_gradcheck():
    torch.manual_seed(3)
    weights = torch.softmax(torch.randn(2, 4, 5, dtype=torch.float64), -1)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    expected = [
        sum((1 - sum(weights[b, t, i] for t in range(4) if mask[b, t])) ** 2 for i in range(5)) for b in range(2)
    ]
    torch.testing.assert_close(doubly_stochastic_penalty(weights, mask), torch.stack(expected))
    weights.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: doubly_stochastic_penalty(w, mask), (weights,))
    with pytest.raises(ValueError, match=r"mask: expected \(B, T\)"):
        doubly_stochastic_penalty(weights, mask[:, :3])


def test_reinforce_raises_the_probability_of_the_rewarded_location():
    """A toy of eq. (12): two locations, the first earns reward 1 and the second 0; the estimated
    gradient of the loss must lower the loss by raising the first location's score."""
    torch.manual_seed(4)
    logits = torch.zeros(2, requires_grad=True)
    count = 4000
    log_alpha = torch.log_softmax(logits, 0).expand(count, 2)
    choice = torch.multinomial(log_alpha.detach().exp(), 1).squeeze(1)  # s ~ α
    log_pi = log_alpha.gather(1, choice[:, None])  # (B, T = 1)
    output = CaptionOutput(None, None, log_pi, torch.zeros(count, 1))
    word_log_probs = (choice == 0).float()[:, None]  # R = 1 for the first location
    recipe = CaptionRecipe("show-attend-tell")
    loss, _, reward = recipe.reinforce(output, word_log_probs, torch.ones(count, 1, dtype=torch.bool), {})
    loss.backward()
    assert logits.grad[0] < -0.05 and logits.grad[1] > 0.05  # the loss falls as the first score rises
    state = {"baseline": torch.tensor(2.0)}  # a baseline above every reward: the sign would flip without centring
    recipe.reinforce(output, word_log_probs, torch.ones(count, 1, dtype=torch.bool), state)
    assert state["baseline"] == pytest.approx(0.9 * 2.0 + 0.1 * float(reward))


def test_word_reward_credits_a_location_with_its_own_word_only():
    """Two steps with separate location logits: word 1's log-likelihood depends on the location of
    step 0 only. With reward="caption", step 0's location is credited (its score rises) and step 1's
    logits get noise; with reward="word", each location answers for its own word: step 0 earns
    nothing (word 0 is constant), step 1 gets nothing real either (its word ignores its location)."""
    count = 20_000
    gradients = {}
    for reward in ("caption", "word"):
        torch.manual_seed(5)
        logits = torch.zeros(2, 2, requires_grad=True)  # (T, L): each step's location scores
        log_alpha = torch.log_softmax(logits, -1)  # (T, L)
        choice = torch.multinomial(log_alpha.detach().exp().repeat(count, 1), 1).view(count, 2)  # s_t ~ α_t
        log_pi = log_alpha[torch.arange(2), choice]  # (B, T)
        word_log_probs = torch.stack([torch.zeros(count), -(choice[:, 0] == 1).float()], dim=1)  # word 1: -1 if s_0 = 1
        output = CaptionOutput(None, None, log_pi, torch.zeros(count, 2))
        recipe = CaptionRecipe("show-attend-tell", {"reward": reward})
        state = {"baseline": torch.tensor(-0.25)}  # the mean reward per word
        loss, _, _ = recipe.reinforce(output, word_log_probs, torch.ones(count, 2, dtype=torch.bool), state)
        loss.backward()
        gradients[reward] = logits.grad.clone()
    assert gradients["caption"][0, 0] < -0.05 < 0.05 < gradients["caption"][0, 1]  # location 0 of step 0 rises
    assert gradients["word"][0].abs().max() < 0.02  # word 0 is constant: no credit, whatever s_0 (noise only)
    assert gradients["word"][1].abs().max() < 0.02  # word 1 does not depend on s_1: noise only


# ---- the measures and the recipe ------------------------------------------------------------------


def test_attention_correctness_of_uniform_and_of_a_focused_alpha():
    items = scenes.generate_scenes(6, seed=6, image_size=24)
    steps = max(len(item.links[0]) for item in items)
    uniform = np.full((6, steps, 16), 1 / 16)
    result = measures.attention_correctness(uniform, items, image_size=24)
    assert result["correctness"] == pytest.approx(result["uniform"])  # uniform α: the box's area share
    square = scenes.SceneObject("square", "red", "small", (6, 12, 12, 18), (1, 2))  # exactly cell (1, 2) of 4 × 4
    scene = scenes.Scene(items[0].image, [square], [["a", "small", "red", "square"]], [[-1, 0, 0, 0]])
    focused = np.zeros((1, 4, 16))
    focused[0, :, 1 * 4 + 2] = 1.0
    result = measures.attention_correctness(focused, [scene], image_size=24)
    assert result == {"correctness": 1.0, "uniform": 1 / 16, "argmax_in_box": 1.0, "words": 3.0}
    focused[0, :, 1 * 4 + 2], focused[0, :, 1 * 4 + 1] = 0.25, 0.75  # three quarters on the cell to the left
    result = measures.attention_correctness(focused, [scene], image_size=24)
    assert result["correctness"] == pytest.approx(0.25) and result["argmax_in_box"] == 0.0
    assert measures.object_recall([["a", "big", "red", "circle"]], [items[0]]) in (0.0, 1.0)


def test_box_mass_against_pixels_of_the_nearest_neighbour_upsampled_alpha():
    """Independent check of the correctness measure: spread each cell's α over its pixels
    (np.kron), sum the pixels inside the box; and the argmax cell's centre pixel tested against the box."""
    rng = np.random.default_rng(0)
    items = scenes.generate_scenes(12, seed=9, image_size=48)
    steps = max(len(item.links[0]) for item in items)
    weights = rng.dirichlet(np.full(64, 0.3), size=(12, steps))  # (N, T, L), peaked at random cells
    result = measures.attention_correctness(weights, items, image_size=48)
    inside, hits = [], []
    for index, item in enumerate(items):
        for step, link in enumerate(item.links[0]):
            if link < 0:
                continue
            top, left, bottom, right = item.objects[link].box
            pixels = np.kron(weights[index, step].reshape(8, 8), np.ones((6, 6)) / 36)  # (48, 48), sums to 1
            inside.append(pixels[top:bottom, left:right].sum())
            row, col = divmod(int(weights[index, step].argmax()), 8)
            hits.append(top <= 6 * row + 3 < bottom and left <= 6 * col + 3 < right)
    assert result["correctness"] == pytest.approx(np.mean(inside))
    assert result["argmax_in_box"] == pytest.approx(np.mean(hits)) and result["words"] == len(inside)


def test_bleu_uses_every_paraphrase_as_a_reference():
    scores = measures.bleu_scores(
        ["a big red circle left of a small blue star"], [["x y", "a big red circle left of a small blue star"]]
    )
    assert scores["bleu4"] == pytest.approx(100.0)


def test_caption_command_reads_a_png_and_refuses_other_files(tmp_path):
    recipe = CaptionRecipe("show-attend-tell", {"image_size": 24, "test_size": 6})
    task = recipe.build_task(0)
    model = create_model("show-attend-tell", ShowAttendTellConfig(vocab_size=len(task.vocabulary), **TINY))
    command = recipe.commands()["caption"]
    command.example(task, [str(tmp_path / "scene.png")])
    text = command.run(model, task, [str(tmp_path / "scene.png")], tmp_path / "words.png")
    assert (tmp_path / "words.png").stat().st_size > 0 and text.endswith(f"drawn to {tmp_path / 'words.png'})")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        command.run(model, task, [str(tmp_path / "notes.txt")], None)
    with pytest.raises(ValueError, match="no such file"):
        command.run(model, task, [str(tmp_path / "missing.png")], None)


def test_batches_frame_captions_with_bos_and_eos():
    inputs, targets = caption_batch([[5, 6], [7]])
    assert inputs.tolist() == [[1, 5, 6], [1, 7, 0]] and targets.tolist() == [[5, 6, 2], [7, 2, 0]]
    assert images_tensor(np.full((1, 4, 4, 3), 255, dtype=np.uint8)).shape == (1, 3, 4, 4)
