"""`scene_toy`: GeoChain's questions on the offline toy world, and the exporter that writes its dataset in
GeoChain's layout (so the GeoChain loader reads it)."""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from geobench import toydata
from geobench.api import GenConfig
from geobench.tasks.toyworld import knowledge
from geobench.tasks.toyworld.render import render_ground
from geobench.tasks.toyworld.world import CLIMATES, World

from .loaders import GeoChain
from .task import GEOCHAIN_QUESTIONS, QUESTION_KEYS


class SceneToy(GeoChain):
    """GeoChain's questions on the toy world: images and answers written in GeoChain's layout by `export`,
    read by the GeoChain loader. The test split keeps 20 docs per question (answers balanced where the
    toy world allows: islands, deserts and the poles are rare), 320 docs in all; train keeps 400 per question.
    """

    name = "scene_toy"
    description = "toy-world GeoChain questions (13 yes/no + continent, driving side, climate), offline"
    default_gen = GenConfig(max_new_tokens=64)
    TOY_PER_QUESTION = {"test": 20, "train": 400}

    source = None
    splits = ("test", "train")

    def __init__(self, root: str | Path | None = None, split: str = "test",
                 questions: Iterable[str] = QUESTION_KEYS,
                 per_question: int | Mapping[str, int] | None = None, *, folder: str | Path | None = None):
        super().__init__(root, split, questions, self.TOY_PER_QUESTION if per_question is None else per_question,
                         folder=folder)

    def root(self) -> Path:
        return self._root if self._root is not None else toydata.ensure("scene")

    def data_status(self) -> str | None:
        if self._root is not None:
            return super().data_status()
        return None  # built on first use

    def scaffold_place(self, facts: dict[str, Any]) -> dict[str, frozenset[str]]:
        """The toy world's country facts, road, sea bearing and nearest city at the image's point."""
        world = knowledge.toy_world()
        if "lat" in facts:
            place = world.place(facts["lat"], facts["lon"])
            facts.update(knowledge.country_facts(world, place.country_code))
            facts["road"] = place.road
            facts["sea_bearing"] = place.sea_bearing
            facts["city"] = place.nearest_city
        return knowledge.vocab(world)


TOY_WORLD_SEED = 0
SAMPLE_COLUMNS = ("key", "locatability_score", "lat", "lon", "city", "sub_folder", "class_mapping", "sequence_key")


def split_seed(seed: int, split: str) -> int:
    """A stable sampling seed per (dataset seed, split), so splits never share places."""
    return zlib.crc32(f"scene/{seed}/{split}".encode())


def toy_places(n: int, seed: int, split: str):
    """The places of one toy split: what `export` writes, in order (also used by tests)."""
    return World(TOY_WORLD_SEED).sample_places(n, seed=split_seed(seed, split))


def toy_answers(place) -> dict[str, str]:
    """GeoChain's answer columns (answer_0 .. answer_20) for a toy place, with GeoChain's spellings."""
    yes_no = {k: "Yes" if v else "No" for k, v in place.geochain().items()}
    by_key = {**yes_no, "continent": place.continent or "Unknown",
              "driving_side": (place.driving_side or "Unknown").capitalize(), "climate": place.climate.capitalize(),
              "_country": place.country_name or "Unknown", "_languages": "Unknown", "_state": "Unknown",
              "_city": place.nearest_city, "_coordinates": f"{place.lat:.4f}, {place.lon:.4f}"}
    return {f"answer_{rank - 1}": by_key[v[0]] for rank, v in GEOCHAIN_QUESTIONS.items()}


def _class_mapping(place) -> str:
    """GeoChain's per-image segmentation classes, as presence markers only (values are not pixel shares)."""
    present = {"boat": place.boats, "car": place.vehicles, "traffic light": place.traffic_lights, "flag": place.flag,
               "road, route": place.road, "building": place.settlement != "rural", "sky": True}
    return json.dumps({k: 1.0 for k, v in present.items() if v})


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def export(folder: Path, splits: dict[str, int], seed: int) -> None:
    """Write the toy scene dataset in GeoChain's layout: questions.csv (the toy world's continents as the
    continent options), {split}_samples_with_answers.csv and images/<city>/query/images/<key>.png, where
    city is the country code. Ground truth is `Place.geochain()` plus continent, driving side and climate."""
    world = World(TOY_WORLD_SEED)
    qrows = []
    for rank, (key, diff, question, qtype, cat) in GEOCHAIN_QUESTIONS.items():
        if key == "continent":
            qtype = f"Multiclass ({len(world.continents)} continents: {'/'.join(world.continents)})"
        elif key == "climate":
            qtype = f"Multiclass ({len(CLIMATES)} main climate types: {'/'.join(c.capitalize() for c in CLIMATES[::-1])})"
        qrows.append((rank, diff, question, qtype, cat))
    (folder / "questions.csv").write_text(
        _csv_text(("Rank", "Difficulty", "Question", "Question Type", "Question Category"), qrows), encoding="utf-8")
    answer_cols = [f"answer_{rank - 1}" for rank in GEOCHAIN_QUESTIONS]
    for split, n in splits.items():
        rows = []
        for i, place in enumerate(toy_places(n, seed, split)):
            key = f"toy-{split}-{i:05d}"
            city = (place.country_code or "sea").lower()
            out = folder / "images" / city / "query" / "images"
            out.mkdir(parents=True, exist_ok=True)
            render_ground(world, place, seed=split_seed(seed, split)).save(out / f"{key}.png", optimize=False)
            answers = toy_answers(place)
            rows.append([key, "", repr(place.lat), repr(place.lon), city, "query", _class_mapping(place), key,
                         *(answers[c] for c in answer_cols)])
        (folder / f"{split}_samples_with_answers.csv").write_text(
            _csv_text((*SAMPLE_COLUMNS, *answer_cols), rows), encoding="utf-8")
