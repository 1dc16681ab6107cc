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


def _unknown(key: str, known: list[str], where: str, other: str | None = None) -> GeobenchError:
    if other:
        return GeobenchError(f"config key {key!r} is for `geobench train {other}` only, not {where}")
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return GeobenchError(f"unknown config key {key!r} in {where}", hint=hint)


def _check_type(key: str, value: Any) -> None:
    types, desc = _TYPES[key]
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise GeobenchError(f"config key {key!r} must be {desc}, got {type(value).__name__} {value!r}")


def _sub(kind_name: str, cls, raw: dict) -> Any:
    known = [f.name for f in dataclasses.fields(cls)]
    for k in raw:
        if k not in known:
            raise _unknown(k, known, kind_name)
    out = cls(**raw)
    for f in dataclasses.fields(cls):
        v = getattr(out, f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if v is None or v == default:
            continue
        want = {int: (int,), float: (int, float), str: (str,), dict: (dict,)}.get(type(default), None)
        if f.name == "limit":
            want = (int,)
        if f.name == "target_modules":
            want = (str, list)
        if want and (not isinstance(v, want) or isinstance(v, bool)):
            raise GeobenchError(f"config key '{kind_name}.{f.name}' must be {want[0].__name__}, got {v!r}")
    return out


def from_dict(raw: dict[str, Any], kind: str, source: str = "config") -> TrainConfig:
    """Validate a config mapping for trainer `kind` (sft or grpo). Raises a one-line GeobenchError."""
    if kind not in KINDS:
        raise GeobenchError(f"unknown trainer kind {kind!r}", hint=f"known: {', '.join(KINDS)}")
    if not isinstance(raw, dict):
        raise GeobenchError(f"{source}: the config must be a mapping of keys, got {type(raw).__name__}")
    known = COMMON + ONLY[kind]
    other = next(o for o in KINDS if o != kind)
    for key in raw:
        if key not in known:
            raise _unknown(str(key), known, f"{source} ({kind})", other if key in ONLY[other] else None)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            continue
        _check_type(key, value)
        values[key] = value
    if "output_dir" not in values:
        raise GeobenchError(f"{source}: missing required key 'output_dir'")
    values.setdefault("lr", DEFAULT_LR[kind])

    ds = values.pop("dataset", None)
    if isinstance(ds, str):
        ds = {"path": ds} if kind == "sft" else {"task": ds}
    dataset = _sub("dataset", DatasetSettings, ds or {})
    lora = values.pop("lora", False)
    lora = None if lora is False else _sub("lora", LoraSettings, {} if lora is True else lora)
    if isinstance(values.get("eval_tasks"), str):
        values["eval_tasks"] = [t.strip() for t in values["eval_tasks"].split(",") if t.strip()]
    cfg = TrainConfig(kind=kind, dataset=dataset, lora=lora, **values)
    _check_values(cfg, source)
    return cfg


def _positive(cfg: TrainConfig, source: str, *keys: str, zero_ok: bool = False) -> None:
    for k in keys:
        v = getattr(cfg, k)
        if v is not None and (v < 0 or (v == 0 and not zero_ok)):
            raise GeobenchError(f"{source}: {k} must be > {'= ' if zero_ok else ''}0, got {v}")


def _check_values(cfg: TrainConfig, source: str) -> None:
    _positive(cfg, source, "lr", "per_device_batch_size", "gradient_accumulation_steps", "save_steps",
              "logging_steps", "eval_limit", "save_total_limit")
    _positive(cfg, source, "epochs", zero_ok=True)
    if cfg.max_steps == 0 or cfg.max_steps < -1:
        raise GeobenchError(f"{source}: max_steps must be > 0 (or -1 = use epochs), got {cfg.max_steps}")
    if cfg.max_steps == -1 and cfg.epochs <= 0:
        raise GeobenchError(f"{source}: epochs must be > 0 when max_steps is not set")
    if cfg.eval_mode not in ("inline", "background"):
        raise GeobenchError(f"{source}: eval_mode must be 'inline' or 'background', got {cfg.eval_mode!r}")
    if cfg.eval_mode == "background" and cfg.save_total_limit is not None:
        raise GeobenchError(f"{source}: eval_mode: background cannot be combined with save_total_limit "
                            "(a checkpoint could be deleted before its evaluation runs)")
    for t in cfg.eval_tasks:
        if not isinstance(t, str):
            raise GeobenchError(f"{source}: eval_tasks must be task names, got {t!r}")
    if cfg.lora is not None:
        if cfg.lora.r <= 0 or cfg.lora.alpha <= 0 or not 0 <= cfg.lora.dropout < 1:
            raise GeobenchError(f"{source}: lora needs r > 0, alpha > 0 and 0 <= dropout < 1")
    for k in cfg.trl:
        if k in TRL_OWNED or k in TRL_NAMES:
            top = {v: k2 for k2, v in TRL_NAMES.items()}.get(k, k)
            raise GeobenchError(f"{source}: trl.{k} duplicates a top-level key; set {top!r} instead")
    if cfg.kind == "sft":
        if not cfg.dataset.path:
            raise GeobenchError(f"{source}: sft needs dataset: <scaffold folder> (from `geobench scaffold`)")
        if cfg.dataset.task:
            raise GeobenchError(f"{source}: sft reads a scaffold folder (dataset.path), not a task")
        if not (Path(cfg.dataset.path) / "train.jsonl").is_file():
            raise GeobenchError(f"{source}: no train.jsonl in dataset folder {cfg.dataset.path!r}",
                                hint="make one with `geobench scaffold --task ... --out DIR`")
        if cfg.max_length is not None and cfg.max_length <= 0:
            raise GeobenchError(f"{source}: max_length must be > 0 or null")
    else:
        if not cfg.dataset.task:
            raise GeobenchError(f"{source}: grpo needs dataset: {{task: NAME, split: train}}")
        if cfg.dataset.path:
            raise GeobenchError(f"{source}: grpo builds its prompts from a task (dataset.task), not a folder")
        reward_spec(cfg.rewards, source)  # shape only; names are resolved against the registry later
        _positive(cfg, source, "max_completion_length", "temperature")
        _positive(cfg, source, "beta", zero_ok=True)
        if cfg.num_generations < 2:
            raise GeobenchError(f"{source}: num_generations must be >= 2 (GRPO compares completions within a group), "
                                f"got {cfg.num_generations}")
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        batch = cfg.per_device_batch_size * cfg.gradient_accumulation_steps * world
        if "generation_batch_size" not in cfg.trl and "steps_per_generation" not in cfg.trl \
                and batch % cfg.num_generations:
            raise GeobenchError(
                f"{source}: per_device_batch_size x gradient_accumulation_steps x processes = "
                f"{cfg.per_device_batch_size} x {cfg.gradient_accumulation_steps} x {world} = {batch} "
                f"is not divisible by num_generations = {cfg.num_generations}")


def reward_spec(rewards: str | list, source: str = "config") -> tuple[str | None, list[tuple[str, float]]]:
    """(preset name or None, [(reward name, weight)] for a list). Accepts names, {name: weight}, [name, weight]."""
    if isinstance(rewards, str):
        return rewards, []
    if not rewards:
        raise GeobenchError(f"{source}: rewards must name a preset or list at least one reward")
    out = []
    for item in rewards:
        if isinstance(item, str):
            out.append((item, 1.0))
        elif isinstance(item, dict) and len(item) == 1:
            (n, w), = item.items()
            if not isinstance(w, int | float) or isinstance(w, bool):
                raise GeobenchError(f"{source}: reward weight for {n!r} must be a number, got {w!r}")
            out.append((str(n), float(w)))
        elif isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str) \
                and isinstance(item[1], int | float):
            out.append((item[0], float(item[1])))
        else:
            raise GeobenchError(f"{source}: bad rewards entry {item!r}; use a name, {{name: weight}} or [name, weight]")
    return None, out


def check_dependencies(cfg: TrainConfig) -> None:
    """Every optional package the config names is installed: one line with the install or the fallback, before
    any model loads (no import of the packages themselves)."""
    from geobench import hfutil

    init = cfg.trl.get("model_init_kwargs") or {}
    if isinstance(init, dict):
        hfutil.check_attn_implementation(init.get("attn_implementation"), "trl.model_init_kwargs.attn_implementation")
    needs = [("lora", bool(cfg.lora), "peft", "pip install 'geobench[train]'", "lora=false"),
             ("trl.deepspeed", bool(cfg.trl.get("deepspeed")), "deepspeed", "pip install 'geobench[gpu]'",
              "drop trl.deepspeed"),
             ("trl.use_liger_kernel", bool(cfg.trl.get("use_liger_kernel")), "liger_kernel", "pip install liger-kernel",
              "trl.use_liger_kernel=false")]
    for key, wanted, package, how, fallback in needs:
        if wanted and not hfutil.installed(package):
            raise GeobenchError(f"{key} needs the {package!r} package, which is not installed",
                                hint=f"{how}; or set {fallback}")


def check_trl_keys(cfg: TrainConfig) -> None:
    """`trl:` passthrough keys must be fields of SFTConfig / GRPOConfig (imports trl, loads no model); then
    `check_dependencies`."""
    if not cfg.trl:
        check_dependencies(cfg)
        return
    import trl

    cls = trl.SFTConfig if cfg.kind == "sft" else trl.GRPOConfig
    names = [f.name for f in dataclasses.fields(cls)]
    for k in cfg.trl:
        if k not in names:
            raise _unknown(f"trl.{k}", [f"trl.{n}" for n in names], f"{cls.__name__} fields")
    if cfg.trl.get("use_vllm"):
        if importlib.util.find_spec("vllm") is None:
            raise GeobenchError("trl.use_vllm is set but vllm is not installed",
                                hint="pip install vllm (a CUDA machine), or drop use_vllm to generate with transformers")
        mode = cfg.trl.get("vllm_mode", "colocate")  # TRL 1.16's default
        if mode not in ("server", "colocate"):
            raise GeobenchError(f"trl.vllm_mode must be 'server' or 'colocate', got {mode!r}")
    check_dependencies(cfg)


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--set a.b=value` -> {"a": {"b": value}}; values are YAML (numbers, true/false, null, [lists])."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise GeobenchError(f"bad --set {item!r}: use key=value (dotted keys for nested: lora.r=8)")
        key, _, text = item.partition("=")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise GeobenchError(f"bad --set {item!r}: {p!r} is not a mapping")
        node[parts[-1]] = value
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        elif isinstance(v, dict) and out.get(k) is True and k == "lora":
            out[k] = v
        else:
            out[k] = v
    return out


def load_config(path: str | os.PathLike | None, kind: str, overrides: list[str] | tuple[str, ...] = (),
                extra: dict | None = None) -> TrainConfig:
    """Read a YAML file (or nothing), apply `extra` then `--set` overrides, and validate."""
    import yaml

    raw: dict[str, Any] = {}
    source = "config"
    if path is not None:
        p = Path(path)
        source = p.name
        if not p.is_file():
            raise GeobenchError(f"no config file {str(path)!r}")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise GeobenchError(f"{source}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
        if not isinstance(raw, dict):
            raise GeobenchError(f"{source}: the config must be a mapping of keys")
    raw = _merge(raw, extra or {})
    raw = _merge(raw, parse_set(overrides))
    return from_dict(raw, kind, source)
