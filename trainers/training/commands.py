"""The `geobench train` group (one subcommand per registered trainer, plus `list`) and `geobench demo`."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from geobench import plugin_manager
from geobench.trainers.training.demo import format_summary, run_demo


def _run(name: str, config: str | None, overrides: tuple[str, ...], resume: bool, as_json: bool) -> None:
    trainer = plugin_manager.registry().trainer(name)
    # With --json, stdout carries the summary alone: the training libraries' log lines go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        summary = trainer.train(config, overrides, resume=resume)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{name}: {summary.get('global_step')} steps in {summary.get('seconds', 0):.1f} s -> "
               f"{summary.get('output_dir')}")
    for ckpt in summary.get("checkpoints", []):
        click.echo(f"  {ckpt}")
    for ev in summary.get("evaluated", []):
        click.echo(f"  evaluated step {ev['step']} ({ev['seconds']:.1f} s)")


def _trainer_command(name: str, trainer) -> click.Command:
    @click.command(name, help=getattr(trainer, "description", None) or f"Train with the {name!r} trainer.")
    @click.option("--config", "-c", "config", type=click.Path(dir_okay=False), default=None,
                  help="YAML config (keys: see trainers/training/config.py or the README's Training section).")
    @click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                  help="Override a config key (repeatable; dotted for nested: lora.r=8, trl.bf16=true).")
    @click.option("--resume", is_flag=True, help="Resume from the last checkpoint in output_dir.")
    @click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
    def command(config, overrides, resume, as_json):
        _run(name, config, tuple(overrides), resume, as_json)

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
