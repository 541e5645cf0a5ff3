"""Self-Attention GAN (Zhang et al. 2018): spectral norm, the hinge loss's gradients, TTUR, the baseline."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnzoo.models.sagan.model import SAGANConfig
from attnzoo.models.sagan.recipe import hinge_losses, partner_mass
from attnzoo.registry import create_model, load_recipe
from attnzoo.tasks import mirror
from attnzoo.training.module import RecipeModule

TINY = {"width": 8, "noise": 8}


def tiny_model(**overrides) -> nn.Module:
    torch.manual_seed(0)
    return create_model("sagan", **{**TINY, **overrides})


def test_spectral_norm_makes_the_largest_singular_value_one():
    model = tiny_model()
    with torch.no_grad():
        for _ in range(30):  # power iterations run in training-mode forward passes
            model.discriminator(torch.randn(2, 3, 32, 32))
            model(torch.randn(2, 8), live=True)
    trained = [*model.generator.modules(), *model.discriminator.modules()]
    layers = [module for module in trained if isinstance(module, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 2 * 4 + 2 * 4 + 2  # G: linear, 3 convs, to_image, block's 4; D: 4 convs, linear, block's 4
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.02)


def test_hinge_loss_gradients_reach_only_their_own_network():
    model = tiny_model(block="attention")
    with torch.no_grad():
        model.generator.block.gamma.fill_(0.5)
        model.discriminator.block.gamma.fill_(0.5)
    real, z = torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, 8)
    model.eval()  # no power iteration: every forward pass below sees the same weights
    d_loss, g_loss, _ = hinge_losses(model, real, z)
    (d_loss + g_loss).backward()
    combined = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    fake = model.generator(z).context  # eq. 5 written out: L_D on D, L_G on G, separately
    d_want = (
        F.relu(1 - model.discriminator(real).context).mean()
        + F.relu(1 + model.discriminator(fake.detach()).context).mean()
    )
    d_grads = torch.autograd.grad(d_want, list(model.discriminator.parameters()))
    g_want = -model.discriminator(fake).context.mean()
    g_grads = torch.autograd.grad(g_want, list(model.generator.parameters()))
    torch.testing.assert_close(d_loss, d_want)
    torch.testing.assert_close(g_loss, g_want)
    for (name, _), want in zip(model.discriminator.named_parameters(), d_grads, strict=True):
        torch.testing.assert_close(combined[f"discriminator.{name}"], want)
    for (name, _), want in zip(model.generator.named_parameters(), g_grads, strict=True):
        torch.testing.assert_close(combined[f"generator.{name}"], want)


def test_ttur_the_generator_moves_a_quarter_as_fast():
    """The recipe's two parameter groups, through the trainer's optimiser: Adam's first step moves
    each parameter by its group's rate."""
    recipe = load_recipe("sagan")
    module = RecipeModule(recipe, tiny_model().config, recipe.training, total_steps=10)
    model = module.model
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    g_bias, d_bias = model.generator.to_image[0], model.discriminator  # a BatchNorm bias of G; D's score bias
    before = g_bias.bias.detach().clone(), d_bias.score.bias.detach().clone()
    (g_bias.bias.sum() + d_bias.score.bias.sum()).backward()
    optimizer.step()  # Adam's first step moves every parameter by its group's lr
    g_step = (g_bias.bias.detach() - before[0]).abs()
    d_step = (d_bias.score.bias.detach() - before[1]).abs()
    torch.testing.assert_close(d_step, torch.full_like(d_step, 4e-4))
    torch.testing.assert_close(g_step, torch.full_like(g_step, 1e-4))
    trainable = [p for p in model.parameters() if p.requires_grad]  # G's moving average is not trained
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(trainable)
    assert not any(p.requires_grad for p in model.average.parameters())


def test_the_baseline_matches_the_parameter_count_and_is_non_attending():
    attention, baseline = tiny_model(block="attention"), tiny_model(block="pointwise")
    assert sum(p.numel() for p in attention.parameters()) == sum(p.numel() for p in baseline.parameters())
    images, weights = attention(torch.randn(3, 8), need_weights=True)
    assert images.shape == (3, 3, 32, 32) and images.abs().max() <= 1
    assert weights.shape == (3, 256, 256)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 256))
    assert baseline(torch.randn(3, 8), need_weights=True).weights is None


def hand_made_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """One image with a red square at rows 8-11, columns 4-7 and its mirror image at columns 24-27, and
    16×16 attention where the queries on the left square put half their mass on the right square."""
    images = torch.full((1, 3, 32, 32), -0.2)
    images[0, 0, 8:12, 4:8], images[0, 0, 8:12, 24:28] = 1.0, 1.0
    weights = torch.full((1, 256, 256), 1 / 256)
    right_cells = [row * 16 + column for row in (4, 5) for column in (12, 13)]  # the right square on the 16×16 map
    for row in (4, 5):
        for column in (2, 3):  # queries on the left square
            weights[0, row * 16 + column] = 0.5 / 252
            weights[0, row * 16 + column, right_cells] = 0.5 / 4
    return images, weights


def test_partner_mass_on_hand_made_attention():
    images, weights = hand_made_pair()
    torch.testing.assert_close(partner_mass(mirror.object_masks(images), weights), torch.tensor([0.5]))
    uniform = torch.full((1, 256, 256), 1 / 256)  # no preference: the right square's 4 of 256 cells
    torch.testing.assert_close(partner_mass(mirror.object_masks(images), uniform), torch.tensor([4 / 256]))
    empty = torch.zeros(1, 32, 32, dtype=torch.bool)  # no left object: no query, NaN
    assert partner_mass(empty, weights).isnan().all()
    with pytest.raises(ValueError, match="masks, weights: expected"):
        partner_mass(empty, torch.ones(1, 250, 250))


def test_real_images_object_masks_are_the_generators_ground_truth():
    """D's partner mass on real images is scored against ground truth: the rule's coloured pixels of a
    training image are exactly the shapes the mirror generator drew."""
    images, masks = mirror.mirror_images(32, 3)
    assert torch.equal(mirror.object_masks(images), masks)


def test_the_discriminator_partner_mass_reads_ds_own_attention(monkeypatch):
    """mirror_measures scores D's attention on the real images given and G's on the samples."""
    from attnzoo.models.sagan import recipe as sagan_recipe

    images, weights = hand_made_pair()
    model = tiny_model()
    monkeypatch.setattr(sagan_recipe, "discriminator_weights", lambda model, given: weights.expand(len(given), -1, -1))
    measures = sagan_recipe.mirror_measures(model, images, 4)
    assert measures["d_partner_mass_real"] == pytest.approx(0.5)
    assert {"consistency", "live_consistency", "partner_mass", "d_partner_mass_fake"} <= set(measures)
    assert sagan_recipe.discriminator_weights(model, images.repeat(2, 1, 1, 1)).shape == (2, 256, 256)


def test_the_moving_average_follows_its_formula_and_is_what_sampling_reads():
    """a ← d·a + (1 − d)·g with d = min(decay, (1 + t)/(10 + t)), written out for three updates; calling
    the model samples the average, ``live=True`` the live generator; decay 0 keeps no average."""
    model = tiny_model(average_decay=0.15)
    name = "project.parametrizations.weight.original"
    want = model.average.state_dict()[name].clone()
    for t in range(3):
        with torch.no_grad():
            model.generator.project.parametrizations.weight.original.add_(torch.randn_like(want))
        decay = min(0.15, (1 + t) / (10 + t))  # 0.1, then 0.15 twice
        want = decay * want + (1 - decay) * model.generator.state_dict()[name]
        model.update_average()
    torch.testing.assert_close(model.average.state_dict()[name], want)
    assert int(model.average_updates) == 3
    model.eval()
    z = torch.randn(2, 8)
    torch.testing.assert_close(model(z).context, model.average(z).context)
    torch.testing.assert_close(model(z, live=True).context, model.generator(z).context)
    assert not torch.allclose(model(z).context, model(z, live=True).context)
    assert tiny_model(average_decay=0.0).average is None


def test_bad_config_and_input_are_refused():
    with pytest.raises(ValueError, match=r"average_decay: expected a number in \[0, 1\), got 1.0"):
        SAGANConfig(average_decay=1.0)
    with pytest.raises(ValueError, match="attention_size: expected one of"):
        SAGANConfig(attention_size=12)
    with pytest.raises(ValueError, match=r"z: expected \(B, Z\) with Z = 8, got \(2, 5\)"):
        tiny_model()(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"images: expected \(B, 3, 32, 32\), got \(2, 3, 28, 28\)"):
        tiny_model().discriminator(torch.randn(2, 3, 28, 28))


def test_the_sample_command_draws_and_refuses_bad_counts(tmp_path):
    from attnzoo.models.sagan.recipe import GANData, GANTask, sample
    from attnzoo.tasks.mirror import mirror_images

    task = GANData(GANTask(train_size=4), mirror_images(4, 0)[0])
    printed = sample(tiny_model(), task, ["4"], tmp_path / "samples.png")
    assert printed.startswith("4 samples drawn to") and "mirror-consistent" in printed
    assert (tmp_path / "samples.png").stat().st_size > 1000
    for bad in ("0", "many", "1000"):
        with pytest.raises(ValueError, match="COUNT: expected a whole number of samples from 1 to 256"):
            sample(tiny_model(), task, [bad], tmp_path / "samples.png")
    with pytest.raises(ValueError, match="give --out"):
        sample(tiny_model(), task, ["4"], None)


def test_the_default_noise_has_as_many_dimensions_as_the_mirror_texture_has_free_values():
    """The fix for the collapsed runs: a mirror image's grey texture is 16 × 16 independent values,
    and a generator's samples vary along at most as many directions as its noise has dimensions
    (the rank of ∂G/∂z). With the former 64-dimensional noise every run collapsed to nearly one
    picture (docs/results/sagan.md); with 256 the same recipe keeps its samples varied."""
    config = SAGANConfig()
    texture = mirror.mirror_images(64, 0)[0][:, 0, ::2, ::2].flatten(1)  # one value per 2×2 block: (64, 256)
    assert texture.size(1) == mirror.HALF**2
    assert config.noise >= texture.size(1)


def test_a_digits_run_is_judged_by_the_digit_classifier_frechet_distance(monkeypatch):
    """On digits, evaluate reports the Fréchet distance, confidence and diversity, and --target reads the distance."""
    from attnzoo.models.sagan.recipe import GANData, GANTask
    from attnzoo.tasks import digit_frechet

    torch.manual_seed(0)
    monkeypatch.setattr(digit_frechet, "trained_classifier", lambda seed=0: digit_frechet.DigitClassifier().eval())
    recipe = load_recipe("sagan", {"data": "digits", "samples": 16})
    task = GANData(GANTask(data="digits", samples=16), torch.rand(20, 1, 32, 32) * 2 - 1)
    metrics = recipe.evaluate(tiny_model(image_channels=1), task, "valid")
    assert {"frechet", "confidence", "diversity", "gamma_g", "gamma_d"} <= set(metrics)
    assert metrics["frechet"] > 0 and 0.1 <= metrics["confidence"] <= 1 and 0 <= metrics["diversity"] <= 3.33
    assert recipe.selection == ("frechet", "min") and load_recipe("sagan").selection == ("consistency", "max")


def test_query_maps_draw_each_querys_row_and_refuse_a_wrong_axis_count():
    from matplotlib.figure import Figure

    from attnzoo.viz.gan import plot_query_maps

    weights = torch.zeros(16, 16)
    weights[5, 10] = 1.0  # query cell (1, 1) of a 4 × 4 map looks only at cell (2, 2)
    axes = Figure().subplots(1, 2)
    plot_query_maps(torch.zeros(3, 32, 32), weights, list(axes), [(1, 1)])
    shown = axes[1].images[-1].get_array()
    assert shown.shape == (4, 4) and shown[2, 2] == 1.0 and shown.sum() == 1.0
    with pytest.raises(ValueError, match="expected \\(N, N\\) with N a square and 3 axes, got \\(16, 16\\) and 2"):
        plot_query_maps(torch.zeros(3, 32, 32), weights, list(axes), [(1, 1), (0, 0)])


def test_batch_std_is_the_spread_within_consecutive_groups():
    """ProGAN's minibatch standard deviation, written out: per group of consecutive images, the standard
    deviation of each feature over the group, averaged; the groups never mix the two halves of a batch."""
    from attnzoo.models.sagan.model import batch_std

    x = torch.randn(8, 3, 2, 2, dtype=torch.float64)
    out = batch_std(x, 4)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    for start in (0, 4):
        group = x[start : start + 4]
        want = ((group - group.mean(0)) ** 2).mean(0).add(1e-8).sqrt().mean()
        torch.testing.assert_close(out[start : start + 4, 3], want.expand(4, 2, 2))
    alike = torch.ones(4, 3, 2, 2).repeat(2, 1, 1, 1)
    alike[4:] = torch.randn(4, 3, 2, 2)  # the first group collapsed, the second varied
    spread = batch_std(alike, 4)[:, 3, 0, 0]
    assert spread[:4].max() < 1e-3 < spread[4:].min()
    assert batch_std(x[:6], 4)[:, 3].unique().numel() == 2  # 6 images: groups of 3
    model = tiny_model(batch_std_group=4)
    assert model.discriminator(torch.randn(6, 3, 32, 32)).context.shape == (6,)


def test_batch_std_passes_gradcheck():
    from attnzoo.models.sagan.model import batch_std

    x = torch.randn(4, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: batch_std(x, 2), (x,))


def test_the_discriminator_picture_draws_ds_maps(tmp_path):
    from attnzoo.models.sagan.recipe import GANData, GANTask, draw_discriminator_attention

    task = GANData(GANTask(train_size=4), mirror.mirror_images(4, 0)[0])
    draw_discriminator_attention(tiny_model(), task, tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="no attention block"):
        draw_discriminator_attention(tiny_model(block="pointwise"), task, tmp_path / "d.png")
