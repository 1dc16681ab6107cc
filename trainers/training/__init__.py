"""The trainers plugin (entry point `trainers`): the `sft` and `grpo` trainers, `geobench train` and `geobench demo`.

    geobench train sft  --config configs/sft_tiny.yaml  [--set key=value ...] [--resume]
    geobench train grpo --config configs/grpo_tiny.yaml [--set key=value ...] [--resume]
    geobench train list
    geobench study transfer [--seeds 0,1,2] [--out DIR] [--dry-run]

The parts: `config` (YAML -> TrainConfig), `checkpoints`, `callbacks` (processor, eval-on-save, JSONL log),
`run` (what both trainers share), `sft`, `grpo`, `demo`, `commands`, `study*` (the transfer experiment,
`geobench study transfer`), `shuffled` (the study's uninformative control reward). This module only registers: the trainer
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
    from geobench.trainers.training.study_command import add_study_command

    add_commands(cli)
    add_study_command(cli)


@hookimpl
def geobench_register_rewards(register):
    register(f"{__name__}.shuffled:SHUFFLED_PAIRING", name="shuffled_pairing")
    register(f"{__name__}.shuffled:SHUFFLED_ACCURACY", name="shuffled_accuracy")
