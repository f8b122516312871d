"""The async engine: transfer pipelines (upload, download), the remote interface
(HTTP or in-process), the retry policy and the transport boundary.

Importing the engine pins glibc's mmap threshold (see ``memory.py``) so that
multi-MiB transfer buffers are returned to the OS when freed.
"""

from asyncart.client.memory import pin_mmap_threshold

pin_mmap_threshold()
