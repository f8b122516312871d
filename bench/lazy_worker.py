"""One lazy read of one tensor of a safetensors file in a stored version, in its own process.

``python -m bench.lazy_worker NAME PATH --url U [--tensor KEY]`` opens PATH with
``artifact.open`` (the sync SDK), reads the 8-byte header length and the JSON
header, seeks to one tensor (default: the middle one) and reads it whole. Prints a
JSON line: seconds from the ``Api`` call to the version resolved (``artifact_s``),
to the first byte of the header (``ttfb_s``) and to the tensor's last byte
(``tensor_s``), the tensor's name and size. The caller counts the bytes at the server.
"""

from __future__ import annotations

import argparse
import json
import time

import asyncart


def read_exactly(f: object, n: int) -> bytes:
    """``n`` bytes from a raw file object (whose ``read`` may return fewer)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        step = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not step:
            raise EOFError(f"{got} of {n} bytes")
        got += step
    return bytes(buf)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("path")
    parser.add_argument("--url")
    parser.add_argument("--tensor")
    args = parser.parse_args()
    start = time.perf_counter()
    api = asyncart.Api(url=args.url)
    artifact = api.artifact(args.name)
    resolved = time.perf_counter() - start
    with artifact.open(args.path) as f:
        head = read_exactly(f, 8)
        ttfb = time.perf_counter() - start
        length = int.from_bytes(head, "little")
        header = json.loads(read_exactly(f, length))
        names = sorted(k for k in header if k != "__metadata__")
        key = args.tensor or names[len(names) // 2]
        begin, end = header[key]["data_offsets"]
        f.seek(8 + length + begin)
        data = read_exactly(f, end - begin)
        tensor = time.perf_counter() - start
    print(
        json.dumps(
            {
                "artifact_s": resolved,
                "ttfb_s": ttfb,
                "tensor_s": tensor,
                "tensor": key,
                "tensor_bytes": len(data),
            }
        )
    )


if __name__ == "__main__":
    main()
