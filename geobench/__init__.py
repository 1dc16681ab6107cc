"""geobench: evaluate and post-train vision-language models on geospatial reasoning.

The public API a plugin or a script needs. Importing geobench never imports torch.
"""

from geobench import parse
from geobench.api import (
    Backend,
    BenchmarkTask,
    Completion,
    DataSource,
    Doc,
    GenConfig,
    HubSource,
    ImageRef,
    OnRequestSource,
    Request,
    ScaffoldItem,
    Task,
    Trainer,
    Truth,
    UrlSource,
    user,
)
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["Backend", "BenchmarkTask", "Completion", "DataSource", "Doc", "GenConfig", "GeobenchError", "HubSource",
           "ImageRef", "OnRequestSource", "Request", "ScaffoldItem", "Task", "Trainer", "Truth", "UrlSource",
           "evaluate", "hookimpl", "parse", "user", "__version__"]


def evaluate(*args, **kwargs):
    """Run tasks against a model and return the results dict. See `geobench.evaluator.evaluate`."""
    from geobench.evaluator import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
