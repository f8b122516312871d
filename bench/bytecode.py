"""Byte-compile the asyncart package before timing or testing its command line.

An installed asyncart (``pip install asyncart``) ships with its ``.pyc`` files, written
at install time. A checkout installed with ``pip install -e .`` has none until Python
writes them on first import, and never where ``PYTHONDONTWRITEBYTECODE`` is set (as on
this machine and many CI images): then every ``asyncart`` command compiles ~300 modules
from source, about 0.25 CPU seconds, before it does anything. Benchmarks of the CLI
time what users run, so they compile first; so does the test suite, whose thousands of
CLI subprocesses would otherwise pay it each time.

``compileall`` skips modules whose ``.pyc`` is current, so a second call costs a stat
per module; Python reads the ``.pyc`` files even with ``PYTHONDONTWRITEBYTECODE`` set.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import asyncart


def compile_package() -> bool:
    """Write the ``.pyc`` of every asyncart module that lacks a current one; False when
    the package's directory is not writable (then imports compile, as before)."""
    root = Path(asyncart.__file__).parent
    try:
        return bool(compileall.compile_dir(root, quiet=2, workers=1))
    except OSError:
        return False
