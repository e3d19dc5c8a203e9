"""Search strategies over reasoning steps, one signature, one registry.

    result = run_strategy(SearchSpec(strategy="beam", n=16, width=4), expander, value_fn, problems)

A strategy grows a tree of partial solutions per problem (``ttc.search.tree``), batched across
problems: every round is one sampling call for all the nodes it expands and one value call for all
the children they produce. It returns, per problem, every finished candidate with its value and the
exact work spent (``Spend``); the answer is then chosen among the candidates (``final``: the
best-valued one, or the answer with the largest sum of values).

Budgets. ``n`` is the budget in sampling's unit, "as many as N samples": beam search and DVTS run
N beams; best-first and MCTS generate until their generated tokens reach N x ``tokens_per_sample``
(the caller passes the mean sampled solution length, measured on the generator's own pool) and
stop at the end of the round that crosses it. Either way what was spent is counted, never assumed.

- ``beam``: N beams; keep the top ceil(remaining / M) open prefixes, expand each M ways, until N
  candidates finish (Snell et al. 2024 / search-and-learn); optional lookahead-k greedy rollouts
  score a prefix by where it leads.
- ``dvts``: N/M independent subtrees (diverse verifier tree search, Beeching et al. 2024): each keeps
  its single best open prefix and expands it M ways.
- ``best_first``: a priority queue of open prefixes by value (A*-style with the product value, which
  never rises along a path): expand the best, stop when the best node is finished.
- ``mcts``: PUCT over steps (Silver et al. 2017), uniform priors over the M sampled children, a leaf's
  children valued by the value function and their mean backed up; the answer follows the most-visited
  path (``mcts_select="visits"``) or is the best-valued finished candidate (``"value"``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ttc.search.tree import Expander, Node, Spend
from ttc.search.values import AGGREGATIONS, ValueFn, aggregate
from ttc.tasks.base import Problem

FINALS = ("best", "vote")


@dataclass(frozen=True)
class SearchSpec:
    strategy: str = "beam"
    value: str = "prm"  # a value-function name the caller resolves (prm, orm, logprob, oracle, ...)
    n: int = 16  # budget: as many as n samples (see the module docstring)
    width: int = 4  # M: children per expansion
    aggregation: str = "prod"  # how per-step scores become a value (ttc.search.values.AGGREGATIONS)
    final: str = "best"  # best | vote: how the answer is chosen among the finished candidates
    lookahead: int = 0  # beam: greedy steps rolled out before scoring a prefix
    c_puct: float = 1.0  # mcts exploration constant
    mcts_select: str = "visits"  # visits | value
    temperature: float = 1.0
    max_step_tokens: int = 24
    max_tokens: int = 64  # solution length cap, as the pools' max_new_tokens
    seed: int = 0

    @property
    def label(self) -> str:
        """The curves' rule name: search:<strategy>:<value> plus the settings that differ from the defaults."""
        default = SearchSpec()
        extra = [f"{k}={v}" for k, v in asdict(self).items()
                 if k in ("width", "aggregation", "final", "lookahead", "c_puct", "mcts_select")
                 and v != getattr(default, k)]
        return f"search:{self.strategy}:{self.value}" + (f"[{','.join(extra)}]" if extra else "")

    def validate(self) -> None:
        strategy_info(self.strategy)
        checks = [(self.n >= 1, f"search n={self.n} must be >= 1"),
                  (self.width >= 1, f"search width={self.width} must be >= 1"),
                  (self.aggregation in AGGREGATIONS, f"search aggregation={self.aggregation!r}; use one of "
                   f"{', '.join(AGGREGATIONS)}"),
                  (self.final in FINALS, f"search final={self.final!r}; use best or vote"),
                  (self.mcts_select in ("visits", "value"), f"search mcts_select={self.mcts_select!r}; use visits or value"),
                  (self.lookahead >= 0 and self.c_puct >= 0 and self.temperature >= 0,
                   "search lookahead, c_puct and temperature must be >= 0"),
                  (1 <= self.max_step_tokens and 1 <= self.max_tokens, "search max_step_tokens and max_tokens must be >= 1")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class ProblemResult:
    candidates: list[Node]  # finished (terminal) candidates, valued
    values: list[float]  # their aggregated values
    chosen: Node | None  # the answer's candidate (None: no candidate)
    spend: Spend = field(default_factory=Spend)


@dataclass
class Context:
    spec: SearchSpec
    expander: Expander
    value_fn: ValueFn
    problems: Sequence[Problem]
    tokens_per_sample: float

    def value(self, node: Node) -> float:
        assert node.scores is not None, "score a node before reading its value"
        return aggregate(node.scores, self.spec.aggregation)

    def score(self, items: Sequence[tuple[int, Node]]) -> None:
        """Value every (problem, node) not yet scored, in one call; count the tokens per problem."""
        todo = [(p, n) for p, n in items if n.scores is None]
        if not todo:
            return
        used = self.value_fn.score([self.problems[p] for p, _ in todo], [n for _, n in todo])
        for (p, _), tokens in zip(todo, used):
            self.expander.spend[p].value_tokens += tokens
            self.expander.spend[p].value_calls += 1

    def token_budget(self) -> float:
        return self.spec.n * self.tokens_per_sample


Strategy = Callable[[Context], list[list[Node]]]  # -> finished candidates per problem


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    run: Strategy
    label: str  # how figures and tables name it
    reference: str  # the paper or system it follows


STRATEGIES: dict[str, StrategyInfo] = {}


def register_strategy(name: str, label: str, reference: str) -> Callable[[Strategy], Strategy]:
    def add(fn: Strategy) -> Strategy:
        if name in STRATEGIES:
            raise ValueError(f"search strategy {name!r} is already registered")
        STRATEGIES[name] = StrategyInfo(name, fn, label, reference)
        return fn
    return add


def strategy_info(name: str) -> StrategyInfo:
    if name not in STRATEGIES:
        raise ValueError(f"unknown search strategy {name!r}; use one of {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


# --------------------------------------------------------------------------------- strategies
def _ranked_value(ctx: Context, items: list[tuple[int, Node]]) -> list[float]:
    """Values used to rank open prefixes: their own, or (lookahead k) that of a greedy k-step rollout."""
    ctx.score(items)
    if ctx.spec.lookahead == 0 or not items:
        return [ctx.value(n) for _, n in items]
    ahead = list(items)
    for _ in range(ctx.spec.lookahead):
        open_ = [i for i, (_, n) in enumerate(ahead) if not n.terminal]
        if not open_:
            break
        kids = ctx.expander.expand([ahead[i] for i in open_], 1, temperature=0.0)
        for i, (kid,) in zip(open_, kids):
            ahead[i] = (ahead[i][0], kid)
    ctx.score(ahead)
    return [ctx.value(n) for _, n in ahead]


@register_strategy("beam", "beam search", "Snell et al. 2024; search-and-learn")
def beam(ctx: Context) -> list[list[Node]]:
    n, m = ctx.spec.n, ctx.spec.width
    finished: list[list[Node]] = [[] for _ in ctx.problems]
    start = ctx.expander.expand([(p, ctx.expander.root()) for p in range(len(ctx.problems))], n)
    pending = [(p, kid) for p, kids in enumerate(start) for kid in kids]
    while pending:
        ctx.score(pending)
        open_: dict[int, list[tuple[int, Node]]] = {}
        for p, node in pending:
            if node.terminal:
                finished[p].append(node)
            else:
                open_.setdefault(p, []).append((p, node))
        ranked = [(p, items) for p, items in open_.items() if n > len(finished[p])]
        flat = [item for _, items in ranked for item in items]
        values, keep, at = _ranked_value(ctx, flat), [], 0  # one (lookahead) call for every problem
        for p, items in ranked:
            mine = np.asarray(values[at:at + len(items)])
            at += len(items)
            order = np.argsort(-mine, kind="stable")[: math.ceil((n - len(finished[p])) / m)]
            keep += [items[i] for i in order]
        pending = [(p, kid) for (p, _), kids in zip(keep, ctx.expander.expand(keep, m)) for kid in kids]
    return finished


@register_strategy("dvts", "diverse verifier tree search", "Beeching et al. 2024 (search-and-learn)")
def dvts(ctx: Context) -> list[list[Node]]:
    n, m = ctx.spec.n, ctx.spec.width
    n_trees = max(1, n // m)
    finished: list[list[Node]] = [[] for _ in ctx.problems]
    start = ctx.expander.expand([(p, ctx.expander.root()) for p in range(len(ctx.problems))], n_trees * m)
    # subtree (problem, t) starts from children t*m .. t*m + m - 1 of the root
    pending = {(p, t): [(p, kid) for kid in kids[t * m:(t + 1) * m]] for p, kids in enumerate(start)
               for t in range(n_trees)}
    while pending:
        ctx.score([item for items in pending.values() for item in items])
        heads: list[tuple[tuple[int, int], tuple[int, Node]]] = []
        open_: list[tuple[tuple[int, int], tuple[int, Node]]] = []
        for tree, items in pending.items():
            for p, node in items:
                if node.terminal:
                    finished[p].append(node)
                else:
                    open_.append((tree, (p, node)))
        values = _ranked_value(ctx, [item for _, item in open_])  # one (lookahead) call for every subtree
        best: dict[tuple[int, int], tuple[float, tuple[int, Node]]] = {}
        for (tree, item), v in zip(open_, values):
            if tree not in best or v > best[tree][0]:  # the first of equals wins: deterministic
                best[tree] = (v, item)
        heads = [(tree, item) for tree, (_, item) in best.items()]
        kids = ctx.expander.expand([h for _, h in heads], m)
        pending = {tree: [(head[0], kid) for kid in ks] for (tree, head), ks in zip(heads, kids)}
    return finished


@register_strategy("best_first", "best-first search", "A*-style search on the value (Q* guess; Lightman 2023's PRM)")
def best_first(ctx: Context) -> list[list[Node]]:
    m, budget = ctx.spec.width, ctx.token_budget()
    spend = ctx.expander.spend
    finished: list[list[Node]] = [[] for _ in ctx.problems]
    queues: list[list[tuple[float, int, Node]]] = [[] for _ in ctx.problems]
    counter = 0  # insertion order breaks ties: the search is deterministic
    live = list(range(len(ctx.problems)))
    frontier = [(p, ctx.expander.root()) for p in live]
    while frontier:
        kids = ctx.expander.expand(frontier, m)
        items = [(p, kid) for (p, _), ks in zip(frontier, kids) for kid in ks]
        ctx.score(items)
        for p, kid in items:
            heapq.heappush(queues[p], (-ctx.value(kid), counter, kid))
            counter += 1
        frontier = []
        for p in live:
            # the best node is finished: nothing open can beat it (the value never rises along a path)
            while queues[p] and queues[p][0][2].terminal:
                finished[p].append(heapq.heappop(queues[p])[2])
                if ctx.spec.final == "best":
                    break
            done = (finished[p] and ctx.spec.final == "best") or spend[p].gen_tokens >= budget or not queues[p]
            if not done:
                frontier.append((p, heapq.heappop(queues[p])[2]))
            elif not finished[p] and queues[p]:  # budget spent, nothing finished: complete the best prefix
                finished[p].append(ctx.expander.complete([(p, heapq.heappop(queues[p])[2])])[0])
        live = [p for p, _ in frontier]
    return finished


@register_strategy("mcts", "MCTS over steps", "PUCT (Silver et al. 2017) with the value as leaf evaluation")
def mcts(ctx: Context) -> list[list[Node]]:
    m, budget, c = ctx.spec.width, ctx.token_budget(), ctx.spec.c_puct
    spend = ctx.expander.spend
    trees: list[list[Node]] = [[ctx.expander.root()] for _ in ctx.problems]
    live = list(range(len(ctx.problems)))
    max_sims = 4 * ctx.spec.n + 8  # revisiting finished leaves spends nothing: cap the simulations
    for _ in range(max_sims):
        paths: list[tuple[int, list[int]]] = []
        for p in live:
            tree, path = trees[p], [0]
            while tree[path[-1]].children:
                parent = tree[path[-1]]
                root_n = math.sqrt(max(1, parent.visits))
                best = max(parent.children, key=lambda i: (tree[i].value_sum / max(1, tree[i].visits)
                                                          + c * (1 / m) * root_n / (1 + tree[i].visits)))
                path.append(best)
            paths.append((p, path))
        grow = [(p, path) for p, path in paths if not trees[p][path[-1]].terminal]
        kids = ctx.expander.expand([(p, trees[p][path[-1]]) for p, path in grow], m)
        ctx.score([(p, kid) for (p, _), ks in zip(grow, kids) for kid in ks])
        grown = {p: ks for (p, _), ks in zip(grow, kids)}
        for p, path in paths:
            tree = trees[p]
            if p in grown:
                leaf = tree[path[-1]]
                for kid in grown[p]:
                    kid.parent, kid.visits, kid.value_sum = path[-1], 1, ctx.value(kid)
                    leaf.children.append(len(tree))
                    tree.append(kid)
                backup = float(np.mean([ctx.value(k) for k in grown[p]]))
            else:
                backup = ctx.value(tree[path[-1]])
            for i in path:
                tree[i].visits += 1
                tree[i].value_sum += backup
        live = [p for p in live if spend[p].gen_tokens < budget]
        if not live:
            break
    out: list[list[Node]] = []
    for p, tree in enumerate(trees):
        terminals = [node for node in tree if node.terminal]
        if ctx.spec.mcts_select == "visits":
            i = 0
            while tree[i].children:
                i = max(tree[i].children, key=lambda j: (tree[j].visits, tree[j].value_sum / max(1, tree[j].visits)))
            path_end = tree[i] if tree[i].terminal else ctx.expander.complete([(p, tree[i])])[0]
            ctx.score([(p, path_end)])
            # the chosen one first: ``run_strategy`` picks it (final="best" reads position 0 on ties)
            terminals = [path_end] + [t for t in terminals if t is not path_end]
            out.append(terminals)
            continue
        out.append(terminals or ctx.expander.complete([(p, tree[0])]))
    return out


# --------------------------------------------------------------------------------- driver
def run_strategy(spec: SearchSpec, expander: Expander, value_fn: ValueFn, problems: Sequence[Problem], *,
                 tokens_per_sample: float = 0.0, extract: Callable[[Problem, str], str | None] | None = None
                 ) -> list[ProblemResult]:
    """Run one strategy on every problem; candidates valued, the answer chosen by ``spec.final``.

    ``extract(problem, text)`` gives a candidate's answer for ``final="vote"`` (None: no answer)."""
    spec.validate()
    info = strategy_info(spec.strategy)
    if spec.strategy in ("best_first", "mcts") and tokens_per_sample <= 0:
        raise ValueError(f"search {spec.strategy}: pass tokens_per_sample > 0 (the budget is n x that many tokens)")
    ctx = Context(spec, expander, value_fn, problems, tokens_per_sample)
    finished = info.run(ctx)
    results = []
    for p, cands in enumerate(finished):
        ctx.score([(p, c) for c in cands])
        values = [ctx.value(c) for c in cands]
        chosen: Node | None = None
        if cands and spec.strategy == "mcts" and spec.mcts_select == "visits":
            chosen = cands[0]
        elif cands and spec.final == "best":
            chosen = cands[int(np.argmax(values))]
        elif cands:
            if extract is None:
                raise ValueError("final='vote' needs extract(problem, text) to read answers")
            totals: dict[str, float] = {}
            for cand, v in zip(cands, values):
                answer = extract(problems[p], cand.text)
                if answer is not None:
                    totals[answer] = totals.get(answer, 0.0) + v
            if totals:
                top = max(totals, key=lambda a: totals[a])
                chosen = max((c for c in cands if extract(problems[p], c.text) == top), key=ctx.value)
        results.append(ProblemResult(cands, values, chosen, expander.spend[p]))
    return results
