"""Per-family extraction: a task's documents with the ground-truth facts the templates and the fact-check use.

MERGE NOTE: this is the one module of trainers/ that still imports tasks/ (the isinstance dispatch below). The
extraction moves into the tasks as `Task.scaffold_items(split, limit, *, need_template)`; at the merge, the body
of `prepare` becomes `items = task.scaffold_items(split, limit, need_template=need_template)` (then the
tolerance and the empty check stay) and everything else here is deleted. A task that already provides
`scaffold_items` (a third-party one) is used through it today.

Which metadata each family needs (the templates never invent a fact the metadata does not hold):
- cross-view: per-candidate visual attributes (the toy world's CV-Cities 7th column); the toy world adds the
  ground place's country, continent, sign and driving side. Real CV-Cities/CVUSA/... have no attributes: only
  the teacher source works there (fact-checked on the letter, and on coordinates / country where known);
- geolocation: latitude/longitude; the toy world adds every `Place.facts()` field (places.jsonl); real
  benchmarks get country and nearest city from offline reverse geocoding (or their own name columns), so
  their templates have no visual-cue step (knowledge -> answer only);
- scene: the GeoChain answers CSV (all 21 answers of the image, plus lat/lon); `SceneJSONL` has only the
  answer, so only the teacher source works there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from geobench import geocode
from geobench.api import ScaffoldItem, Task, Truth
from geobench.data import read_csv
from geobench.errors import GeobenchError

# Cross-unit imports, allowed here only until the merge (see the module docstring).
from geobench.tasks.crossview import CrossViewTask, CrossViewToy
from geobench.tasks.geolocation import GeolocationTask, GeolocToy
from geobench.tasks.scene import GEOCHAIN_QUESTIONS, NOT_VERIFIABLE, GeoChain, SceneTask, SceneToy
from geobench.tasks.toyworld import World
from geobench.trainers.scaffold.settings import DEFAULT_TOLERANCE_KM
from geobench.trainers.scaffold.templates import as_flag

REAL_CONTINENTS = ("Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania", "South America")

# One name per toy country colour (palette.COUNTRY_PALETTE), so a sign's colour + shape names one country;
# any other colour gets the nearest name.
COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "navy": (0, 0, 120), "yellow": (255, 255, 0), "aqua": (90, 255, 255), "magenta": (255, 15, 255),
    "green": (0, 240, 15), "red": (240, 0, 0), "violet": (90, 75, 255), "salmon": (255, 150, 135),
    "olive": (135, 135, 15), "teal": (0, 165, 165), "light green": (120, 255, 105), "plum": (150, 0, 135),
    "lilac": (210, 135, 255), "dark green": (0, 120, 45), "maroon": (120, 0, 15), "orange": (255, 120, 0),
    "blue": (0, 0, 240), "pink": (255, 30, 105), "cream": (225, 255, 135), "lime": (105, 240, 0),
    "mint": (15, 255, 120), "azure": (0, 120, 255), "sky blue": (90, 165, 210), "steel blue": (45, 75, 165),
    "purple": (150, 0, 240), "orchid": (195, 75, 180), "turquoise": (0, 225, 240), "mustard": (195, 195, 60),
    "sea green": (60, 180, 90), "brick": (180, 60, 60),
}


def colour_name(rgb: Iterable[int]) -> str:
    """The nearest of a few plain colour names (toy countries' sign colours are saturated RGB)."""
    r, g, b = rgb
    return min(COLOUR_NAMES, key=lambda n: sum((x - y) ** 2 for x, y in zip((r, g, b), COLOUR_NAMES[n], strict=True)))



def _toy_world():
    return World(0)


_VOCABS: dict[int, dict[str, frozenset[str]]] = {}


def _toy_vocab(world) -> dict[str, frozenset[str]]:
    """Closed name lists of the toy world (computed once per world object)."""
    if id(world) not in _VOCABS:
        _VOCABS[id(world)] = _make_vocab(world)
    return _VOCABS[id(world)]


def _make_vocab(world) -> dict[str, frozenset[str]]:
    return {"country": frozenset(c.name for c in world.countries), "city": frozenset(c.name for c in world.cities),
            "continent": frozenset(world.continents)}


def _country_facts(world, code: str | None) -> dict[str, Any]:
    """Sign colour/shape, driving side, name and continent of a toy country (empty at sea)."""
    if not code:
        return {}
    try:
        c = world.country(code)
    except KeyError:
        return {}
    return {"country": c.name, "continent": c.continent, "sign_colour": colour_name(c.palette),
            "sign_shape": c.sign_shape.replace("_", " "), "driving_side": c.driving_side}


def _real_areas(lats: list[float], lons: list[float]) -> list[dict[str, str | None]]:
    """Country and nearest-place names by offline reverse geocoding; all None if the table is missing."""
    if not lats or not geocode.available():
        return [{"country": None, "city": None} for _ in lats]
    p = geocode.lookup(lats, lons)
    return [{"country": str(p.country[i]) or None, "city": str(p.city[i]) or None} for i in range(len(lats))]


def prepare(task: Task, split: str = "train", limit: int | None = None, *, need_template: bool = True,
            tolerance_km: float = DEFAULT_TOLERANCE_KM) -> list[ScaffoldItem]:
    """Items (doc, facts, truth, hint) of a task's split; a task without the metadata a source needs is a
    one-line error."""
    items = _scaffold_items(task, split, limit, need_template)  # MERGE: task.scaffold_items(split, limit, ...)
    for it in items:
        it.truth.tolerance_km = tolerance_km
    if not items:
        raise GeobenchError(f"task {task.name!r}: split {split!r} has no documents")
    return items


def _scaffold_items(task: Task, split: str, limit: int | None, need_template: bool) -> list[ScaffoldItem]:
    """The built-in families by class (deleted at the merge); any other task through its `scaffold_items`."""
    if type(task).scaffold_items is not Task.scaffold_items:
        return list(task.scaffold_items(split, limit, need_template=need_template))
    if isinstance(task, CrossViewTask):
        return _crossview_items(task, split, limit, need_template)
    if isinstance(task, GeolocationTask):
        return _geoloc_items(task, split, limit)
    if isinstance(task, SceneTask):
        if need_template and not isinstance(task, GeoChain):
            raise GeobenchError(f"task {task.name!r}: its metadata holds only the answer of each question, not the "
                                "image's attributes the templates need", hint="use a teacher: --teacher-model M "
                                "--teacher-backend B")
        return _scene_items(task, split, limit)
    return list(task.scaffold_items(split, limit, need_template=need_template))  # the contract's "cannot" error


def _crossview_items(task, split: str, limit: int | None, need_template: bool) -> list[ScaffoldItem]:
    docs = list(task.docs(split, limit))
    if not docs:
        return []
    if need_template and any(not c.get("attributes") for d in docs for c in d.fields["candidates"]):
        raise GeobenchError(f"task {task.name!r}: its metadata has no per-candidate visual attributes, which the "
                            "templates need (only toy-world-style data has them)",
                            hint="use a teacher: --teacher-model M --teacher-backend B")
    pool = task.pool(split)
    index = {q.id: i for i, q in enumerate(pool.queries)}
    toy = isinstance(task, CrossViewToy)
    world = _toy_world() if toy else None
    points = []
    for d in docs:
        qi = index.get(d.fields["query_id"])
        ok = pool.metric == "haversine" and qi is not None and pool.query_pos is not None
        points.append((float(pool.query_pos[qi][0]), float(pool.query_pos[qi][1])) if ok else None)
    areas = [None] * len(docs)
    if not toy:
        have = [i for i, p in enumerate(points) if p]
        found = _real_areas([points[i][0] for i in have], [points[i][1] for i in have])
        for i, a in zip(have, found, strict=True):
            areas[i] = a
    items = []
    for d, pt, area in zip(docs, points, areas, strict=True):
        cands = {c["letter"]: c.get("attributes") for c in d.fields["candidates"]}
        true = next(c for c in d.fields["candidates"] if c["true"])
        facts: dict[str, Any] = {"attrs": dict(true.get("attributes") or {})}
        if pt:
            facts["lat"], facts["lon"] = pt
        truth = Truth("crossview", d.fields["answer"], n_letters=int(d.fields["k"]), candidates=cands,
                      lat=pt[0] if pt else None, lon=pt[1] if pt else None,
                      climate=facts["attrs"].get("climate"))
        if toy and pt:
            place = world.place(*pt)
            facts.update(_country_facts(world, place.country_code))
            truth.country, truth.continent = facts.get("country"), facts.get("continent")
            truth.city = place.nearest_city
            truth.vocab = _toy_vocab(world)
        elif area:
            truth.country = area["country"]
        items.append(ScaffoldItem(d, facts, truth, f"tile {d.fields['answer']}"))
    return items


def _geoloc_items(task, split: str, limit: int | None) -> list[ScaffoldItem]:
    docs = list(task.docs(split, limit))
    toy = isinstance(task, GeolocToy)
    places: dict[str, dict] = {}
    world = None
    if toy:
        world = _toy_world()
        path = task.root() / "places.jsonl"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    places[row["IMG_ID"]] = row
    named = [d for d in docs if not d.fields.get("country") or not d.fields.get("city")]
    areas = dict(zip((d.id for d in named), _real_areas([d.fields["lat"] for d in named],
                                                         [d.fields["lon"] for d in named]), strict=True)) \
        if named and not toy else {}
    items = []
    for d in docs:
        lat, lon = float(d.fields["lat"]), float(d.fields["lon"])
        facts: dict[str, Any] = {"lat": lat, "lon": lon}
        if toy:
            p = places.get(d.id, {})
            facts.update({k: v for k, v in d.fields.items() if k not in ("lat", "lon") and v not in ("", None)})
            for k in ("road", "vehicles", "boats", "traffic_lights", "flag", "sea_bearing", "island"):
                if k in p:
                    facts[k] = p[k]
            facts["city_km"] = p.get("nearest_city_km")
            facts.update({k: v for k, v in _country_facts(world, d.fields.get("country_code")).items()
                          if k not in ("country", "continent")})
            facts.setdefault("country", p.get("country_name"))
        else:
            area = areas.get(d.id, {})
            facts["country"] = d.fields.get("country") or area.get("country")
            facts["city"] = d.fields.get("city") or area.get("city")
            facts["city_geocoded"] = not d.fields.get("city")
        # A reverse-geocoded "city" is the nearest GeoNames place (often a suburb): stated in templates, but
        # only a benchmark's own city names are checked.
        truth = Truth("geolocation", f"({lat:.2f}, {lon:.2f})", lat=lat, lon=lon, country=facts.get("country") or None,
                      city=(facts.get("city") if toy else d.fields.get("city")) or None, continent=facts.get("continent") or None,
                      climate=facts.get("climate") or None, vocab=_toy_vocab(world) if toy else {})
        names = ", ".join(x for x in (facts.get("city"), facts.get("country")) if x)
        items.append(ScaffoldItem(d, facts, truth, f"({lat:.4f}, {lon:.4f})" + (f", {names}" if names else "")))
    return items


def _scene_items(task, split: str, limit: int | None) -> list[ScaffoldItem]:
    docs = list(task.docs(split, limit))
    rows: dict[str, dict[str, str]] = {}
    if hasattr(task, "answers_file"):
        for row in read_csv(task.folder / task.answers_file(split), ["key"]):
            rows[row["key"]] = row
    toy = isinstance(task, SceneToy)
    world = _toy_world() if toy else None
    continents = frozenset(world.continents) if toy else frozenset(REAL_CONTINENTS)
    items = []
    for d in docs:
        row = rows.get(str(d.fields.get("image_id")), {})
        facts: dict[str, Any] = {}
        for rank, (key, *_rest) in GEOCHAIN_QUESTIONS.items():
            value = row.get(f"answer_{rank - 1}", "")
            if value.strip().lower() in NOT_VERIFIABLE:
                continue
            name = key.lstrip("_")
            if name in ("climate", "driving_side"):
                facts[name] = value.strip().lower()
            elif name in ("continent", "country", "city"):
                facts[name] = value.strip()
            elif name not in ("languages", "state", "coordinates"):
                facts[name] = as_flag(value)
        if facts.get("big_city") is not None:
            facts["settlement"] = ("big_city" if facts["big_city"] else "small_town" if facts.get("small_town")
                                   else "rural")
        try:
            facts["lat"], facts["lon"] = float(row["lat"]), float(row["lon"])
        except (KeyError, ValueError):
            pass
        if toy and "lat" in facts:
            place = world.place(facts["lat"], facts["lon"])
            facts.update(_country_facts(world, place.country_code))
            facts["road"] = place.road
            facts["sea_bearing"] = place.sea_bearing
            facts["city"] = place.nearest_city
        opts = d.fields.get("options")
        answer = d.fields["answer"] if opts is None else d.fields["answer_letter"]
        truth = Truth("scene", answer, options=opts, country=facts.get("country"), city=facts.get("city"),
                      continent=facts.get("continent"), climate=facts.get("climate"),
                      vocab=_toy_vocab(world) if toy else {"continent": continents})
        hint = answer if opts is None else f"{answer} ({d.fields['answer']})"
        items.append(ScaffoldItem(d, facts, truth, hint))
    return items
