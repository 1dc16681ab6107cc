"""The built-in `tiny` model plugin: registers `--model tiny` and the `geobench tiny-model build` command.

Its preset sets nothing but `pipeline_check`: random weights never stop before max_new_tokens, so a run says
what its numbers mean instead of warning about every cut-off completion (real models still get the warning).

The model itself is built by `geobench.tinymodel` (offline, random weights, the real Qwen2.5-VL architecture).
"""

from __future__ import annotations

import time

from geobench.hookspecs import hookimpl
from geobench.presets import ModelPreset
from geobench.tinymodel import build_tiny_model, param_count


@hookimpl
def geobench_register_models(register):
    register("tiny", "geobench.tinymodel:tiny_model_path",
             "tiny random-weight Qwen2.5-VL built offline (test fixture / demo default)",
             preset=ModelPreset(description="the tiny model is a pipeline check: no settings, no truncation warnings",
                                pipeline_check=True))


@hookimpl
def geobench_register_commands(cli):
    import click  # only the CLI calls this hook; the entry point itself imports stdlib + geobench core only

    @cli.group("tiny-model")
    def tiny_model():
        """Build the tiny random-weight Qwen2.5-VL used by tests and the demo."""

    @tiny_model.command("build")
    @click.argument("path", type=click.Path(file_okay=False))
    @click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random weights.")
    def build(path: str, seed: int):
        """Build the tiny model into PATH (must be absent or empty)."""
        t0 = time.perf_counter()
        out = build_tiny_model(path, seed=seed)
        click.echo(f"{out}  params={param_count(out)}  build_s={time.perf_counter() - t0:.2f}")
