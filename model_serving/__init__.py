"""Serving a model beyond the reference's: model kinds, a simulated accelerator's slots, micro-batching."""
