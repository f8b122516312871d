"""The stored fields of a run, read from its :class:`~asyncart.core.models.RunInfo`
(shared by the run being written and the runs ``Api().run(path)`` reads)."""

from __future__ import annotations

from asyncart.core.models import RunInfo


class RunFields:
    """``id``, ``project``, ``name``, ``job_type``, ``group``, ``tags`` and ``notes`` of
    ``self.info`` (``config``: the run's is ``run_config.py``'s, a read one's the stored
    dict, ``RunData.config``)."""

    info: RunInfo

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def project(self) -> str:
        return self.info.project

    @property
    def name(self) -> str | None:
        return self.info.name

    @property
    def job_type(self) -> str:
        return self.info.job_type

    @property
    def group(self) -> str | None:
        """W&B's run group (``init(group=)``): the runs of one job share it."""
        return self.info.group

    @property
    def tags(self) -> tuple[str, ...]:
        """W&B's run tags (``init(tags=)``): a tuple on the run, as W&B's ``Run.tags``."""
        return self.info.tags

    @property
    def notes(self) -> str | None:
        return self.info.notes
