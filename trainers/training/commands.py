"""The `geobench train` group (one subcommand per registered trainer, plus `list`) and `geobench demo`."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import click

from geobench import plugin_manager
from geobench.trainers.training.config import KINDS
from geobench.trainers.training.demo import format_summary, run_demo

REPO = Path(__file__).resolve().parents[2]


def _shipped_configs(name: str) -> list[Path]:
    """configs/<name>_*.yaml of a source checkout (or of the current folder, for an installed geobench)."""
    for folder in (REPO / "configs", Path.cwd() / "configs"):
        found = sorted(folder.glob(f"{name}_*.yaml"))
        if found:
            return found
    return []


def _describe(path: Path) -> list[str]:
    """A shipped config's description (its second comment line, cut short) and any `geobench` command its header
    says to run first (SFT: making the scaffold data)."""
    header = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:8]:
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# ").rstrip())
    if not header:
        return []
    first = header[0].split(". ")[0].rstrip(".")
    first = first if len(first) <= 90 else first.split(" (")[0][:90]
    return [first] + [f"first: {h}" for h in header[1:] if h.startswith("geobench ")]


def starter_help(name: str) -> str:
    """What `geobench train NAME` with no config prints: where to start, in a few lines."""
    configs = _shipped_configs(name)
    out = [f"geobench train {name} needs a config: --config FILE (and --set KEY=VALUE to change any key of it)."]
    if configs:
        width = max(len(_rel(c)) for c in configs)
        out.append("Start from a shipped one:")
        for c in configs:
            desc = _describe(c)
            out.append(f"  {_rel(c):{width}s}  {desc[0] if desc else ''}")
            out += [f"  {'':{width}s}    {d}" for d in desc[1:]]
        tiny = next((c for c in configs if "tiny" in c.name), configs[0])
        out.append(f"On a CPU, in minutes:  geobench train {name} --config {_rel(tiny)}")
    else:
        out.append("Start from the configs/ folder of the geobench repository (configs/sft_tiny.yaml, "
                   "configs/grpo_tiny.yaml run on a CPU).")
    out.append("The whole method (base eval, SFT, GRPO, report) on a CPU: geobench demo.  Every key: docs/training.md")
    return "\n".join(out)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@contextlib.contextmanager
def _quiet_output(quiet: bool):
    """--quiet: no progress bars, no library log lines or warnings (geobench's own warnings still show), and
    nothing on stdout but the summary the command prints afterwards."""
    if not quiet:
        yield
        return
    import logging
    import warnings

    old_tqdm = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # tqdm >= 4.66 reads it: HF Trainer's and datasets' bars
    levels = {n: logging.getLogger(n).level for n in ("transformers", "datasets", "trl", "accelerate", "peft")}
    try:
        for n in levels:
            logging.getLogger(n).setLevel(logging.ERROR)
        with warnings.catch_warnings(), open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            warnings.filterwarnings("ignore")
            warnings.filterwarnings("default", module=r"geobench(\.|$)")
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)
        if old_tqdm is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = old_tqdm


def _run(name: str, config: str | None, overrides: tuple[str, ...], resume: bool, as_json: bool,
         quiet: bool = False) -> None:
    if config is None and not overrides and name in KINDS:
        click.echo(starter_help(name), err=True)
        raise click.exceptions.Exit(2)
    trainer = plugin_manager.registry().trainer(name)
    # With --json, stdout carries the summary alone: the training libraries' log lines go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext(), _quiet_output(quiet):
        summary = trainer.train(config, overrides, resume=resume)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    if summary.get("already_finished"):
        click.echo(f"{name}: {summary.get('note')}")
        return
    click.echo(f"{name}: {summary.get('global_step')} steps in {summary.get('seconds', 0):.1f} s -> "
               f"{summary.get('output_dir')}")
    if quiet:
        return
    for ckpt in summary.get("checkpoints", []):
        click.echo(f"  {ckpt}")
    for ev in summary.get("evaluated", []):
        click.echo(f"  evaluated step {ev['step']} ({ev['seconds']:.1f} s)")


def _trainer_command(name: str, trainer) -> click.Command:
    @click.command(name, help=getattr(trainer, "description", None) or f"Train with the {name!r} trainer.")
    @click.option("--config", "-c", "config", type=click.Path(dir_okay=False), default=None,
                  help="YAML config (every key: docs/training.md; starting points: configs/*.yaml). "
                       "Without --config or --set: how to start.")
    @click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                  help="Override a config key (repeatable; dotted for nested: lora.r=8, trl.bf16=true).")
    @click.option("--resume", is_flag=True, help="Resume from the last checkpoint in output_dir (a finished run: "
                                                 "nothing to train, says so).")
    @click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bars or library logs: errors and one summary line.")
    def command(config, overrides, resume, as_json, quiet):
        _run(name, config, tuple(overrides), resume, as_json, quiet)

    return command


class TrainGroup(click.Group):
    """`geobench train NAME`: a subcommand per registered trainer, built when asked for, so `geobench --help`
    loads no trainer (and a third-party trainer plugin gets its subcommand too)."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(plugin_manager.registry().trainers))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        reg = plugin_manager.registry()
        if command is None and name in reg.trainers:
            command = _trainer_command(name, reg.trainer(name))
        return command


def add_commands(cli: click.Group) -> None:
    @cli.group("train", cls=TrainGroup)
    def train():
        """Train a model (SFT scaffolding, GRPO elevating); every checkpoint is evaluated into the results table."""

    @train.command("list")
    def list_trainers():
        """List the registered trainers."""
        reg = plugin_manager.registry()
        for tname in sorted(reg.trainers):
            t = reg.trainer(tname)
            click.echo(f"{tname:8s} {getattr(t, 'description', '')}")

    @cli.command("demo")
    @click.option("--out", "-o", default="demo", show_default=True, type=click.Path(file_okay=False),
                  help="Folder for the model, data, checkpoints, results/ and report/.")
    @click.option("--sft-steps", type=int, default=None, help="SFT steps (default: see trainers/training/demo.py).")
    @click.option("--grpo-steps", type=int, default=None, help="GRPO steps (16 prompts x 8 rollouts each).")
    @click.option("--eval-limit", type=int, default=None, help="Test documents per evaluation.")
    @click.option("--sft-eval-every", type=int, default=None, help="Evaluate an SFT checkpoint every N steps.")
    @click.option("--grpo-prompts", type=int, default=None, help="Prompts per GRPO step (8 rollouts each).")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of the model's random weights and training.")
    @click.option("--quiet", "-q", is_flag=True, help="Only the final table.")
    def demo(out, sft_steps, grpo_steps, eval_limit, sft_eval_every, grpo_prompts, seed, quiet):
        """The whole method in miniature on a CPU: toy world + small model -> base eval -> scaffold -> SFT -> GRPO,
        every checkpoint evaluated; prints the table, writes plots and an HTML report."""
        kwargs = {k: v for k, v in (("sft_steps", sft_steps), ("grpo_steps", grpo_steps), ("eval_limit", eval_limit),
                                    ("sft_eval_every", sft_eval_every), ("grpo_prompts", grpo_prompts))
                  if v is not None}
        summary = run_demo(out, seed=seed, quiet=quiet, **kwargs)
        click.echo(format_summary(summary))
