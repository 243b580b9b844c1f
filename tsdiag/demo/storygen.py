"""A generator of short, simple stories in the style of TinyStories.

The demo needs a corpus that ships with the package, trains a tiny model on a
CPU in seconds, and uses articles the way children's stories do ("a big dog",
"an apple", "the park").  The stories are assembled from hand-written
sentence templates; the same seed always gives the same corpus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

STORY_SEPARATOR = "<|endoftext|>"

_NAMES = ["Lily", "Tom", "Mia", "Ben", "Sue", "Max", "Anna", "Sam", "Lucy", "Tim", "Zoe", "Jack"]
_HELPERS = ["mom", "dad", "grandma", "grandpa", "teacher", "big sister", "big brother"]
# (noun, article) — the article the noun takes when it is first mentioned.
_ANIMALS = [("dog", "a"), ("cat", "a"), ("bird", "a"), ("owl", "an"), ("frog", "a"), ("elephant", "an"),
            ("bunny", "a"), ("duck", "a"), ("ant", "an"), ("fox", "a")]
_THINGS = [("ball", "a"), ("kite", "a"), ("apple", "an"), ("box", "a"), ("hat", "a"), ("umbrella", "an"),
           ("boat", "a"), ("egg", "an"), ("drum", "a"), ("book", "a"), ("orange", "an"), ("toy car", "a")]
_PLACES = ["park", "garden", "forest", "beach", "lake", "hill", "farm", "yard", "river", "playground"]
_ADJECTIVES = ["big", "small", "red", "blue", "happy", "shiny", "soft", "little", "old", "funny"]
_VOWEL_ADJECTIVES = {"old"}  # adjectives that turn "a" into "an"
_FEELINGS = ["happy", "sad", "scared", "excited", "tired", "proud", "surprised"]
_WEATHER = ["sunny", "rainy", "windy", "cold", "warm"]


@dataclass(frozen=True)
class _Cast:
    hero: str
    helper: str
    animal: str
    animal_article: str
    thing: str
    thing_article: str
    adjective: str
    place: str
    other_place: str
    feeling: str
    weather: str


def _with_article(article: str, adjective: str | None, noun: str) -> str:
    """'a' + 'old' becomes 'an old'; 'an' + 'big' becomes 'a big'."""
    if adjective is None:
        return f"{article} {noun}"
    lead = "an" if adjective in _VOWEL_ADJECTIVES else "a"
    return f"{lead} {adjective} {noun}"


_OPENINGS = [
    "Once upon a time, there was a little {kid} named {hero}.",
    "One {weather} day, {hero} went to the {place} with {his} {helper}.",
    "Once upon a time, in a small town, there lived a {kid} called {hero}.",
    "One day, {hero} woke up and looked out of the window. It was a {weather} day.",
    "There was once a {kid} named {hero} who loved to play outside.",
]
_MIDDLES = [
    "At the {place}, {hero} saw {animal_np}. The {animal} was {feeling}.",
    "{hero} found {thing_np} under a tree. The {thing} was very {adjective}.",
    "{He} wanted to play with the {thing}, but the {animal} took it and ran to the {other_place}.",
    "The {animal} looked at {hero} and said, \"Can you help me? I lost my {thing}.\"",
    "{hero} and the {animal} walked to the {other_place} together. They saw a tall tree and an old house.",
    "{His} {helper} gave {him} {thing_np} and said, \"Be careful with it.\"",
    "Then the wind blew the {thing} into the {other_place}. {hero} felt {feeling}.",
    "{hero} asked the {animal}, \"Do you want to be my friend?\" The {animal} said yes.",
    "They played a game with the {thing} until the sun went down.",
    "On the way, {hero} met an old man with a long stick and a kind smile.",
]
_ENDINGS = [
    "In the end, {hero} and the {animal} became the best of friends.",
    "{hero} went home and told {his} {helper} about the {animal} and the {thing}. It was the best day ever.",
    "From that day on, {hero} always took the {thing} to the {place}.",
    "{hero} learned that it is good to help a friend. {He} smiled and went to bed.",
    "The {animal} was happy again, and {hero} was proud. The end.",
]


def _cast(rng: random.Random) -> tuple[_Cast, dict[str, str]]:
    animal, animal_article = rng.choice(_ANIMALS)
    thing, thing_article = rng.choice(_THINGS)
    place, other_place = rng.sample(_PLACES, 2)
    cast = _Cast(
        hero=rng.choice(_NAMES), helper=rng.choice(_HELPERS), animal=animal, animal_article=animal_article,
        thing=thing, thing_article=thing_article, adjective=rng.choice(_ADJECTIVES), place=place,
        other_place=other_place, feeling=rng.choice(_FEELINGS), weather=rng.choice(_WEATHER),
    )
    girl = cast.hero in {"Lily", "Mia", "Sue", "Anna", "Lucy", "Zoe"}
    adjective = rng.choice([None, cast.adjective])
    words = {
        "hero": cast.hero, "helper": cast.helper, "animal": cast.animal, "thing": cast.thing,
        "adjective": cast.adjective, "place": cast.place, "other_place": cast.other_place,
        "feeling": cast.feeling, "weather": cast.weather,
        "kid": "girl" if girl else "boy", "He": "She" if girl else "He", "His": "Her" if girl else "His",
        "his": "her" if girl else "his", "him": "her" if girl else "him",
        "animal_np": _with_article(cast.animal_article, adjective, cast.animal),
        "thing_np": _with_article(cast.thing_article, None, cast.thing),
    }
    return cast, words


def generate_story(rng: random.Random) -> str:
    """One story of 6-9 sentences: an opening, a few events, an ending."""
    _, words = _cast(rng)
    sentences = [rng.choice(_OPENINGS)]
    # keep the events in template order so things are introduced before they are used
    picked = sorted(rng.sample(range(len(_MIDDLES)), rng.randint(4, 7)))
    sentences += [_MIDDLES[i] for i in picked]
    sentences.append(rng.choice(_ENDINGS))
    return " ".join(s.format(**words) for s in sentences)


def generate_corpus(n_stories: int, seed: int = 1337) -> list[str]:
    """``n_stories`` stories, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [generate_story(rng) for _ in range(n_stories)]


def corpus_text(stories: list[str]) -> str:
    """Stories joined the way the TinyStories text files separate them."""
    return f"\n{STORY_SEPARATOR}\n".join(stories) + "\n"
