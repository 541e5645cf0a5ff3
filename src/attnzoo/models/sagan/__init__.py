"""Self-Attention GAN (Zhang et al. 2018): a γ-gated self-attention block over feature maps in G and D."""

from attnzoo.models.sagan.model import SAGAN, Discriminator, Generator, PointwiseBlock, SAGANConfig

__all__ = ["SAGAN", "Discriminator", "Generator", "PointwiseBlock", "SAGANConfig"]
