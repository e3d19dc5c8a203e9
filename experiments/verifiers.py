"""Train the default ORM and PRM on samples of the default largest generator; compare on a test pool.

    python experiments/verifiers.py                       # default generator 'l', designs orm,prm
    python experiments/verifiers.py --size m --designs orm,prm,prm_mc,prm_nofeat --set steps=200
    python experiments/verifiers.py --size m --designs orm,prm,lm_only,lm_only_flops --lm-logprob --lm-sample \
        --csv results/verifier_controls.csv        # the verifiers against fine-tuning the generator

Prints, for every scorer, held-out verifier metrics and best-of-N vs majority at several N with 95%
CIs (paired per-problem difference to majority). Writes nothing but cache entries and, with --csv, the
printed tables as one tidy CSV; the generator must already be in the cache (this script never trains one).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from ttc.environment import pin_kernels

pin_kernels()  # the kernel paths the sweep runs (ttc.environment), set before torch loads

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # analysis/ lives beside ttc/

from analysis.table_io import check_output_path  # noqa: E402
from ttc.cache import Cache, atomic_write_text  # noqa: E402
from ttc.config import ConfigError, OneLineParser, load_config  # noqa: E402
from ttc.evaluate import RuleSpec, curves, curves_by_problem  # noqa: E402
from ttc.generators import (  # noqa: E402
    checkpoint_pool,
    read_records,
)
from ttc.pools import PoolSpec  # noqa: E402
from ttc.sweep import chosen_generator  # noqa: E402
from ttc.sweep_config import SweepConfig  # noqa: E402
from ttc.verifiers import (  # noqa: E402
    SCORERS,
    VerifierSpec,
    data_point,
    ensure_verifier,
    finetune_control,
    generator_step_logprobs,
    score_pool,
    verifier_lm_checkpoint,
    verifier_lm_step_logprobs,
    verifier_metrics,
)
from ttc.verifiers.metrics import selection_table  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.toml"

# design name -> VerifierSpec fields (on top of --set); the first two are the defaults
DESIGNS = {
    "orm": dict(kind="orm"),
    "prm": dict(kind="prm"),  # step labels, the default source: the same spec (and cache entry) as the sweep's
    "prm_mc": dict(kind="prm", label_source="mc", n_problems=300, samples_per_problem=4, mc_rollouts=4),
    "orm_flat": dict(kind="orm", head_init="flat"),
    "orm_last": dict(kind="orm", orm_tokens="last"),
    "prm_flat": dict(kind="prm", label_source="step", head_init="flat"),
    "orm_nofeat": dict(kind="orm", use_features=False),
    "prm_nofeat": dict(kind="prm", label_source="step", use_features=False),
    "prm_nolm": dict(kind="prm", label_source="step", lm_loss_weight=0.0),
    # controls: the generator trained further on gold solutions only, no verifier loss (--lm-logprob ranks
    # by it, --lm-sample samples from it): on the verifier's own gold stream (16 per step), and with its
    # 64 samples per step replaced by gold (80 gold per step: about the verifier's training tokens and FLOPs)
    "lm_only": dict(kind="prm", head_loss_weight=0.0),
    "lm_only_flops": dict(kind="prm"),  # made by ttc.verifiers.finetune_control (the sweep's control)
}


def parse_set(items: list[str]) -> dict:
    fields = {f.name: f for f in dataclasses.fields(VerifierSpec)}
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise ConfigError(f"--set {key}: unknown VerifierSpec field; use one of {', '.join(fields)}")
        default = getattr(VerifierSpec(), key)
        if isinstance(default, bool):
            if value.lower() not in ("1", "true", "0", "false"):
                raise ConfigError(f"--set {item}: {key} is true or false (or 1 or 0)")
            out[key] = value.lower() in ("1", "true")
        elif isinstance(default, (int, float)):
            try:
                out[key] = type(default)(value)
            except ValueError:
                raise ConfigError(f"--set {item}: {key} must be {'an integer' if isinstance(default, int) else 'a number'}, "
                                  f"e.g. {key}={default}") from None
        else:
            out[key] = None if value.lower() == "none" else value
    return out


def parse_ns(text: str, n_samples: int) -> list[int]:
    """--ns as a list of sample counts, each within the test pool's ``n_samples`` (checked before any training)."""
    try:
        ns = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise ConfigError(f"--ns {text!r}: use comma-separated sample counts, e.g. 1,4,16,64") from None
    bad = [n for n in ns if not 1 <= n <= n_samples]
    if not ns or bad:
        raise ConfigError(f"--ns {text!r}: every N must be in 1..{n_samples} (the test pool's pools.n_samples); "
                          f"lower it, or raise pools.n_samples in the --config file")
    if len(set(ns)) < len(ns):
        raise ConfigError(f"--ns {text!r} repeats an N; give each sample count once")
    return ns


def parse_designs(text: str) -> list[str]:
    """--designs as a list of DESIGNS names, each once (checked before any training)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in DESIGNS]
    if not names or unknown:
        raise ConfigError(f"--designs {text!r}: {'unknown design ' + repr(unknown[0]) if unknown else 'no design'}; "
                          f"use comma-separated names among {', '.join(DESIGNS)}")
    if len(set(names)) < len(names):
        raise ConfigError(f"--designs {text!r} repeats a design; name each once")
    return names


def parse_data_sweep(text: str) -> list[tuple[int, int]]:
    """--data-sweep PROBLEMSxSAMPLES,... as (problems, samples) pairs, each positive and given once."""
    points = []
    for point in filter(None, (p.strip() for p in text.split(","))):
        problems, sep, samples = point.partition("x")
        if not (sep and problems.isdigit() and samples.isdigit() and int(problems) > 0 and int(samples) > 0):
            raise ConfigError(f"--data-sweep point {point!r}: use PROBLEMSxSAMPLES with positive counts, e.g. 100x4")
        points.append((int(problems), int(samples)))
    if len(set(points)) < len(points):
        raise ConfigError(f"--data-sweep {text!r} repeats a point; give each PROBLEMSxSAMPLES once")
    return points


def check_csv(path: Path) -> None:
    """--csv must be a file in an existing folder and, when it is there already, a table of this script's rows."""
    check_output_path(path, "--csv", ConfigError)
    if path.exists():
        try:
            columns = pd.read_csv(path, nrows=0).columns
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
            columns = pd.Index([])
        if "checkpoint" not in columns:
            raise ConfigError(f"--csv {path} is not a table this script wrote (no 'checkpoint' column); "
                              "pass a new file name or one it wrote")


def main(argv=None) -> int:
    ap = OneLineParser(prog="python experiments/verifiers.py", description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the sweep's TOML config: generators, "
                    "pools and [verifiers] specs are taken from it (default: the default sweep's)")
    ap.add_argument("--size", default="l")
    ap.add_argument("--cache", default=None, help="cache directory (default: the config's run.cache_dir)")
    ap.add_argument("--generator", default=None, help="a cached generator's key (generators/KEY.json) instead "
                    "of the default --size; its final checkpoint is used")
    ap.add_argument("--designs", default="orm,prm")
    ap.add_argument("--ns", default="1,4,16,64")
    ap.add_argument("--split", default="test", choices=["test", "ood"])
    ap.add_argument("--test-problems", type=int, default=None, help="default: the sweep's pools.n_problems "
                    "(ood: pools.ood_problems)")
    ap.add_argument("--data-sweep", default="", help="PROBLEMSxSAMPLES,... : train each design at each "
                    "training-set size for one epoch (ttc.verifiers.data_point) and print its row (Cobbe's Figure 5)")
    ap.add_argument("--trials", type=int, default=100, help="subsampling trials for weighted voting")
    ap.add_argument("--lm-logprob", action="store_true", help="also rank by each verifier's own language model "
                    "(its sequence log-probability, the value head left out): a verifier trained with the joint LM "
                    "loss is a generator trained further, and this separates that from what the head adds")
    ap.add_argument("--lm-sample", action="store_true", help="also draw a test pool from each verifier's own "
                    "language model, as a generator (same N, problems and seed as the generator's pool), and print "
                    "its single-sample accuracy, majority and best-of-N by its own log-probability: Cobbe's "
                    "fine-tuning baseline when the design is lm_only / lm_only_flops")
    ap.add_argument("--csv", type=Path, default=None, help="also write the tables to this CSV (one row per table, "
                    "pool, scorer or rule, and N; rows of the same generator checkpoint already in it are replaced, "
                    "so one file can hold several --size runs)")
    ap.add_argument("--set", nargs="*", default=[])
    args = ap.parse_args(argv)
    overrides = parse_set(args.set)  # bad input fails here, before anything is loaded or trained
    cfg = load_config(SweepConfig, args.config, [])
    ns = parse_ns(args.ns, cfg.pools.n_samples)
    designs, data_sweep = parse_designs(args.designs), parse_data_sweep(args.data_sweep)
    if args.trials < 1:
        raise ConfigError(f"--trials={args.trials} must be >= 1")
    if args.csv is not None:
        check_csv(args.csv)
    task, cache = cfg.task.build(), Cache(args.cache or cfg.run.cache_dir)
    available = len(task.problems(args.split))
    if args.test_problems is not None and not 1 <= args.test_problems <= available:
        raise ConfigError(f"--test-problems={args.test_problems} must be in 1..{available} (the task's {args.split} "
                          "problems); lower it, or leave it out for the config's")

    def cached_generator(size: str):
        try:
            return chosen_generator(cfg, size, cache)[-1]  # the restart the sweep keeps
        except FileNotFoundError as e:
            raise ConfigError(str(e)) from None

    if args.generator:
        try:
            gen = read_records(cache, args.generator)[-1]
        except (ValueError, IndexError):
            raise ConfigError(f"--generator {args.generator}: no cached generator with that key in {cache.root} "
                              "(generators/KEY.json); run the sweep first or pass another key") from None
    else:
        gen = cached_generator(args.size)
    p = cfg.pools
    n_problems = args.test_problems or (p.n_problems if args.split == "test" else p.ood_problems)
    pool_spec = PoolSpec(split=args.split, n_problems=n_problems, n_samples=p.n_samples, temperature=p.temperature,
                         max_new_tokens=p.max_new_tokens, seed=p.seed)
    pool = checkpoint_pool(cache, gen, task, pool_spec, progress=True)
    print(f"generator {gen.generator} {gen.key} ({gen.params} P, {gen.tokens} tokens): single-sample {pool.is_correct.mean():.3f}, process-correct "
          f"{pool.process_correct.mean():.3f}; {args.split} pool {pool.problem_id.nunique()} problems x {p.n_samples}")

    scores, metrics = {name: fn(pool) for name, fn in SCORERS.items()}, {}
    t0 = time.perf_counter()
    steps = generator_step_logprobs(gen, pool, task, split=args.split)
    scores["gen_step_min"] = np.array([s.min() for s in steps])  # the generator's least likely step
    metrics["gen_step_min"] = {"score_s": time.perf_counter() - t0}
    runs: list[tuple[str, tuple[int, int] | None]] = [(name, None) for name in designs]
    for point in data_sweep:
        runs += [(f"{name}@{point[0]}x{point[1]}", point) for name in designs]
    lm_pools: dict[str, pd.DataFrame] = {}
    for name, size in runs:
        design = DESIGNS[name.split("@")[0]]  # on top of the config's spec for that kind
        spec = dataclasses.replace(cfg.verifiers.spec(design["kind"]), **{**design, **overrides})
        spec = finetune_control(spec) if name.split("@")[0] == "lm_only_flops" else spec
        spec = data_point(spec, *size) if size else spec
        init = cached_generator(spec.init_size) if spec.init_size else None
        rec = ensure_verifier(cache, task, gen, spec, init_checkpoint=init, progress=True)
        t0 = time.perf_counter()
        scores[name], step_scores = score_pool(rec, pool, task, split=args.split)
        metrics[name] = {**verifier_metrics(scores[name], step_scores, pool), "train_s": rec.train_seconds,
                         "score_s": time.perf_counter() - t0, "val_within_auc": rec.metrics.get("within_problem_auc"),
                         "train_pflops": rec.train_flops / 1e15}
        if args.lm_logprob:  # the verifier's own LM, head left out: what its further LM training alone ranks
            scores[f"{name}:lm_logprob"] = np.array([s.sum() for s in verifier_lm_step_logprobs(
                rec, pool, task, split=args.split)])
        if args.lm_sample:  # the verifier's LM as a generator: its own pool, cached under its own key
            lm_pools[name] = checkpoint_pool(cache, verifier_lm_checkpoint(gen, rec, name), task, pool_spec,
                                             progress=True)
    for name in scores:
        base = verifier_metrics(scores[name], None, pool, probabilities=False)
        metrics[name] = {**base, **metrics.get(name, {})}
    pd.set_option("display.width", 200)
    print(pd.DataFrame(metrics).T.round(3).to_string())
    table = selection_table(pool, scores, ns)
    print(table.round(3).to_string(index=False))
    # Snell's weighted best-of-N: sum of scores per distinct answer (probabilities; exp of log-probs)
    weighted = pool.assign(**{f"w_{k}": np.exp(v) if k.startswith(("logprob", "gen_")) or k.endswith(":lm_logprob") else v
                              for k, v in scores.items()})
    vote = curves(weighted, [RuleSpec("weighted_vote", score=f"w_{k}", label=f"weighted_vote:{k}") for k in scores],
                  ns, trials=args.trials, seed=0)
    print(vote[["rule", "n", "accuracy", "ci_low", "ci_high", "mc_se"]].round(3).to_string(index=False))
    lm_table = lm_sample_table(pool, lm_pools, ns) if lm_pools else None
    if lm_table is not None:
        print(lm_table.round(3).to_string(index=False))
    if args.csv:
        flops = {name: m.get("train_pflops", np.nan) * 1e15 for name, m in metrics.items()}
        rows = [table.assign(table="best_of_n", pool="generator", train_flops=table["scorer"].map(flops)),
                vote[["rule", "n", "accuracy", "ci_low", "ci_high", "mc_se"]].rename(columns={"rule": "scorer"})
                .assign(table="weighted_vote", pool="generator")]
        if lm_table is not None:
            rows.append(lm_table.rename(columns={"rule": "scorer"}).assign(
                table="lm_sample", train_flops=lm_table["pool"].map(lambda p: flops.get(p.removesuffix(" LM"), np.nan))))
        write_rows(args.csv, pd.concat(rows, ignore_index=True).assign(
            generator=gen.generator, checkpoint=gen.key, params=gen.params, generator_train_flops=gen.train_flops,
            split=args.split, n_problems=pool.problem_id.nunique(), samples=p.n_samples))
    return 0


def write_rows(path: Path, rows: pd.DataFrame) -> None:
    """Replace ``rows``' checkpoint's rows in the CSV at ``path`` (or start it), atomically."""
    if path.exists():
        old = pd.read_csv(path)
        rows = pd.concat([old[~old["checkpoint"].isin(rows["checkpoint"].unique())], rows], ignore_index=True)
    atomic_write_text(path, rows.to_csv(index=False))


def lm_sample_table(pool: pd.DataFrame, lm_pools: dict[str, pd.DataFrame], ns: list[int], *,
                    z: float = 1.96) -> pd.DataFrame:
    """Each LM's own pool next to the generator's: single-sample accuracy (n = 1), majority@n and best-of-n by
    its own log-probability, each with a 95% CI over problems and its difference from the generator's same
    rule at the same n, paired by problem (``minus_generator`` with its CI)."""
    rules = [RuleSpec.parse("majority"), RuleSpec("best_of_n", score="logprob", label="best_of_n:own_logprob")]
    pools = {"generator": pool, **{f"{name} LM": lp for name, lp in lm_pools.items()}}
    per = {label: curves_by_problem(p, rules, ns).pivot_table(index="problem_id", columns=["rule", "n"],
                                                              values="value")
           for label, p in pools.items()}
    rows = []
    for label, values in per.items():
        for rule, n in values.columns:
            v, d = values[(rule, n)], values[(rule, n)] - per["generator"][(rule, n)]
            se, dse = v.std(ddof=1) / np.sqrt(len(v)), d.std(ddof=1) / np.sqrt(len(d))
            rows.append({"pool": label, "rule": "single" if n == 1 else rule, "n": n, "accuracy": v.mean(),
                         "ci_low": v.mean() - z * se, "ci_high": v.mean() + z * se, "minus_generator": d.mean(),
                         "minus_low": d.mean() - z * dse, "minus_high": d.mean() + z * dse})
    out = pd.DataFrame(rows)
    return out[(out["n"] > 1) | (out["rule"] == "single")].drop_duplicates(["pool", "n", "rule"])


def cli(argv=None) -> int:
    try:
        return main(argv)
    except ConfigError as e:  # bad --config / --set / flags: one line, exit 2, nothing trained
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
