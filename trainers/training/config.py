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
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobench.errors import GeobenchError

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


def _short(value: Any, limit: int = 60) -> str:
    """repr of a value, cut: an error message never grows with the config."""
    text = repr(value) if not isinstance(value, dict | list) or len(value) <= 8 else \
        f"<{type(value).__name__} of {len(value)}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


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


def check_dependencies(cfg: TrainConfig, problems: Problems | None = None) -> None:
    """Every optional package the config names is installed: one line with the install or the fallback, before
    any model loads (no import of the packages themselves)."""
    from geobench import hfutil

    p = problems if problems is not None else Problems("config")
    init = cfg.trl.get("model_init_kwargs") or {}
    if isinstance(init, dict):
        try:
            hfutil.check_attn_implementation(init.get("attn_implementation"),
                                             "trl.model_init_kwargs.attn_implementation")
        except GeobenchError as e:
            p.add_error(e)
    needs = [("lora", bool(cfg.lora), "peft", "pip install 'geobench[train]'", "lora=false"),
             ("trl.deepspeed", bool(cfg.trl.get("deepspeed")), "deepspeed", "pip install 'geobench[gpu]'",
              "drop trl.deepspeed"),
             ("trl.use_liger_kernel", bool(cfg.trl.get("use_liger_kernel")), "liger_kernel", "pip install liger-kernel",
              "trl.use_liger_kernel=false")]
    for key, wanted, package, how, fallback in needs:
        if wanted and not hfutil.installed(package):
            p.add(f"{key} needs the {package!r} package, which is not installed", hint=f"{how}; or set {fallback}")
    if problems is None:
        raise_plain(p)


def raise_plain(p: Problems) -> None:
    """Problems found outside a config file's own source: raised without a file-name prefix."""
    if len(p.items) == 1:
        (msg, hint), = p.items
        raise GeobenchError(msg, hint=hint)
    p.check()


def _field_type(t: Any) -> type | None:
    """bool / int / float / str when a dataclass field is annotated as exactly that (or Optional of it)."""
    import types
    import typing

    if isinstance(t, str):
        s = t.replace("typing.", "").replace(" ", "")
        if s.startswith("Optional[") and s.endswith("]"):
            s = s[len("Optional["):-1]
        s = s.removesuffix("|None").removeprefix("None|")
        return {"bool": bool, "int": int, "float": float, "str": str}.get(s)
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(t) if a is not type(None)]
        if len(rest) != 1:
            return None
        t = rest[0]
    return t if t in (bool, int, float, str) else None


def trl_problems(cfg: TrainConfig, p: Problems) -> None:
    """`trl:` passthrough keys must be fields of SFTConfig / GRPOConfig, and a value of a field TRL declares as a
    bool, int, float or string must be exactly that: `bf16: maybe` or `bf16: "false"` is an error, never truthy.
    Imports trl (only when `trl:` has keys); loads no model."""
    import trl

    cls = trl.SFTConfig if cfg.kind == "sft" else trl.GRPOConfig
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in cfg.trl.items():
        if k not in fields:
            p.add(*_unknown(f"trl.{k}", [f"trl.{n}" for n in fields], f"{cls.__name__} fields"))
            continue
        want = _field_type(fields[k].type)
        if want is None or v is None:
            continue
        ok = isinstance(v, bool) if want is bool else \
            isinstance(v, int) and not isinstance(v, bool) if want is int else \
            isinstance(v, int | float) and not isinstance(v, bool) if want is float else isinstance(v, str)
        if not ok:
            desc = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[want]
            p.add(f"trl.{k} must be {desc}, got {type(v).__name__} {_short(v)}")
    if cfg.trl.get("use_vllm") is True:
        if importlib.util.find_spec("vllm") is None:
            p.add("trl.use_vllm is set but vllm is not installed",
                  hint="pip install vllm (a CUDA machine), or drop use_vllm to generate with transformers")
        mode = cfg.trl.get("vllm_mode", "colocate")  # TRL 1.16's default
        if mode not in ("server", "colocate"):
            p.add(f"trl.vllm_mode must be 'server' or 'colocate', got {_short(mode)}")


def check_trl_keys(cfg: TrainConfig, problems: Problems | None = None) -> None:
    """`trl:` passthrough keys and values checked against SFTConfig / GRPOConfig (imports trl, loads no model),
    then `check_dependencies`; all problems in one error (or added to `problems`)."""
    p = problems if problems is not None else Problems("config")
    if cfg.trl:
        trl_problems(cfg, p)
    check_dependencies(cfg, p)
    if problems is None:
        raise_plain(p)


def collect(p: Problems, check, *args) -> Any:
    """`check(*args)`, with a GeobenchError it raises added to `p` (None returned) instead of raised."""
    try:
        return check(*args)
    except GeobenchError as e:
        p.add_error(e)
        return None


# ------------------------------------------------------------------------------------------------ YAML

MAX_CONFIG_BYTES = 1 << 20  # a training config is a few hundred bytes; anything near a megabyte is a mistake
MAX_NODES = 20_000  # values after every alias is expanded (a real config has well under a thousand)
MAX_CHARS = 1 << 20  # characters of all scalars after every alias is expanded


def safe_yaml(text: str, where: str) -> Any:
    """YAML -> Python like `yaml.safe_load`, but bounded: the document is composed first and its size with every
    alias expanded is counted (memoised per node, so counting is linear in the file) before anything is built.
    An alias bomb ("billion laughs": `a: &a [x, x]`, `b: &b [*a, *a]`, ... `lr: *b9`), a recursive alias
    (`&a [*a]`) or nesting deep enough to exhaust the parser is one line, in constant memory."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise GeobenchError(f"{where}: nested too deeply") from None
        if node is None:
            return None
        sizes: dict[int, tuple[int, int]] = {}

        def size(n) -> tuple[int, int]:
            key = id(n)
            if key in sizes:
                if sizes[key] == (-1, -1):
                    raise GeobenchError(f"{where}: a YAML alias refers to the value that contains it "
                                        f"(line {n.start_mark.line + 1}); write the value out")
                return sizes[key]
            sizes[key] = (-1, -1)
            if isinstance(n, yaml.ScalarNode):
                total = (1, len(n.value))
            else:
                children = n.value if isinstance(n, yaml.SequenceNode) else [c for kv in n.value for c in kv]
                total = (1, 0)
                for c in children:
                    cn, cc = size(c)
                    total = (total[0] + cn, total[1] + cc)
                    if total[0] > MAX_NODES or total[1] > MAX_CHARS:
                        raise GeobenchError(
                            f"{where}: YAML aliases expand to more than {MAX_NODES:,} values or {MAX_CHARS:,} "
                            f"characters (line {n.start_mark.line + 1}); refused (an alias bomb?)",
                            hint="write the values out instead of repeating aliases")
            sizes[key] = total
            return total

        try:
            size(node)
            return loader.construct_document(node)
        except RecursionError:
            raise GeobenchError(f"{where}: nested too deeply") from None
    finally:
        loader.dispose()


def _yaml_error(where: str, e: Exception) -> GeobenchError:
    mark = getattr(e, "problem_mark", None)
    line = f" line {mark.line + 1}" if mark else ""
    return GeobenchError(f"{where}: not valid YAML{line}: {getattr(e, 'problem', None) or e}")


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--set a.b=value` -> {"a": {"b": value}}; values are YAML (numbers, true/false, null, [lists])."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise GeobenchError(f"bad --set {_short(item)}: use key=value (dotted keys for nested: lora.r=8)")
        key, _, text = item.partition("=")
        try:
            value = safe_yaml(text, f"--set {key.strip()}") if text.strip() else None
        except yaml.YAMLError:
            value = text
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise GeobenchError(f"bad --set {_short(item)}: {part!r} is not a mapping")
        node[parts[-1]] = value
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A config file as a mapping: a regular file under MAX_CONFIG_BYTES, UTF-8, bounded YAML (`safe_yaml`)."""
    import yaml

    p = Path(path)
    source = p.name
    if not p.is_file():
        raise GeobenchError(f"no config file {str(path)!r}")
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise GeobenchError(f"cannot read config file {str(path)!r}: {e.strerror or e}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise GeobenchError(f"{source}: larger than {MAX_CONFIG_BYTES // 1024} KB; not a training config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GeobenchError(f"{source}: not UTF-8 text (byte {e.start})") from None
    try:
        raw = safe_yaml(text, source) or {}
    except yaml.YAMLError as e:
        raise _yaml_error(source, e) from None
    if not isinstance(raw, dict):
        raise GeobenchError(f"{source}: the config must be a mapping of keys")
    return raw


def load_config(path: str | os.PathLike | None, kind: str, overrides: list[str] | tuple[str, ...] = (),
                extra: dict | None = None) -> TrainConfig:
    """Read a YAML file (or nothing), apply `extra` then `--set` overrides, and validate (all problems at once)."""
    raw: dict[str, Any] = read_config_file(path) if path is not None else {}
    source = Path(path).name if path is not None else "config"
    raw = _merge(raw, extra or {})
    raw = _merge(raw, parse_set(overrides))
    return from_dict(raw, kind, source)
