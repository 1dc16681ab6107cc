"""Pronounceable made-up names and short codes for the toy world's continents, countries and cities.

Names are built from consonant-vowel syllables so a tokenizer sees short, regular words, and they are unique
within a world so a name (or code) identifies one thing.
"""

from __future__ import annotations

import random

ONSETS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
          "br", "dr", "gr", "kr", "tr", "st", "sh", "th", "ch")
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou")
CODAS = ("", "", "", "n", "r", "l", "s", "m", "k")
COUNTRY_SUFFIXES = ("ia", "a", "an", "or", "land", "istan", "ea", "ovia", "ar", "")
CITY_SUFFIXES = ("", "", "ville", "burg", "port", "grad", "polis", "a", "ton", "holm")
CONTINENT_SUFFIXES = ("a", "ia", "ica", "ara")


def word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))


def _unique(make, taken: set[str]) -> str:
    for _ in range(1000):
        name = make()
        if name not in taken and 3 <= len(name) <= 14:
            taken.add(name)
            return name
    raise RuntimeError("could not find a fresh name")  # unreachable in practice: the name space is huge


def continent_name(rng: random.Random, taken: set[str]) -> str:
    return _unique(lambda: (word(rng, 2) + rng.choice(CONTINENT_SUFFIXES)).capitalize(), taken)


def country_name(rng: random.Random, taken: set[str]) -> str:
    return _unique(lambda: (word(rng, rng.choice((1, 2, 2))) + rng.choice(COUNTRY_SUFFIXES)).capitalize(), taken)


def city_name(rng: random.Random, taken: set[str]) -> str:
    return _unique(lambda: (word(rng, rng.choice((1, 2))) + rng.choice(CITY_SUFFIXES)).capitalize(), taken)


def country_code(name: str, taken: set[str]) -> str:
    """A 2-letter code from the name's letters (like ISO codes), falling back to 3 letters when taken."""
    letters = [c for c in name.upper() if c.isalpha()]
    first, rest = letters[0], letters[1:]
    candidates = [first + c for c in rest] + [first + a + b for i, a in enumerate(rest) for b in rest[i + 1:]]
    candidates += [first + a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    for code in candidates:
        if code not in taken:
            taken.add(code)
            return code
    raise RuntimeError(f"no free code for {name}")
