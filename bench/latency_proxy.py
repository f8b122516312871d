"""A TCP relay on 127.0.0.1 that delays every byte by a fixed time each way: a distant server.

``python -m bench.latency_proxy --target http://127.0.0.1:PORT --rtt-ms 20`` prints
``latency proxy listening on http://127.0.0.1:N`` and relays until terminated.

Bytes are not held back by bandwidth, only by time: each read is forwarded
``rtt/2`` after it arrived, so a request waits one round trip like it would on
a long link, while a connection can still carry as much as loopback allows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from urllib.parse import urlparse

_READ = 1 << 20
_QUEUED_READS = 64  # per direction and connection: at most 64 MiB in flight


class LatencyRelay:
    """Relays connections to ``target`` with ``delay`` seconds added in each direction."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        self.host, self.port, self.delay = host, port, delay

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            self._pump(client_r, server_w), self._pump(server_r, client_w), return_exceptions=True
        )
        for w in (client_w, server_w):
            w.close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUED_READS)

        async def receive() -> None:
            while data := await src.read(_READ):
                await queue.put((loop.time() + self.delay, data))
            await queue.put((loop.time() + self.delay, b""))

        async def send() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    with contextlib.suppress(OSError):
                        dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()

        await asyncio.gather(receive(), send())


async def _main(target: str, rtt_ms: float) -> None:
    parsed = urlparse(target)
    relay = LatencyRelay(parsed.hostname or "127.0.0.1", parsed.port or 80, rtt_ms / 2000)
    server = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"latency proxy listening on http://127.0.0.1:{port} ({rtt_ms:g} ms RTT)", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency_proxy")
    parser.add_argument("--target", required=True, help="server URL to relay to")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="added round-trip time")
    args = parser.parse_args()
    asyncio.run(_main(args.target, args.rtt_ms))


if __name__ == "__main__":
    main()
