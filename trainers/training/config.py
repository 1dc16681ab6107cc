"""Training configs: YAML -> a validated `TrainConfig`, checked up front (one-line GeobenchErrors, no model load).

    geobench train sft  --config configs/sft_tiny.yaml  [--set key=value ...]
    geobench train grpo --config configs/grpo_tiny.yaml [--set lora.r=16 --set trl.bf16=true]

Keys (both trainers unless marked):

model                   folder, hub id or a registered name such as `tiny` (default `tiny`)
output_dir              where checkpoints, `train_log.jsonl` and `train_config.yaml` go (required)
run_name                name of the run in the results table (default: the output_dir's folder name)
dataset                 SFT: a scaffold folder (`geobench scaffold ... --out DIR`), as a string or {path: DIR}
                        GRPO: {task: crossview_toy, split: train, limit: null, task_args: {k: 4}}
lora                    false (full fine-tune), true (defaults below) or {r, alpha, dropout, target_modules}
lr                      learning rate (> 0)
epochs / max_steps      num_train_epochs; max_steps > 0 overrides epochs (-1 = off)
per_device_batch_size, gradient_accumulation_steps
save_steps, save_total_limit, logging_steps
eval_tasks              tasks evaluated on every saved checkpoint (empty = no evaluation)
eval_limit, eval_gen_kwargs, eval_batch_size, eval_output (results folder, default `results`)
eval_task_args          task configs for those evaluations, e.g. {crossview_toy: {difficulty: easy, k: 4}}
eval_mode               inline (default: training waits) or background (a separate process, one checkpoint
                        at a time, while training goes on; not with save_total_limit, which could delete a
                        checkpoint before its turn)
seed, report_to         (report_to default "none")
GRPO only: rewards (a registered reward preset name, or a list of names / {name: weight}),
           num_generations, beta, max_completion_length, temperature
SFT only:  assistant_only_loss (default true), max_length (default null: image tokens are never truncated)
trl                     any other SFTConfig / GRPOConfig field, passed through (e.g. {bf16: true,
                        gradient_checkpointing: true, use_vllm: true}); checked against TRL's config class.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobench.errors import GeobenchError
from geobench.trainers.training.config_yaml import _merge, _short, parse_set, read_config_file  # noqa: F401 - parse_set: public here

# yaml and trl are imported where they are used: this module is loaded by `geobench train list` (through the
# trainer classes), which must work without the [train] extra and without importing TRL.

KINDS = ("sft", "grpo")


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list = "all-linear"


@dataclass
class DatasetSettings:
    path: str | None = None  # SFT: scaffold folder
    task: str | None = None  # GRPO: task name
    split: str = "train"
    limit: int | None = None
    task_args: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    kind: str
    output_dir: str
    model: str = "tiny"
    run_name: str | None = None
    dataset: DatasetSettings = field(default_factory=DatasetSettings)
    lora: LoraSettings | None = None
    lr: float = 1e-5
    epochs: float = 1.0
    max_steps: int = -1
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    save_steps: int = 500
    save_total_limit: int | None = None
    logging_steps: int = 1
    eval_tasks: list = field(default_factory=list)
    eval_limit: int | None = None
    eval_gen_kwargs: dict | str | None = None
    eval_batch_size: int = 1
    eval_output: str = "results"
    eval_task_args: dict = field(default_factory=dict)
    eval_mode: str = "inline"
    seed: int = 0
    report_to: str | list = "none"
    trl: dict = field(default_factory=dict)
    # SFT
    assistant_only_loss: bool = True
    max_length: int | None = None
    # GRPO
    rewards: str | list = "geo-r1"
    num_generations: int = 8
    beta: float = 0.04
    max_completion_length: int = 256
    temperature: float = 1.0

    @property
    def name(self) -> str:
        return self.run_name or Path(self.output_dir).name

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lora"] = False if self.lora is None else d["lora"]
        return d


# key -> (accepted types, description of the type); None accepted where the default is None
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "model": ((str,), "a string"), "output_dir": ((str,), "a string"), "run_name": ((str,), "a string"),
    "lr": ((int, float), "a number"), "epochs": ((int, float), "a number"), "max_steps": ((int,), "an integer"),
    "per_device_batch_size": ((int,), "an integer"), "gradient_accumulation_steps": ((int,), "an integer"),
    "save_steps": ((int,), "an integer"), "save_total_limit": ((int,), "an integer"),
    "logging_steps": ((int,), "an integer"), "eval_tasks": ((list, str), "a list of task names"),
    "eval_limit": ((int,), "an integer"), "eval_gen_kwargs": ((dict, str), "a mapping or k=v,... string"),
    "eval_batch_size": ((int, str), "an integer or 'auto'"), "eval_output": ((str,), "a string"),
    "eval_task_args": ((dict,), "a mapping {task: {key: value}}"), "eval_mode": ((str,), "inline or background"),
    "seed": ((int,), "an integer"), "report_to": ((str, list), "a string or list"),
    "trl": ((dict,), "a mapping"), "assistant_only_loss": ((bool,), "true or false"),
    "max_length": ((int,), "an integer"), "rewards": ((str, list), "a preset name or a list"),
    "num_generations": ((int,), "an integer"), "beta": ((int, float), "a number"),
    "max_completion_length": ((int,), "an integer"), "temperature": ((int, float), "a number"),
    "dataset": ((str, dict), "a folder or a mapping"), "lora": ((bool, dict), "true, false or a mapping"),
}
COMMON = ["model", "output_dir", "run_name", "dataset", "lora", "lr", "epochs", "max_steps", "per_device_batch_size",
          "gradient_accumulation_steps", "save_steps", "save_total_limit", "logging_steps", "eval_tasks",
          "eval_limit", "eval_gen_kwargs", "eval_batch_size", "eval_output", "eval_task_args", "eval_mode", "seed",
          "report_to",
          "trl"]
ONLY = {"sft": ["assistant_only_loss", "max_length"],
        "grpo": ["rewards", "num_generations", "beta", "max_completion_length", "temperature"]}
DEFAULT_LR = {"sft": 1e-5, "grpo": 1e-6}
# top-level keys -> the TRL field they set (a `trl:` entry for one of these is refused as a duplicate)
TRL_NAMES = {"lr": "learning_rate", "epochs": "num_train_epochs", "per_device_batch_size": "per_device_train_batch_size"}
TRL_OWNED = {"output_dir", "run_name", "max_steps", "gradient_accumulation_steps", "save_steps", "save_total_limit",
             "logging_steps", "seed", "report_to", "assistant_only_loss", "max_length", "num_generations", "beta",
             "max_completion_length", "temperature", "learning_rate", "num_train_epochs",
             "per_device_train_batch_size", "reward_weights"}


MAX_PROBLEMS_SHOWN = 8
RUN_NAME_MAX = 180  # evaluation run folders are `<run_name>-step<N>`, and a run folder name is at most 200 characters


class Problems:
    """Every problem found in one config, raised at the end as ONE GeobenchError that lists them all on one
    line (`grpo.yaml: 3 problems: 1) ...; 2) ...; 3) ...`), so a user fixes a config in one round, not one
    error per run."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[tuple[str, str | None]] = []

    def add(self, message: str, hint: str | None = None) -> None:
        self.items.append((message, hint))

    def add_error(self, e: GeobenchError) -> None:
        msg = str(e.args[0]) if e.args else str(e)
        prefix = f"{self.source}: "
        self.add(msg[len(prefix):] if msg.startswith(prefix) else msg, e.hint)

    def __bool__(self) -> bool:
        return bool(self.items)

    def check(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            (msg, hint), = self.items
            raise GeobenchError(f"{self.source}: {msg}", hint=hint)
        shown = [f"{i}) {m}" + (f" ({h})" if h else "") for i, (m, h) in enumerate(self.items[:MAX_PROBLEMS_SHOWN], 1)]
        more = len(self.items) - MAX_PROBLEMS_SHOWN
        tail = f"; and {more} more" if more > 0 else ""
        raise GeobenchError(f"{self.source}: {len(self.items)} problems: {'; '.join(shown)}{tail}")


def _unknown(key: str, known: list[str], where: str, other: str | None = None) -> tuple[str, str | None]:
    if other:
        return f"config key {key!r} is for `geobench train {other}` only, not {where}", None
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return f"unknown config key {_short(key)} in {where}", hint


def _type_problem(key: str, value: Any) -> str | None:
    types, desc = _TYPES[key]
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    return None if ok else f"config key {key!r} must be {desc}, got {type(value).__name__} {_short(value)}"


def _sub(kind_name: str, cls, raw: Any, p: Problems) -> Any:
    """A nested mapping (lora, dataset) as `cls`; unknown keys and bad types are problems, replaced by defaults."""
    if not isinstance(raw, dict):
        p.add(f"config key {kind_name!r} must be a mapping, got {type(raw).__name__} {_short(raw)}")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    good = {}
    for k, v in raw.items():
        if k not in fields:
            p.add(*_unknown(str(k), list(fields), kind_name))
            continue
        f = fields[k]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if v is None:
            if default is not None:
                p.add(f"config key '{kind_name}.{k}' cannot be null")
            else:
                good[k] = v
            continue
        want = {bool: (bool,), int: (int,), float: (int, float), str: (str,), dict: (dict,)}.get(type(default))
        if k == "limit":
            want = (int,)
        if k in ("path", "task"):
            want = (str,)
        if k == "target_modules":
            want = (str, list)
        if want and (not isinstance(v, want) or (isinstance(v, bool) and bool not in want)):
            names = " or ".join({"int": "an integer", "float": "a number", "str": "a string", "dict": "a mapping",
                                 "list": "a list", "bool": "true or false"}[t.__name__] for t in want)
            p.add(f"config key '{kind_name}.{k}' must be {names}, got {type(v).__name__} {_short(v)}")
            continue
        if k == "target_modules" and isinstance(v, list) and not all(isinstance(m, str) for m in v):
            p.add(f"config key '{kind_name}.target_modules' must be module names, got {_short(v)}")
            continue
        good[k] = v
    return cls(**good)


def from_dict(raw: dict[str, Any], kind: str, source: str = "config") -> TrainConfig:
    """Validate a config mapping for trainer `kind` (sft or grpo). Every problem is found, then all of them are
    raised as one one-line GeobenchError."""
    if kind not in KINDS:
        raise GeobenchError(f"unknown trainer kind {kind!r}", hint=f"known: {', '.join(KINDS)}")
    if not isinstance(raw, dict):
        raise GeobenchError(f"{source}: the config must be a mapping of keys, got {type(raw).__name__}")
    p = Problems(source)
    known = COMMON + ONLY[kind]
    other = next(o for o in KINDS if o != kind)
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for key, value in raw.items():
        if not isinstance(key, str) or key not in known:
            p.add(*_unknown(str(key), known, f"a {kind} config", other if key in ONLY[other] else None))
            continue
        if value is None:
            continue
        problem = _type_problem(key, value)
        if problem:
            p.add(problem)
            bad.add(key)
            continue
        values[key] = value
    if "output_dir" not in values and "output_dir" not in bad:
        p.add("missing required key 'output_dir'", hint="where checkpoints and train_log.jsonl go")
    values.setdefault("output_dir", "")
    values.setdefault("lr", DEFAULT_LR[kind])

    ds = values.pop("dataset", None)
    if isinstance(ds, str):
        ds = {"path": ds} if kind == "sft" else {"task": ds}
    dataset = _sub("dataset", DatasetSettings, ds or {}, p)
    lora = values.pop("lora", False)
    lora = None if lora is False else _sub("lora", LoraSettings, {} if lora is True else lora, p)
    if isinstance(values.get("eval_tasks"), str):
        values["eval_tasks"] = [t.strip() for t in values["eval_tasks"].split(",") if t.strip()]
    cfg = TrainConfig(kind=kind, dataset=dataset, lora=lora, **values)
    _check_values(cfg, p, bad)
    if cfg.trl and "trl" not in bad:
        from geobench.trainers.training.config_checks import trl_problems  # it builds on this module

        trl_problems(cfg, p)
    p.check()
    return cfg


def _positive(cfg: TrainConfig, p: Problems, *keys: str, zero_ok: bool = False) -> None:
    for k in keys:
        v = getattr(cfg, k)
        if v is not None and (v < 0 or (v == 0 and not zero_ok)):
            p.add(f"{k} must be > {'= ' if zero_ok else ''}0, got {v}")


def _check_values(cfg: TrainConfig, p: Problems, bad: set[str] = frozenset()) -> None:
    """Every value check that needs no model, no TRL and no registry: done at start, never at a checkpoint."""
    _positive(cfg, p, "lr", "per_device_batch_size", "gradient_accumulation_steps", "save_steps",
              "logging_steps", "eval_limit", "save_total_limit")
    _positive(cfg, p, "epochs", zero_ok=True)
    if cfg.max_steps == 0 or cfg.max_steps < -1:
        p.add(f"max_steps must be > 0 (or -1 = use epochs), got {cfg.max_steps}")
    elif cfg.max_steps == -1 and cfg.epochs <= 0 and "epochs" not in bad:
        p.add("epochs must be > 0 when max_steps is not set")
    if cfg.eval_mode not in ("inline", "background"):
        p.add(f"eval_mode must be 'inline' or 'background', got {_short(cfg.eval_mode)}")
    elif cfg.eval_mode == "background" and cfg.save_total_limit is not None:
        p.add("eval_mode: background cannot be combined with save_total_limit "
              "(a checkpoint could be deleted before its evaluation runs)")
    for t in cfg.eval_tasks:
        if not isinstance(t, str):
            p.add(f"eval_tasks must be task names, got {_short(t)}")
            break
    if isinstance(cfg.eval_batch_size, str) and cfg.eval_batch_size != "auto":
        p.add(f"eval_batch_size must be an integer or 'auto', got {_short(cfg.eval_batch_size)}")
    elif isinstance(cfg.eval_batch_size, int) and cfg.eval_batch_size <= 0:
        p.add(f"eval_batch_size must be > 0, got {cfg.eval_batch_size}")
    if cfg.eval_gen_kwargs is not None and "eval_gen_kwargs" not in bad:
        from geobench.api import GenConfig
        from geobench.args import parse_kv

        try:
            GenConfig().updated(**parse_kv(cfg.eval_gen_kwargs, "eval_gen_kwargs"))
        except GeobenchError as e:
            p.add(f"eval_gen_kwargs: {e}")
        except TypeError as e:  # a non-string key
            p.add(f"eval_gen_kwargs: {e}")
    for t, targs in (cfg.eval_task_args or {}).items():
        if not isinstance(targs, dict | str):
            p.add(f"eval_task_args.{t} must be a mapping {{key: value}}, got {_short(targs)}")
    name = cfg.run_name if cfg.run_name is not None else (Path(cfg.output_dir).name if cfg.output_dir else None)
    if name is not None and (cfg.run_name is not None or cfg.eval_tasks):
        if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > RUN_NAME_MAX \
                or any(ord(c) < 32 for c in name):
            p.add(f"run_name {_short(name)} is not a plain folder name of at most {RUN_NAME_MAX} characters",
                  hint="checkpoint evaluations are written to <eval_output>/<run_name>-step<N>")
    if cfg.lora is not None:
        if cfg.lora.r <= 0 or cfg.lora.alpha <= 0 or not 0 <= cfg.lora.dropout < 1:
            p.add("lora needs r > 0, alpha > 0 and 0 <= dropout < 1")
    for k in cfg.trl:
        if k in TRL_OWNED or k in TRL_NAMES:
            top = {v: k2 for k2, v in TRL_NAMES.items()}.get(k, k)
            p.add(f"trl.{k} duplicates a top-level key; set {top!r} instead")
    if cfg.kind == "sft":
        if not cfg.dataset.path:
            if "dataset" not in bad:
                p.add("sft needs dataset: <scaffold folder> (from `geobench scaffold`)")
        elif not (Path(cfg.dataset.path) / "train.jsonl").is_file():
            p.add(f"no train.jsonl in dataset folder {_short(cfg.dataset.path, 200)}",
                  hint="make one with `geobench scaffold --task ... --out DIR`")
        if cfg.dataset.task:
            p.add("sft reads a scaffold folder (dataset.path), not a task")
        if cfg.max_length is not None and cfg.max_length <= 0:
            p.add("max_length must be > 0 or null")
    else:
        if not cfg.dataset.task and "dataset" not in bad:
            p.add("grpo needs dataset: {task: NAME, split: train}")
        if cfg.dataset.path:
            p.add("grpo builds its prompts from a task (dataset.task), not a folder")
        if "rewards" not in bad:
            for problem in _reward_problems(cfg.rewards):  # shape only; names are resolved against the registry later
                p.add(problem)
        _positive(cfg, p, "max_completion_length", "temperature")
        _positive(cfg, p, "beta", zero_ok=True)
        if cfg.num_generations < 2:
            p.add(f"num_generations must be >= 2 (GRPO compares completions within a group), "
                  f"got {cfg.num_generations}")
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        batch = cfg.per_device_batch_size * cfg.gradient_accumulation_steps * world
        if "generation_batch_size" not in cfg.trl and "steps_per_generation" not in cfg.trl \
                and cfg.num_generations >= 2 and batch > 0 and batch % cfg.num_generations:
            p.add(f"per_device_batch_size x gradient_accumulation_steps x processes = "
                  f"{cfg.per_device_batch_size} x {cfg.gradient_accumulation_steps} x {world} = {batch} "
                  f"is not divisible by num_generations = {cfg.num_generations}")


def _reward_entry(item: Any) -> tuple[tuple[str, float] | None, str | None]:
    if isinstance(item, str):
        return (item, 1.0), None
    if isinstance(item, dict) and len(item) == 1:
        (n, w), = item.items()
        if not isinstance(w, int | float) or isinstance(w, bool):
            return None, f"reward weight for {_short(n)} must be a number, got {_short(w)}"
        return (str(n), float(w)), None
    if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str) \
            and isinstance(item[1], int | float) and not isinstance(item[1], bool):
        return (item[0], float(item[1])), None
    return None, f"bad rewards entry {_short(item)}; use a name, {{name: weight}} or [name, weight]"


def _reward_problems(rewards: str | list) -> list[str]:
    if isinstance(rewards, str):
        return []
    if not rewards:
        return ["rewards must name a preset or list at least one reward"]
    return [problem for problem in (_reward_entry(item)[1] for item in rewards) if problem]


def reward_spec(rewards: str | list, source: str = "config") -> tuple[str | None, list[tuple[str, float]]]:
    """(preset name or None, [(reward name, weight)] for a list). Accepts names, {name: weight}, [name, weight]."""
    if isinstance(rewards, str):
        return rewards, []
    problems = _reward_problems(rewards)
    if problems:
        raise GeobenchError(f"{source}: {problems[0]}")
    return None, [_reward_entry(item)[0] for item in rewards]


def raise_plain(p: Problems) -> None:
    """Problems found outside a config file's own source: raised without a file-name prefix."""
    if len(p.items) == 1:
        (msg, hint), = p.items
        raise GeobenchError(msg, hint=hint)
    p.check()


def collect(p: Problems, check, *args) -> Any:
    """`check(*args)`, with a GeobenchError it raises added to `p` (None returned) instead of raised."""
    try:
        return check(*args)
    except GeobenchError as e:
        p.add_error(e)
        return None


def load_config(path: str | os.PathLike | None, kind: str, overrides: list[str] | tuple[str, ...] = (),
                extra: dict | None = None) -> TrainConfig:
    """Read a YAML file (or nothing), apply `extra` then `--set` overrides, and validate (all problems at once)."""
    raw: dict[str, Any] = read_config_file(path) if path is not None else {}
    source = Path(path).name if path is not None else "config"
    raw = _merge(raw, extra or {})
    raw = _merge(raw, parse_set(overrides))
    return from_dict(raw, kind, source)
