"""A seeded synthetic conversational-memory dataset: people, their facts, and questions.

Facts read as the bot's model writes them ("User's sister is called Mia"); questions are
asked as people ask, with everyday paraphrase and word mismatch (grandma for grandmother,
pet for dog, film for movie, "do for a living" for "works as"). Each question names the
facts it needs. Kinds: single-hop (one fact), multi-hop (a fact found through another:
"where does my sister live?" needs her name and where Mia lives), temporal (when, which
first), follow-up (a question that only makes sense after the previous turn).

The paraphrases are written by hand from ordinary usage, not taken from the WordNet table
the bot ships, and no weight of the bot was fitted to this data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

NAMES = (
    "Mia Noah Lena Omar Sofia Lucas Aisha Mateo Hana Elias Priya Jonas Chloe Diego Yara Felix "
    "Nora Ivan Leila Hugo Maya Theo Zara Emil Ines Kai Freya Ravi Alba Milo Greta Tariq Luz Anton"
).split()
CITIES = (
    "Lisbon Berlin Toronto Osaka Denver Lyon Porto Austin Dublin Krakow Seattle Madrid Leeds "
    "Oslo Chicago Nairobi Valencia Munich Boston Ghent"
).split()
JOBS = (
    "nurse teacher accountant electrician pharmacist architect journalist chef plumber lawyer "
    "dentist librarian carpenter firefighter veterinarian translator"
).split()
HOBBIES = (
    "painting",
    "rock climbing",
    "chess",
    "knitting",
    "surfing",
    "birdwatching",
    "pottery",
    "gardening",
)
# (word in the fact, words people ask with, pronoun)
RELATIONS = (
    ("mother", ("mom", "mum", "mother"), "she"),
    ("father", ("dad", "father"), "he"),
    ("sister", ("sister", "sis"), "she"),
    ("brother", ("brother",), "he"),
    ("grandmother", ("grandma", "granny", "grandmother"), "she"),
    ("grandfather", ("grandpa", "grandfather"), "he"),
    ("wife", ("wife", "spouse"), "she"),
    ("son", ("son", "boy"), "he"),
    ("daughter", ("daughter", "girl"), "she"),
    ("aunt", ("aunt", "auntie"), "she"),
    ("uncle", ("uncle",), "he"),
    ("boss", ("boss", "manager"), "they"),
)
PETS = (("dog", ("dog", "pup", "pet")), ("cat", ("cat", "kitty", "pet")), ("rabbit", ("bunny", "pet")))
FAVOURITES = (
    ("film", ("movie", "film"), ("Alien", "Amelie", "Up", "Heat", "Coco")),
    ("book", ("book", "novel"), ("Dune", "Emma", "Beloved", "Ulysses")),
    ("colour", ("color", "colour"), ("teal", "crimson", "mustard", "navy")),
    ("sport", ("sport", "game"), ("tennis", "rugby", "badminton", "volleyball")),
)
FOODS = ("sushi", "ramen", "tacos", "falafel", "lasagna", "curry", "dumplings", "paella")
ALLERGIES = ("peanuts", "shellfish", "penicillin", "cats", "pollen", "gluten")
INSTRUMENTS = ("violin", "piano", "cello", "guitar", "drums", "flute")
MONTHS = "January February March April May June July August September October November December".split()
# Everyday facts that fill a memory and compete for places (they reuse common words).
FILLERS = (
    "User bought a new {thing} on {day}",
    "User has a dentist appointment on {day}",
    "User is reading a book about {topic}",
    "User watched a documentary about {topic}",
    "User had dinner with friends from work on {day}",
    "User wants to visit {city} someday",
    "User's {thing} broke last week",
    "User prefers {drink} in the morning",
    "User is planning a trip to {city} with a friend",
    "User talked to a neighbour about {topic}",
    "User finished a project about {topic} at work",
    "User is saving money for a new {thing}",
    "User thinks {city} is too expensive to live in",
    "User cooked {food} for the family on {day}",
    "User went to a concert in {city}",
    "User's team at work is hiring a {job}",
)
THINGS = ("laptop", "bike", "phone", "kettle", "camera", "sofa", "jacket", "lamp", "printer", "watch")
TOPICS = ("history", "volcanoes", "jazz", "economics", "whales", "architecture", "space", "cooking", "chess")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DRINKS = ("tea", "coffee", "juice", "cocoa")


@dataclass
class Question:
    kind: str
    text: str
    needs: list[int]
    context: list[str] = field(default_factory=list)


@dataclass
class Person:
    facts: list[tuple[str, str]]  # (text, topic), oldest first
    questions: list[Question]


def person(rng: random.Random, fillers: int) -> Person:
    facts: list[tuple[str, str]] = []
    questions: list[Question] = []

    def add(text: str, topic: str) -> int:
        facts.append((text, topic))
        return len(facts) - 1

    names = rng.sample(NAMES, 14)
    home, *others = rng.sample(CITIES, 10)
    job = rng.choice(JOBS)
    facts_name = add(f"User's name is {names[0]}", "Name")
    lives = add(f"User lives in {home}", "Location")
    works = add(f"User works as a {job}", "Work")
    questions += [
        Question("single-hop", "Where am I based these days?", [lives]),
        Question("single-hop", "What do I do for a living?", [works]),
        Question("single-hop", "Do you remember what I'm called?", [facts_name]),
    ]
    for (word, asked, pronoun), name in zip(rng.sample(RELATIONS, 6), names[1:7], strict=True):
        named = add(f"User's {word} is called {name}", "Family")
        their_job = add(f"{name} works as a {rng.choice(JOBS)}", "Family")
        their_city = add(f"{name} lives in {rng.choice(others)}", "Family")
        hobby = add(f"{name} loves {rng.choice(HOBBIES)}", "Family")
        say = rng.choice(asked)
        verb = "does" if pronoun != "they" else "do"
        questions += [
            Question("single-hop", f"What's my {say}'s name again?", [named]),
            Question("multi-hop", f"What does my {say} do for a living?", [named, their_job]),
            Question("multi-hop", f"Where does my {say} live now?", [named, their_city]),
            Question(
                "follow-up",
                f"and what {verb} {pronoun} like doing in {'their' if pronoun == 'they' else 'her' if pronoun == 'she' else 'his'} free time?",
                [named, hobby],
                context=[f"Tell me about my {say}.", f"Your {word} is called {name}."],
            ),
        ]
    for (animal, asked), name in zip(rng.sample(PETS, 2), names[7:9], strict=True):
        named = add(f"User has a {animal} named {name}", "Pets")
        age = add(f"{name} is {rng.randint(2, 14)} years old", "Pets")
        questions += [
            Question("single-hop", f"What's the name of my {rng.choice(asked)}?", [named]),
            Question("multi-hop", f"How old is my {rng.choice(asked)}?", [named, age]),
        ]
    for thing, asked, choices in FAVOURITES:
        fav = add(f"User's favourite {thing} is {rng.choice(choices)}", "Preferences")
        questions.append(Question("single-hop", f"Which {rng.choice(asked)} do I like best?", [fav]))
    food = add(f"User likes {rng.choice(FOODS)}", "Food")
    allergy = add(f"User is allergic to {rng.choice(ALLERGIES)}", "Health")
    questions += [
        Question("single-hop", "What kind of food do I enjoy?", [food]),
        Question("single-hop", "Is there anything I can't eat or take?", [allergy]),
    ]
    years = rng.sample(range(2008, 2024), 4)
    moved_city = rng.choice(others)
    instrument = rng.choice(INSTRUMENTS)
    events = [
        (f"User moved to {moved_city}", f"When did I relocate to {moved_city}?"),
        (f"User started learning the {instrument}", f"When did I take up the {instrument}?"),
        ("User ran a first marathon", "When did I do my first marathon?"),
        ("User graduated from university", "When did I finish my degree?"),
    ]
    dated = []
    for (event, question), year in zip(events, years, strict=True):
        index = add(f"In {rng.choice(MONTHS)} {year}, {event}", "Events")
        dated.append(index)
        questions.append(Question("temporal", question, [index]))
    questions.append(
        Question(
            "temporal",
            f"Which came first: moving to {moved_city} or learning the {instrument}?",
            dated[:2],
        )
    )
    for _ in range(fillers):
        template = rng.choice(FILLERS)
        add(
            template.format(
                thing=rng.choice(THINGS), day=rng.choice(DAYS), topic=rng.choice(TOPICS),
                city=rng.choice(CITIES), drink=rng.choice(DRINKS), food=rng.choice(FOODS), job=rng.choice(JOBS),
            ),
            "General",
        )  # fmt: skip
    # Told over time in no particular order: the needed facts are not simply the newest.
    order = list(range(len(facts)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    shuffled = [facts[old] for old in order]
    for each in questions:
        each.needs = [position[i] for i in each.needs]
    return Person(facts=shuffled, questions=questions)


def dataset(people: int = 20, fillers: int = 80, seed: int = 15) -> list[Person]:
    rng = random.Random(seed)
    return [person(rng, fillers) for _ in range(people)]
