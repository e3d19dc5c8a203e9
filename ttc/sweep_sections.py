"""The sections of the sweep's configuration, one dataclass per TOML table (``[generators]``, ``[pools]``,
``[verifiers]``, ``[eval]``, ``[search]``, ``[self_improve]``, ``[run]``): their fields, defaults and
the helpers that read them. ``ttc.sweep_config.SweepConfig`` holds them and checks them together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from ttc.config import ConfigError, _merge
from ttc.curriculum import CurriculumStage, parse_stages
from ttc.models import FAMILY, ModelSize
from ttc.selection import RuleSpec
from ttc.train import TrainConfig


@dataclass(frozen=True)
class GeneratorsConfig:
    sizes: tuple[str, ...] = ("xs", "s", "m", "l")  # names in ttc.models.FAMILY or in `custom`
    train: TrainConfig = TrainConfig()
    # per-size token budgets (override train.tokens), e.g. {l = 4000000}
    tokens: dict[str, int] = field(default_factory=dict)
    # per-size restarts, e.g. {s = 2}: train the size from k seeds (train.seed, train.seed + 1, ...: initial
    # weights and data order) and keep the run with the lowest final training loss (training data only, no
    # test information); sizes not named train once. Restarts turn "did this seed leave its plateau by the
    # budget" from a lottery into model selection; generators.csv counts every restart's FLOPs.
    restarts: dict[str, int] = field(default_factory=dict)
    # per-size curricula (ttc.curriculum): stages of easier data trained before the size's own budget, e.g.
    # {m = [{tokens = 300_000, task = {max_operand = 1}}, {tokens = 600_000, task = {max_operand = 3}}]}; each
    # stage overrides fields of task.train. The stages' tokens count in the size's tokens and FLOPs
    curriculum: dict[str, list] = field(default_factory=dict)
    # extra shapes: {name = {hidden = 96, layers = 3, heads = 4, mlp = 256, lr = 1.5e-3}}
    custom: dict[str, dict] = field(default_factory=dict)
    # models ttc does not train: {name = "local/hf/dir"}; a name in `sizes` found here is loaded, not trained
    checkpoints: dict[str, str] = field(default_factory=dict)
    train_flops: dict[str, float] = field(default_factory=dict)  # their training FLOPs, when known
    dtype: str = ""  # the external checkpoints' dtype: "" (as saved), float32, bfloat16, float16
    engine: str = "ttc"  # the external checkpoints' sampler: ttc (batched KV cache) or vllm (ttc.vllm_backend)

    def external(self, name: str) -> bool:
        return name in self.checkpoints

    def shape(self, name: str) -> ModelSize:
        if name in self.custom:
            try:
                return ModelSize(name=name, **self.custom[name])
            except TypeError as e:
                keys = ", ".join(f.name for f in fields(ModelSize) if f.name != "name")
                raise ConfigError(f"generators.custom.{name}: {e}; use {keys}") from None
        if name not in FAMILY:
            raise ConfigError(f"generators.sizes: unknown size {name!r}; use one of {', '.join(FAMILY)} "
                              "or define it under [generators.custom]")
        return FAMILY[name]

    def built_shapes(self) -> dict[str, dict]:
        """The shape of every size ttc trains, as it is built (the code's FAMILY defaults included:
        learning rate, initial scale), so results can name what produced them."""
        return {name: asdict(self.shape(name)) for name in self.sizes if not self.external(name)}

    def train_for(self, name: str, restart: int = 0) -> TrainConfig:
        """Size ``name``'s training config; ``restart`` k > 0 is its k-th restart (train.seed + k)."""
        cfg = replace(self.train, tokens=self.tokens[name]) if name in self.tokens else self.train
        if restart:
            cfg = replace(cfg, seed=cfg.seed + restart)
        return cfg if cfg.lr is not None else replace(cfg, lr=self.shape(name).lr)

    def restarts_for(self, name: str) -> int:
        return self.restarts.get(name, 1)

    def curriculum_for(self, name: str) -> tuple[CurriculumStage, ...]:
        """Size ``name``'s curriculum stages (ConfigError naming the fix when the config's list is malformed)."""
        return parse_stages(self.curriculum[name], f"generators.curriculum.{name}") if name in self.curriculum else ()


@dataclass(frozen=True)
class PoolsConfig:
    n_problems: int = 400  # test problems per pool
    n_samples: int = 64  # K: samples per problem for the final checkpoints (largest N)
    # K for the final checkpoints of the verified generators (verifiers.judge); 0 = n_samples
    judged_samples: int = 0
    # K for the final checkpoints of the sizes named here, over judged_samples / n_samples
    samples_by_size: dict[str, int] = field(default_factory=dict)
    checkpoint_samples: int = 16  # K for intermediate checkpoints (train/test trade-off)
    ood_problems: int = 200
    temperature: float = 1.0
    max_new_tokens: int = 120
    seed: int = 0


@dataclass(frozen=True)
class VerifiersConfig:
    kinds: tuple[str, ...] = ("orm", "prm")  # one verifier of each kind per judged generator; () = none
    # generator sizes whose final checkpoints get their own verifiers (each judged by an ORM and a PRM
    # trained with the same recipe and data scale); () = the largest generator only
    judge: tuple[str, ...] = ()
    common: dict = field(default_factory=dict)  # VerifierSpec fields shared by every kind
    orm: dict = field(default_factory=dict)  # VerifierSpec fields for the ORM only
    prm: dict = field(default_factory=dict)  # ... for the PRM only
    # verifier-data sweep (Cobbe Fig. 5): each kind retrained on every (problems x samples per problem)
    # of this grid, cut from its own training data, one epoch each (ttc.verifiers.data_point); the
    # full-data verifier is always a point. () = no sweep
    data_problems: tuple[int, ...] = ()
    data_samples: tuple[int, ...] = ()  # () = the verifiers' own samples_per_problem only
    # Cobbe's fine-tuning baseline at equal compute: each judged generator also fine-tuned on gold for its
    # verifier's training FLOPs (ttc.verifiers.finetune_control of the PRM's spec), with a test pool of
    # pools.n_samples (role "finetune_control", generator "<size>+ft") judged by the same verifiers
    finetune_control: bool = False

    def data_grid(self, kind: str) -> list[tuple[int, int]]:
        """(problems, samples per problem) points of the data sweep for ``kind``, the full-data one included."""
        spec = self.spec(kind)
        grid = {(n, k) for n in self.data_problems for k in (self.data_samples or (spec.samples_per_problem,))}
        return sorted(grid | {(spec.n_problems, spec.samples_per_problem)}) if self.data_problems else []

    def spec(self, kind: str):
        from ttc.verifiers import VerifierSpec
        return _merge(VerifierSpec(kind=kind), {**self.common, **getattr(self, kind)}, f"verifiers.{kind}")


@dataclass(frozen=True)
class EvalConfig:
    ns: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    # rule or rule:scorer; scorers: logprob/prob (the generator's own), orm, prm (trained verifiers)
    rules: tuple[str, ...] = ("single", "majority", "best_of_n:logprob", "weighted_vote:prob", "best_of_n:orm",
                              "best_of_n:prm", "weighted_vote:prm", "coverage")
    n_trials: int = 400  # subsampling trials for rules without a closed form
    confidence: float = 0.95
    seed: int = 0

    @property
    def rule_specs(self) -> list[RuleSpec]:
        """``rules`` parsed (``SweepConfig.validate`` has checked them): rule, scorer column, label."""
        return [RuleSpec.parse(r) for r in self.rules]


@dataclass(frozen=True)
class SearchConfig:
    """Step-level search on the sweep's compute axis (ttc.search; docs/search.md). Each strategy x value x
    budget runs on the first ``n_problems`` test problems of each searched generator's final checkpoint."""

    strategies: tuple[str, ...] = ()  # names in ttc.search.STRATEGIES; () = no search stage
    values: tuple[str, ...] = ("prm",)  # prm | orm (the generator's own trained verifiers) | logprob
    budgets: tuple[int, ...] = (4, 16, 64)  # "as many as N samples" (ttc.search.strategies)
    generators: tuple[str, ...] = ()  # () = the largest judged generator
    # smaller generators searched too (with ``family_strategies``), for "a smaller model with search
    # vs a larger model" (Snell et al. 2024)
    family: tuple[str, ...] = ()
    family_strategies: tuple[str, ...] = ("beam",)
    # self-improvement methods whose improved generator is searched too (``family_strategies``, the
    # base generator's verifiers): role "self_improve_search" in curves.csv, beside their pools' curves
    improved: tuple[str, ...] = ()
    n_problems: int = 100
    spec: dict = field(default_factory=dict)  # ttc.search.SearchSpec fields: width, aggregation, final, ...
    difficulty_bins: int = 5  # Snell's difficulty bins (pass@1 quantiles of the generator's own pool)


@dataclass(frozen=True)
class SelfImproveConfig:
    """Self-improvement from one generator's final checkpoint (ttc.self_improve; docs/self_improve.md):
    each method is a cached, resumable run whose final model gets its own pool and curves."""

    generator: str = ""  # a name in generators.sizes; "" = no self-improvement stage
    methods: tuple[str, ...] = ("sft", "star", "star_no_rationalize", "star_process", "rl_exact", "rl_orm", "rl_prm")
    star: dict = field(default_factory=dict)  # ttc.self_improve.StarConfig fields
    rl: dict = field(default_factory=dict)  # ttc.self_improve.RLConfig fields
    finetune: dict = field(default_factory=dict)  # TrainConfig fields of the STaR and SFT finetunes
    sft_tokens: tuple[int, ...] = (150_000, 300_000, 600_000, 1_200_000)  # SFT on gold: cumulative budgets
    eval_problems: int = 400  # test problems of each evaluation (the first ones of the split)
    eval_samples: int = 4  # samples per problem at T=1 of each evaluation
    pool_samples: int = 32  # the improved generators' final pools (pass@N and selection curves)
    seed: int = 0

    def run_specs(self, max_new_tokens: int, confidence: float) -> list:
        """A ``ttc.self_improve.RunSpec`` per method (ValueError naming a bad field)."""
        from ttc.self_improve import RunSpec
        return [RunSpec.of(m, star=self.star, rl=self.rl, finetune=self.finetune, sft_tokens=tuple(self.sft_tokens),
                           eval_problems=self.eval_problems, eval_samples=self.eval_samples,
                           max_new_tokens=max_new_tokens, confidence=confidence, seed=self.seed)
                for m in self.methods]


@dataclass(frozen=True)
class RunConfig:
    cache_dir: str = ".cache"
    results_dir: str = "results"
    n_jobs: int = 1  # joblib workers across independent pool cells
    # workers training generators (each gets cores / workers torch threads); sizes are dispatched
    # longest first, so the largest trains beside the others instead of alone at the end
    train_jobs: int = 1
    # workers for everything after the pools: verifier training and scoring, curve estimation, the
    # verifier-data sweep (each gets cores / workers torch threads; on 2 cores two 1-thread workers
    # train ~15% faster than one 2-thread process). Generators and pools keep n_jobs, so their
    # samples do not depend on it.
    eval_jobs: int = 2
    backend: str = "loky"  # any joblib backend: loky, threading, or dask/ray once registered
    torch_threads: int = 0  # 0 = torch's default
    device: str = "cpu"  # where models run: cpu, cuda, cuda:1, ... (sampling and reward-model scoring)
    # backend = "dask": the scheduler's address (tcp://host:8786); "" = a LocalCluster of n_jobs workers
    scheduler: str = ""
    progress: bool = True
    hex: bool = True  # run the Hex train/test trade-off experiment
    # each figure is saved in these formats (PDF costs about a third of the drawing time)
    figure_formats: tuple[str, ...] = ("png", "pdf")
