"""Progress as subscribers: the engine reports, a subscriber (CLI bar, test, bench) listens."""

from __future__ import annotations


class Progress:
    """Receives transfer progress. The base class ignores everything."""

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        """A transfer phase (``push`` or ``pull``) begins."""

    def on_progress(self, nbytes: int) -> None:
        """``nbytes`` more bytes were moved: uploaded, or downloaded, verified and written."""

    def on_skip(self, nbytes: int) -> None:
        """``nbytes`` more bytes are done without moving: the store or the target directory
        had them already (a transfer rate leaves them out). The default counts them as
        :meth:`on_progress`, for subscribers that only want bytes done."""
        self.on_progress(nbytes)

    def on_done(self) -> None:
        """The phase finished (successfully or not)."""


class TransferStats(Progress):
    """Totals of one transfer, for ``--json`` output, benchmarks and tests.

    ``bytes_read`` counts bytes read from local files: on a push, the sources (0
    when every file hit the hash cache and the store held all its chunks); on a
    pull, files already at the target paths, read to learn whether they are the
    wanted ones or can lend chunks (0 when the hash cache knew them). Push only:
    ``files_cached`` counts files whose digest and chunks came from the hash
    cache instead of a full read.
    """

    def __init__(self) -> None:
        self.total_bytes = 0
        self.total_files = 0
        self.done_bytes = 0
        self.bytes_uploaded = 0
        self.bytes_skipped = 0
        self.bytes_downloaded = 0
        self.bytes_reused = 0  # pull: bytes copied from files already on local disk
        self.bytes_resumed = 0  # pull: verified bytes kept from an interrupted pull
        self.bytes_read = 0
        self.files_skipped = 0
        # pull: part files and journals an interrupted pull of other files left, removed
        self.leftovers_removed = 0
        self.leftover_bytes_removed = 0  # the disk space their part files took
        self.files_cached = 0
        self.cache_hits = 0  # pull: files placed from the download cache (``cache.py``)
        self.bytes_from_cache = 0  # their bytes: nothing crossed the network for them
        self.packs_uploaded = 0
        self.concurrency_levels: list[tuple[int, float]] = []  # (parallel transfers, bytes/s)
        self.concurrency: int | None = None  # where the adaptive limit settled

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        self.total_bytes += total_bytes
        self.total_files += total_files

    def on_progress(self, nbytes: int) -> None:
        self.done_bytes += nbytes


class Fanout(Progress):
    """Forwards to several subscribers."""

    def __init__(self, *subscribers: Progress) -> None:
        self.subscribers = subscribers

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        for s in self.subscribers:
            s.on_start(phase, total_bytes, total_files)

    def on_progress(self, nbytes: int) -> None:
        for s in self.subscribers:
            s.on_progress(nbytes)

    def on_skip(self, nbytes: int) -> None:
        for s in self.subscribers:
            s.on_skip(nbytes)

    def on_done(self) -> None:
        for s in self.subscribers:
            s.on_done()
