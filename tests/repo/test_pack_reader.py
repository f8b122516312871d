"""Reading a pack body that arrives as borrowed pieces (a receive buffer refilled for each).

The server's pack receive path (``server/body_takeover.py``) hands a body on as
writable views of one buffer that it overwrites once the next piece is asked for.
Whatever the piece boundaries, the header must parse and every chunk must verify and
come out with the bytes it was sent with.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator

import pytest

from asyncart.errors import IntegrityError
from asyncart.repo.packs import read_pack_header, verified_chunk_data
from tests.support.packs import pack_body


def refilled(body: bytes, cuts: list[int]) -> AsyncIterator[memoryview]:
    """``body`` as views of one reused buffer, cut at ``cuts``; each view is scribbled
    over as soon as the next one is asked for."""
    buffer = bytearray(len(body))

    async def pieces() -> AsyncIterator[memoryview]:
        bounds = [0, *sorted(set(cuts)), len(body)]
        for start, end in itertools.pairwise(bounds):
            if start == end:
                continue
            view = memoryview(buffer)[: end - start]
            view[:] = body[start:end]
            yield view
            view[:] = b"\xff" * len(view)

    return pieces()


async def received(body: bytes, cuts: list[int]) -> tuple[list[str], bytes]:
    header, reader = await read_pack_header(refilled(body, cuts))
    out = bytearray()
    async for piece in verified_chunk_data(header, reader):
        out += piece  # the consumer takes each piece before asking for the next
    return [c.hash for c in header.chunks], bytes(out)


@pytest.mark.parametrize("seed", range(8))
async def test_a_pack_in_borrowed_pieces_reads_as_sent(seed: int) -> None:
    rng = random.Random(seed)
    chunks = [rng.randbytes(rng.randrange(1, 5000)) for _ in range(rng.randrange(1, 40))]
    header, body = pack_body(chunks)
    head = len(header.encode())
    # Cuts inside the header (so it spans pieces) and anywhere in the chunk bytes.
    cuts = [rng.randrange(1, head) for _ in range(3)] + [
        rng.randrange(1, len(body)) for _ in range(rng.randrange(0, 12))
    ]
    hashes, data = await received(body, cuts)
    assert hashes == [c.hash for c in header.chunks]
    assert data == b"".join(chunks)


async def test_a_corrupted_chunk_in_borrowed_pieces_is_refused() -> None:
    _, body = pack_body([b"a" * 3000, b"b" * 3000])
    spoiled = bytearray(body)
    spoiled[-10] ^= 1
    with pytest.raises(IntegrityError, match="does not match its bytes"):
        await received(bytes(spoiled), [5, len(body) - 2000])
