"""The shared encoder-decoder training: schedules, label smoothing, hyperparameters, DDP."""

import json
import math
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from attnzoo.models.seq2seq import Seq2SeqConfig
from attnzoo.training.translation import TranslationModule, cosine_factor, warmup_factor


def test_warmup_schedule_is_the_papers_formula():
    """Vaswani et al. 2017 eq. (3): lrate = d^-0.5 * min(n^-0.5, n * warmup^-1.5), n counted from 1."""
    d_model, warmup = 512, 4000
    for step in (0, 1, 999, 3998, 3999, 4000, 100_000):
        n = step + 1
        expected = d_model**-0.5 * min(n**-0.5, n * warmup**-1.5)
        assert math.isclose(d_model**-0.5 * warmup_factor(step, warmup), expected, rel_tol=1e-12)
    rates = [warmup_factor(step, warmup) for step in range(8000)]
    assert max(range(8000), key=rates.__getitem__) == warmup - 1  # the peak is at the paper's step = warmup


def test_cosine_schedule_ends_at_its_floor():
    assert cosine_factor(0, 100, 0.05) == 1.0
    assert math.isclose(cosine_factor(50, 100, 0.05), 0.525)
    assert math.isclose(cosine_factor(100, 100, 0.05), 0.05) and math.isclose(cosine_factor(500, 100, 0.05), 0.05)


def test_label_smoothing_is_the_smoothed_cross_entropy():
    """Loss = (1 - ε) * NLL(target) + ε * mean over the vocabulary of -log p, padding ignored."""
    torch.manual_seed(0)
    model = {"source_vocab_size": 9, "target_vocab_size": 7, "d_model": 16, "num_heads": 2, "d_ff": 32}
    module = TranslationModule("transformer", model | {"dropout": 0.0}, label_smoothing=0.1)
    batch = {
        "source": torch.randint(3, 9, (2, 5)),
        "source_lengths": torch.tensor([5, 3]),
        "target_in": torch.tensor([[1, 4, 5], [1, 6, 0]]),
        "target_out": torch.tensor([[4, 5, 2], [6, 2, 0]]),
    }
    loss, logits = module.loss(batch, 0.1)
    log_probs = F.log_softmax(logits, dim=-1)
    real = batch["target_out"] != 0
    nll = -log_probs.gather(-1, batch["target_out"][..., None]).squeeze(-1)
    smooth = -log_probs.mean(dim=-1)
    expected = ((0.9 * nll + 0.1 * smooth) * real).sum() / real.sum()
    torch.testing.assert_close(loss, expected)


def test_unknown_schedule_is_refused():
    module = TranslationModule("seq2seq", {}, {"schedule": "linear"})
    with pytest.raises(ValueError, match="schedule: expected 'cosine' or 'warmup', got 'linear'"):
        module.configure_optimizers()


# ---------------------------------------------------------------------------- DDP

DDP_SCRIPT = """
import sys
from pathlib import Path

import lightning as L
from safetensors.torch import save_file

from attnzoo.training.translation import TranslationModule, train
from attnzoo.tasks.text import make_translation_data
from attnzoo.training import seed_everything

out = Path(sys.argv[1])
pairs = [(f"{day} March 20{year:02d}", f"20{year:02d}-03-{day:02d}") for day in range(1, 29) for year in range(4)]
data = make_translation_data(pairs, pairs[:8], pairs[:8], level="char")


class DumpWeights(L.Callback):
    def on_train_end(self, trainer, module):
        state = {key: value.contiguous() for key, value in module.model.state_dict().items()}
        save_file(state, str(out / f"rank{trainer.global_rank}.safetensors"))


seed_everything(0)
model = {"source_vocab_size": len(data.source_vocab), "target_vocab_size": len(data.target_vocab),
         "embedding_dim": 8, "hidden_size": 16, "attention_dim": 16, "output_dim": 16}
module = TranslationModule("seq2seq", model)
save_file({k: v.contiguous() for k, v in module.model.state_dict().items()}, str(out / "initial.safetensors"))
train(module, data.train, data.valid, out, batch_size=8, max_steps=2, devices=2, progress=False,
      callbacks=[DumpWeights()])
"""


def test_ddp_two_cpu_processes_hold_identical_weights(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    try:
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=tmp_path
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"DDP training did not finish in {error.timeout} s")
    assert result.returncode == 0, result.stderr[-3000:]
    initial, first, second = (
        load_file(str(tmp_path / f"{name}.safetensors")) for name in ("initial", "rank0", "rank1")
    )
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), f"replicas differ in {key}"
    assert any(not torch.equal(first[key], initial[key]) for key in first), "no training step changed the weights"


def test_module_hyperparameters_are_plain_dicts():
    module = TranslationModule("seq2seq", {"source_vocab_size": 10, "target_vocab_size": 10}, {"lr": 1e-3})
    assert json.loads(json.dumps(dict(module.hparams))) == {
        "name": "seq2seq",
        "model": {"source_vocab_size": 10, "target_vocab_size": 10},
        "optimizer": {"lr": 1e-3},
        "label_smoothing": 0.0,
    }
    assert module.config.hidden_size == Seq2SeqConfig().hidden_size
