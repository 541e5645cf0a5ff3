"""SNAIL (Mishra et al. 2018): temporal convolutions and causal attention over few-shot episodes."""

from attnzoo.models.snail.blocks import AttentionBlock, DenseBlock, TCBlock
from attnzoo.models.snail.model import SNAIL, ConvEmbedding, FewShotOutput, ProtoNet, SNAILConfig

__all__ = [
    "SNAIL",
    "AttentionBlock",
    "ConvEmbedding",
    "DenseBlock",
    "FewShotOutput",
    "ProtoNet",
    "SNAILConfig",
    "TCBlock",
]
