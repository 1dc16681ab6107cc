"""lm-eval's model types, seen from geobench: which are installed and registered, the class for a name
(`package.module:Class` for third-party LMs, which lm-eval 0.4 does not discover), and the processor fix for
`hf-multimodal`. lm_eval is imported inside these functions: it is an optional extra (`pip install
'geobench[lmeval]'`), and the backend class must import without it to say so in one line.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from importlib import metadata

from geobench.errors import GeobenchError
from geobench.hfutil import first_line, load_processor

DEFAULT_TYPE = "hf-multimodal"
MULTIMODAL_TYPES = ("hf-multimodal", "vllm-vlm", "local-chat-completions", "openai-chat-completions")
INSTALL_HINT = "pip install 'geobench[lmeval]'  (or: pip install lm-eval)"


def lm_eval_version() -> str:
    """The installed lm-eval version; a one-line error naming the install command when it is missing."""
    if importlib.util.find_spec("lm_eval") is None:
        raise GeobenchError("the lm-eval backend needs lm-eval, which is not installed", hint=INSTALL_HINT)
    try:
        return metadata.version("lm_eval")
    except metadata.PackageNotFoundError:
        return "unknown"


def model_class(name: str):
    """The lm-eval LM class registered as `name`, or named `package.module:Class` (a third-party LM that
    lm-eval has not registered: lm-eval 0.4 does not discover model plugins); unknown is one line."""
    lm_eval_version()
    from lm_eval.api import registry

    if ":" in name:
        return _import_class(name)

    if len(registry.model_registry) == 0:
        import lm_eval.models  # noqa: F401 - registers lm-eval's model types (lazily)
    if name not in registry.model_registry:
        known = sorted(registry.model_registry.keys())
        close = difflib.get_close_matches(name, known, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + \
            f"multimodal ones: {', '.join(MULTIMODAL_TYPES)}; {len(known)} registered in all"
        raise GeobenchError(f"unknown lm-eval model type {name!r}", hint=hint)
    try:
        return registry.get_model(name)
    except ImportError as e:
        raise GeobenchError(f"lm-eval model type {name!r} cannot be imported: {first_line(e)}",
                            hint="install that model type's extra dependencies") from None


def _import_class(spec: str):
    from lm_eval.api.model import LM

    module, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise GeobenchError(f"cannot import lm-eval model class {spec!r}: {first_line(e)}") from None
    if not (isinstance(cls, type) and issubclass(cls, LM)):
        raise GeobenchError(f"{spec!r} is not an lm-eval model class (a subclass of lm_eval.api.model.LM)")
    return cls


def known_model_type(name: str) -> bool:
    """Whether `name` is a registered lm-eval model type (without importing its module)."""
    if importlib.util.find_spec("lm_eval") is None:
        return False
    from lm_eval.api import registry

    if len(registry.model_registry) == 0:
        import lm_eval.models  # noqa: F401
    return name in registry.model_registry


def with_image_only_processor(cls):
    """For lm-eval's HFMultimodalLM (and subclasses): load the processor with geobench's `load_processor`.

    lm-eval 0.4.13 builds it with `AutoProcessor.from_pretrained`, which fails for Qwen2-VL / Qwen2.5-VL where
    torchvision is absent; `load_processor` tries exactly that first and falls back to the image-only
    processor only in that case. `_create_tokenizer` is the hook HFMultimodalLM itself overrides for this.
    """
    from lm_eval.models.hf_vlms import HFMultimodalLM

    if not issubclass(cls, HFMultimodalLM):
        return cls

    class GeobenchHFMultimodalLM(cls):
        def _create_tokenizer(self, pretrained, tokenizer, revision="main", trust_remote_code=False, **kwargs):
            if tokenizer is not None and not isinstance(tokenizer, str):
                self.processor = tokenizer  # a processor instance, used as given
            else:
                where = tokenizer or (pretrained if isinstance(pretrained, str) else self.model.name_or_path)
                self.processor = load_processor(where, trust_remote_code=bool(trust_remote_code),
                                                revision=revision)
                _apply_pixels(self.processor, getattr(self, "pixels", None) or {})
            self.tokenizer = self.processor.tokenizer

    GeobenchHFMultimodalLM.__name__ = GeobenchHFMultimodalLM.__qualname__ = f"GeobenchHF{cls.__name__}"
    return GeobenchHFMultimodalLM


def _apply_pixels(processor, pixels: dict) -> None:
    """lm-eval's `min_pixels` / `max_pixels` model args on an already-built image processor."""
    ip = getattr(processor, "image_processor", None)
    if not pixels or ip is None:
        return
    size = dict(getattr(ip, "size", None) or {})
    if "shortest_edge" in size:  # Qwen-VL style: size = {shortest_edge: min_pixels, longest_edge: max_pixels}
        size["shortest_edge"] = pixels.get("min_pixels", size["shortest_edge"])
        size["longest_edge"] = pixels.get("max_pixels", size.get("longest_edge"))
        ip.size = type(ip.size)(**size)
    for k, v in pixels.items():
        if hasattr(ip, k):
            setattr(ip, k, v)


def is_api_model(cls) -> bool:
    """lm-eval's API models (TemplateAPI: local/openai chat completions, ...) load no weights."""
    return any(k.__name__ == "TemplateAPI" for k in cls.__mro__)
