"""The trainers plugin (entry point `trainers`): the `sft` and `grpo` trainers, `geobench train` and `geobench demo`.

    geobench train sft  --config configs/sft_tiny.yaml  [--set key=value ...] [--resume]
    geobench train grpo --config configs/grpo_tiny.yaml [--set key=value ...] [--resume]
    geobench train list

The parts: `config` (YAML -> TrainConfig), `checkpoints`, `callbacks` (processor, eval-on-save, JSONL log),
`run` (what both trainers share), `sft`, `grpo`, `demo`, `commands`. This module only registers: the trainer
classes as "module:attr" references (imported on first lookup, so `geobench --help` imports no TRL) and the
commands.
"""

from __future__ import annotations

from geobench.hookspecs import hookimpl


@hookimpl
def geobench_register_trainers(register):
    register(f"{__name__}.sft:SFT", name="sft")
    register(f"{__name__}.grpo:GRPO", name="grpo")


@hookimpl
def geobench_register_commands(cli):
    from geobench.trainers.training.commands import add_commands

    add_commands(cli)
