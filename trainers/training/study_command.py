"""The `geobench study` group and its `transfer` command (the runner is trainers/training/study.py)."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from geobench.args import parse_kv
from geobench.errors import GeobenchError


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GeobenchError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise GeobenchError(f"--seeds must name one or more distinct seeds, got {text!r}")
    return seeds


def format_table(summary: dict) -> str:
    """Per task and arm: the score before (SFT end) and after the arm, the change, with 95 % intervals."""
    def iv(d):
        return f"{d['value']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"

    lines = [f"geobench study transfer ({summary['profile']}, model {summary['model']}): seeds done "
             f"{summary['seeds_done']} of {summary['seeds']}"]
    for task, arms in summary["before_after"].items():
        metric = summary["tasks"][task]["metric"]
        for arm, d in arms.items():
            lines.append(f"{task:14s} {metric:9s} {arm:14s} before {iv(d['before'])}  after {iv(d['after'])}  "
                         f"change {d['delta']['value']:+.3f} [{d['delta']['lo']:+.3f}, {d['delta']['hi']:+.3f}]")
        for name, d in summary["transfer"].get(task, {}).items():
            lines.append(f"{task:14s} {metric:9s} {name:26s} {d['value']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]")
        if task in summary["verdict"]:
            lines.append(f"{task:14s} verdict: {summary['verdict'][task]}")
    for task, d in (summary.get("cue_read") or {}).items():
        for arm, ba in d["before_after"].items():
            lines.append(f"{task:14s} {'cue read':9s} {arm:14s} before {iv(ba['before'])}  after {iv(ba['after'])}  "
                         f"change {ba['delta']['value']:+.3f} [{ba['delta']['lo']:+.3f}, {ba['delta']['hi']:+.3f}]")
    if summary.get("plot"):
        lines.append(f"plot: {summary['plot']}")
    return "\n".join(lines)


def add_study_command(cli: click.Group) -> None:
    @cli.group("study")
    def study():
        """Experiments that test a claim of the method, with controls (see docs/experiments.md)."""

    @study.command("transfer")
    @click.option("--out", "-o", default="study-transfer", show_default=True, type=click.Path(file_okay=False),
                  help="Study folder (data/, seed-N/, summary.json, study_transfer.png); rerun to resume.")
    @click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated seeds (model init and training).")
    @click.option("--profile", type=click.Choice(["toy", "full"]), default="toy", show_default=True,
                  help="toy: tiny model on the toy world (CPU); full: real benchmarks, Geo-R1's GRPO recipe (GPUs).")
    @click.option("--model", default=None, help="Model (toy default: the tiny architecture at width 128; "
                                                "full default: Qwen/Qwen2.5-VL-7B-Instruct).")
    @click.option("--sft-steps", type=int, default=None, help="SFT steps on the mixture.")
    @click.option("--grpo-steps", type=int, default=None, help="Steps of each GRPO arm.")
    @click.option("--saves", type=int, default=None, help="Checkpoints (= evaluations) per stage.")
    @click.option("--eval-limit", type=int, default=None, help="Test documents per eval task and checkpoint.")
    @click.option("--sft-more-steps", type=int, default=None,
                  help="Fix the continued-SFT control's steps (default: equal wall time to the grpo arm).")
    @click.option("--crossview-args", default=None,
                  help="k=v,... over the cross-view task's args (toy default difficulty=easy,differ_in=climate,k=4).")
    @click.option("--cue", default=None, help="The cross-view attribute the think names and the cue read checks "
                                              "(toy default climate; e.g. settlement with differ_in=settlement,k=3).")
    @click.option("--dry-run", is_flag=True, help="Check every stage (configs, tasks, rewards, model, data) and exit.")
    @click.option("--summary-only", is_flag=True, help="Only (re)collect summary.json and the plot from --out.")
    @click.option("--json", "as_json", is_flag=True, help="Print the summary JSON instead of the table.")
    def transfer(out, seeds, profile, model, sft_steps, grpo_steps, saves, eval_limit, sft_more_steps, crossview_args,
                 cue, dry_run, summary_only, as_json):
        """Does GRPO on cross-view pairing lift geolocation and scene reasoning? SFT on the three families'
        scaffolding mixture, then three arms from the same SFT end: GRPO (real reward), GRPO (shuffled reward),
        continued SFT at equal wall time; every checkpoint evaluated on the three eval tasks."""
        from pathlib import Path

        from geobench.trainers.training import study as st

        seed_list = _seeds(seeds)
        if summary_only:
            prof = st.load_profile(out)
            toy = prof.name == "toy"
            summary = st.summarize(prof, Path(out), seed_list, cue_links=st.cue_links(prof, prof.cue) if toy else {},
                                   truth=st.cue_truth(prof, prof.cue) if toy else {})
        else:
            prof = st.make_profile(profile, model, sft_steps=sft_steps, grpo_steps=grpo_steps, saves=saves,
                                   eval_limit=eval_limit, sft_more_steps=sft_more_steps, cue=cue,
                                   crossview_args=parse_kv(crossview_args, "--crossview-args"))
            if dry_run:
                rows = st.dry_run(prof, Path(out), seed_list)
                for stage, status, what in rows:
                    click.echo(f"{stage:22s} {status:8s} {what}")
                bad = [r for r in rows if r[1] == "problem"]
                click.echo(f"dry run: {len(rows) - len(bad)} of {len(rows)} checks passed")
                if bad:
                    raise GeobenchError(f"study dry run: {len(bad)} problem(s), first: {bad[0][0]}: {bad[0][2]}")
                return
            with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
                summary = st.run_study(prof, out, seed_list,
                                       say=lambda m: click.echo(m, err=True))
        click.echo(json.dumps(summary, indent=2) if as_json else format_table(summary))
