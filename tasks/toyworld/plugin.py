"""`geobench toyworld build DIR`: write every toy dataset (one folder per task family) in its real layout."""

from __future__ import annotations

import time
from pathlib import Path

from geobench.hookspecs import hookimpl


@hookimpl
def geobench_register_commands(cli):
    import click

    @cli.group("toyworld")
    def toyworld():
        """The offline toy planet: build its datasets (images + metadata in the real benchmarks' layouts)."""

    @toyworld.command("build")
    @click.argument("folder", type=click.Path(file_okay=False))
    @click.option("--n", "n_test", type=click.IntRange(1), default=200, show_default=True,
                  help="Test-split size of each dataset.")
    @click.option("--n-train", type=click.IntRange(0), default=1000, show_default=True,
                  help="Train-split size of each dataset.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed (the planet is seed 0).")
    @click.option("--only", default=None, help="Comma-separated families (default: all registered).")
    def build_cmd(folder, n_test, n_train, seed, only):
        """Build the toy datasets into FOLDER/<family>/ (a new or empty folder per family)."""
        from geobench import toydata
        from geobench.errors import GeobenchError

        known = toydata.names()
        names = known if not only else [x.strip() for x in only.split(",") if x.strip()]
        unknown = [x for x in names if x not in known]
        if unknown:
            raise GeobenchError(f"unknown toy dataset(s) {', '.join(unknown)}", hint=f"known: {', '.join(known)}")
        splits = {"test": n_test, **({"train": n_train} if n_train else {})}
        for name in names:
            t0 = time.perf_counter()
            out = toydata.build(name, Path(folder) / name, splits=splits, seed=seed)
            n_files = sum(1 for p in out.rglob("*") if p.is_file())
            click.echo(f"{name}: {out} ({n_files} files, {time.perf_counter() - t0:.1f} s)")
