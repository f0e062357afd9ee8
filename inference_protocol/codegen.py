"""``python -m inference_protocol.codegen``: generate the Python messages and stubs of ``inference.proto``.

grpcio-tools' protoc writes ``inference_pb2.py``, ``inference_pb2.pyi`` and ``inference_pb2_grpc.py`` beside the
``.proto``; they are committed, and a unit test regenerates them into a temporary directory and compares.

One change to protoc's output: the messages are built in a descriptor pool of their own (``inference_pb2.POOL``),
not protobuf's default one. Every copy of the protocol names its messages alike (``inference.ModelInferRequest``),
and the default pool refuses a second file defining the same names: without this, this module and tritonclient's
(or KServe's) could not be imported in one process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
PROTO = PACKAGE_DIR / "inference.proto"
GENERATED = ("inference_pb2.py", "inference_pb2.pyi", "inference_pb2_grpc.py")


def generate(out_dir: Path) -> dict[str, str]:
    """Run protoc on ``inference.proto`` into ``out_dir``; return each generated file's text by name."""
    from grpc_tools import protoc  # a dev dependency: only this command and its test need it

    # The include root is the repository, so the stubs import ``inference_protocol.inference_pb2``.
    args = ["protoc", f"-I{ROOT}", f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}",
            str(PROTO.relative_to(ROOT))]  # fmt: skip
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")
    texts = {name: (out_dir / PACKAGE_DIR.name / name).read_text() for name in GENERATED}
    texts["inference_pb2.py"] = own_pool(texts["inference_pb2.py"])
    return texts


def own_pool(module: str) -> str:
    """protoc's ``inference_pb2.py`` with its file added to a pool of its own, ``POOL``, instead of the default."""
    default = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
    if module.count(default) != 1:
        raise RuntimeError("protoc's output changed: no single default-pool line to replace")
    return module.replace(default, "POOL = _descriptor_pool.DescriptorPool()\nDESCRIPTOR = POOL.AddSerializedFile(")


def fresh() -> dict[str, str]:
    """What the generated files should hold, generated into a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        return generate(Path(tmp))


def stale(directory: Path = PACKAGE_DIR) -> list[str]:
    """The generated files in ``directory`` that differ from a fresh generation (or are missing)."""
    path_of = {name: directory / name for name in GENERATED}
    return [name for name, text in fresh().items() if not path_of[name].exists() or path_of[name].read_text() != text]


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = argparse.ArgumentParser(
        prog="python -m inference_protocol.codegen",
        description=f"Generate {', '.join(GENERATED)} from inference_protocol/inference.proto with grpcio-tools.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    cli.add_argument("--check", action="store_true",
                     help="write nothing; list the generated files that are stale; exit 1 if any")  # fmt: skip
    cli.add_argument("--out", type=Path, default=PACKAGE_DIR, help="the directory the files are written to")
    return cli


def main(argv: list[str] | None = None) -> int:
    """Write or check the generated files."""
    args = parser().parse_args(argv)
    if args.check:
        changed = stale(args.out)
        for name in changed:
            print(f"stale: {args.out / name}")
        return 1 if changed else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in fresh().items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
