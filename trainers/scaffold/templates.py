"""Template reasoning: the "geospatial thinking paradigm" (visual cues -> cross-view evidence -> geographic
knowledge -> answer) filled in from an item's ground-truth facts, in three lengths (`STYLES`).

"short": the ground view's attributes, then the answer; "tiles": also every candidate tile described and marked
as matching or not (single-image tasks have no tiles, so there it equals "short"); "full": the whole paradigm in
sentences. A template never states a fact the metadata does not hold.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from geobench.api import ScaffoldItem
from geobench.args import FALSE, TRUE
from geobench.errors import GeobenchError
from geobench.trainers.scaffold.settings import STYLES

NEAR_CITY_KM = 50.0  # the full template says "near <city>" only this close
SETTLEMENT_WORD = {"big_city": "city", "small_town": "town", "rural": "rural"}
SETTLEMENT_PHRASE = {"big_city": "a big city", "small_town": "a small town", "rural": "a rural area"}
CLIMATE_KNOWLEDGE = {
    "polar": "a polar climate means high latitudes (more than about 60 degrees from the equator) or high mountains",
    "continental": "a continental climate means mid-to-high latitudes far inland, away from the sea",
    "temperate": "a temperate climate means the mid latitudes, about 33 to 60 degrees from the equator",
    "dry": "a dry climate means the subtropical dry belt, about 17 to 33 degrees from the equator",
    "tropical": "a tropical climate means low latitudes, within about 17 degrees of the equator",
}
LAND_COVER = {"polar": "snow and ice", "continental": "dark forest", "temperate": "green fields",
              "dry": "dry scrub", "tropical": "dense rainforest"}


# ------------------------------------------------------------------------------------ words and phrases


def as_flag(v: Any) -> bool | None:
    """A metadata yes/no (bool, 1/0, true/false, yes/no) as a bool; None when it is neither (unknown)."""
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    return True if s in TRUE else False if s in FALSE else None


def attr_words(attrs: dict[str, Any]) -> list[str]:
    """Compact words for a place's visual attributes (the toy world's `visual_key`), one slot each."""
    words = []
    if attrs.get("climate"):
        words.append(str(attrs["climate"]))
    if as_flag(attrs.get("desert")):
        words.append("desert")
    known = {"climate", "desert", "near_coast", "mountainous", "settlement", "road"}
    if as_flag(attrs.get("near_coast")) is not None:
        words.append("coast" if as_flag(attrs["near_coast"]) else "inland")
    if as_flag(attrs.get("mountainous")) is not None:
        words.append("hills" if as_flag(attrs["mountainous"]) else "flat")
    if attrs.get("settlement"):
        words.append(SETTLEMENT_WORD.get(str(attrs["settlement"]), str(attrs["settlement"])))
    if as_flag(attrs.get("road")) is not None:
        words.append("road" if as_flag(attrs["road"]) else "no road")
    words += [f"{k} {v}" for k, v in attrs.items() if k not in known]  # other datasets' attributes, as written
    return words


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    names = {"climate": "climate", "desert": "desert", "near_coast": "coast", "mountainous": "hills",
             "settlement": "settlement", "road": "road"}
    return [names.get(k, k) for k in a if str(b.get(k)) != str(a[k])]


def _hemisphere(lat: float) -> str:
    return "northern" if lat >= 0 else "southern"


def _compass(bearing: float) -> str:
    return ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")[
        int(((bearing % 360) + 22.5) // 45) % 8]


def _point(lat: float, lon: float) -> str:
    return f"({lat:.2f}, {lon:.2f})"


def _sign(facts: dict[str, Any]) -> str | None:
    if facts.get("sign_colour") and facts.get("sign_shape"):
        return f"{facts['sign_colour']} {facts['sign_shape']}"
    return None


def _a(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _pick(rng: random.Random, *variants: str) -> str:
    return rng.choice(variants)


def _cues_sentence(f: dict[str, Any], rng: random.Random, extra: Iterable[str] = ()) -> str | None:
    """Visual cues of the ground view, from the place's attributes (None if the metadata has none)."""
    parts = []
    if f.get("climate"):
        parts.append(f"{f['climate']} land" + (" with desert sand" if as_flag(f.get("desert")) else ""))
    if as_flag(f.get("near_coast")) is not None:
        parts.append("near the coast" if as_flag(f["near_coast"]) else "inland")
    if as_flag(f.get("mountainous")) is not None:
        parts.append("hilly terrain" if as_flag(f["mountainous"]) else "flat terrain")
    if f.get("settlement") in SETTLEMENT_PHRASE:
        parts.append(SETTLEMENT_PHRASE[f["settlement"]])
    if as_flag(f.get("road")) is not None:
        parts.append("a road" if as_flag(f["road"]) else "no road")
    parts += list(extra)
    if not parts:
        return None
    out = _pick(rng, "the ground-level photo shows ", "the street view shows ", "in the ground view I see ") + \
        ", ".join(parts)
    sign = _sign(f)
    if sign:
        out += f"; the road sign is {_a(sign)}"
        if f.get("driving_side"):
            out += f" and traffic drives on the {f['driving_side']}"
    return out


def _country_knowledge(f: dict[str, Any]) -> str | None:
    if not f.get("country"):
        return None
    sign = _sign(f)
    where = f" on the continent {f['continent']}" if f.get("continent") else ""
    if sign:
        side = f" with {f['driving_side']}-hand traffic" if f.get("driving_side") else ""
        return f"{_a(sign)} road sign{side} is used in {f['country']}{where}"
    return f"this is {f['country']}{where}"


def _overhead(f: dict[str, Any]) -> str | None:
    """What a satellite view of the spot would show: the cross-view step of a single-image task."""
    parts = []
    if f.get("climate") in LAND_COVER:
        parts.append(("desert sand" if as_flag(f.get("desert")) else LAND_COVER[f["climate"]]) + " as land cover")
    if as_flag(f.get("near_coast")):
        bearing = f.get("sea_bearing")
        parts.append(f"the sea to the {_compass(float(bearing))}" if bearing is not None else "the sea nearby")
    elif as_flag(f.get("near_coast")) is False:
        parts.append("no sea")
    if as_flag(f.get("mountainous")):
        parts.append("rocky mountain slopes")
    if f.get("settlement") == "big_city":
        parts.append("dense city blocks")
    elif f.get("settlement") == "small_town":
        parts.append("a few houses of a small town")
    elif f.get("settlement") == "rural":
        parts.append("no buildings")
    if as_flag(f.get("road")):
        parts.append("a road")
    return "seen from above, this spot would show " + ", ".join(parts) if parts else None


def _join(sections: list[tuple[str, str | None]]) -> str:
    return "\n".join(f"{label}: {body}." for label, body in sections if body)


# ------------------------------------------------------------------------------------------- templates


def template(item: ScaffoldItem, style: str, seed: int = 0, cues: Iterable[str] | None = None) -> str:
    """The assistant text for one item in one style (see the module docstring). `cues`: the cross-view
    attributes the think names (default all), e.g. ("climate",) for the demo's one-cue task."""
    if style not in STYLES:
        raise GeobenchError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    rng = random.Random(f"{seed}/{item.doc.id}")
    kind = item.truth.kind
    if kind == "crossview":
        think = _crossview_think(item, style, rng, tuple(cues) if cues else None)
    elif kind == "geolocation":
        think = _geoloc_think(item, style, rng)
    else:
        think = _scene_think(item, style, rng)
    return f"<think>{think}</think><answer>{item.truth.answer}</answer>"


def _crossview_think(item: ScaffoldItem, style: str, rng: random.Random, cues: tuple[str, ...] | None = None) -> str:
    f, truth = item.facts, item.truth

    def only(attrs: dict | None) -> dict:
        return {k: v for k, v in (attrs or {}).items() if cues is None or k in cues}

    ground = only(f["attrs"])
    if style == "short":
        return " ".join(attr_words(ground))
    rows = []
    for letter, attrs in truth.candidates.items():
        attrs = only(attrs)
        same = not _differences(ground, attrs or {})
        if style == "tiles":
            rows.append(f"{letter}: {' '.join(attr_words(attrs or {}))}, {'yes' if same else 'no'}")
        else:
            diff = _differences(ground, attrs or {})
            verdict = "matches every cue" if same else "differs in " + ", ".join(diff)
            rows.append(f"{letter}: {', '.join(attr_words(attrs or {}))} - {verdict}")
    if style == "tiles":
        return "; ".join([" ".join(attr_words(ground)), *rows])
    knowledge = [CLIMATE_KNOWLEDGE.get(ground.get("climate", ""))]
    if f.get("lat") is not None and f.get("country"):
        knowledge.append(f"here that is the {_hemisphere(f['lat'])} hemisphere")
    knowledge.append(_country_knowledge(f))
    k = len(truth.candidates)
    return _join([
        ("Visual cues", _cues_sentence(ground | {key: f[key] for key in ("sign_colour", "sign_shape", "driving_side")
                                                 if f.get(key)}, rng)),
        ("Cross-view evidence", _pick(rng, f"comparing the {k} satellite tiles with these cues: ",
                                      f"checking each of the {k} tiles: ") + "; ".join(rows)),
        ("Geographic knowledge", "; ".join(x for x in knowledge if x) or None),
        ("Answer", f"tile {truth.answer} is the only one that matches the ground view in every cue"),
    ])


def _geoloc_think(item: ScaffoldItem, style: str, rng: random.Random) -> str:
    f, truth = item.facts, item.truth
    sign = _sign(f)
    if style in ("short", "tiles"):  # no tiles in a single-image task: "tiles" is "short"
        parts = [" ".join(attr_words({k: f[k] for k in ("climate", "desert", "near_coast", "settlement") if k in f}))]
        if sign:
            parts.append(f"{sign} sign")
        names = ", ".join(x for x in (f.get("country"), f.get("city")) if x)
        cues = "; ".join(p for p in parts if p)
        return f"{cues}: {names}" if cues and names else cues or names
    knowledge = []
    if f.get("climate") in CLIMATE_KNOWLEDGE:
        knowledge.append(CLIMATE_KNOWLEDGE[f["climate"]])
    knowledge.append(f"the {_hemisphere(truth.lat)} hemisphere, about {abs(truth.lat):.0f} degrees "
                     f"{'north' if truth.lat >= 0 else 'south'} of the equator")
    knowledge.append(_country_knowledge(f))
    if f.get("city"):
        km = f.get("city_km")
        noun = "nearest named place" if f.get("city_geocoded") else "nearest city"
        knowledge.append(f"the {noun} is {f['city']}" + (f", about {float(km):.0f} km away" if km is not None
                                                                  else ""))
    near = f.get("city") and (f.get("city_km") is None or float(f["city_km"]) <= NEAR_CITY_KM)
    where = ", ".join(x for x in (f.get("country"), f"near {f['city']}" if near else None) if x)
    return _join([
        ("Visual cues", _cues_sentence(f, rng)),
        ("Cross-view evidence", _overhead(f)),
        ("Geographic knowledge", "; ".join(x for x in knowledge if x)),
        ("Answer", (f"{where}, " if where else "") + f"at about {_point(truth.lat, truth.lon)}"),
    ])


SCENE_FACT = {  # question key -> (phrase if true, phrase if false)
    "boats": ("boats", "no boats"), "vehicles": ("vehicles", "no vehicles"),
    "traffic_lights": ("traffic lights", "no traffic lights"), "flag": ("a flag", "no flag"),
    "near_equator": ("near the equator", "far from the equator"), "near_poles": ("near a pole", "far from the poles"),
    "northern_hemisphere": ("northern hemisphere", "southern hemisphere"), "near_coast": ("coast", "inland"),
    "island": ("island", "mainland"), "desert": ("desert", "no desert"), "mountainous": ("hills", "flat"),
    "big_city": ("city", "not a big city"), "small_town": ("town", "not a small town"),
}


def _scene_fact(f: dict[str, Any], key: str) -> str | None:
    if key in SCENE_FACT:
        v = as_flag(f.get(key))
        return None if v is None else SCENE_FACT[key][0 if v else 1]
    if key == "continent" and f.get("continent"):
        sign = _sign(f)
        return (f"{sign} sign: " if sign else "") + ", ".join(x for x in (f.get("country"), f["continent"]) if x)
    if key == "driving_side" and f.get("driving_side"):
        return f"drives {f['driving_side']}"
    if key == "climate" and f.get("climate"):
        return str(f["climate"])
    return None


def _scene_think(item: ScaffoldItem, style: str, rng: random.Random) -> str:
    f, truth = item.facts, item.truth
    key = item.doc.fields.get("question_key") or ""
    base = attr_words({k: f[k] for k in ("climate", "desert", "near_coast", "mountainous", "settlement") if k in f})
    fact = _scene_fact(f, key)
    if style in ("short", "tiles"):
        parts = [" ".join(base)]
        if fact and fact not in base:
            parts.append(fact)
        return "; ".join(p for p in parts if p)
    extra = [SCENE_FACT[k][0 if as_flag(f[k]) else 1] for k in ("vehicles", "traffic_lights", "flag", "boats")
             if as_flag(f.get(k)) is not None]
    knowledge = []
    if f.get("climate") in CLIMATE_KNOWLEDGE:
        knowledge.append(CLIMATE_KNOWLEDGE[f["climate"]])
    if f.get("lat") is not None:
        knowledge.append(f"the {_hemisphere(float(f['lat']))} hemisphere, about {abs(float(f['lat'])):.0f} degrees "
                         f"from the equator")
    knowledge.append(_country_knowledge(f))
    if truth.options is None:
        conclusion = f"{fact}, so {truth.answer}" if fact else truth.answer
    else:
        option = truth.options["ABCDEFGHIJKLMNOPQRSTUVWXYZ".index(truth.answer)]
        conclusion = f"{option}, option {truth.answer}"
    return _join([
        ("Visual cues", _cues_sentence(f, rng, extra)),
        ("Cross-view evidence", _overhead(f)),
        ("Geographic knowledge", "; ".join(x for x in knowledge if x) or None),
        ("Answer", conclusion),
    ])
