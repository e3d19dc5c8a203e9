"""Tasks: problems by split, answer extraction, exact answer and step checkers.

``registers`` is the default embedded task; ``depgraph`` (iGSM-style named-quantity lookups) is a
harder alternative for bigger budgets. ``TASKS`` maps a task name to its (task class, spec class).
"""

from ttc.tasks.base import (
    INVALID,
    SPLITS,
    Problem,
    StepCheck,
    Task,
    TaskSpecError,
    lucky_share,
    process_correct,
)
from ttc.tasks.depgraph import DepGraphSpec, DepGraphTask
from ttc.tasks.registers import RegistersSpec, RegistersTask

TASKS = {"registers": (RegistersTask, RegistersSpec), "depgraph": (DepGraphTask, DepGraphSpec)}

__all__ = ["INVALID", "SPLITS", "Problem", "StepCheck", "Task", "TaskSpecError", "lucky_share",
           "process_correct", "DepGraphSpec", "DepGraphTask", "RegistersSpec", "RegistersTask", "TASKS"]
