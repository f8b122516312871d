"""W&B arguments that W&B itself deprecated and ignores: accepted, warned about, unused.

Code moving from W&B passes them; refusing them (``TypeError``) would break it for no
gain. W&B prints its warning once per process on the terminal; asyncart raises a
``DeprecationWarning`` (Python's own channel: shown for the caller's ``__main__``, made
an error by ``-W error``, silenced by the usual filters) naming what to drop.
"""

from __future__ import annotations

import warnings

USE_AS_IGNORED = "does nothing in asyncart (W&B deprecated it too); drop the argument"


def warn_use_as(where: str, use_as: object, stacklevel: int = 3) -> None:
    """Warn when ``use_as`` was given to ``where`` (e.g. ``"run.use_artifact"``)."""
    if use_as is not None:
        warnings.warn(
            f"{where}(use_as=...) {USE_AS_IGNORED}", DeprecationWarning, stacklevel=stacklevel
        )
