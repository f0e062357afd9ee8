"""Tensors of the protocol, both ways: a two-dimensional FP64 tensor from its JSON, binary or gRPC form into rows,
and a column of numbers back into each form.

Only what this project's models take and give is decoded (a batch of rows of a fixed width, ``FP64``); anything
else is refused with a 4xx of the one error shape (``reference.core.ApiError``), whichever transport carried it.
Nothing is allocated from a declared shape before the data is known to have that many elements.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reference.core import ApiError, invalid_input

FP64 = "FP64"
FP64_BYTES = 8
# Triton's binary tensor data extension: the parameter giving a tensor's size in the binary part of the body.
BINARY_DATA_SIZE = "binary_data_size"


@dataclass(frozen=True)
class TensorSpec:
    """A model's input or output: its name, datatype and shape (``-1``: any number of rows)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def width(self) -> int:
        """Elements per row (the second dimension)."""
        return self.shape[1]


Rows = list[list[Any]]


def check_header(spec: TensorSpec, name: object, datatype: object, shape: object) -> int:
    """The number of rows an input declares, once its name, datatype and shape are those of ``spec``."""
    if name != spec.name:
        raise invalid_input(f"unknown input {name!r}: the model takes {spec.name!r}", field="inputs")
    if datatype != spec.datatype:
        raise invalid_input(f"input {spec.name!r} must be {spec.datatype}, got {datatype!r}", field="inputs")
    shape = list(shape) if isinstance(shape, list | tuple) or _is_repeated(shape) else shape
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        or shape[1] != spec.width
        or shape[0] < 1
    ):
        raise invalid_input(f"input {spec.name!r} must have shape [rows, {spec.width}], got {shape!r}", field="inputs")
    return shape[0]


def rows_from_json(spec: TensorSpec, rows: int, data: object) -> Rows:
    """The rows of a JSON tensor's ``data``: flat in row-major order, or one list per row (as Triton accepts), each
    row as wide as the declared shape (flattening first would accept ragged rows)."""
    if not isinstance(data, list):
        raise invalid_input(f"input {spec.name!r} needs its data as a list", field="inputs")
    nested = [isinstance(item, list) for item in data]
    if data and all(nested):
        if len(data) != rows or any(len(row) != spec.width for row in data):
            raise invalid_input(f"input {spec.name!r} declares {rows} rows of {spec.width}: its nested data must "
                                "have exactly that many rows, each that wide", field="inputs")  # fmt: skip
        return [list(row) for row in data]
    if any(nested):
        raise invalid_input(f"input {spec.name!r}: data is either flat or one list per row", field="inputs")
    if len(data) != rows * spec.width:
        raise invalid_input(f"input {spec.name!r} declares {rows * spec.width} elements, got {len(data)}",
                            field="inputs")  # fmt: skip
    return [data[i : i + spec.width] for i in range(0, len(data), spec.width)]


def rows_from_fp64_bytes(spec: TensorSpec, rows: int, raw: bytes) -> Rows:
    """The rows of an FP64 tensor sent as raw little-endian bytes (Triton's binary extension, gRPC's raw contents)."""
    count = rows * spec.width
    if len(raw) != count * FP64_BYTES:
        raise invalid_input(f"input {spec.name!r} declares {count * FP64_BYTES} bytes of FP64, got {len(raw)}",
                            field="inputs")  # fmt: skip
    flat = struct.unpack(f"<{count}d", raw)
    return [list(flat[i : i + spec.width]) for i in range(0, count, spec.width)]


def rows_from_values(spec: TensorSpec, rows: int, values: Sequence[float]) -> Rows:
    """The rows of a tensor given as typed values (gRPC's ``contents.fp64_contents``)."""
    count = rows * spec.width
    if len(values) != count:
        raise invalid_input(f"input {spec.name!r} declares {count} elements, got {len(values)}", field="inputs")
    return [list(values[i : i + spec.width]) for i in range(0, count, spec.width)]


def fp64_bytes(values: Sequence[float]) -> bytes:
    """Numbers as raw little-endian FP64, as the binary extension and gRPC's raw contents carry them."""
    return struct.pack(f"<{len(values)}d", *values)


def check_outputs(spec: TensorSpec, names: Sequence[object]) -> None:
    """Refuse a request for an output the model does not have."""
    for name in names:
        if name != spec.name:
            raise invalid_input(f"unknown output {name!r}: the model gives {spec.name!r}", field="outputs")


def model_not_found(name: str, version: str = "") -> ApiError:
    """The protocol's not-found: a 404 (gRPC ``NOT_FOUND``) for a model, or a version of it, not served here."""
    what = f"{name!r} version {version!r}" if version else repr(name)
    return ApiError(404, "model_not_found", f"no model {what} on this server", model=name)


def _is_repeated(value: object) -> bool:
    # protobuf's repeated fields are sequences but neither lists nor tuples.
    return hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, str | bytes | dict)
