"""Disk used by the download cache's two steps (store after a fetch, place on a hit).

    PYTHONPATH=. python bench/cache_disk.py DIR [DIR...]   # one directory per file system

For each DIR: a 64 MiB file is "pulled" (written, as a pull's verified file), stored
into a cache under DIR (``BlobCache.store``, what a pull does after fetching) and
placed into a second target (``BlobCache.place``, a hit). Reports the blocks each file
holds (``st_blocks``) and the file system's free-space change, which also shows
extents shared by a reflink (``st_blocks`` counts them once per file).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import blake3

from asyncart.client.cache import BlobCache

SIZE = 64 << 20


def used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def measure(where: Path) -> str:
    fstype = subprocess.run(
        ["stat", "-f", "-c", "%T", str(where)], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = Path(tmp)
        data = os.urandom(SIZE)
        digest = blake3.blake3(data).hexdigest()
        first = root / "first.bin"
        first.write_bytes(data)
        os.sync()
        base = used(root)
        cache = BlobCache(root / "cache", 1 << 40)
        try:
            cache.store(digest, SIZE, first)
            os.sync()
            after_store = used(root) - base
            second = root / "second.bin"
            assert cache.place(digest, SIZE, root / "second.part", second)
            os.sync()
            after_place = used(root) - base
            blob = cache.blob_path(digest)
            blocks = {p.name: p.stat().st_blocks * 512 for p in (first, blob, second)}
        finally:
            cache.close()
    mib = 1 << 20
    return (
        f"{where} ({fstype}): store +{after_store / mib:.1f} MiB, then place "
        f"+{(after_place - after_store) / mib:.1f} MiB of free space for a "
        f"{SIZE // mib} MiB file; blocks: "
        + ", ".join(f"{k} {v / mib:.1f} MiB" for k, v in blocks.items())
    )


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(measure(Path(arg)))
