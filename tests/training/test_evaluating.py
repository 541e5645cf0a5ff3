"""evaluating(model): eval mode inside the block (dropout off), the mode before restored after, also on error."""

import pytest
import torch
from torch import nn

from attnzoo.recipes import evaluating


def test_inside_the_block_dropout_is_off_and_the_mode_comes_back():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9))
    for before in (True, False):
        model.train(before)
        with evaluating(model) as inside:
            assert inside is model and not any(module.training for module in model.modules())
            x = torch.ones(2, 4)
            assert torch.equal(model(x), model(x))  # deterministic: dropout is off
        assert all(module.training is before for module in model.modules())


def test_the_mode_comes_back_when_the_block_raises():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).train()
    with pytest.raises(ValueError, match="inside"), evaluating(model):
        raise ValueError("inside")
    assert model.training and model[1].training
