"""Data-parallel evaluation: which rank this is, how the misses are shared out, how results come back.

Under `torchrun --nproc-per-node N -m geobench eval ...` or `accelerate launch -m geobench eval ...`
(`WORLD_SIZE > 1` in the environment) every rank plans the same requests; the evaluator then asks this module
to agree on the cache misses (each rank looks in its own cache: on one node that is one shared sqlite file, on
several nodes each node's own), to give each rank a deterministic, cost-balanced share of them, and to bring
each rank's completions (and any cache hits rank 0 lacks) to rank 0, which scores and writes the one run folder.

The rendezvous and collectives are `torch.distributed`'s (no home-made networking). Only Python objects travel
(completions, skip reasons, timing), so they go through a gloo group: the default group when geobench creates
it (`init_process_group` is called only if nobody has, e.g. not under `accelerate`), else a gloo subgroup of
an existing NCCL job, whose collectives would need CUDA tensors. torch is imported only when `WORLD_SIZE > 1`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import os
import re
from typing import Any

from geobench.errors import GeobenchError

TIMEOUT_ENV = "GEOBENCH_DIST_TIMEOUT"  # seconds a rank waits for the others at a collective (default 24 h)


@dataclasses.dataclass(frozen=True)
class World:
    """This process's place in the job, from the launcher's environment (torchrun, accelerate, srun+torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """The launcher's RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE; one process when they are not set."""
    def num(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            raise GeobenchError(f"environment variable {name}={os.environ[name]!r} is not an integer") from None

    size = num("WORLD_SIZE", 1)
    if size <= 1:
        return World()
    rank, local = num("RANK", 0), num("LOCAL_RANK", 0)
    return World(rank, size, local, num("LOCAL_WORLD_SIZE", size))


def is_main() -> bool:
    return world().is_main


# ------------------------------------------------------------------------------------------------ sharding


def cost(request) -> float:
    """Expected cost of one request: the tokens it may generate, plus its prompt (images weigh most)."""
    from geobench import messages

    return request.gen.max_new_tokens + 64 * len(request.images) + messages.text_length(request.messages) / 4


def shard(costs: list[float], size: int, rank: int) -> list[int]:
    """The indices rank `rank` of `size` takes: longest-processing-time first, each to the least-loaded rank.

    Deterministic (ties go by index, then by rank), so every rank computes the same partition with no
    communication; returned in the original order.
    """
    loads = [0.0] * size
    mine = []
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        r = min(range(size), key=lambda r: (loads[r], r))
        loads[r] += costs[i]
        if r == rank:
            mine.append(i)
    return sorted(mine)


# ------------------------------------------------------------------------------------------------- devices


def cuda_devices() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries, counted without initialising CUDA
    (so a backend that starts its engine in a child process still gets a narrowed CUDA_VISIBLE_DEVICES)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        pass
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def rank_model_args(backend_cls, model_args: dict, w: World) -> dict:
    """Put this rank's backend on this rank's device(s), leaving what the user set alone.

    A backend with a `device` argument (hf) gets `cuda:LOCAL_RANK` (or cpu without GPUs). Any other weight-
    loading backend (vllm, which may use T GPUs for tensor parallelism) gets its slice of the node's GPUs through
    CUDA_VISIBLE_DEVICES: rank r of n on a node with G GPUs sees GPUs [r*G/n, (r+1)*G/n).
    """
    if w.size <= 1 or not getattr(backend_cls, "loads_weights", False):
        return model_args
    try:
        params = inspect.signature(backend_cls.__init__).parameters
    except (TypeError, ValueError):
        params = {}
    if "device" in params:
        if str(model_args.get("device", "auto")) != "auto":
            return model_args
        gpus = cuda_devices()
        return {**model_args, "device": f"cuda:{w.local_rank}" if w.local_rank < len(gpus) else "cpu"}
    gpus = cuda_devices()
    per = len(gpus) // max(w.local_size, 1)
    if per >= 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[w.local_rank * per:(w.local_rank + 1) * per])
    return model_args


# -------------------------------------------------------------------------------------------- collectives


class Group:
    """The job's collectives for Python objects, over gloo; joins the launcher's rendezvous if needed."""

    def __init__(self, w: World):
        import torch.distributed as dist

        self.world, self._dist = w, dist
        timeout = dt.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, 24 * 3600)))
        if not dist.is_available():
            raise GeobenchError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend="gloo", timeout=timeout)
            except (RuntimeError, ValueError) as e:
                raise GeobenchError(f"cannot join the distributed job (rank {w.rank} of {w.size}): {e}",
                                    hint="launch with torchrun or accelerate launch, which set MASTER_ADDR/PORT"
                                    ) from None
        if dist.get_world_size() != w.size:
            raise GeobenchError(f"WORLD_SIZE={w.size} but the process group has {dist.get_world_size()} ranks")
        # A gloo job's own group carries objects as is; an NCCL job (accelerate on GPUs) gets a gloo subgroup.
        self.group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo", timeout=timeout)

    def _call(self, collective, *args, **kwargs) -> None:
        """Run one collective; a peer that died (gloo: "Connection closed by peer") or a timeout is one line."""
        try:
            collective(*args, **kwargs, group=self.group)
        except RuntimeError as e:
            first = (str(e).strip() or type(e).__name__).splitlines()[0]
            why = re.sub(r"^\[[^\]]*\]\s*", "", first).split(". ")[0]  # gloo's "[file.cc:553] " prefix off
            raise GeobenchError(f"lost another process of the job while waiting for it ({why})",
                                hint="the failing process's own error is printed above") from None

    def all_gather(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world.size
        self._call(self._dist.all_gather_object, out, obj)
        return out

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's `obj` on rank 0 (in rank order); None on the others."""
        out: list[Any] | None = [None] * self.world.size if self.world.is_main else None
        self._call(self._dist.gather_object, obj, out, dst=0)
        return out

    def broadcast(self, obj: Any = None) -> Any:
        """Rank 0's `obj` on every rank."""
        box = [obj]
        self._call(self._dist.broadcast_object_list, box, src=0)
        return box[0]

    def barrier(self) -> None:
        self._call(self._dist.barrier)

    def close(self) -> None:
        if self.group is not None:
            self._dist.destroy_process_group(self.group)
            self.group = None


def barrier() -> None:
    """Wait for every rank (no-op in a one-process run); used by trainers before a collective evaluation."""
    w = world()
    if w.size > 1:
        g = Group(w)
        try:
            g.barrier()
        finally:
            g.close()


# ----------------------------------------------------------------------------- the evaluator's parallel phase


def share_misses(group: Group, plans: list, completions: dict, pending: list) -> tuple[list, dict]:
    """(this rank's requests to generate, cache hits to hand to rank 0).

    Every rank looked in its own cache; a request is a miss only if no rank has it (one node shares one cache
    file, several nodes may not). The misses are split by `shard`; a hit rank 0 lacks is sent to it by the
    lowest rank holding it.
    """
    keys = [(p.task.name, d.id) for p in plans for d in p.docs]
    mine_hits = bytes(1 if k in completions else 0 for k in keys)
    every = group.all_gather(mine_hits)
    missing = {k for k, *hits in zip(keys, *every, strict=True) if not any(hits)}
    misses = [r for r in pending if (r.task, r.doc_id) in missing]
    share = [misses[i] for i in shard([cost(r) for r in misses], group.world.size, group.world.rank)]
    extra = {}
    if not group.world.is_main:
        for j, k in enumerate(keys):
            first = next((r for r in range(group.world.size) if every[r][j]), None)
            if first == group.world.rank and not every[0][j]:
                extra[k] = completions[k]
    return share, extra


def payload(generated: dict, extra: dict, dropped: dict, gen: dict) -> dict:
    """What a rank sends to rank 0: its completions (as plain tuples), the docs it had to skip, its timing."""
    rows = {k: (c.text, c.n_tokens, c.finish_reason) for k, c in {**extra, **generated}.items()}
    bad = {task: [(doc_id, e.reason, str(e)) for doc_id, e in docs.items()] for task, docs in dropped.items()}
    return {"completions": rows, "dropped": bad, "gen": gen}


def merge(parts: list[dict], plans: list, completions: dict, gen: dict, put=None) -> dict:
    """On rank 0: fold the other ranks' payloads in (completions, skipped docs) and return the job's timing.

    `put(key, completion)` stores each received completion under its cache key too: with one cache per node,
    rank 0's cache then holds the whole run.
    """
    from geobench.api import Completion
    from geobench.data import DataError

    by_task = {p.task.name: p for p in plans}
    keys = {(r.task, r.doc_id): r.key for p in plans for r in p.requests}
    for part in parts:
        for (task, doc_id), (text, n, finish) in part["completions"].items():
            c = completions[(task, doc_id)] = Completion(text=text, n_tokens=n, finish_reason=finish)
            if put is not None and keys.get((task, doc_id)):
                put(keys[(task, doc_id)], c)
        for task, docs in part["dropped"].items():
            plan = by_task[task]
            for _doc_id, reason, msg in docs:
                plan.skipped.add(DataError(msg, reason))
            plan.drop({d for d, _, _ in docs})
            if not plan.docs:
                raise GeobenchError(f"task {task!r} has no documents left: all skipped")
    every = [gen] + [p["gen"] for p in parts]
    return {"seconds": max(g["seconds"] for g in every), "tokens": sum(g["tokens"] for g in every),
            "samples": sum(g["samples"] for g in every)}
