"""`dummy` backend: answers without a model, for smoke-testing tasks, pipelines and plugins (like lm-eval's
DummyLM). `--model` picks the answer: `random` (a seeded random guess per prompt: coordinates and a letter),
or any other text, returned verbatim. `--model-args delay=0.1` sleeps per request to mimic a slow model.
"""

from __future__ import annotations

import hashlib
import random
import time

from geobench.api import Backend, Completion
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl


class DummyBackend(Backend):
    name = "dummy"

    def __init__(self, model: str = "random", batch_size=1, delay: float = 0.0, **unknown):
        if unknown:
            raise GeobenchError(f"unknown model arg(s) for dummy: {', '.join(sorted(unknown))}; known: delay")
        self.model_id = model
        self.delay = float(delay)
        self.batch_size = batch_size

    def fingerprint(self):
        return {"backend": self.name, "model": self.model_id}

    def describe(self):
        return {"batch_size": self.batch_size, "device": "none", "delay": self.delay}

    def answer(self, request) -> str:
        if self.model_id != "random":
            return self.model_id
        seed = hashlib.sha256(f"{request.task}/{request.doc_id}/{request.gen.seed}".encode()).digest()
        rng = random.Random(seed)
        lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        return (f"<think>a guess</think><answer>({lat:.4f}, {lon:.4f}) {rng.choice('ABCD')} "
                f"{rng.choice(['yes', 'no'])}</answer>")

    def generate(self, requests):
        for i, req in enumerate(requests):
            if self.delay:
                time.sleep(self.delay)
            text = self.answer(req)
            yield i, Completion(text=text, n_tokens=len(text.split()), finish_reason="stop")


@hookimpl
def geobench_register_backends(register):
    register(DummyBackend)
