"""lm-eval interop: the `lm-eval` backend (geobench tasks on lm-eval model types) on the tiny Qwen2.5-VL.

The central check is parity: lm-eval's `hf-multimodal` driven through the `lm-eval` backend must give the
same greedy completions, token counts and finish reasons as geobench's own `hf` backend on the same requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import subprocess
import sys

import pytest

from conftest import run_cli
from geobench.api import Completion, GenConfig, ImageRef, Request, user
from geobench.errors import GeobenchError

pytest.importorskip("lm_eval")

from lm_eval.api.model import LM  # noqa: E402

from geobench.plugins.hf import HFBackend  # noqa: E402
from geobench.plugins.lmeval import LMEvalBackend, convert  # noqa: E402
from geobench.plugins.lmeval import models as lmeval_models  # noqa: E402


class EchoLM(LM):
    """A third-party-style lm-eval LM (not registered with lm-eval) that reports what it was sent."""

    MULTIMODAL = True
    calls: list[int] = []

    def __init__(self, pretrained=None, batch_size=1, **kwargs):
        super().__init__()
        self.pretrained = pretrained

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        return json.dumps(chat_history)

    def generate_until(self, requests, disable_tqdm=False):
        EchoLM.calls.append(len(requests))
        out = []
        for r in requests:
            context, gen_kwargs, *aux = r.args
            sizes = [im.size for im in aux[0]["visual"]] if aux else None
            out.append(json.dumps({"chat": json.loads(context), "gen": gen_kwargs, "images": sizes}))
        return out

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def lm_args(path: str, batch_size: int = 2) -> str:
    return f"pretrained={path},device=cpu,dtype=float32,batch_size={batch_size}"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[ImageRef]:
    """Three noise PNGs of different sizes (different numbers of image tokens)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("lmeval_images")
    rng = random.Random(1)
    refs = []
    for k, (w, h) in enumerate([(96, 80), (64, 64), (80, 112)]):
        img = Image.new("RGB", (w, h))
        img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(w * h)])
        img.save(folder / f"{k}.png")
        refs.append(ImageRef(str(folder / f"{k}.png")))
    return refs


def mixed_requests(images, gen: GenConfig) -> list[Request]:
    """0, 1 and 2 images per request, images before and between text parts, very different lengths."""
    words = "Where was this photo taken ? latitude longitude France (48.85, 2.35) <answer>B</answer>".split()
    out = []
    for i in range(6):
        text = " ".join(words[j % len(words)] for j in range(1 + 5 * i))
        parts: list = {0: [text], 1: [images[0], text], 2: [images[1], "Tile A:", images[2], text]}[i % 3]
        out.append(Request("toy", str(i), user(*parts), gen))
    return out


def generate_all(backend, requests) -> dict[int, Completion]:
    out = list(backend.generate(requests))
    assert sorted(i for i, _ in out) == list(range(len(requests))), "every index exactly once"
    return dict(out)


@pytest.fixture(scope="module")
def hf(tiny_model_path) -> HFBackend:
    return HFBackend(tiny_model_path, dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def lmev(tiny_model_path) -> LMEvalBackend:
    return LMEvalBackend("hf-multimodal", lm_args(tiny_model_path))


# ------------------------------------------------------------------------------------------------ parity


@contextlib.contextmanager
def model_inputs(model):
    """Record what `model.generate` receives: each row's unpadded input ids, and the pixel values' sum."""
    seen = {"rows": [], "pixels": 0.0}
    original = model.generate

    def recording(*args, **kwargs):
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        seen["rows"] += [tuple(r[m.bool()].tolist()) for r, m in zip(ids, mask, strict=True)]
        if kwargs.get("pixel_values") is not None:
            seen["pixels"] += float(kwargs["pixel_values"].double().sum())
        return original(*args, **kwargs)

    model.generate = recording
    try:
        yield seen
    finally:
        del model.generate


def test_greedy_parity_with_the_hf_backend_on_mixed_requests(hf, lmev, images):
    reqs = mixed_requests(images, GenConfig(max_new_tokens=12))
    hf.load_model()
    with model_inputs(hf.model) as hf_in:
        ref = generate_all(hf, reqs)
    with model_inputs(lmev.load().model) as lm_in:
        got = generate_all(lmev, reqs)
    assert lmev.describe()["lm_eval_class"] == "HFMultimodalLM", "lm-eval did the work"
    # The model sees the same prompts (chat template, image tokens where the images are) and pixels...
    assert sorted(lm_in["rows"]) == sorted(hf_in["rows"]) and len(hf_in["rows"]) == len(reqs)
    assert lm_in["pixels"] == pytest.approx(hf_in["pixels"], rel=1e-9) and hf_in["pixels"] != 0
    # ...and gives the same completions: text, n_tokens and finish_reason, request by request.
    assert len({c.text for c in ref.values()}) > 2, "different prompts should give different garbage"
    assert got == ref


def test_stop_strings_cut_the_same_way_and_count_the_same_tokens(hf, lmev, images):
    """lm-eval keeps generating a row past its stop string until the whole batch stops; the backend still
    reports the tokens up to the stop string, as the hf backend (which stops each row there) does."""
    probe = generate_all(hf, mixed_requests(images, GenConfig(max_new_tokens=12)))
    stop = probe[1].text[3:6]  # a piece of text this model does produce
    assert stop.strip(), probe[1].text
    gen = GenConfig(max_new_tokens=12, stop=(stop,))
    reqs = mixed_requests(images, gen)
    ref = generate_all(hf, reqs)
    got = generate_all(lmev, reqs)
    assert got == ref
    cut = [c for c in ref.values() if c.finish_reason == "stop" and c.n_tokens < 12]
    assert cut, "the stop string should end at least one completion early"


def test_evaluate_gives_the_same_results_as_the_hf_backend(tiny_model_path, tmp_path):
    import geobench

    common = dict(tasks="geoloc_toy,crossview_toy", limit=4, gen_kwargs="max_new_tokens=8", use_cache=False,
                  progress=False)
    ref = geobench.evaluate(HFBackend(tiny_model_path, dtype="float32", device="cpu"), output=tmp_path / "hf",
                            run_name="r", **common)
    got = geobench.evaluate(LMEvalBackend("hf-multimodal", lm_args(tiny_model_path, 4)),
                            output=tmp_path / "lm", run_name="r", **common)
    assert got["results"] == ref["results"]
    assert got["config"]["backend"] == "lm-eval" and got["model_name"] == tiny_model_path
    for task in ("geoloc_toy", "crossview_toy"):  # crossview: 5 images per request
        a = [json.loads(x) for x in (tmp_path / "hf" / "r" / f"samples_{task}.jsonl").read_text().splitlines()]
        b = [json.loads(x) for x in (tmp_path / "lm" / "r" / f"samples_{task}.jsonl").read_text().splitlines()]
        assert len(a) == 4 and a == b


def test_requests_as_an_lm_eval_lm_receives_them(images):
    """Through an unregistered LM class: chat with placeholders, gen kwargs, images, 2-arg text-only
    instances, grouping by generation settings and chunking; no tokenizer -> n_tokens 0."""
    EchoLM.calls.clear()
    be = LMEvalBackend("test_lmeval_interop:EchoLM", "pretrained=anything,chunk_size=2")
    gen_a, gen_b = GenConfig(max_new_tokens=5, stop=("</answer>",)), GenConfig(max_new_tokens=7)
    reqs = mixed_requests(images, gen_a)[:4] + mixed_requests(images, gen_b)[4:]
    out = generate_all(be, reqs)
    sent = {i: json.loads(c.text) for i, c in out.items()}
    assert sent[1]["chat"] == [{"role": "user", "content": "<image>" + reqs[1].messages[0]["content"][1]["text"]}]
    assert sent[2]["chat"][0]["content"].startswith("<image>Tile A:<image>")
    assert sent[2]["images"] == [[64, 64], [80, 112]] and sent[1]["images"] == [[96, 80]]
    assert sent[0]["images"] is None and sent[3]["images"] is None, "text-only requests are 2-argument instances"
    assert sent[0]["gen"] == {"until": ["</answer>"], "max_gen_toks": 5, "do_sample": False, "temperature": 0.0}
    assert sent[5]["gen"]["max_gen_toks"] == 7
    assert all(c == Completion(c.text, 0, "stop") for c in out.values())
    # groups (gen, has images): a/text {0,3}, a/images {1,2}, b/images {4,5}, each in chunks of <= 2
    assert sorted(EchoLM.calls) == [2, 2, 2] and be.fingerprint()["lm_eval_model"] == "test_lmeval_interop:EchoLM"


# ------------------------------------------------------------------------------------------- command line


def test_cli_end_to_end_then_a_cached_rerun_in_the_other_form(tiny_model_path, tmp_path):
    out = tmp_path / "results"
    first = run_cli("eval", "--backend", "lm-eval", "--model", "hf-multimodal", "--model-args",
                    f"pretrained={tiny_model_path},device=cpu,dtype=float32", "--batch-size", "2",
                    "--tasks", "geoloc_toy", "--limit", "2", "--gen-kwargs", "max_new_tokens=4", "-o", str(out),
                    "--run-name", "a", "-q")
    assert first.returncode == 0, first.stderr
    res = json.loads((out / "a" / "results.json").read_text())
    assert res["config"]["backend"] == "lm-eval"
    fp = res["config"]["model_fingerprint"]
    assert fp["lm_eval_model"] == "hf-multimodal" and fp["content_sha256"] and fp["lm_eval_version"]
    assert res["config"]["backend_config"]["batch_size"] == 2
    assert res["timing"]["generated_samples"] == 2
    # geobench's form (--model is the model, lm-eval's type a model arg): same model, so all from the cache
    second = run_cli("eval", "--backend", "lm-eval", "--model", tiny_model_path, "--model-args",
                     "lm_eval_model=hf-multimodal,device=cpu,dtype=float32", "--tasks", "geoloc_toy", "--limit",
                     "2", "--gen-kwargs", "max_new_tokens=4", "-o", str(out), "--run-name", "b", "-q")
    assert second.returncode == 0, second.stderr
    res2 = json.loads((out / "b" / "results.json").read_text())
    assert res2["timing"]["generated_samples"] == 0 and res2["timing"]["cache_hits"] == 2
    assert res2["results"] == res["results"]


def test_cli_unknown_lm_eval_model_type_is_one_line(tmp_path):
    r = run_cli("eval", "--backend", "lm-eval", "--model", "hf-multimodl", "--model-args", "pretrained=x",
                "--tasks", "geoloc_toy", "--limit", "1", "-o", str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geobench: error: unknown lm-eval model type 'hf-multimodl'")
    assert "did you mean 'hf-multimodal'" in lines[0] and "vllm-vlm" in lines[0]


# ------------------------------------------------------------------------------------------------ errors


def test_text_only_model_type_refuses_images_before_loading(tiny_model_path, images):
    be = LMEvalBackend("hf", lm_args(tiny_model_path))
    with pytest.raises(GeobenchError, match=r"'hf' is text-only, but task 'toy' sends images.*hf-multimodal"):
        list(be.generate(mixed_requests(images, GenConfig(max_new_tokens=2))))
    assert be.lm is None, "the check must come before the model is built"


def test_unknown_type_bad_args_and_missing_lm_eval(tiny_model_path, monkeypatch):
    with pytest.raises(GeobenchError, match="unknown lm-eval model type 'nope'"):
        LMEvalBackend(tiny_model_path, lm_eval_model="nope")
    with pytest.raises(GeobenchError, match="model is given twice"):
        LMEvalBackend(tiny_model_path, "pretrained=/somewhere/else")
    with pytest.raises(GeobenchError, match="model folder not found: /no/such/folder"):
        LMEvalBackend("/no/such/folder")
    with pytest.raises(GeobenchError, match="chunk_size"):
        LMEvalBackend(tiny_model_path, chunk_size="many")
    be = LMEvalBackend(tiny_model_path, "device=cpu,batch_size=auto")
    with pytest.raises(GeobenchError, match=r"cannot create lm-eval model 'hf-multimodal'.*auto"):
        be.load()
    real = lmeval_models.importlib.util.find_spec
    monkeypatch.setattr(lmeval_models.importlib.util, "find_spec", lambda name, *a: None if name == "lm_eval" else real(name, *a))
    with pytest.raises(GeobenchError, match=r"needs lm-eval.*pip install 'geobench\[lmeval\]'"):
        LMEvalBackend(tiny_model_path)


def test_literal_image_placeholder_in_a_prompt_is_refused():
    with pytest.raises(GeobenchError, match="placeholder"):
        convert.chat_to_lm_eval(user("look at <image> here"))


# ------------------------------------------------------------------------------------------- conversions


def test_chat_and_gen_kwargs_conversion(images):
    chat = [{"role": "system", "content": "Be brief."}, *user(images[0], "Tile A:", images[1], "Which?")]
    assert convert.chat_to_lm_eval(chat) == [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "<image>Tile A:<image>Which?"}]
    assert convert.lm_eval_gen_kwargs(GenConfig(max_new_tokens=5, stop=("</answer>",))) == {
        "until": ["</answer>"], "max_gen_toks": 5, "do_sample": False, "temperature": 0.0}
    assert convert.lm_eval_gen_kwargs(GenConfig(do_sample=True, temperature=0.7, top_p=0.9, top_k=20,
                                               repetition_penalty=1.1)) == {
        "until": [], "max_gen_toks": 256, "do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 20,
        "repetition_penalty": 1.1}


def test_fingerprint_follows_the_weights_not_the_scheduling(tiny_model_path):
    base = LMEvalBackend("hf-multimodal", lm_args(tiny_model_path, 2)).fingerprint()
    assert LMEvalBackend(tiny_model_path, "device=cpu,dtype=float32,batch_size=8").fingerprint() == base
    assert LMEvalBackend("hf-multimodal", lm_args(tiny_model_path).replace("float32", "bfloat16")).fingerprint() != base
    assert base["model_args"]["pretrained"] == "tiny-model"  # the folder's name, not where it sits
    from geobench.hfutil import folder_hash

    assert base["content_sha256"] == folder_hash(tiny_model_path)


def test_registered_model_names_resolve_only_for_weight_loading_types(session_home):
    from geobench.tinymodel import tiny_model_path

    assert LMEvalBackend("tiny", "device=cpu").args["pretrained"] == tiny_model_path()
    served = LMEvalBackend("tiny", "base_url=http://127.0.0.1:9/v1/chat/completions",
                           lm_eval_model="local-chat-completions")
    assert served.args["pretrained"] == "tiny" and served.lm is None
    assert served.fingerprint()["model_args"]["base_url"].startswith("http://127.0.0.1:9")


def test_registered_and_importing_is_light():
    code = ("import sys, geobench.plugins.lmeval as m; from geobench import plugin_manager as p; "
            "assert p.registry().backend('lm-eval') is m.LMEvalBackend; "
            "bad = [x for x in ('lm_eval', 'torch', 'transformers') if x in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------------------------ export direction


EXPORTED = ("geoloc_toy", "scene_toy")


def oracle_answer(task: str, doc_id: str) -> str:
    """A varied, doc-dependent answer: some right, some wrong, some unparseable (non-trivial metrics)."""
    h = int.from_bytes(hashlib.sha256(f"{task}/{doc_id}".encode()).digest()[:8], "big")
    if h % 5 == 0:
        return "no idea"
    if task == "geoloc_toy":
        return f"<think>hmm</think><answer>({(h % 1800) / 10 - 90:.2f}, {(h // 7 % 3600) / 10 - 180:.2f})</answer>"
    return f"<think>hmm</think><answer>{'yes' if h % 2 else 'no'}</answer>"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, session_home) -> str:
    folder = tmp_path_factory.mktemp("lmeval_tasks")
    r = run_cli("lm-eval", "export", ",".join(EXPORTED), str(folder), "--limit", "6",
                "--gen-kwargs", "max_new_tokens=8")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"geobench_{t}.{ext}" for t in EXPORTED for ext in ("yaml", "jsonl")] + ["geobench_utils.py"])
    return str(folder)


def test_exported_tasks_score_exactly_like_geobench(exported):
    """lm-eval runs the exported tasks on an in-process LM; geobench scores the same answers itself."""
    import lm_eval
    from lm_eval.api.model import LM
    from lm_eval.tasks import TaskManager

    import geobench
    from geobench.api import Backend

    class OracleLM(LM):
        MULTIMODAL = True  # the exported tasks send images; this LM ignores them

        def generate_until(self, requests, disable_tqdm=False):
            return [oracle_answer(r.task_name.removeprefix("geobench_"), r.doc["doc_id"]) for r in requests]

        def loglikelihood(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError

    class OracleBackend(Backend):
        name = "oracle"

        def fingerprint(self):
            return None

        def generate(self, requests):
            for i, r in enumerate(requests):
                yield i, Completion(oracle_answer(r.task, r.doc_id))

    tm = TaskManager(include_path=exported, include_defaults=False)  # skip indexing ~12k built-in tasks
    got = lm_eval.simple_evaluate(model=OracleLM(), tasks=[f"geobench_{t}" for t in EXPORTED], task_manager=tm,
                                  log_samples=False)["results"]
    ref = geobench.evaluate(OracleBackend(), list(EXPORTED), limit=6, output=None, progress=False)["results"]
    for task in EXPORTED:
        mine = {k: v for k, v in ref[task].items() if "," in k and "_stderr" not in k and k != "truncated,none"}
        theirs = {k: v for k, v in got[f"geobench_{task}"].items() if k in mine}
        assert theirs.keys() == mine.keys(), (task, set(mine) ^ set(got[f"geobench_{task}"]))
        assert theirs == pytest.approx(mine, rel=1e-12), task
        interesting = [k for k, v in mine.items() if v not in (0.0, 1.0, 20037.5)]
        assert interesting, f"{task}: every metric is trivial, the comparison proves little"


def test_exported_task_on_the_tiny_model_prompts_and_completes_like_geobench(exported, tiny_model_path):
    """The full lm-eval path (its task loader, doc_to_image, --apply_chat_template, hf-multimodal) gives the
    prompt geobench renders and the completions geobench's hf backend generates."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import geobench
    from geobench import plugin_manager
    from geobench.messages import with_images

    lm = LMEvalBackend("hf-multimodal", lm_args(tiny_model_path, 4)).load()
    out = lm_eval.simple_evaluate(model=lm, tasks=["geobench_geoloc_toy"], task_manager=TaskManager(
        include_path=exported, include_defaults=False), apply_chat_template=True, log_samples=True)
    samples = {s["doc"]["doc_id"]: s for s in out["samples"]["geobench_geoloc_toy"]}
    hf = HFBackend(tiny_model_path, dtype="float32", device="cpu")
    texts: dict[str, str] = {}
    original = hf.generate

    def recording(requests):
        for i, c in original(requests):
            texts[requests[i].doc_id] = c.text
            yield i, c

    hf.generate = recording
    ref = geobench.evaluate(hf, "geoloc_toy", limit=6, gen_kwargs="max_new_tokens=8", output=None,
                            use_cache=False, progress=False)
    task = plugin_manager.registry().task("geoloc_toy")
    assert len(samples) == len(texts) == 6
    for doc in task.docs(None, 6):
        chat = with_images(task.to_messages(doc), [{"type": "image"}] * len(doc.images))
        prompt = hf.processor.apply_chat_template([chat], add_generation_prompt=True, tokenize=False)[0]
        assert samples[doc.id]["arguments"][0][0] == prompt
        assert samples[doc.id]["filtered_resps"] == [texts[doc.id]]
    for k in ("geoscore,none", "median_km,none", "parse_rate,none"):
        assert out["results"]["geobench_geoloc_toy"][k] == ref["results"]["geoloc_toy"][k]
