"""This project's models in the protocol's terms, for the servers and the clients alike: one FP64 input of rows
of features, one FP64 output of one prediction per row."""

from __future__ import annotations

from feature_store.schema import N_FEATURES
from inference_protocol.tensors import FP64, TensorSpec

FEATURES_INPUT = TensorSpec("features", FP64, (-1, N_FEATURES))
PREDICTION_OUTPUT = TensorSpec("prediction", FP64, (-1, 1))
