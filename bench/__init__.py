"""asyncart benchmark suite: ``python -m bench [--quick | --smoke]``.

Every figure is measured in one run on this machine, next to the machine's
ceilings (hashing, page cache, fsync, a bare aiohttp transfer) and the tools a
user would pick instead (MLflow, rclone, curl, aria2c, hf_transfer). Results go
to ``bench/results/<date>-<host>.json`` and ``docs/performance.md``.
"""
