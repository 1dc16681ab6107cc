"""The `vllm` backend against vLLM's real API, with no GPU.

test_vllm_backend.py drives the backend with a fake engine; here the calls it makes are checked against vLLM
itself, in two ways:
- by source, always (CI included): vLLM's pinned release (`.ci/vllm-api.txt`) is read from its wheel, never
  imported (it needs CUDA and its own torch). `.ci/run` downloads the wheel with `pip download --no-deps` into
  a cache folder outside the repository; locally, set GEOBENCH_VLLM_WHEEL to a wheel, or run
  `pip download --no-deps --only-binary :all: vllm==<pin> -d ~/.cache/geobench-ci/vllm`. Every keyword the
  backend passes must exist: `SamplingParams` fields for every `sampling_params_kwargs` key, `LLM.__init__`
  parameters or `EngineArgs` fields for every `engine_args` key, `LLM.chat`'s parameters for the keywords
  `backend.py` passes (read from its source), the content-format value and content part types it sends, and the
  `RequestOutput` / `CompletionOutput` fields `completion_from_output` reads. A mutated copy of vLLM's source
  (a field renamed) shows once that the check fails when the API moves.
- by import, wherever vLLM is installed (a GPU machine): real `SamplingParams` are built from the backend's
  kwargs and the signatures are read with `inspect`.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import os
import re
import zipfile
from functools import cache
from pathlib import Path

import pytest

from conftest import REPO
from geobench.api import GenConfig
from geobench.plugins.vllm import engine_args, sampling_params_kwargs

PIN = re.search(r"^vllm==(\S+)$", (REPO / ".ci" / "vllm-api.txt").read_text(), re.M).group(1)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "geobench-ci" / "vllm"

# Generation settings covering every branch of sampling_params_kwargs (greedy, sampling, seed, stop, top_k off).
GENS = [GenConfig(), GenConfig(max_new_tokens=7, do_sample=True, temperature=0.7, top_p=0.9, top_k=5, seed=3,
                               stop=("</answer>",), repetition_penalty=1.1),
        GenConfig(do_sample=True, temperature=0.0), GenConfig(do_sample=True, top_k=0)]
# Every engine argument the backend can send (all model args given).
ENGINE = engine_args("org/model", tensor_parallel_size=2, gpu_memory_utilization=0.5, max_model_len=4096,
                     limit_mm_per_prompt=5, dtype="bfloat16", min_pixels=3136, max_pixels=1003520, revision="main",
                     trust_remote_code=True, seed=1, enforce_eager=True, max_num_seqs=8)
COMPLETION_FIELDS = {"text", "token_ids", "finish_reason", "stop_reason"}  # what completion_from_output reads


def sampling_keys() -> set[str]:
    return {k for gen in GENS for k in sampling_params_kwargs(gen)}


def chat_keywords() -> set[str]:
    """The keywords of every `.chat(...)` call in the backend's source, and its positional count."""
    tree = ast.parse((REPO / "plugins" / "vllm" / "backend.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "chat"]
    assert calls, "backend.py no longer calls .chat(...): update this contract"
    assert all(len(c.args) == 2 for c in calls), "LLM.chat is called with (messages, sampling_params) positionally"
    return {kw.arg for c in calls for kw in c.keywords if kw.arg}


def sent_content_format() -> set[str]:
    tree = ast.parse((REPO / "plugins" / "vllm" / "backend.py").read_text())
    return {kw.value.value for n in ast.walk(tree) if isinstance(n, ast.Call)
            for kw in n.keywords if kw.arg == "chat_template_content_format" and isinstance(kw.value, ast.Constant)}


# ------------------------------------------------------------------------------------- by source (AST)


class Source:
    """vLLM's Python source inside a wheel (a zip), read on demand; `overrides` replace files (mutation)."""

    def __init__(self, wheel: Path, overrides: dict[str, str] | None = None):
        self.zip = zipfile.ZipFile(wheel)
        self.names = [n for n in self.zip.namelist() if n.startswith("vllm/") and n.endswith(".py")]
        self.overrides = overrides or {}

    def text(self, name: str) -> str:
        return self.overrides.get(name) or self.zip.read(name).decode("utf-8")

    def find_class(self, cls: str, *hints: str) -> ast.ClassDef:
        """The class definition, looked for in the hinted files first, then in every file that names it."""
        pattern = f"class {cls}("
        for name in [*hints, *self.names]:
            if name not in self.names:
                continue
            text = self.text(name)
            if pattern not in text and f"class {cls}:" not in text:
                continue
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.ClassDef) and node.name == cls:
                    return node
        raise AssertionError(f"vLLM {PIN} defines no class {cls}")

    def literal(self, alias: str, *hints: str) -> set[str]:
        """The strings of `alias = Literal[...]`."""
        for name in [*hints, *self.names]:
            if name not in self.names or f"{alias} =" not in (text := self.text(name)):
                continue
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == alias for t in node.targets) \
                        and isinstance(node.value, ast.Subscript):
                    return {c.value for c in ast.walk(node.value.slice) if isinstance(c, ast.Constant)}
        raise AssertionError(f"vLLM {PIN} defines no {alias} = Literal[...]")

    def has_dict_key(self, key: str, *hints: str) -> bool:
        for name in hints:
            if name in self.names:
                for node in ast.walk(ast.parse(self.text(name))):
                    if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == key
                                                          for k in node.keys):
                        return True
        return False


def fields(cls: ast.ClassDef) -> set[str]:
    """Annotated class attributes (dataclass / msgspec.Struct / pydantic fields)."""
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def method(cls: ast.ClassDef, name: str) -> ast.FunctionDef:
    found = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert found, f"{cls.name}.{name} is gone in vLLM {PIN}"
    return found[0]


def params(fn: ast.FunctionDef) -> tuple[list[str], bool]:
    """(parameter names in order, positional first; whether it takes **kwargs)."""
    a = fn.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs], a.kwarg is not None


SAMPLING = ("vllm/sampling_params.py",)
LLM_FILE = ("vllm/entrypoints/llm.py",)
ENGINE_FILE = ("vllm/engine/arg_utils.py",)
OUTPUTS = ("vllm/outputs.py",)
CHAT_UTILS = ("vllm/renderers/chat_utils/types.py", "vllm/entrypoints/chat_utils.py")
PART_PARSERS = ("vllm/renderers/chat_utils/chat_message.py", "vllm/entrypoints/chat_utils.py")


def contract_problems(src: Source) -> list[str]:
    """Every keyword and field the backend relies on that vLLM's source lacks (empty: the contract holds)."""
    problems = []
    sp = fields(src.find_class("SamplingParams", *SAMPLING))
    problems += [f"SamplingParams has no field {k!r}" for k in sorted(sampling_keys() - sp)]

    llm = src.find_class("LLM", *LLM_FILE)
    init, init_kwargs = params(method(llm, "__init__"))
    engine = fields(src.find_class("EngineArgs", *ENGINE_FILE))
    for k in sorted(ENGINE):
        if k not in init and not (init_kwargs and k in engine):
            problems.append(f"LLM(...) takes no {k!r} (neither a parameter nor an EngineArgs field)")
    if init[1:2] != ["model"]:
        problems.append(f"LLM.__init__'s first parameter is {init[1:2]}, not 'model'")

    chat, _ = params(method(llm, "chat"))
    if chat[1:3] != ["messages", "sampling_params"]:
        problems.append(f"LLM.chat's positional parameters are {chat[1:3]}, not messages, sampling_params")
    problems += [f"LLM.chat takes no {k!r}" for k in sorted(chat_keywords() - set(chat))]
    gen, _ = params(method(llm, "generate"))
    if "sampling_params" not in gen:
        problems.append("LLM.generate takes no 'sampling_params'")
    formats = src.literal("ChatTemplateContentFormatOption", *CHAT_UTILS)
    problems += [f"chat_template_content_format {f!r} is not one of {sorted(formats)}"
                 for f in sorted(sent_content_format() - formats)]
    for part in ("image_pil", "text"):
        if not src.has_dict_key(part, *PART_PARSERS):
            problems.append(f"no content part parser for {part!r}")

    completion = fields(src.find_class("CompletionOutput", *OUTPUTS))
    problems += [f"CompletionOutput has no field {k!r}" for k in sorted(COMPLETION_FIELDS - completion)]
    request_init, _ = params(method(src.find_class("RequestOutput", *OUTPUTS), "__init__"))
    if "outputs" not in request_init:
        problems.append("RequestOutput has no 'outputs'")
    return problems


@cache
def pinned_wheel() -> Path | None:
    given = os.environ.get("GEOBENCH_VLLM_WHEEL")
    if given:
        return Path(given)
    found = sorted(CACHE.glob(f"vllm-{PIN}-*.whl"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def source() -> Source:
    wheel = pinned_wheel()
    if wheel is None:
        pytest.skip(f"needs vLLM {PIN}'s wheel: pip download --no-deps --only-binary :all: vllm=={PIN} -d {CACHE} "
                    "(.ci/run does), or GEOBENCH_VLLM_WHEEL=<wheel>")
    assert wheel.name.startswith(f"vllm-{PIN}-"), f"{wheel.name} is not the pinned vllm=={PIN} (.ci/vllm-api.txt)"
    return Source(wheel)


def test_backend_calls_match_vllm_source(source):
    assert contract_problems(source) == []


@pytest.mark.parametrize("file,old,new,problem", [
    (SAMPLING[0], "    max_tokens: int | None", "    max_new_tokens: int | None", "SamplingParams has no field 'max_tokens'"),
    (SAMPLING[0], "    repetition_penalty: float", "    rep_penalty: float", "no field 'repetition_penalty'"),
    (LLM_FILE[0], "        use_tqdm: bool", "        show_progress: bool", "LLM.chat takes no 'use_tqdm'"),
    (ENGINE_FILE[0], "    max_num_seqs: int | None", "    max_seqs: int | None", "LLM(...) takes no 'max_num_seqs'"),
    (LLM_FILE[0], "        sampling_params: SamplingParams | Sequence", "        params: SamplingParams | Sequence",
     "not messages, sampling_params"),
    (OUTPUTS[0], "    stop_reason: int | str | None", "    stopped_by: int | str | None", "no field 'stop_reason'"),
])
def test_a_renamed_keyword_fails_the_contract(source, file, old, new, problem):
    text = source.text(file)
    assert old in text, f"the mutation's anchor {old!r} is not in {file}: pick another"
    mutated = Source(pinned_wheel(), {file: text.replace(old, new)})
    problems = contract_problems(mutated)
    assert any(problem in p for p in problems), problems


# ----------------------------------------------------------------------------------------- by import

needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                reason="needs vLLM installed (GPU machines; the by-source test runs everywhere)")


@needs_vllm
def test_real_sampling_params_take_the_backend_kwargs():
    from vllm import SamplingParams

    for gen in GENS:
        kw = sampling_params_kwargs(gen)
        sp = SamplingParams(**kw)
        for k, v in kw.items():
            assert getattr(sp, k) == v, (k, getattr(sp, k), v)


@needs_vllm
def test_real_signatures_take_the_backend_keywords():
    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs
    from vllm.outputs import CompletionOutput, RequestOutput

    init = inspect.signature(LLM.__init__).parameters
    engine = {f.name for f in dataclasses.fields(EngineArgs)}
    assert all(k in init or k in engine for k in ENGINE), sorted(set(ENGINE) - set(init) - engine)
    chat = list(inspect.signature(LLM.chat).parameters)
    assert chat[1:3] == ["messages", "sampling_params"] and chat_keywords() <= set(chat)
    assert COMPLETION_FIELDS <= {f.name for f in dataclasses.fields(CompletionOutput)}
    assert "outputs" in inspect.signature(RequestOutput.__init__).parameters
