"""The `geobench scaffold` command (added to the CLI by the entry point's `geobench_register_commands`)."""

from __future__ import annotations

import os

import click

from geobench.errors import GeobenchError
from geobench.screen import print_table
from geobench.trainers.scaffold.settings import DEFAULT_TOLERANCE_KM, STYLES


def add_command(cli: click.Group) -> None:
    @cli.command("scaffold")
    @click.option("--task", "-t", "task_name", required=True, help="Task name (e.g. crossview_toy, geoloc_toy, scene_toy).")
    @click.option("--split", default="train", show_default=True, help="Split to turn into exemplars.")
    @click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
                  help="Output folder (new or empty): train.jsonl, images/, scaffold_report.json.")
    @click.option("--limit", type=int, default=None, help="Only the first N documents.")
    @click.option("--style", type=click.Choice(STYLES), default="short", show_default=True,
                  help="Template length: short (attributes -> answer), tiles (+ each tile), full (whole paradigm).")
    @click.option("--teacher-model", default=None, help="Let this model write the reasoning (given the answer).")
    @click.option("--teacher-backend", default="hf", show_default=True, help="Backend of the teacher (hf, vllm, openai, dummy...).")
    @click.option("--teacher-args", default=None, help="k=v,... passed to the teacher backend.")
    @click.option("--teacher-gen-kwargs", default=None, help="k=v,... generation settings (default max_new_tokens=1024).")
    @click.option("--task-args", default=None, help="k=v,... passed to the task (e.g. k=2, difficulty=easy).")
    @click.option("--tolerance-km", type=float, default=DEFAULT_TOLERANCE_KM, show_default=True,
                  help="A stated point farther than this from the truth is a contradiction.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Wording variants (full style), teacher sampling.")
    @click.option("--link-images", is_flag=True, help="Hard-link images into the folder instead of copying.")
    @click.option("--cues", default=None, help="Cross-view attributes the template names, e.g. climate (default all).")
    @click.option("--no-cache", is_flag=True, help="Do not read or write the response cache for teacher calls.")
    @click.option("--data-dir", default=None, envvar="GEOBENCH_DATA", help="Folder holding real benchmarks.")
    def scaffold_cmd(task_name, split, out, limit, style, teacher_model, teacher_backend, teacher_args,
                     teacher_gen_kwargs, task_args, tolerance_km, seed, link_images, cues, no_cache, data_dir):
        """Write fact-checked chain-of-thought SFT exemplars (Geo-R1's scaffolding data) for a task."""
        # Imported when the command runs: this module loads at every `geobench` start, and the writer pulls in
        # the task modules (numpy).
        from geobench.trainers.scaffold.writer import report_rows, scaffold

        if data_dir:
            os.environ["GEOBENCH_DATA"] = data_dir
        teacher = None
        if teacher_model is not None:
            teacher = {"model": teacher_model, "backend": teacher_backend, "args": teacher_args}
        elif teacher_args or teacher_gen_kwargs:
            raise GeobenchError("--teacher-args / --teacher-gen-kwargs need --teacher-model")
        report = scaffold(task_name, out, split=split, limit=limit, style=style, teacher=teacher, seed=seed,
                          tolerance_km=tolerance_km, teacher_gen=teacher_gen_kwargs, task_args=task_args,
                          link_images=link_images, use_cache=not no_cache, progress=True,
                          cues=[c.strip() for c in cues.split(",") if c.strip()] if cues else None)
        print_table(report_rows(report), ["reason", "count", "meaning"],
                    title=f"scaffold {report['task']} [{report['split']}] source={report['source']}"
                          + (f" style={report['style']}" if report["style"] else ""))
        click.echo(f"kept {report['kept']} of {report['n_docs']} -> {report['out']}/train.jsonl "
                   f"({report['seconds']['total']:.1f} s)")
