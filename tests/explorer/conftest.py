"""Shared by the explorer's tests: one headless Chromium, and tiny trained runs (each trained once)."""

from __future__ import annotations

import pytest

from attnzoo.explorer import browser
from attnzoo.registry import load_recipe
from attnzoo.training import train

SEQ2SEQ_TASK = {"kind": "transduction", "train_size": 64, "valid_size": 8, "test_size": 8}
SEQ2SEQ_TASK |= {"train_max_len": 6, "test_max_len": 6}
SEQ2SEQ_MODEL = {"embedding_dim": 8, "hidden_size": 16, "attention_dim": 8}
# lr 0.05: the two recorded validations must differ visibly (the slider test)
TINY_TRAINING = {"steps": 4, "val_every": 2, "checkpoint_every": 4, "batch_size": 16, "lr": 0.05, "minutes": None}


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium, or a skip with the reason (no selenium, no Chromium)."""
    reason = browser.missing()
    if reason is not None:
        pytest.skip(reason)
    driver = browser.start_chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def seq2seq_run(tmp_path_factory):
    """A tiny seq2seq run on the reversal task (gold alignments), with two formation snapshots."""
    out = tmp_path_factory.mktemp("runs") / "seq2seq"
    return train("seq2seq", out, model=SEQ2SEQ_MODEL, task=SEQ2SEQ_TASK, training=TINY_TRAINING, progress=False)


@pytest.fixture(scope="session")
def ram_run(tmp_path_factory):
    """A tiny RAM run (an image model: the PNG upload of `attnzoo serve`)."""
    out = tmp_path_factory.mktemp("runs") / "ram"
    model, task = load_recipe("ram").example()
    training = TINY_TRAINING | {"steps": 2, "val_every": 2, "batch_size": 8, "lr": 1e-3}
    return train("ram", out, model=model, task=task, training=training, progress=False)
