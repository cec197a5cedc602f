"""Workers run omnihub's own job functions only.

RQ resolves a job's function from a dotted name stored in Redis (``import_attribute``), so
anyone who can write to the queue's Redis could make a worker import and call any function
(``os.system``, ``subprocess.getoutput``) as the hub's user. ``OmnihubJob`` checks the name
against ``JOB_FUNCTIONS`` before anything is imported or called; a job naming anything else,
a bound instance, a callback or a job webhook fails with ``JobRefused`` (kept in the job's
exc_info) and a logged ``job.refused`` event. ``omnihub worker`` (and so ``omnihub run``)
uses it for every queue.
"""

from __future__ import annotations

from typing import Any

import structlog
from rq.job import Job

log = structlog.get_logger("omnihub.jobs")

#: Every function an omnihub worker may run (hub.queues enqueues only these).
JOB_FUNCTIONS = frozenset({"workers.jobs.drain"})


class JobRefused(Exception):
    """A job that is not one of omnihub's own: refused before its function is imported."""


class OmnihubJob(Job):
    """An RQ job whose function must be on ``JOB_FUNCTIONS``; nothing else is ever imported."""

    def refusal(self) -> str | None:
        """Why this job may not run, or None when it is one of omnihub's own."""
        name = self.func_name
        if name not in JOB_FUNCTIONS:
            shown = name if isinstance(name, str) else repr(name)
            return (f"job function {shown[:200]!r} is not an omnihub job function "
                    f"(allowed: {', '.join(sorted(JOB_FUNCTIONS))}); refused without importing it")
        if self.instance is not None:
            return f"job {name!r} names an instance to call it on; omnihub jobs are plain functions"
        callbacks = [n for n in (self._success_callback_name, self._failure_callback_name, self._stopped_callback_name) if n]
        if callbacks:
            return f"job {name!r} names callbacks ({', '.join(c[:100] for c in callbacks)}); omnihub jobs have none"
        if self.webhooks:
            return f"job {name!r} names webhooks; omnihub jobs have none"
        return None

    def check_allowed(self) -> None:
        reason = self.refusal()
        if reason:
            log.error("job.refused", job_id=self.id, queue=self.origin, reason=reason)
            raise JobRefused(reason)

    @property
    def func(self) -> Any:
        self.check_allowed()
        return super().func

    def perform(self) -> Any:
        self.check_allowed()
        return super().perform()

    # Callbacks and job webhooks are never resolved or sent: omnihub's jobs use none, and a
    # foreign job naming one is refused above.
    @property
    def success_callback(self):
        return None

    @property
    def failure_callback(self):
        return None

    @property
    def stopped_callback(self):
        return None

    def send_webhooks(self, status, *, exc_string: str | None = None) -> None:
        return None
