"""geobench: evaluate and post-train vision-language models on geospatial reasoning.

The public API a plugin or a script needs. Importing geobench never imports torch.
"""

from geobench import parse
from geobench.api import Backend, Completion, Doc, GenConfig, ImageRef, Request, Task, user
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["Backend", "Completion", "Doc", "GenConfig", "GeobenchError", "ImageRef", "Request", "Task",
           "evaluate", "hookimpl", "parse", "user", "__version__"]


def evaluate(*args, **kwargs):
    """Run tasks against a model and return the results dict. See `geobench.evaluator.evaluate`."""
    from geobench.evaluator import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
