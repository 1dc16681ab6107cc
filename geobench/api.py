"""The dataclasses and base classes that plugins see.

Everything a task, backend or trainer exchanges with the core is defined here, so that a plugin author reads
one page. Nothing here imports torch: listing tasks and `--help` must stay fast.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from geobench.errors import GeobenchError

# --------------------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class ImageRef:
    """A reference to an image: a file path or raw encoded bytes. Never a decoded image.

    Requests carry references so they stay cheap to build, hash and cache; backends decode them.
    """

    path: str | None = None
    data: bytes | None = field(default=None, repr=False)

    def __post_init__(self):
        if (self.path is None) == (self.data is None):
            raise ValueError("ImageRef needs exactly one of path= or data=")

    def read_bytes(self) -> bytes:
        """The encoded image bytes; a missing file is a one-line user error."""
        if self.data is not None:
            return self.data
        from geobench.data import max_image_bytes, read_file

        # a regular file inside its dataset folder, size-capped; a FIFO or device never blocks (geobench.data)
        return read_file(self.path, max_image_bytes(), "image", "unreadable image")

    def sha256(self) -> str:
        return hashlib.sha256(self.read_bytes()).hexdigest()

    def open(self, max_pixels: int = 50_000_000):
        """Decode to an RGB PIL image. A corrupt or oversized image is a one-line error naming the file."""
        import io
        import warnings

        from PIL import Image

        from geobench.data import DataError

        where = self.path or "<bytes>"
        raw = self.read_bytes()
        if not raw:
            raise DataError(f"image is empty (0 bytes): {where}", "empty image")
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(raw))
                img.load()
            return img.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(f"image too large (decompression bomb guard, > {max_pixels} px): {where}",
                            "image too large") from None
        except (OSError, SyntaxError, ValueError) as e:
            reason = "truncated image" if "truncated" in str(e).lower() else "corrupt image"
            why = "not an image format PIL can read" if isinstance(e, Image.UnidentifiedImageError) else e
            raise DataError(f"cannot decode image {where}: {why}", reason) from None
        finally:
            Image.MAX_IMAGE_PIXELS = old

    def to_json(self) -> str:
        return self.path if self.path is not None else f"<{len(self.data)} bytes>"


# ----------------------------------------------------------------------------------------------- messages


def user(*parts: ImageRef | str) -> list[dict]:
    """Build a one-turn chat: `user(image, "Where is this?")` -> [{"role": "user", "content": [...]}]."""
    content = []
    for p in parts:
        if isinstance(p, ImageRef):
            content.append({"type": "image", "image": p})
        elif isinstance(p, str):
            content.append({"type": "text", "text": p})
        else:
            raise TypeError(f"user() takes ImageRef or str parts, not {type(p).__name__}")
    return [{"role": "user", "content": content}]


def message_images(messages: list[dict]) -> list[ImageRef]:
    """All image references of a chat, in order."""
    from geobench import messages as chat

    return chat.images(messages)


def canonical_messages(messages: list[dict]) -> str:
    """A canonical JSON text of a chat where each image is replaced by the sha256 of its bytes."""

    def enc(o):
        if isinstance(o, ImageRef):
            return {"image_sha256": o.sha256()}
        raise TypeError(type(o).__name__)

    return json.dumps(messages, sort_keys=True, default=enc, ensure_ascii=False)


# -------------------------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class GenConfig:
    """Generation settings. Greedy by default; sampling is cached only with an explicit seed."""

    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise GeobenchError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0 or not (0 < self.top_p <= 1) or self.top_k < 0:
            raise GeobenchError("temperature must be >= 0, top_p in (0, 1], top_k >= 0")

    @property
    def deterministic(self) -> bool:
        """Greedy decoding, or sampling with an explicit seed: safe to cache."""
        return not self.do_sample or self.seed is not None

    @functools.cached_property
    def _canonical(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def canonical(self) -> str:
        """Sorted-key JSON of every field: the generation part of a cache key (computed once)."""
        return self._canonical

    def updated(self, **kwargs) -> GenConfig:
        """A copy with some fields changed; unknown names and bad types are one-line errors."""
        names = {f.name: f for f in dataclasses.fields(self)}
        clean = {}
        for k, v in kwargs.items():
            if k not in names:
                raise GeobenchError(f"unknown generation setting {k!r}; known: {', '.join(sorted(names))}")
            clean[k] = _coerce(k, v, type(getattr(self, k)) if getattr(self, k) is not None else int)
        return dataclasses.replace(self, **clean)


def _coerce(name: str, value: Any, typ: type):
    if value is None:
        return None
    try:
        if typ is bool and isinstance(value, str):
            if value.lower() in ("1", "true", "yes"):
                return True
            if value.lower() in ("0", "false", "no"):
                return False
            raise ValueError(value)
        if typ is tuple:
            return tuple(value.split("|")) if isinstance(value, str) else tuple(value)
        if typ is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)  # 2.7 tokens is a mistake, not 2
        return typ(value)
    except (TypeError, ValueError):
        raise GeobenchError(f"bad value for {name}: {value!r} (expected {typ.__name__})") from None


@dataclass
class Request:
    """One generation request: a chat for one doc of one task, with its generation settings."""

    task: str
    doc_id: str
    messages: list[dict]
    gen: GenConfig
    key: str = ""  # content-addressed cache key, filled by the evaluator

    @property
    def images(self) -> list[ImageRef]:
        return message_images(self.messages)


@dataclass
class Completion:
    """What a backend returns for one request."""

    text: str
    n_tokens: int = 0
    finish_reason: str = "stop"  # "stop" or "length" (hit max_new_tokens)


# ------------------------------------------------------------------------------------------------- tasks


@dataclass
class Doc:
    """One benchmark item: an id, its ground-truth fields and its images (references, not pixels)."""

    id: str
    fields: dict[str, Any]
    images: list[ImageRef] = field(default_factory=list)


class Task:
    """Base class of a task: documents in, chat requests out, completions scored.

    A task is a benchmark and an RL environment at once: `score` gives the per-sample metrics of a results
    table and the reward of GRPO. Subclasses set `name`, `version` and implement `docs`, `to_messages`, `score`.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    group: ClassVar[str] = ""
    split: ClassVar[str] = "test"
    higher_is_better: ClassVar[dict[str, bool]] = {}
    default_gen: ClassVar[GenConfig] = GenConfig()
    description: ClassVar[str] = ""

    def docs(self, split: str | None = None, limit: int | None = None) -> Iterable[Doc]:
        raise NotImplementedError

    def to_messages(self, doc: Doc) -> list[dict]:
        raise NotImplementedError

    def score(self, doc: Doc, completion: str) -> dict[str, float]:
        raise NotImplementedError

    def extract(self, doc: Doc, completion: str) -> Any:
        """The parsed answer, recorded in the samples file. JSON-serialisable."""
        from geobench import parse

        return parse.answer(completion)

    def aggregate(self, per_sample: list[dict[str, float]]) -> dict[str, float]:
        """Means of per-sample metrics, from sums and counts (never averages of averages), with stderr."""
        return mean_with_stderr(per_sample)

    def data_status(self) -> str | None:
        """None if the data is available, else a one-line reason (what is missing, where to get it)."""
        return None

    def config(self) -> dict[str, Any]:
        """Task settings recorded in results.json under `configs`."""
        return {"task": self.name, "version": self.version, "group": self.group, "split": self.split,
                "generation_kwargs": dataclasses.asdict(self.default_gen)}

    # ------------------------------------------------------------------------- the RL-environment side
    reward_metric: ClassVar[str] = ""  # the metric GRPO rewards by default ("" -> first higher-is-better one)

    def reward(self, doc: Doc, completion: str, **options: Any) -> float:
        """The GRPO accuracy reward of one completion: by default `score(...)[reward_metric]`, negated for a
        lower-is-better metric. Tasks with several reward schemes (cross-view: binary/signed/shaped) take
        them as keyword options."""
        metric = default_reward_metric(self)
        value = float(self.score(doc, completion)[metric])
        return -value if dict(self.higher_is_better).get(metric) is False else value

    def scaffold_items(self, split: str = "train", limit: int | None = None, *,
                       need_template: bool = True) -> list[ScaffoldItem]:
        """Documents of `split` with the ground-truth facts the scaffolding stage writes reasoning from and
        fact-checks it against. `need_template`: the caller writes the reasoning from templates (so the facts
        must include the visual attributes the templates state), not with a teacher model. A task that cannot
        be scaffolded raises a GeobenchError saying why."""
        raise GeobenchError(f"task {self.name!r} cannot be scaffolded: it provides no scaffold_items()",
                            hint="implement Task.scaffold_items (see the plugin guide)")


def default_reward_metric(task: Task) -> str:
    """A task's reward metric: its `reward_metric`, else the first higher-is-better metric it declares."""
    if task.reward_metric:
        return task.reward_metric
    hib = dict(task.higher_is_better or {})
    for metric, higher in hib.items():
        if higher:
            return metric
    if hib:
        return next(iter(hib))
    raise GeobenchError(f"task {task.name!r} declares no metrics (higher_is_better); pass metric=")


# ------------------------------------------------------------------------------------------ benchmark data


@dataclass(frozen=True)
class DataSource:
    """Where a benchmark's files are published (filled in by each benchmark task; read by `geobench data`).

    `confirmed` / `unconfirmed` say, in a few words, which of these facts were checked against the publisher's
    own code or card and which are not checked yet (shown by `geobench data list`)."""

    licence: str = ""
    size: str = ""  # on disk, as people say it ("3.2 GB")
    homepage: str = ""
    confirmed: str = ""
    unconfirmed: str = ""

    def describe(self) -> str:
        return self.homepage

    @property
    def pullable(self) -> bool:
        """`geobench data pull` can fetch it (a Hub or URL source, not one released on request)."""
        return False


@dataclass(frozen=True)
class HubSource(DataSource):
    """A Hugging Face Hub repository: `patterns` of files at a pinned `revision`; `shards` is a glob of the
    parts a user may take the first N of; `unpack` names how the files become the loader's layout ("" copies
    them as they are, "zip"/"tar" extracts archives where they sit). The Hub publishes every file's checksum
    (sha256 of LFS files, git blob id of the others): downloads are verified against it."""

    repo_id: str = ""
    revision: str = "main"
    repo_type: str = "dataset"
    patterns: tuple[str, ...] = ()
    shards: str = ""
    unpack: str = ""

    def describe(self) -> str:
        return f"hf://{self.repo_type}s/{self.repo_id}@{self.revision}"

    @property
    def pullable(self) -> bool:
        return bool(self.repo_id and self.patterns)


@dataclass(frozen=True)
class UrlFile:
    """One file of a URL source: its URL (https, or `doi:10.5281/zenodo.N/name`), the name it is saved
    under, its sha256 where the publisher gives one (None: verified by size only, if `size` is known), and
    `browser`: the URL is a page that needs a browser (e.g. MediaFire); the user puts the file in the
    download folder and the pull takes it from there."""

    url: str
    name: str = ""
    sha256: str | None = None
    size: int | None = None
    browser: bool = False

    @property
    def filename(self) -> str:
        return self.name or self.url.rstrip("/").split("/")[-1].split("?")[0]


@dataclass(frozen=True)
class UrlSource(DataSource):
    """Plain HTTPS or DOI URLs with their sha256 where the publisher gives one (`files`; `urls`/`sha256` are
    the older spelling of the same, one URL each). `unpack` as for HubSource."""

    urls: tuple[str, ...] = ()
    sha256: tuple[str, ...] = ()
    unpack: str = ""
    files: tuple[UrlFile, ...] = ()

    def entries(self) -> tuple[UrlFile, ...]:
        sums = list(self.sha256) + [None] * len(self.urls)
        return self.files + tuple(UrlFile(u, sha256=s or None) for u, s in zip(self.urls, sums, strict=False))

    def describe(self) -> str:
        return ", ".join(f.url for f in self.entries()) or self.homepage

    @property
    def pullable(self) -> bool:
        return bool(self.entries())


@dataclass(frozen=True)
class OnRequestSource(DataSource):
    """Released on request: where to ask, and what to do with the files."""

    where: str = ""
    instructions: str = ""

    def describe(self) -> str:
        return f"on request: {self.where}"


class BenchmarkTask(Task):
    """A task that reads a dataset folder in its published layout.

    The folder is `root()` (by default `<data dir>/<benchmark>`, the data dir being `--data-dir` or
    $GEOBENCH_DATA); `expected(split)` lists the files and folders that must be there; `load(split)` reads
    them into docs; `data_status()` says what is missing and where to get it (from `source`). Subclasses set
    `benchmark`, `splits`, `source` and implement `expected` and `load`.
    """

    benchmark: ClassVar[str] = ""  # the folder name under the data dir (default: the task name)
    splits: ClassVar[tuple[str, ...]] = ("test",)
    source: ClassVar[DataSource | None] = None

    def __init__(self, root: str | os.PathLike | None = None):
        self._root = root

    def root(self) -> Path:
        from geobench import data

        return Path(self._root) if self._root is not None else data.benchmark_dir(self.benchmark or self.name)

    def expected(self, split: str) -> list[str]:
        """Paths, relative to `root()`, that must exist for `split`."""
        return []

    def load(self, split: str) -> Iterable[Doc]:
        raise NotImplementedError

    def source_text(self) -> str:
        """Where to get the data, in a few words (for the missing-data message)."""
        return self.source.describe() if self.source is not None else "see the task's documentation"

    def pull_command(self) -> str | None:
        """The command that downloads this task's data (None: it cannot be downloaded by geobench)."""
        return f"geobench data pull {self.name}" if self.source is not None and self.source.pullable else None

    def data_status(self) -> str | None:
        from geobench import data

        return data.missing(self.root(), self.expected(self.split), self.source_text(), self.pull_command())

    def lay_out(self, files: dict[str, Path], target: Path, *,
               shards: tuple[int, int] | None = None) -> dict[str, dict] | None:
        """Turn the downloaded `files` (name in the source -> local file) into the loader's layout under
        `target`, an empty temporary folder that `geobench data pull` renames into place when this returns.
        `shards` is (taken, published) when only the first shards were pulled. The default copies the files
        to their names and, with the source's `unpack` ("zip"/"tar"), extracts archives where they sit,
        refusing members that would leave the folder. Override it to rename files or build a CSV. It may return
        what it wrote (relative path -> {"size", "crc32"}) to spare the pull a second read of each file."""
        from geobench import layout

        return layout.lay_out(files, target, unpack=getattr(self.source, "unpack", ""))

    def docs(self, split: str | None = None, limit: int | None = None) -> Iterable[Doc]:
        docs = self.load(split or self.split)
        return list(itertools.islice(docs, limit)) if limit is not None else list(docs)


# ------------------------------------------------------------------------------------------- scaffolding


@dataclass
class Truth:
    """What the scaffolding fact-check compares an exemplar with (None / empty: unknown, so not checked)."""

    kind: str  # "crossview" | "geolocation" | "scene"
    answer: str  # letter, "yes"/"no", or "(lat, lon)"
    options: list[str] | None = None  # scene multiple choice
    n_letters: int = 0  # cross-view k
    lat: float | None = None
    lon: float | None = None
    country: str | None = None
    city: str | None = None
    continent: str | None = None
    climate: str | None = None
    candidates: dict[str, dict[str, str] | None] = field(default_factory=dict)  # letter -> attributes
    vocab: dict[str, frozenset[str]] = field(default_factory=dict)  # "country"/"city"/"continent" -> closed names
    tolerance_km: float = 25.0


@dataclass
class ScaffoldItem:
    """One document ready for scaffolding: its ground-truth facts, the fact-check truth and the hint."""

    doc: Doc
    facts: dict[str, Any]
    truth: Truth
    hint: str  # the answer as a teacher hint states it


def mean_with_stderr(per_sample: list[dict[str, float]]) -> dict[str, float]:
    sums: dict[str, float] = {}
    sq: dict[str, float] = {}
    counts: dict[str, int] = {}
    for metrics in per_sample:
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + v
            sq[k] = sq.get(k, 0.0) + v * v
            counts[k] = counts.get(k, 0) + 1
    out: dict[str, float] = {}
    for k, s in sums.items():
        n = counts[k]
        mean = s / n
        out[k] = mean
        var = (sq[k] - n * mean * mean) / (n - 1) if n > 1 else 0.0
        out[f"{k}_stderr"] = (max(var, 0.0) / n) ** 0.5 if n > 1 else float("nan")
    return out


# ----------------------------------------------------------------------------------------------- backends


class Backend:
    """Base class of a model backend.

    `generate` receives the whole request list and batches it itself; it yields `(index, Completion)` as
    each result is ready, in any order, so the evaluator can cache (and so resume) as work finishes.
    """

    name: ClassVar[str] = ""
    # True for backends whose --model is a folder of weights: registered names (e.g. `tiny`) resolve to it.
    loads_weights: ClassVar[bool] = False

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the model's outputs: id, revision/content hash, dtype, pixels, backend."""
        raise NotImplementedError

    def generate(self, requests: list[Request]) -> Iterator[tuple[int, Completion]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Settings recorded in results.json `config` (batch size, device, dtype, ...)."""
        return {}

    @classmethod
    def from_loaded(cls, model: Any, processor: Any, **kwargs: Any) -> Backend:
        """A backend around an already-loaded model (a trainer evaluating its in-memory checkpoint). Backends
        that cannot wrap a loaded model keep this default, which says so in one line."""
        raise GeobenchError(f"backend {cls.name or cls.__name__!r} cannot evaluate an in-memory model")


# ------------------------------------------------------------------------------------------------ trainers


class Trainer:
    """Base class of a trainer (`geobench train NAME`).

    `train(config, overrides, resume)` takes a config path (or dict), `key=value` overrides and whether to
    resume from the last complete checkpoint of its output folder; it returns a summary dict with at least
    `global_step`, `seconds`, `output_dir`, `checkpoints` and `evaluated`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def train(self, config: Any, overrides: Iterable[str] = (), resume: bool = False) -> dict[str, Any]:
        raise NotImplementedError


def env_flag(name: str) -> bool:
    """An environment variable set to 1/true/yes/on (see geobench.args)."""
    from geobench.args import env_flag as flag

    return flag(name)
