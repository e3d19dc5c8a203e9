"""Tasks: problems by split, answer extraction, exact answer and step checkers."""

from ttc.tasks.base import INVALID, SPLITS, Problem, StepCheck, Task, TaskSpecError, lucky_share, process_correct
from ttc.tasks.depgraph import DepGraphSpec, DepGraphTask

__all__ = ["INVALID", "SPLITS", "Problem", "StepCheck", "Task", "TaskSpecError", "lucky_share",
           "process_correct", "DepGraphSpec", "DepGraphTask"]
