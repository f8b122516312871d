"""``python -m bench.dedup``: how much each chunker re-sends after typical checkpoint edits.

A base file laid out like a float32 safetensors checkpoint of a GPT-2-sized
model (an 8-byte header length, a JSON header; at 512 MiB, 160 tensors from 3 KiB
to 157 MiB) is edited four ways; for each candidate chunker (the real
:class:`asyncart.core.chunking.Cutter`, fed 8 MiB blocks the way
``client.scan.read_block`` feeds it) this measures the chunk bytes a push of
the edited file sends when the base is already stored, next to the bytes that
truly changed, plus the metadata each chunk size costs (chunks per GiB,
manifest and missing-query bytes) and the cut + blake3 throughput.

Writes a JSON file (default ``bench/results/dedup-<date>.json``) and prints
Markdown tables; ``docs/chunking.md`` is the reading of one run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, BinaryIO

import blake3
import numpy as np

from asyncart.core import protocol as P
from asyncart.core.chunking import ChunkerSpec, Cutter
from asyncart.core.manifest import ChunkRef, Manifest, ManifestEntry
from asyncart.core.pack import ENTRY
from bench.data import warm

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
ROOT = Path(__file__).resolve().parent.parent
BLOCK_SIZE = 8 * MiB  # bytes per read in this benchmark
REPEATS = 3
HIDDEN = 768  # GPT-2 small
VOCAB = 50257
CONTEXT = 1024
HEADER_GROWTH = 37
REWRITE_FRACTION = 0.02
RATIO_MIN_IDEAL = 64 * KiB  # below this many changed bytes, "x ideal" is not reported
GEN_PIECE = 4 * MiB  # float32 values generated at once (16 MiB)


@dataclass(frozen=True)
class Candidate:
    """A chunker under test and its table label."""

    label: str
    spec: ChunkerSpec


def cdc_spec(avg: int) -> ChunkerSpec:
    """FastCDC with min = avg/4 and max = 4 x avg (the shape of the current default)."""
    return ChunkerSpec(kind="cdc", avg_size=avg, min_size=avg // 4, max_size=avg * 4)


def size_label(n: int) -> str:
    """``1 MiB``, ``256 KiB``."""
    return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n // KiB} KiB"


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("fixed 1 MiB", ChunkerSpec.fixed(MiB)),
    Candidate("fixed 256 KiB", ChunkerSpec.fixed(256 * KiB)),
    *(
        Candidate(f"cdc {size_label(avg)}", cdc_spec(avg))
        for avg in (32 * KiB, 64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, MiB)
    ),
)


# --- the checkpoint-like file ------------------------------------------------------------


@dataclass(frozen=True)
class Tensor:
    """One tensor of the file: name and byte size (float32)."""

    name: str
    size: int


def _layer(i: int) -> list[Tensor]:
    d = HIDDEN
    shapes = {
        "ln_1.weight": d,
        "ln_1.bias": d,
        "attn.c_attn.weight": d * 3 * d,
        "attn.c_attn.bias": 3 * d,
        "attn.c_proj.weight": d * d,
        "attn.c_proj.bias": d,
        "ln_2.weight": d,
        "ln_2.bias": d,
        "mlp.c_fc.weight": d * 4 * d,
        "mlp.c_fc.bias": 4 * d,
        "mlp.c_proj.weight": 4 * d * d,
        "mlp.c_proj.bias": d,
    }
    return [Tensor(f"h.{i}.{name}", 4 * n) for name, n in shapes.items()]


def model_tensors(target: int) -> list[Tensor]:
    """A GPT-2-like tensor list of about ``target`` bytes.

    As many layers as fit beside a GPT-2-sized token embedding (capped at ~30% of
    the file so small runs still have layers); the embedding's vocabulary then
    fills what is left.
    """
    row = 4 * HIDDEN
    wpe = Tensor("wpe.weight", CONTEXT * row)
    tail = [Tensor("ln_f.weight", row), Tensor("ln_f.bias", row)]
    fixed = wpe.size + sum(t.size for t in tail)
    wte_guess = row * min(VOCAB, target * 3 // 10 // row)
    layers = max(1, (target - fixed - wte_guess) // sum(t.size for t in _layer(0)))
    body = [t for i in range(layers) for t in _layer(i)]
    vocab = max(1024, (target - fixed - sum(t.size for t in body)) // row)
    return [Tensor("wte.weight", vocab * row), wpe, *body, *tail]


def header_json(tensors: list[Tensor]) -> bytes:
    """The safetensors-style JSON header (names, dtype, shape, data offsets)."""
    entries: dict[str, Any] = {}
    offset = 0
    for t in tensors:
        entries[t.name] = {
            "dtype": "F32",
            "shape": [t.size // 4],
            "data_offsets": [offset, offset + t.size],
        }
        offset += t.size
    return json.dumps(entries).encode()


def grown_header(header: bytes, growth: int) -> bytes:
    """``header`` with a ``__metadata__`` entry of exactly ``growth`` bytes inserted first."""
    frame = b'"__metadata__":{"note":""},'
    if growth < len(frame):
        raise ValueError(f"header growth must be at least {len(frame)} bytes")
    note = b"x" * (growth - len(frame))
    return b"{" + frame.replace(b'""', b'"' + note + b'"') + header[1:]


def write_random_floats(f: BinaryIO, size: int, rng: np.random.Generator) -> None:
    """``size`` bytes of standard-normal float32 values, generated in bounded pieces."""
    left = size // 4
    while left:
        n = min(left, GEN_PIECE)
        f.write(rng.standard_normal(n, dtype=np.float32).tobytes())
        left -= n


def copy_range(src: BinaryIO, dst: BinaryIO, offset: int, size: int) -> None:
    """Copy ``size`` bytes at ``offset`` of ``src`` to ``dst`` through an 8 MiB buffer."""
    src.seek(offset)
    while size:
        piece = src.read(min(size, BLOCK_SIZE))
        if not piece:
            raise EOFError("base file ended early")
        dst.write(piece)
        size -= len(piece)


def write_base(path: Path, tensors: list[Tensor], seed: int = 1) -> int:
    """Write the base checkpoint; return the offset of its tensor data."""
    rng = np.random.default_rng(seed)
    header = header_json(tensors)
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        for t in tensors:
            write_random_floats(f, t.size, rng)
    return 8 + len(header)


# --- the edits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """A new version of the base file: header growth, tensors rewritten, tensors appended."""

    name: str
    description: str
    header_growth: int = 0
    rewritten: frozenset[str] = frozenset()
    appended: tuple[Tensor, ...] = ()

    def ideal_bytes(self, tensors: list[Tensor]) -> int:
        """The truly changed bytes: inserted header bytes (+ its 8-byte length), new tensors."""
        header = 8 + self.header_growth if self.header_growth else 0
        rewritten = sum(t.size for t in tensors if t.name in self.rewritten)
        return header + rewritten + sum(t.size for t in self.appended)


def pick_rewritten(tensors: list[Tensor], fraction: float, seed: int = 7) -> frozenset[str]:
    """~``fraction`` of the tensors, one drawn at random from each size stratum.

    Tensors sorted by size are split into equal strata so the pick spans small
    (biases, norms) and large (weights) tensors instead of depending on luck.
    """
    k = max(2, round(fraction * len(tensors)))
    ranked = sorted(tensors, key=lambda t: (t.size, t.name))
    rng = np.random.default_rng(seed)
    picks = []
    for i in range(k):
        stratum = ranked[i * len(ranked) // k : (i + 1) * len(ranked) // k]
        picks.append(stratum[int(rng.integers(len(stratum)))].name)
    return frozenset(picks)


def make_edits(tensors: list[Tensor]) -> list[Edit]:
    """The four scenarios: in-place, shifting, both, append."""
    rewritten = pick_rewritten(tensors, REWRITE_FRACTION)
    layers = sum(1 for t in tensors if t.name.endswith(".ln_1.weight"))
    appended = tuple(_layer(layers)[:4])
    return [
        Edit("in-place", f"{len(rewritten)} tensors rewritten in place", rewritten=rewritten),
        Edit("shift", f"header grows by {HEADER_GROWTH} bytes", header_growth=HEADER_GROWTH),
        Edit(
            "both",
            f"header +{HEADER_GROWTH} B and {len(rewritten)} tensors rewritten",
            header_growth=HEADER_GROWTH,
            rewritten=rewritten,
        ),
        Edit("append", f"{len(appended)} tensors appended", appended=appended),
    ]


def write_edited(base: Path, path: Path, tensors: list[Tensor], edit: Edit) -> None:
    """Write ``edit`` of ``base``: unchanged tensors are copied, the rest are new bytes."""
    rng = np.random.default_rng(1000)
    header = header_json(tensors)
    if edit.header_growth:
        header = grown_header(header, edit.header_growth)
    with open(base, "rb") as src, open(path, "wb") as dst:
        offset = 8 + int.from_bytes(src.read(8), "little")
        dst.write(len(header).to_bytes(8, "little") + header)
        for t in tensors:
            if t.name in edit.rewritten:
                write_random_floats(dst, t.size, rng)
            else:
                copy_range(src, dst, offset, t.size)
            offset += t.size
        for t in edit.appended:
            write_random_floats(dst, t.size, rng)


# --- chunking passes ---------------------------------------------------------------------


@dataclass
class Pass:
    """The chunks of one file under one chunker, and the time cutting + hashing took."""

    size: int = 0
    digest: str = ""
    chunks: list[tuple[bytes, int]] = field(default_factory=list)
    seconds: float = 0.0


def read_blocks(
    path: Path, spec: ChunkerSpec
) -> Generator[tuple[memoryview, int, bool], int, None]:
    """Yield (carried tail + next block, where the new bytes start, final) over one buffer.

    The same layout as ``client.scan.read_block``: the buffer is one block plus
    room for the uncut tail, so memory is bounded by ``BLOCK_SIZE + max_size``.
    The consumer sends back how many bytes of each view it consumed.
    """
    buffer = bytearray(BLOCK_SIZE + spec.max_size)
    view = memoryview(buffer)
    size = os.stat(path).st_size
    carry, offset = 0, 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            n = os.preadv(fd, [view[carry : carry + BLOCK_SIZE]], offset)
            offset += n
            final = offset >= size or n < BLOCK_SIZE
            consumed = yield view[: carry + n], carry, final
            if final:
                return
            carry = carry + n - consumed
            view[:carry] = bytes(view[consumed : consumed + carry])
    finally:
        os.close(fd)


def chunk_file(path: Path, spec: ChunkerSpec) -> Pass:
    """Cut ``path`` with the real :class:`Cutter` and blake3 every chunk.

    Only the cut and the chunk hashing are timed; reading the (warm) file and
    the whole-file digest (kept for the manifest) are not.
    """
    cutter = Cutter(spec)
    out = Pass()
    whole = blake3.blake3()
    blocks = read_blocks(path, spec)
    data, fresh, final = next(blocks)
    while True:
        whole.update(data[fresh:])
        start = time.perf_counter()
        pieces, consumed = cutter.cut(data, final)
        hashed = [(blake3.blake3(p).digest(), len(p)) for p in pieces]
        out.seconds += time.perf_counter() - start
        out.chunks += hashed
        out.size += consumed
        if final:
            break
        data, fresh, final = blocks.send(consumed)
    blocks.close()
    out.digest = whole.hexdigest()
    return out


# --- what each chunker costs ---------------------------------------------------------------


def manifest_bytes(run: Pass, spec: ChunkerSpec) -> int:
    """Size of the stored (gzip JSON) manifest of a one-file artifact, by the real encoder."""
    refs = [ChunkRef(h.hex(), n) for h, n in run.chunks]
    entry = ManifestEntry.for_file("model.safetensors", run.size, run.digest, refs)
    return len(Manifest((entry,), chunker=spec).encode())


def json_hashes_bytes(hashes: list[bytes], key: str) -> int:
    """Bytes of the JSON bodies listing ``hashes`` under ``key``, batched like the client."""
    hexes = [h.hex() for h in hashes]
    return sum(
        len(json.dumps({key: hexes[i : i + P.CLIENT_QUERY_HASHES]}))
        for i in range(0, max(len(hexes), 1), P.CLIENT_QUERY_HASHES)
    )


def unique_hashes(run: Pass) -> list[bytes]:
    """The distinct chunk hashes of a pass, in file order (what a push asks about)."""
    return list(dict.fromkeys(h for h, _ in run.chunks))


def missing(stored: set[bytes], run: Pass) -> list[tuple[bytes, int]]:
    """The distinct chunks of ``run`` that are not in ``stored``: what a push uploads."""
    out: dict[bytes, int] = {}
    for h, n in run.chunks:
        if h not in stored:
            out.setdefault(h, n)
    return list(out.items())


def base_stats(run: Pass, spec: ChunkerSpec) -> dict[str, Any]:
    """Chunk count and the per-GiB metadata a first push of the base file costs."""
    per_gib = GiB / run.size
    return {
        "chunks": len(run.chunks),
        "mean_chunk_bytes": run.size / len(run.chunks),
        "chunks_per_gib": len(run.chunks) * per_gib,
        "manifest_bytes_per_gib": manifest_bytes(run, spec) * per_gib,
        "query_bytes_per_gib": json_hashes_bytes(unique_hashes(run), "hashes") * per_gib,
    }


def edit_stats(stored: set[bytes], run: Pass, spec: ChunkerSpec, ideal: int) -> dict[str, Any]:
    """What a push of the edited file moves when the base is stored."""
    new = missing(stored, run)
    sent = sum(n for _, n in new)
    query = json_hashes_bytes(unique_hashes(run), "hashes")
    answer = json_hashes_bytes([h for h, _ in new], "missing")
    manifest = manifest_bytes(run, spec)
    return {
        "sent_bytes": sent,
        "sent_fraction": sent / run.size,
        "sent_mib": sent / MiB,
        # A ratio to a few changed bytes (the shift edit: 45) says nothing; omitted.
        "sent_over_ideal": sent / ideal if ideal >= RATIO_MIN_IDEAL else None,
        "new_chunks": len(new),
        "query_bytes": query,
        "answer_bytes": answer,
        "manifest_bytes": manifest,
        "wire_bytes": sent + len(new) * ENTRY.size + query + answer + manifest,
    }


def throughput(path: Path, size: int) -> dict[str, dict[str, Any]]:
    """Cut + hash MB/s of each candidate over ``path``: median of ``REPEATS`` passes.

    The candidates take turns (round robin) so a noisy spell is spread over all of them.
    """
    seconds: dict[str, list[float]] = {c.label: [] for c in CANDIDATES}
    for _ in range(REPEATS):
        for c in CANDIDATES:
            seconds[c.label].append(chunk_file(path, c.spec).seconds)
    return {
        label: {"seconds": s, "mb_per_s": size / 1e6 / statistics.median(s)}
        for label, s in seconds.items()
    }


# --- the run --------------------------------------------------------------------------------


def log(msg: str) -> None:
    """Progress on stderr (stdout carries the tables)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measure(target: int, work: Path) -> dict[str, Any]:
    """Generate the base file in ``work``, measure every candidate on every edit."""
    tensors = model_tensors(target)
    base = work / "base.safetensors"
    log(f"base file: {len(tensors)} tensors")
    data_offset = write_base(base, tensors)
    size = base.stat().st_size
    warm(base)
    log("chunking the base file")
    base_runs = {c.label: chunk_file(base, c.spec) for c in CANDIDATES}
    log(f"throughput ({REPEATS} passes per chunker)")
    speed = throughput(base, size)
    chunkers: dict[str, dict[str, Any]] = {
        c.label: {
            "spec": c.spec.to_json(),
            "base": base_stats(base_runs[c.label], c.spec),
            "throughput": speed[c.label],
            "edits": {},
        }
        for c in CANDIDATES
    }
    edits = []
    for edit in make_edits(tensors):
        edits.append(measure_edit(base, work, tensors, edit, base_runs, chunkers))
    return {
        "file": {
            "size": size,
            "tensors": len(tensors),
            "header_bytes": data_offset,
            "smallest_tensor": min(t.size for t in tensors),
            "largest_tensor": max(t.size for t in tensors),
        },
        "edits": edits,
        "chunkers": chunkers,
    }


def measure_edit(
    base: Path,
    work: Path,
    tensors: list[Tensor],
    edit: Edit,
    base_runs: dict[str, Pass],
    chunkers: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Write one edited version, chunk it with every candidate, record into ``chunkers``."""
    log(f"edit {edit.name}: {edit.description}")
    path = work / f"{edit.name}.safetensors"
    write_edited(base, path, tensors, edit)
    warm(path)
    ideal = edit.ideal_bytes(tensors)
    for c in CANDIDATES:
        stored = {h for h, _ in base_runs[c.label].chunks}
        run = chunk_file(path, c.spec)
        chunkers[c.label]["edits"][edit.name] = edit_stats(stored, run, c.spec, ideal)
    size = path.stat().st_size
    path.unlink()
    return {
        "name": edit.name,
        "description": edit.description,
        "size": size,
        "ideal_bytes": ideal,
        "header_growth": edit.header_growth,
        "rewritten": sorted(edit.rewritten),
        "appended": [t.name for t in edit.appended],
    }


# --- output ---------------------------------------------------------------------------------


def _mib(n: float) -> str:
    return f"{n / MiB:.2f}" if n < 10 * MiB else f"{n / MiB:.1f}"


def _amount(n: int) -> str:
    return f"{n} B" if n < RATIO_MIN_IDEAL else f"{_mib(n)} MiB"


def _cell(e: dict[str, Any]) -> str:
    ratio = f" ({e['sent_over_ideal']:.2f}x)" if e["sent_over_ideal"] is not None else ""
    return f"{_mib(e['sent_bytes'])} MiB, {100 * e['sent_fraction']:.2f}%{ratio}"


def render(result: dict[str, Any]) -> str:
    """Markdown: dedup per edit, then the metadata and speed each chunker costs."""
    edits = result["edits"]
    names = [e["name"] for e in edits]
    lines = [
        "Chunk bytes sent for each edit, the base being stored "
        "(MiB, % of the edited file, x the truly changed bytes when those are >= 64 KiB):",
        "",
        "| chunker | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        "| *truly changed* | " + " | ".join(_amount(e["ideal_bytes"]) for e in edits) + " |",
    ]
    for label, c in result["chunkers"].items():
        lines.append(f"| {label} | " + " | ".join(_cell(c["edits"][n]) for n in names) + " |")
    lines += [
        "",
        "All bytes a push of each edit moves: chunks sent + their pack header entries "
        "+ missing query and answer + gzip manifest (MiB):",
        "",
        "| chunker | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label, c in result["chunkers"].items():
        cells = " | ".join(_mib(c["edits"][n]["wire_bytes"]) for n in names)
        lines.append(f"| {label} | {cells} |")
    lines += [
        "",
        "What each chunk size costs (per GiB of file) and how fast it cuts + hashes "
        "(one core, warm page cache, median of 3):",
        "",
        "| chunker | mean chunk | chunks / GiB | manifest (gzip) / GiB | missing query / GiB "
        "| cut + blake3 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, c in result["chunkers"].items():
        b = c["base"]
        lines.append(
            f"| {label} | {b['mean_chunk_bytes'] / KiB:.0f} KiB | {b['chunks_per_gib']:,.0f} "
            f"| {b['manifest_bytes_per_gib'] / KiB:,.0f} KiB "
            f"| {b['query_bytes_per_gib'] / KiB:,.0f} KiB "
            f"| {c['throughput']['mb_per_s']:,.0f} MB/s |"
        )
    return "\n".join(lines)


def default_out() -> Path:
    """``bench/results/dedup-<date>.json``."""
    return ROOT / "bench" / "results" / f"dedup-{datetime.date.today().isoformat()}.json"


def meta(args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    """Where and how the run was made."""
    command = "python -m bench.dedup" + (
        f" --size-mib {args.size_mib}" if args.size_mib != 512 else ""
    )
    return {
        "command": command,
        "date": datetime.date.today().isoformat(),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pyfastcdc": version("pyfastcdc"),
        "blake3": version("blake3"),
        "target_size": args.size_mib * MiB,
        "block_size": BLOCK_SIZE,
        "repeats": REPEATS,
        "seconds": round(seconds, 1),
        "notes": [
            "sent = distinct chunks of the edited file whose blake3 is not among the base's",
            "throughput times Cutter.cut + blake3 per chunk only, on one core, file warm in "
            "the page cache; MB = 10^6 bytes",
            "wire = sent + pack header entries + missing query and answer + gzip manifest",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run in a temporary directory, write JSON, print the tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.dedup", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=512, help="base file size (512)")
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    args = parser.parse_args(argv)
    if args.size_mib < 64:
        parser.error("--size-mib must be at least 64")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="asyncart-dedup-") as work:
        result = measure(args.size_mib * MiB, Path(work))
    result = {"meta": meta(args, time.time() - started), **result}
    out = args.out or default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"results: {out} ({result['meta']['seconds']} s)")
    print(render(result))


if __name__ == "__main__":
    main()
