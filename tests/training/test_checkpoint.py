"""Pickle-free checkpoints: round trips, and refusing a pickle that would run code when loaded."""

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from attnzoo import registry
from attnzoo.training.checkpoint import SafeCheckpointIO, load_checkpoint_file, save_checkpoint_file
from attnzoo.training.run import CONFIG_FILE, WEIGHTS_FILE, Run, RunError


def assert_same(got, expected, path="checkpoint"):
    """Equal values of the same types all the way down (tuples stay tuples, int keys stay ints)."""
    assert type(got) is type(expected), f"{path}: {type(got).__name__} != {type(expected).__name__}"
    if isinstance(expected, torch.Tensor):
        assert got.dtype == expected.dtype and got.shape == expected.shape, path
        assert torch.equal(got, expected), path
    elif isinstance(expected, dict):
        assert list(got) == list(expected), path
        for key in expected:
            assert_same(got[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), path
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert got == expected, path


def optimiser_state() -> dict:
    """A real Adam state dict: int keys in ``state``, a tuple ``betas``, None and bool values."""
    model = nn.Linear(3, 2)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    optimiser.step()
    return optimiser.state_dict()


def test_round_trip_of_a_training_checkpoint(tmp_path):
    checkpoint = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {"layer.weight": torch.randn(2, 3), "layer.bias": torch.zeros(2)},
        "optimizer_states": [optimiser_state()],
        "lr_schedulers": [],
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4, "completed": 3}}}},
        "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_score": None, "dirpath": "runs/x"}},
        "hyper_parameters": {"hidden": 64, "dropout": 0.1, "shape": (2, 3), "flags": [True, False], "none": None},
        "int_keys": {0: "zero", 7: {1: (1, 2.5, "three")}},
        "tensors": (
            torch.tensor(5),  # 0-dim
            torch.randn(3, 4).T,  # not contiguous
            torch.randn(2).to(torch.float16),
            torch.randn(2).to(torch.bfloat16),
            torch.tensor([True, False]),
            torch.arange(3, dtype=torch.int64),
        ),
    }
    path = tmp_path / "checkpoints" / "last.ckpt"
    save_checkpoint_file(checkpoint, path)
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # the temporary file is gone
    loaded = load_checkpoint_file(path)
    assert_same(loaded, checkpoint)
    # the optimiser state loads back into an optimiser
    optimiser = torch.optim.Adam(nn.Linear(3, 2).parameters(), lr=1e-3)
    optimiser.load_state_dict(loaded["optimizer_states"][0])
    # and through Lightning's checkpoint I/O plugin
    io = SafeCheckpointIO()
    io.save_checkpoint(checkpoint, tmp_path / "io.ckpt")
    assert_same(io.load_checkpoint(tmp_path / "io.ckpt"), checkpoint)
    io.remove_checkpoint(tmp_path / "io.ckpt")
    assert not (tmp_path / "io.ckpt").exists()


def test_paths_are_stored_as_strings(tmp_path):
    save_checkpoint_file({"dir": Path("runs/a")}, tmp_path / "c.ckpt")
    assert load_checkpoint_file(tmp_path / "c.ckpt") == {"dir": "runs/a"}


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [
        ({"callback": object()}, r"checkpoint entry checkpoint\.callback: cannot store a object without pickle"),
        ({"a": {"b": {1, 2}}}, r"checkpoint entry checkpoint\.a\.b: cannot store a set"),
        ({"a": {(1, 2): 3}}, r"dictionary key \(1, 2\) is not a str or int"),
        ({True: 1}, r"dictionary key True is not a str or int"),
    ],
)
def test_values_that_need_pickle_are_refused_on_save(tmp_path, checkpoint, message):
    with pytest.raises(TypeError, match=message):
        save_checkpoint_file(checkpoint, tmp_path / "c.ckpt")


class RunsCodeWhenUnpickled:
    """A pickle payload that creates ``marker`` as soon as it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.fixture
def malicious(tmp_path):
    """(pickle bytes that run code on load, the marker file that code creates); checks the payload works."""
    marker = tmp_path / "code_ran"
    payload = pickle.dumps({"state_dict": RunsCodeWhenUnpickled(marker)})
    pickle.loads(payload)  # the payload really does run code when unpickled ...
    assert marker.exists()
    marker.unlink()  # ... so a loader that unpickles would recreate the marker
    return payload, marker


@pytest.mark.parametrize("name", ["last.ckpt", "epoch=3-step=100.ckpt", "model.safetensors"])
def test_a_pickled_checkpoint_is_refused_without_running_it(tmp_path, malicious, name):
    payload, marker = malicious
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=r"not a safetensors file .*never loads pickled checkpoints"):
        load_checkpoint_file(path)
    with pytest.raises(ValueError, match=r"never loads pickled checkpoints"):
        SafeCheckpointIO().load_checkpoint(path)
    assert not marker.exists()


def test_a_torch_save_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": RunsCodeWhenUnpickled(marker)}, path)  # torch's format: a zip around a pickle
    torch.load(path, weights_only=False)  # the file really does run code when unpickled
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ValueError, match=r"never loads pickled checkpoints"):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_missing_checkpoint_and_foreign_safetensors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        load_checkpoint_file(tmp_path / "nothing.ckpt")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match=r"a safetensors file, but not an attnzoo training checkpoint"):
        load_checkpoint_file(tmp_path / "plain.safetensors")


@dataclasses.dataclass(frozen=True)
class TinyConfig:
    size: int = 3  # features in and out
    shape: tuple[int, int] = (1, 2)  # only checks that tuples come back as tuples


@pytest.fixture
def tiny_model_name(monkeypatch):
    """A model registered for this test only (removed again afterwards)."""
    name = "test-tiny-linear"
    entry = registry.Entry(name, TinyConfig, lambda config: nn.Linear(config.size, config.size), {}, "")
    monkeypatch.setitem(registry._REGISTRY, name, entry)
    return name


def test_run_directory_round_trip(tmp_path, tiny_model_name):
    model, config = nn.Linear(4, 4), TinyConfig(size=4, shape=(5, 6))
    run = Run(tmp_path / "run")
    run.prepare(resume=False, overwrite=False)
    run.write_settings(tiny_model_name, None, config, TinyConfig(), {})
    run.save_model(model)
    document = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())
    assert document == {"model": tiny_model_name, "preset": None, "config": {"size": 4, "shape": [5, 6]}}
    assert run.config() == config
    loaded = run.load_model()
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_a_pickled_model_file_in_a_run_directory_is_refused_without_running_it(tmp_path, malicious, tiny_model_name):
    payload, marker = malicious
    run = Run(tmp_path / "run")
    run.prepare(resume=False, overwrite=False)
    run.write_settings(tiny_model_name, None, TinyConfig(), TinyConfig(), {})
    (run.path / WEIGHTS_FILE).write_bytes(payload)
    with pytest.raises(ValueError, match=r"model\.safetensors: not a safetensors file .*never loads pickled"):
        run.load_model()
    assert not marker.exists()


def test_a_missing_run_file_names_the_command(tmp_path):
    with pytest.raises(RunError, match=r"config\.json: no such file; is .* a run directory written by `attnzoo train`"):
        Run(tmp_path / "elsewhere").config()
