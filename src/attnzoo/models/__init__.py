"""The research models, one folder per paper; each registers itself in :mod:`attnzoo.models.registry`."""
