"""The pointer-generator with coverage (See, Liu & Manning 2017) and its attentional baseline."""

from attnzoo.models.pointer_generator.model import (
    PointerGenerator,
    PointerGeneratorConfig,
    PointerGeneratorOutput,
    final_distribution,
)

__all__ = ["PointerGenerator", "PointerGeneratorConfig", "PointerGeneratorOutput", "final_distribution"]
