"""Benchmark inputs, generated fresh: random bytes, a checkpoint-like file, small files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

_PIECE = 64 << 20


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    """``size`` incompressible bytes that share no chunk with any other seed."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, _PIECE)
            f.write(rng.bytes(n))
            left -= n
    return path


def checkpoint_file(path: Path, size: int, seed: int = 1) -> Path:
    """A safetensors-like checkpoint: an 8-byte header length, a JSON header, float32 tensors."""
    rng = np.random.default_rng(seed)
    tensor_bytes = 16 << 20
    count = max(1, size // tensor_bytes)
    header: dict[str, object] = {}
    offset = 0
    for i in range(count):
        header[f"layers.{i}.weight"] = {
            "dtype": "F32",
            "shape": [tensor_bytes // 4096, 1024],
            "data_offsets": [offset, offset + tensor_bytes],
        }
        offset += tensor_bytes
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for _ in range(count):
            f.write(rng.standard_normal(tensor_bytes // 4, dtype=np.float32).tobytes())
    return path


def edited_checkpoint(
    src: Path, dst: Path, rewrite_fraction: float = 0.02, header_growth: int = 37, seed: int = 3
) -> int:
    """Write ``src`` with its header grown and some tensors rewritten to ``dst``.

    The header growth shifts every later byte (as when a safetensors header
    gains an entry); rewritten tensors keep their size. Returns the number of
    bytes that truly changed (rewritten tensors plus the header growth).
    """
    rng = np.random.default_rng(seed)
    tensor_bytes = 16 << 20
    with open(src, "rb") as f, open(dst, "wb") as out:
        head_len = int.from_bytes(f.read(8), "little")
        header = f.read(head_len)
        out.write((head_len + header_growth).to_bytes(8, "little"))
        out.write(header + b" " * header_growth)
        count = (src.stat().st_size - 8 - head_len) // tensor_bytes
        rewrite = set(
            rng.choice(count, size=max(1, round(count * rewrite_fraction)), replace=False).tolist()
        )
        for i in range(count):
            block = f.read(tensor_bytes)
            if i in rewrite:
                block = rng.standard_normal(tensor_bytes // 4, dtype=np.float32).tobytes()
            out.write(block)
        out.write(f.read())
    return len(rewrite) * tensor_bytes + header_growth


def small_files(root: Path, count: int, size: int = 4096, seed: int = 2) -> Path:
    """``count`` files of ``size`` random bytes in 100-file directories."""
    rng = np.random.default_rng(seed)
    blob = rng.bytes(count * size)
    for i in range(count):
        d = root / f"shard-{i // 100:04d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"item-{i:06d}.bin").write_bytes(blob[i * size : (i + 1) * size])
    return root


def warm(path: Path) -> None:
    """Read a file (or tree) once so the page cache holds it: sources are measured warm."""
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    buf = bytearray(8 << 20)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def drop(path: Path) -> None:
    """Delete a file or a small tree now; set a tree of many files aside for later.

    This disk is mounted with ``discard``: right after tens of thousands of files
    are deleted, creating files is several times slower for a while, which would
    charge one case for the previous one's clean-up. Large trees therefore go to
    ``.trash`` beside them (a rename), removed with the run's scratch directory
    when all timing is done.
    """
    if path.is_file() or path.is_symlink():
        path.unlink()
    elif path.exists():
        files = sum(1 for _ in path.rglob("*"))
        if files > 1000:
            trash = path.parent / ".trash"
            trash.mkdir(exist_ok=True)
            path.rename(trash / f"{path.name}-{len(list(trash.iterdir()))}")
        else:
            shutil.rmtree(path)
    os.sync()


def tree_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under a path."""
    if path.is_file():
        return path.stat().st_size, 1
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
