"""Glue for ``workflow/scripts``: logging to the rule's log file and clean failure on bad input.

A script does::

    from markerflow.runner import script_context
    with script_context(snakemake) as log:
        ...

Inside the block, ``logging`` goes to ``snakemake.log[0]``. An :class:`~markerflow.errors.InputError`
or :class:`~markerflow.errors.AnalysisError` is written to the log and to stderr as one clear
message and the job exits with status 1, without a traceback; any other exception is a bug and keeps
its traceback.

The first log line of every job is its start-up cost (:func:`startup_cost`): the CPU seconds the
process spent before the block began - interpreter start, the script's imports and Snakemake's
script preamble - which benchmarks/scale/run.py sums against the job's total CPU.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from markerflow.errors import AnalysisError, InputError

#: The first log line of a job (benchmarks/scale/run.py parses it).
STARTUP_MESSAGE = "start-up: %.3f s CPU before the job's own work (rule %s)"
#: The last log line of a job that succeeded (benchmarks/scale/run.py sums it: exact, where
#: Snakemake's ``benchmark:`` samples the process tree's CPU and misses what a job spends after
#: its last sample).
JOB_CPU_MESSAGE = "job CPU: %.3f s, start-up included (rule %s)"


def startup_cost() -> float:
    """CPU seconds (user + system, ``time.process_time``) this process has used so far.

    Wall time since the process started is not reported: ``/proc/self/stat``'s start time and
    ``/proc/uptime`` disagree by up to a second on virtual machines, more than the cost measured.
    """
    return time.process_time()


def job_cpu() -> float:
    """CPU seconds (user + system) of this process and of its children that have ended."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def script_context(smk: Any, name: str | None = None) -> Iterator[logging.Logger]:
    """Log to the rule's log file; turn markerflow errors into one message and exit status 1."""
    startup = startup_cost()
    log_files = list(getattr(smk, "log", []) or [])
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_files:
        handlers.append(logging.FileHandler(log_files[0], mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logger = logging.getLogger(name or f"markerflow.{getattr(smk, 'rule', 'script')}")
    logger.info(STARTUP_MESSAGE, startup, getattr(smk, "rule", "?"))
    try:
        yield logger
        logger.info(JOB_CPU_MESSAGE, job_cpu(), getattr(smk, "rule", "?"))
    except (InputError, AnalysisError) as exc:
        kind = "input error" if isinstance(exc, InputError) else "analysis error"
        wildcards = dict(getattr(smk, "wildcards", {}) or {})
        where = f" ({', '.join(f'{k}={v}' for k, v in wildcards.items())})" if wildcards else ""
        logger.error("markerflow %s in rule %s%s:\n%s", kind, getattr(smk, "rule", "?"), where, exc)
        logging.shutdown()
        sys.exit(1)
