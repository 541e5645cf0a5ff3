"""The coordinate channels the image models share: each pixel's (y, x) in [-1, 1]."""

from __future__ import annotations

import torch

from attnzoo.models.coordinates import append_coordinates, coordinate_grid


def test_appended_channels_are_each_pixels_row_and_column_in_minus_one_to_one():
    images = torch.rand(2, 3, 5, 5, dtype=torch.float64)
    out = append_coordinates(images)
    assert out.shape == (2, 5, 5, 5) and out.dtype == torch.float64
    assert torch.equal(out[:, :3], images)
    for row in range(5):
        for col in range(5):
            expected = torch.tensor([-1 + 2 * row / 4, -1 + 2 * col / 4], dtype=torch.float64)
            torch.testing.assert_close(out[:, 3:, row, col], expected.expand(2, 2))
    torch.testing.assert_close(coordinate_grid(5, images), out[0, 3:])
