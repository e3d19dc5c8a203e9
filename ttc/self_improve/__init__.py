"""Self-improvement of a generator on its own samples: STaR (``star``), policy-gradient RL with exact,
outcome or process rewards (``policy_gradient``), SFT on gold solutions as the equal-compute baseline,
and cached, resumable runs of all three (``runs``)."""

from ttc.self_improve.evaluate import evaluate
from ttc.self_improve.policy_gradient import RLConfig, pg_loss, process_advantages, rloo_advantages
from ttc.self_improve.rollouts import Rollouts, hint_prompt, rollouts
from ttc.self_improve.runs import METHODS, RunSpec, run
from ttc.self_improve.star import StarConfig, keep, star_examples

__all__ = ["METHODS", "RLConfig", "Rollouts", "RunSpec", "StarConfig", "evaluate", "hint_prompt", "keep",
           "pg_loss", "process_advantages", "rloo_advantages", "rollouts", "run", "star_examples"]
