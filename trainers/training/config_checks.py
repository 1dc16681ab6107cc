"""Start-up checks of a training config against what is installed: `trl:` keys and value types against TRL's
SFTConfig / GRPOConfig, and the optional packages a config names (FlashAttention 2, peft, DeepSpeed, vLLM).
They import trl but load no model; all problems are gathered (`Problems`) and raised at once."""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from geobench.errors import GeobenchError
from geobench.trainers.training.config import Problems, TrainConfig, _unknown, raise_plain
from geobench.trainers.training.config_yaml import _short


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
