"""`geobench study transfer`: the runner end to end on the tiny model, the shuffled control's reward really is
uninformative, the summary JSON's schema, the full-size dry run, and the toy world's cue links."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from conftest import run_cli
from geobench import pairing, plugin_manager
from geobench.trainers.training import study as st
from geobench.trainers.training.shuffled import ShuffledPairingReward, pseudo_candidates

LETTERS = "ABCD"
CLIMATES = ["dry", "polar", "tropical", "temperate", "continental"]


def _docs(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """n cross-view docs in the GRPO dataset's column form: candidates (JSON), answer letter, doc_id."""
    rng = random.Random(seed)
    cands, answers, ids = [], [], []
    for d in range(n):
        climates, t = rng.sample(CLIMATES, 4), rng.randrange(4)
        cs = [{"letter": LETTERS[i], "true": i == t,
               "attributes": {"climate": climates[i], "road": str(rng.randint(0, 1))}} for i in range(4)]
        for c in cs:
            c["similarity"] = 1.0 if c["true"] else pairing.similarity(cs[t]["attributes"], c["attributes"])
        cands.append(json.dumps(cs))
        answers.append(LETTERS[t])
        ids.append(f"doc{d}")
    return cands, answers, ids


def _answer(letter: str) -> str:
    return f"<think>x</think><answer>{letter}</answer>"


def test_shuffled_reward_is_uninformative():
    """An oracle (always the true tile) earns chance under the shuffled reward, no more than a random policy:
    binary exactly 1/k in expectation, shaped the real reward's chance level (a uniformly random pick)."""
    n = 4000
    cands, answers, ids = _docs(n)
    cols = {"candidates": cands, "k": [4] * n, "doc_id": ids}
    rng = random.Random(1)
    oracle = [_answer(a) for a in answers]
    guess = [_answer(rng.choice(LETTERS)) for _ in answers]
    binary = ShuffledPairingReward("b", "binary", seed=5)
    shaped = ShuffledPairingReward("s", "shaped", seed=5)
    se_b = math.sqrt(0.25 * 0.75 / n)
    assert abs(statistics.mean(binary(oracle, **cols)) - 0.25) < 4 * se_b
    assert abs(statistics.mean(binary(guess, **cols)) - 0.25) < 4 * se_b
    chance = statistics.mean(pairing.reward(pairing.picked(t, json.loads(c), 4), "shaped")
                             for t, c in zip(guess, cands, strict=True))
    oracle_shaped = shaped(oracle, **cols)
    se_s = statistics.stdev(oracle_shaped) / math.sqrt(n)
    assert abs(statistics.mean(oracle_shaped) - chance) < 4 * se_s + 0.01
    # the real reward does tell them apart
    real = [pairing.reward(pairing.picked(t, json.loads(c), 4), "shaped") for t, c in zip(oracle, cands, strict=True)]
    assert statistics.mean(real) == 1.0
    # and the shuffled reward is uncorrelated with being right
    right = [float(g == _answer(a)) for g, a in zip(guess, answers, strict=True)]
    r = shaped(guess, **cols)
    mr, mx = statistics.mean(r), statistics.mean(right)
    cov = sum((a - mr) * (b - mx) for a, b in zip(r, right, strict=True)) / n
    corr = cov / (statistics.pstdev(r) * statistics.pstdev(right))
    assert abs(corr) < 4 / math.sqrt(n)


def test_shuffled_reward_shares_one_pseudo_truth_per_prompt_per_call():
    cands, _, _ = _docs(1)
    reward = ShuffledPairingReward("b", "binary", seed=0)
    group = [_answer(x) for x in LETTERS for _ in range(2)]  # 8 rollouts of one prompt
    values = reward(group, candidates=cands * 8, k=[4] * 8, doc_id=["d"] * 8)
    assert sorted(values) == [0.0] * 6 + [1.0] * 2  # exactly one letter is "right" for the whole group
    fake = pseudo_candidates(json.loads(cands[0]), 2)
    assert [c["true"] for c in fake] == [False, False, True, False] and fake[2]["similarity"] == 1.0


def test_shuffled_rewards_are_registered():
    reg = plugin_manager.registry()
    assert reg.reward("shuffled_pairing").scheme == "shaped"
    assert reg.reward("shuffled_accuracy").scheme == "binary"


def _fake_study(tmp_path, seeds=(0, 1), n=20):
    """A study folder as the runner leaves it (stage records + the eval-on-save run folders), no training."""
    prof = st.make_profile("toy", sft_steps=4, grpo_steps=2, saves=2, eval_limit=n)
    out = tmp_path / "study"
    rng = random.Random(0)
    lift = {"grpo": 0.3, "grpo_shuffled": 0.0, "sft_more": 0.1}
    for s in seeds:
        sd = out / f"seed-{s}"
        cfgs = st.stage_configs(prof, out, s, "tiny", out / "data" / "mixture", sft_more_steps=6)
        for stage, steps in (("sft", 4), ("grpo", 2), ("grpo_shuffled", 2), ("sft_more", 6)):
            sd.mkdir(parents=True, exist_ok=True)
            (sd / f"stage_{stage}.json").write_text(json.dumps({"stage": stage, "steps": steps, "seconds": 1.0,
                                                                "train_seconds": 1.0, "config": cfgs[stage]}))
            save = cfgs[stage]["save_steps"]
            for step in range(save, steps + 1, save):
                run = sd / "results" / f"{cfgs[stage]['run_name']}-step{step}"
                run.mkdir(parents=True)
                for fam in prof.families.values():
                    p = 0.3 + (lift.get(stage, 0.0) * step / steps if stage != "sft" else 0.0)
                    rows = [{"doc_id": f"d{i}", "metrics": {fam.metric: float(rng.random() < p)}} for i in range(n)]
                    (run / f"samples_{fam.task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return prof, out


def test_summary_schema(tmp_path):
    prof, out = _fake_study(tmp_path)
    s = st.summarize(prof, out, [0, 1, 2])  # seed 2 never ran: listed, not done
    assert s["schema"] == st.SCHEMA and s["study"] == "transfer" and s["profile"] == "toy"
    assert s["seeds"] == [0, 1, 2] and s["seeds_done"] == [0, 1]
    assert set(s["arms"]) == set(st.ARMS)
    tasks = ["crossview_toy", "geoloc_toy", "scene_toy"]
    assert list(s["tasks"]) == tasks
    assert {s["tasks"][t]["metric"] for t in tasks} == {"acc", "geoscore"}
    assert set(s["per_seed"]) == {"0", "1", "2"}
    p0 = s["per_seed"]["0"]
    assert p0["sft_steps"] == 4 and p0["arm_steps"] == {"grpo": 2, "grpo_shuffled": 2, "sft_more": 6}
    assert {k for pt in p0["points"] for k in pt} == {"arm", "step", "x", "task", "metric", "value", "n"}
    # sft_more is drawn at the grpo-equivalent step (equal wall time): its last point is at SFT + grpo steps
    assert max(pt["x"] for pt in p0["points"] if pt["arm"] == "sft_more") == 4 + 2
    for t in tasks:
        assert set(s["curves"][t]) == {"sft", *st.ARMS}
        for pts in s["curves"][t].values():
            for pt in pts:
                assert set(pt) == {"x", "value", "lo", "hi", "n_seeds", "n_items"}
                assert pt["lo"] <= pt["value"] <= pt["hi"] and pt["n_seeds"] == 2
        for arm in st.ARMS:
            ba = s["before_after"][t][arm]
            assert set(ba) == {"before", "after", "delta", "per_seed_delta"} and len(ba["per_seed_delta"]) == 2
            assert ba["before"] == s["before_after"][t]["grpo"]["before"]  # one shared starting point
        assert set(s["transfer"][t]) == {"grpo_minus_sft_more", "grpo_minus_grpo_shuffled"}
        assert s["verdict"][t] in ("seen", "not seen", "not distinguishable")
    assert s["cue_read"] == {}  # no truth given: no cue reads
    assert json.loads((out / "summary.json").read_text())["verdict"] == s["verdict"]
    if s.get("plot"):
        assert (out / "study_transfer.png").is_file()


def test_cue_read_scores_the_first_word_of_the_think(tmp_path):
    from geobench.trainers.training.study_summary import cue_read

    assert cue_read("<think>polar; A: dry, no</think><answer>A</answer>", "polar") == 1.0
    assert cue_read("<think>Tropical coast flat city; boats</think><answer>yes</answer>", "tropical") == 1.0
    assert cue_read("<think>dry coast rural; ...</think>", "temperate") == 0.0
    assert cue_read("no think at all", "dry") == 0.0
    prof, out = _fake_study(tmp_path, seeds=(0,), n=8)
    truth = {"geoloc_toy": {f"d{i}": "polar" for i in range(8)}}
    s = st.summarize(prof, out, [0], truth=truth)  # the fake completions are empty: every read is wrong
    assert set(s["cue_read"]) == {"geoloc_toy"}
    assert s["cue_read"]["geoloc_toy"]["before_after"]["grpo"]["after"]["value"] == 0.0


def test_verdict_rule(tmp_path):
    prof, out = _fake_study(tmp_path, n=200)
    s = st.summarize(prof, out, [0, 1])
    # the fake grpo arm lifts every task by 0.3 against 0.0 (shuffled) and 0.1 (sft_more), on 200 items x 2 seeds
    assert all(v == "seen" for v in s["verdict"].values())
    assert all(s["transfer"][t]["grpo_minus_grpo_shuffled"]["lo"] > 0 for t in s["tasks"])


def test_profile_checks():
    with pytest.raises(Exception, match="multiples of saves"):
        st.make_profile("toy", sft_steps=5, saves=2)
    with pytest.raises(Exception, match="unknown profile"):
        st.make_profile("huge")
    full = st.make_profile("full", model="Qwen/Qwen2.5-VL-7B-Instruct")
    assert full.rewards == "geo-r1-released" and full.grpo["lr"] == 1e-6 and full.grpo["max_completion_length"] == 2048


def test_full_size_dry_run(tmp_path):
    """The paper-scale configuration is checked stage by stage without a GPU, data or a download."""
    r = run_cli("study", "transfer", "--dry-run", "--profile", "full", "--model", "Qwen/Qwen2.5-VL-7B-Instruct",
                "--out", str(tmp_path / "full"))
    assert r.returncode == 0, r.stderr
    for stage in ("model", "scaffold crossview", "scaffold geolocation", "scaffold scene", "train sft",
                  "train grpo", "train grpo_shuffled", "train sft_more"):
        assert stage in r.stdout
    assert "checks passed" in r.stdout and "problem" not in r.stdout
    assert "geo-r1-released = 1 accuracy_released" in r.stdout and "1 shuffled_accuracy" in r.stdout


def test_dry_run_reports_a_bad_setting(tmp_path):
    r = run_cli("study", "transfer", "--dry-run", "--sft-steps", "7", "--saves", "2", "--out", str(tmp_path / "x"))
    assert r.returncode != 0 and "multiples of saves" in r.stderr


def test_cue_links_on_the_toy_world():
    """The cross-view cue (climate) is evidence for the other tasks' answers on the toy world."""
    links = st.cue_links(st.make_profile("toy"))
    geo = links["geolocation"]
    assert geo["geoscore_with_cue"] > 1.5 * geo["geoscore_without_cue"]
    q = links["scene"]["questions"]
    assert q["near_poles"]["gain"] > 0.05 and q["near_equator"]["gain"] > 0.05 and q["continent"]["gain"] > 0.1
    assert links["scene"]["direct"] == "climate"


def test_runner_on_the_tiny_model(tmp_path):  # 28 s on a quiet 2-core machine (57 s beside one training job)
    """Every stage of one seed on the tiny model with a handful of steps, then a rerun that resumes (skips)."""
    prof = st.make_profile("toy", sft_steps=2, grpo_steps=2, saves=2, eval_limit=3)
    prof.width = 64
    prof.eval_max_tokens = 8
    prof.grpo = {**prof.grpo, "per_device_batch_size": 16, "max_completion_length": 8}
    for f in prof.families.values():
        f.scaffold_limit = 8
    prof.families["scene"].scaffold_args = {"per_question": 1}
    prof.families["scene"].task_args = {"per_question": 1}
    out = tmp_path / "study"
    s = st.run_study(prof, out, [0], say=lambda m: None)
    assert s["seeds_done"] == [0]
    for arm in ("sft", *st.ARMS):
        assert (out / "seed-0" / f"stage_{arm}.json").is_file()
    steps = s["per_seed"]["0"]["arm_steps"]
    assert steps["grpo"] == steps["grpo_shuffled"] == 2 and steps["sft_more"] >= 2 and steps["sft_more"] % 2 == 0
    # each checkpoint evaluated on all three tasks: 2 saves x 4 stages x 3 tasks
    assert len(s["per_seed"]["0"]["points"]) == 2 * 4 * 3
    stage = json.loads((out / "seed-0" / "stage_grpo_shuffled.json").read_text())
    assert stage["config"]["rewards"] == [{"shuffled_pairing": 1.0}, {"format": 0.1}]
    before = (out / "seed-0" / "stage_sft.json").stat().st_mtime
    again = st.run_study(prof, out, [0], say=lambda m: None)  # resumed: nothing is trained again
    assert (out / "seed-0" / "stage_sft.json").stat().st_mtime == before
    assert again["per_seed"] == s["per_seed"]
    other = st.make_profile("toy", sft_steps=4, grpo_steps=2, saves=2)
    with pytest.raises(Exception, match="other settings"):
        st.run_study(other, out, [0], say=lambda m: None)
