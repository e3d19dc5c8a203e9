"""Search over reasoning steps, guided by a value of partial solutions (the "Q*" idea).

    from ttc.search import Expander, SearchSpec, VerifierValue, run_strategy
    expander = Expander(generator, codec, task, problems, temperature=1.0, max_step_tokens=24,
                        max_tokens=64, seed=0)
    results = run_strategy(SearchSpec(strategy="beam", n=16, width=4), expander, value_fn, problems)

``STRATEGIES`` is the registry (``register_strategy`` adds one); ``ttc.search.run`` turns results
into tables on the sweep's compute axis.
"""

from ttc.search.strategies import (
    STRATEGIES,
    ProblemResult,
    SearchSpec,
    StrategyInfo,
    register_strategy,
    run_strategy,
    strategy_info,
)
from ttc.search.tree import Expander, Node, Spend
from ttc.search.values import AGGREGATIONS, LogprobValue, OracleValue, ValueFn, VerifierValue, aggregate

__all__ = ["AGGREGATIONS", "STRATEGIES", "Expander", "LogprobValue", "Node", "OracleValue", "ProblemResult",
           "SearchSpec", "Spend", "StrategyInfo", "ValueFn", "VerifierValue", "aggregate", "register_strategy",
           "run_strategy", "strategy_info"]
