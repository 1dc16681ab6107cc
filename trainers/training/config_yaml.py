"""Reading training configs: a YAML file bounded against alias bombs, deep nesting and huge files (`safe_yaml`,
`read_config_file`), and `--set key=value` overrides (`parse_set`). Validation is `config.py`'s."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from geobench.errors import GeobenchError


def _short(value: Any, limit: int = 60) -> str:
    """repr of a value, cut: an error message never grows with the config."""
    text = repr(value) if not isinstance(value, dict | list) or len(value) <= 8 else \
        f"<{type(value).__name__} of {len(value)}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
