"""Pictures (matplotlib): alignment heatmaps, image overlays, glimpse paths, memory access, tours, summaries.

Nothing is imported here, so ``import attnzoo.viz`` does not load matplotlib; import the module you need.
"""
