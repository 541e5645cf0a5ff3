"""The mirrored-shape images, their rule, and the 32×32 digits."""

import pytest
import torch

from attnzoo.tasks.digits32 import digits32
from attnzoo.tasks.mirror import COLOURS, mirror_consistency, mirror_images, shape_mask


def test_generated_images_are_mirrored_grey_texture_with_one_coloured_shape():
    images, masks = mirror_images(64, seed=3)
    assert images.shape == (64, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    assert torch.equal(masks, masks.flip(-1))  # the shapes are mirror images of each other
    assert masks[..., :16].sum(dim=(1, 2)).min() >= 5  # one shape in each half
    grey = (images[:, 0] == images[:, 1]) & (images[:, 1] == images[:, 2])
    assert torch.equal(grey, ~masks)  # colour exactly on the shapes
    for image, mask in zip(images, masks, strict=True):
        colours = image[:, mask].T.unique(dim=0)
        assert len(colours) == 1 and (COLOURS == colours).all(dim=1).any()  # one palette colour
    assert not torch.equal(images[..., :16], images[..., 16:].flip(-1))  # the texture is not mirrored
    assert mirror_consistency(images).all()


def canvas() -> torch.Tensor:
    return torch.full((1, 3, 32, 32), -0.2)


def paint(image: torch.Tensor, mask: torch.Tensor, colour: tuple[float, float, float]) -> None:
    image[0][:, mask] = torch.tensor(colour)[:, None]


def test_the_rule_on_hand_made_images():
    left_square = shape_mask("square", 6, 10, 3)
    consistent = canvas()
    paint(consistent, left_square | left_square.flip(-1), (1.0, -1.0, -1.0))
    shifted = canvas()
    paint(shifted, left_square | shape_mask("square", 6, 20, 23), (1.0, -1.0, -1.0))
    recoloured = canvas()
    paint(recoloured, left_square, (1.0, -1.0, -1.0))
    paint(recoloured, left_square.flip(-1), (-1.0, -1.0, 1.0))
    missing = canvas()
    paint(missing, left_square, (1.0, -1.0, -1.0))
    other_shape = canvas()
    paint(other_shape, left_square | shape_mask("plus", 6, 10, 3).flip(-1), (1.0, -1.0, -1.0))
    images = torch.cat([consistent, shifted, recoloured, missing, other_shape, canvas()])
    assert mirror_consistency(images).tolist() == [True, False, False, False, False, False]
    with pytest.raises(ValueError, match=r"images: expected \(N, 3, 32, 32\), got \(1, 1, 32, 32\)"):
        mirror_consistency(torch.zeros(1, 1, 32, 32))


def test_digits_at_32_pixels():
    images, labels = digits32("valid")
    assert images.shape[1:] == (1, 32, 32) and len(images) == len(labels) > 100
    assert images.min() == -1 and images.max() <= 1
    assert (images[..., :2, :] == -1).all() and (images[..., :, -2:] == -1).all()  # the 2-pixel margin
    assert set(labels.tolist()) == set(range(10))
