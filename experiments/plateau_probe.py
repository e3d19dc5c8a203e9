"""Follow one generator size along its training: loss by token role and sampled accuracy at checkpoints.

    python experiments/plateau_probe.py s                               # the default config's s, its own budget
    python experiments/plateau_probe.py s --tokens 2200000 --seed 1
    python experiments/plateau_probe.py s --set task.train.max_operand=3 task.ood.max_operand=3 task.train.op_zipf=1 \
        task.ood.op_zipf=1 --tokens 4400000 --csv probe_s.csv           # the previous default task
    python experiments/plateau_probe.py m --set task.train.max_operand=9 task.ood.max_operand=9 task.train.op_zipf=1 \
        task.ood.op_zipf=1 --curriculum 1:300000 3:600000 --tokens 1500000   # operands 1, then 1-3, then 1-9

Trains the size as the sweep's config does (``--set`` overrides any key), without decay branches, and at
``--checkpoints`` marks √2 apart in tokens (the last one the end of the budget, after the decay) prints
the teacher-forced loss of gold test solutions by token role (``ttc.learning_probe``: the copied value,
operation and operand, the computed result) and the single-sample accuracy of ``--samples`` samples on
``--problems`` test problems at T=1. A size with a curriculum in the config (``generators.curriculum``,
``ttc.curriculum``) first trains its stages, as the sweep does; ``--curriculum OPERAND:TOKENS ...`` replaces
them with stages on the task's train split with every operand at most OPERAND, for TOKENS tokens each.
The probed training runs after the stages, and the checkpoints' tokens count its tokens only
(``curriculum_tokens`` says how many came before). Nothing is cached; ``--csv`` writes one row per
checkpoint and role.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from ttc.environment import prepare_process

prepare_process()  # one BLAS thread, pinned kernel paths (ttc.environment); before numpy and torch load

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.table_io import check_output_path  # noqa: E402
from ttc.config import ConfigError, OneLineParser, load_config  # noqa: E402
from ttc.curriculum import CurriculumStage  # noqa: E402
from ttc.sweep_config import SweepConfig  # noqa: E402

DEFAULT = Path(__file__).resolve().parent / "configs" / "default.toml"
SHOWN = ("value", "operation", "operand", "result")


def parse_curriculum(stages: list[str], modulus: int) -> tuple[CurriculumStage, ...]:
    """["1:300000", "3:600000"] -> stages on operands 1, then 1..3; ConfigError (one line) on a bad one."""
    out = []
    for text in stages:
        operand, sep, tokens = text.partition(":")
        if not (sep and operand.isdigit() and tokens.isdigit()) or not 1 <= int(operand) < modulus or int(tokens) < 1:
            raise ConfigError(f"--curriculum stage {text!r}: use OPERAND:TOKENS with OPERAND in 1..{modulus - 1} "
                              "and TOKENS >= 1, e.g. 1:300000")
        out.append(CurriculumStage(tokens=int(tokens), task={"max_operand": int(operand)}))
    return tuple(out)


def probe(cfg: SweepConfig, size: str, *, tokens: int | None, seed: int, checkpoints: int, problems: int,
          samples: int, threads: int = 1, curriculum: tuple[CurriculumStage, ...] = ()) -> pd.DataFrame:
    """The probe's rows; ``curriculum``: the stages trained first (ttc.curriculum)."""
    import torch

    from ttc.curriculum import train_curriculum
    from ttc.learning_probe import role_losses
    from ttc.models import build_model
    from ttc.pools import PoolSpec, draw_pool
    from ttc.tokenizer import Codec, build_char_tokenizer
    from ttc.train import train_generator
    torch.set_num_threads(threads)
    task = cfg.task.build()
    train = replace(cfg.generators.train_for(size), seed=seed, checkpoint_decay=False, n_checkpoints=checkpoints,
                    checkpoint_ratio=2 ** 0.5)
    if tokens:
        train = replace(train, tokens=tokens)
    tokenizer = build_char_tokenizer()
    codec = Codec.of(tokenizer)
    model = build_model(cfg.generators.shape(size), tokenizer, seed=seed)
    test = task.problems("test")[:problems]
    rng = np.random.default_rng(seed)
    prompts = [p.prompt for p in test]
    golds = [task.gold_solution(p, int(rng.integers(2 ** 31))) for p in test]
    rows: list[dict] = []
    start = time.time()
    before = train_curriculum(model, task, codec, train, curriculum)
    stages = " ".join(",".join(f"{k}={v}" for k, v in sorted(st.task.items())) + f":{st.tokens}" for st in curriculum)
    if curriculum:
        print(f"{size} seed {seed} curriculum {stages}: {before:,} tokens ({time.time() - start:.0f} s)", flush=True)

    def on_checkpoint(m, info) -> None:
        losses = role_losses(m, codec, prompts, golds)
        pool = draw_pool(m, codec, task, PoolSpec(n_problems=problems, n_samples=samples,
                                                  max_new_tokens=cfg.pools.max_new_tokens, seed=0))
        acc, pc = float(pool["is_correct"].mean()), float(pool["process_correct"].mean())
        for role, (nll, top1, n) in losses.items():
            rows.append({"generator": size, "seed": seed, "tokens": info.tokens, "train_flops": info.train_flops,
                         "final": info.tokens >= train.tokens, "train_loss": info.loss, "role": role, "nll": nll,
                         "top1": top1, "role_tokens": n, "accuracy": acc, "process_correct": pc,
                         "n_problems": problems, "n_samples": samples, "curriculum": stages,
                         "curriculum_tokens": before})
        shown = "  ".join(f"{r} {losses[r][0]:.3f}" for r in SHOWN if r in losses)
        print(f"{size} seed {seed} {info.tokens:>10,} tok  train loss {info.loss:.3f}  accuracy {acc:6.1%}  "
              f"nats/token: {shown}  ({time.time() - start:.0f} s)", flush=True)

    train_generator(model, task, codec, train, on_checkpoint=on_checkpoint)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = OneLineParser(prog="python experiments/plateau_probe.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("size", help="a generator size of the config (generators.sizes or generators.custom)")
    ap.add_argument("--config", default=str(DEFAULT))
    ap.add_argument("--tokens", type=int, help="training budget in tokens (default: the config's for this size)")
    ap.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    ap.add_argument("--checkpoints", type=int, default=6)
    ap.add_argument("--problems", type=int, default=400, help="test problems for the losses and the accuracy")
    ap.add_argument("--samples", type=int, default=2, help="samples per problem for the accuracy (T=1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--set", nargs="*", default=[], dest="overrides", help="config overrides, key=value")
    ap.add_argument("--curriculum", nargs="*", default=[], metavar="OPERAND:TOKENS",
                    help="stages trained first, each on the task with operands up to OPERAND (registers task); "
                         "replaces the config's generators.curriculum of the size")
    ap.add_argument("--csv", help="write the rows here")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(SweepConfig, args.config, args.overrides)
        if args.size not in cfg.generators.sizes and args.size not in cfg.generators.custom:
            raise ConfigError(f"size {args.size!r} is not in the config; use one of {', '.join(cfg.generators.sizes)}")
        try:  # what the probe reads of the config (the sweep's other sections are not checked)
            cfg.task.build()
            cfg.generators.shape(args.size).validate()
            cfg.generators.train_for(args.size).validate()
        except ValueError as e:
            raise ConfigError(str(e)) from None
        for key in ("checkpoints", "problems", "samples", "threads"):
            if getattr(args, key) < 1:
                raise ConfigError(f"--{key}={getattr(args, key)} must be >= 1")
        if args.tokens is not None and args.tokens < 1:
            raise ConfigError(f"--tokens={args.tokens} must be >= 1")
        if args.seed < 0:
            raise ConfigError(f"--seed={args.seed} must be >= 0")
        if args.csv:
            check_output_path(Path(args.csv), "--csv", ConfigError)
        if args.problems > cfg.task.n_test:
            raise ConfigError(f"--problems={args.problems} exceeds task.n_test={cfg.task.n_test}; lower it")
        if cfg.task.name != "registers":
            raise ConfigError(f"task {cfg.task.name!r}: the probe splits the loss of registers-task steps only")
        cfg.check_curriculum()  # the config's stages; --curriculum's are checked as they are parsed
        stages = (parse_curriculum(args.curriculum, cfg.task.build().train.modulus) if args.curriculum
                  else cfg.generators.curriculum_for(args.size))
    except ConfigError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    table = probe(cfg, args.size, tokens=args.tokens, seed=args.seed, checkpoints=args.checkpoints,
                  problems=args.problems, samples=args.samples, threads=args.threads, curriculum=stages)
    if args.csv:
        from ttc.cache import atomic_write_text
        atomic_write_text(Path(args.csv), table.to_csv(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
