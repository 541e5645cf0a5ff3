"""One LightningModule around any recipe: the model, the recipe's loss, the optimiser and schedule.

What a paper needs beyond this is a hook of its recipe (:class:`attnzoo.recipes.Recipe`), never a
module of its own. The module keeps the running means of what the loss logs, for the validation
rows of ``metrics.csv``, and the recipe's training state (e.g. a moving-average baseline) in the
checkpoints.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from torch import Tensor

from attnzoo.recipes.base import Recipe, Training
from attnzoo.registry import create_model
from attnzoo.training.schedules import make_optimizer


class RecipeModule(L.LightningModule):
    """Trains ``create_model(recipe.model_name, config)`` with ``recipe.loss``.

    Args:
        recipe: the paper's recipe (bound to its task settings).
        config: the model's config dataclass.
        training: the training settings (optimiser, schedule, budget).
        total_steps: the steps the run plans (the cosine schedule's length).
    """

    def __init__(self, recipe: Recipe, config: Any, training: Training, total_steps: int) -> None:
        super().__init__()
        self.recipe, self.config, self.training_settings = recipe, config, training
        self.model = create_model(recipe.model_name, config)
        self.total_steps = max(total_steps, 1)
        self.recipe_state: dict[str, Tensor] = {}
        self.seconds = 0.0  # optimisation time so far (validation excluded), kept across resumes
        self.sums: dict[str, float] = {}  # running sums of the logged values since the last validation
        self.count = 0

    def training_step(self, batch: Any, batch_index: int) -> Tensor:
        started = time.perf_counter()
        loss, logs = self.recipe.loss(self.model, batch, self.recipe_state)
        values = {"loss": loss.detach(), **{key: value.detach() for key, value in logs.items()}}
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1
        self.log("loss", values["loss"], prog_bar=True, logger=False)
        self._started = started
        return loss

    def tick(self) -> None:
        """Add the time since the last training step began (its forward, backward and update) to ``seconds``."""
        started, self._started = getattr(self, "_started", None), None
        if started is not None:
            self.seconds += time.perf_counter() - started

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_index: int) -> None:
        self.tick()

    def running_means(self) -> dict[str, float]:
        """The means of the logged values since the last call (then reset)."""
        means = {key: value / max(self.count, 1) for key, value in self.sums.items()}
        self.sums, self.count = {}, 0
        return means

    def progress(self, step: int) -> float:
        """Fraction of the run done after ``step`` steps: of the steps or of the minutes, the larger."""
        done = step / self.total_steps
        if self.training_settings.minutes:
            done = max(done, self.seconds / (60 * self.training_settings.minutes))
        return min(done, 1.0)

    def configure_optimizers(self) -> Any:
        settings = self.recipe.optimizer_settings(self.training_settings, self.config)
        groups = self.recipe.parameter_groups(self.model, settings)
        return make_optimizer(self.model.parameters() if groups is None else groups, settings, self.progress)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["attnzoo"] = {"recipe_state": self.recipe_state, "seconds": self.seconds}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("attnzoo", {})
        self.recipe_state = {key: torch.as_tensor(value) for key, value in saved.get("recipe_state", {}).items()}
        self.seconds = float(saved.get("seconds", 0.0))
