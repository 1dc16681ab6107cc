"""The trainers plugin: registers the `sft` and `grpo` trainers and the `geobench train` command group.

    geobench train sft  --config configs/sft_tiny.yaml  [--set key=value ...] [--resume]
    geobench train grpo --config configs/grpo_tiny.yaml [--set key=value ...] [--resume]
    geobench train list

`geobench train NAME` dispatches to the trainer registered under NAME (`geobench_register_trainers`), so a
third-party trainer plugin gets its own subcommand too. A trainer is an object with `name` and
`train(config_path, overrides, resume) -> summary dict`. Torch/TRL are imported only when a trainer runs.
"""

from __future__ import annotations

import json

from geobench.hookspecs import hookimpl


@hookimpl
def geobench_register_trainers(register):
    from geobench.trainers.grpo import GRPO
    from geobench.trainers.sft import SFT

    register(SFT, name="sft")
    register(GRPO, name="grpo")


def _run(name: str, config: str | None, overrides: tuple[str, ...], resume: bool, as_json: bool) -> None:
    import click

    from geobench import plugin_manager

    trainer = plugin_manager.registry().trainer(name)
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


def _make_command(group, name: str, trainer) -> None:
    import click

    @group.command(name, help=getattr(trainer, "description", None) or f"Train with the {name!r} trainer.")
    @click.option("--config", "-c", "config", type=click.Path(dir_okay=False), default=None,
                  help="YAML config (keys: see trainers/config.py or the README's Training section).")
    @click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                  help="Override a config key (repeatable; dotted for nested: lora.r=8, trl.bf16=true).")
    @click.option("--resume", is_flag=True, help="Resume from the last checkpoint in output_dir.")
    @click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
    def command(config, overrides, resume, as_json):
        _run(name, config, tuple(overrides), resume, as_json)


@hookimpl
def geobench_register_commands(cli):
    import click

    from geobench import plugin_manager

    @cli.group("train")
    def train():
        """Train a model (SFT scaffolding, GRPO elevating); every checkpoint is evaluated into the results table."""

    @train.command("list")
    def list_trainers():
        """List the registered trainers."""
        reg = plugin_manager.registry()
        for tname in sorted(reg.trainers):
            t = reg.trainer(tname)
            click.echo(f"{tname:8s} {getattr(t, 'description', '')}")

    reg = plugin_manager.registry()
    for tname in sorted(reg.trainers):
        if tname != "list":
            _make_command(train, tname, reg.trainer(tname))

    @cli.command("demo")
    @click.option("--out", "-o", default="demo", show_default=True, type=click.Path(file_okay=False),
                  help="Folder for the model, data, checkpoints, results/ and report/.")
    @click.option("--sft-steps", type=int, default=None, help="SFT steps (default: see trainers/demo.py).")
    @click.option("--grpo-steps", type=int, default=None, help="GRPO steps (16 prompts x 8 rollouts each).")
    @click.option("--eval-limit", type=int, default=None, help="Test documents per evaluation.")
    @click.option("--sft-eval-every", type=int, default=None, help="Evaluate an SFT checkpoint every N steps.")
    @click.option("--grpo-prompts", type=int, default=None, help="Prompts per GRPO step (8 rollouts each).")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of the model's random weights and training.")
    @click.option("--quiet", "-q", is_flag=True, help="Only the final table.")
    def demo(out, sft_steps, grpo_steps, eval_limit, sft_eval_every, grpo_prompts, seed, quiet):
        """The whole method in miniature on a CPU: toy world + small model -> base eval -> scaffold -> SFT -> GRPO,
        every checkpoint evaluated; prints the table, writes plots and an HTML report."""
        from geobench.trainers.demo import format_summary, run_demo

        kwargs = {k: v for k, v in (("sft_steps", sft_steps), ("grpo_steps", grpo_steps), ("eval_limit", eval_limit),
                                    ("sft_eval_every", sft_eval_every), ("grpo_prompts", grpo_prompts))
                  if v is not None}
        summary = run_demo(out, seed=seed, quiet=quiet, **kwargs)
        click.echo(format_summary(summary))
