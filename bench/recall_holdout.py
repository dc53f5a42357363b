"""A held-out conversational-memory dataset for the recall benchmark, in a second style.

LoCoMo-style: a person tells a chat assistant about their life over many sessions, and it keeps
third-person notes ("User adopted a rescue greyhound called Biscuit in March 2022"). Each person has
~130 facts in shuffled order, ~33 of them needed by questions, the rest everyday notes sharing words
with the questions. Kinds: single-hop, multi-hop (through a person, place or event), temporal (when,
which first, how long), follow-up (after an earlier turn given as context); often in other words.
Tables: "; " separates entries, an indented line continues a row, "[a|b]" picks one phrasing and
"{slot}" a value of the person. Written without looking at the bot's ranking code (bot/).
"""

from __future__ import annotations

import random
import re

from bench.recall_data import Person, Question

FEMALE = "Dana Ilse Marit Tove Anouk Femke Wren Calla Petra Saskia Niamh Ottilie Fenna Lotte Esme".split()
MALE = "Bram Joost Sven Ruben Oskar Dario Ludo Callum Kasper Matthijs Rowan Tobias Bastian Jasper".split()
CITIES = (
    "Rotterdam Graz Utrecht Bergen Tampere Aarhus Bruges Basel Cork Gdansk Trieste Bilbao Ljubljana Malmo "
    "Leuven Salzburg Galway Turku"
).split()
JOBS = (
    "marine biologist; sound engineer; midwife; data analyst; bus driver; florist; physiotherapist; "
    "software tester; tax adviser; museum curator; paramedic; landscape gardener; airline pilot"
).split("; ")
MONTHS = "January February March April May June July August September October November December".split()
SEASONS = ("spring", "summer", "autumn", "winter")
DATES = (
    "on {d} {m} {y}|in {m} {y}|on {m} {d}, {y}|in {s} {y}|back in {y}|last {s} ({y})|in early {m} {y}"
).split("|")
KINDS = {"S": "single-hop", "M": "multi-hop", "T": "temporal", "F": "follow-up"}
CORE = {"partner", "pet", "kids", "sister", "friend", "work", "home"}  # always kept: distractors name them

# Slot names: their choices, each giving one value per slot (" / ").
VOCAB = """
job place short: pastry chef / the Koperen Ketel bakery / the bakery; UX researcher / a fintech start-up
  called Quill / Quill; lab technician / the university hospital / the hospital; copywriter / an ad
  agency called Brightside / Brightside; site manager / the building firm Vermeer / Vermeer; sommelier
  / a wine bar called Cuvée / Cuvée; deck officer / a ferry company / the ferry company
pet pa: rescue greyhound / [dog|pup|pooch]; three-legged tabby cat / [cat|kitty]; border collie /
  [dog|pup]; dachshund / [dog|sausage dog|pup]; grey parrot / [parrot|bird]; Maine Coon cat / [cat|moggy]
N: Biscuit; Pickle; Mochi; Juno; Pepper; Waffles; Ziggy; Nutmeg; Olive; Bramble; Pretzel; Sprout
inst: trumpet; cello; drums; clarinet; trombone
proj: redesign the company website; move the team to a new booking system; open a second branch; cut
  the building's energy use
race race_ask: half marathon / [race|half]; sprint triathlon / [triathlon|tri|race]; 100 km cycling
  sportive / [bike ride|sportive]; trail ultra / [ultra|trail race]
hobby hobby_ask: bouldering / climbing; sourdough baking / baking bread; wild swimming / swimming
  outdoors; woodturning / woodwork; life drawing / drawing classes; salsa / dancing; beekeeping / bees
lang: Portuguese; Japanese; Welsh; Finnish; Greek; Korean
inj part inj_ask: sprained an ankle / ankle / sprain my ankle; broke a wrist / wrist / break my wrist;
  tore a calf muscle / calf / tear my calf; dislocated a shoulder / shoulder / dislocate my shoulder
cond cond_q: User is lactose intolerant / Is dairy a problem for me?; User has mild asthma and carries
  an inhaler / Do I have any breathing problems?; User has coeliac disease and avoids gluten / Can I eat
  normal bread?; User gets migraines after a bad night's sleep / What gives me bad headaches?
org org_ask: a bank / the bank; the city council / the council; a games studio called Pixelforge /
  Pixelforge; a shipping company / the shipping firm; the national museum / the museum
show: Succession; The Bear; Slow Horses; Borgen; Severance; Derry Girls
thing: laptop; bike; phone; kettle; camera; sofa; jacket; lamp; printer; headphones; oven
topic: glaciers; the Romans; fungi; the stock market; octopuses; bridges; sleep; bees; Vikings
food: pho; pierogi; risotto; shakshuka; a roast; bibimbap; enchiladas; moussaka
day: Monday; Tuesday; Wednesday; Thursday; Friday; Saturday; Sunday
month: January; April; July; October; December
"""
# The facts questions need, by group (and topic): name and template. Optional groups come and go.
FACTS = """
partner Family: name [User's partner is called {P}|User lives with a partner named {P}|User's
  partner's name is {P}]; job [{P} is a {Pj}|{P} works as a {Pj}|{P} has been a {Pj} for years]; from
  [{P} is originally from {Pc}|{P} grew up in {Pc}|{P} was born and raised in {Pc}]; since [User and {P}
  got together {d_since}|User and {P} started dating {d_since}|User and {P} have been a couple since
  {y_since}]; mum {P}'s [mother|mum] is recovering from [a hip operation|knee surgery|a cataract
  operation|a heart bypass]
pet Pets: adopt [User adopted a {pet} called {N} {d_adopt}|User brought home a {pet} named {N}
  {d_adopt}|User has had {N}, a {pet}, since {y_adopt}]; fear {N} [is terrified of|hides under the bed
  because of] [thunderstorms|fireworks|the vacuum cleaner|bin lorries]; diet {N} [is on|needs] a special
  [diet|food] for [a sensitive stomach|kidney problems|itchy skin|weight loss]
kids Family: ages [User has two kids, {K1} ({a1}) and {K2} ({a2})|User's children are {K1}, {a1}, and
  {K2}, {a2}|User is a parent of two: {K1} is {a1} and {K2} is {a2}]; band {K2} [plays|has started
  playing] the {inst} in the school band; school {K1} [started|moved up to] secondary school in
  September {y_school}
sister Family: name [User's [older|younger] sister is called {S}|User has a sister named {S}|{S} is
  User's [big|little] sister]; job [{S} started a new job as a {Sj} in {Sc} {d_sjob}|{S} moved to {Sc}
  {d_sjob} for a new job as a {Sj}]; married [{S} is married to {H}|{S}'s {H_spouse} is called {H}|{S}
  and {H} got married a few years ago]; spouse_job [{H} is a {Hj}|{H} works as a {Hj}]
cousin Family: lives [User's cousin {C} lives in {Cc}|User has a cousin, {C}, in {Cc}|{C}, User's
  cousin, is based in {Cc}]; biz {C} [runs|owns|opened] [a bike repair shop|a tattoo studio|a small
  vineyard|a ceramics studio|a record shop]
friend General: who [User's best friend is {F}, from university|User's oldest friend is {F}, from
  primary school]; job [{F} is a {Fj}|{F} works as a {Fj}]; wedding [{F} is getting married in {Fc}
  {d_wed}|{F}'s wedding will be in {Fc} {d_wed}]
work Work: job [User works as a {job} at {place}|User is a {job} at {place}|User has a job as a {job}
  at {place}]; start [User started at {short} {d_start}|User joined {place} {d_start}|User has worked
  at {short} since {y_start}]; boss [User's manager is {M}|User reports to {M}|{M} is User's boss at
  {short}]; carshare User [car-shares|shares a car] to work with a colleague called {X}; xhobby {X} is
  a keen [birdwatcher|amateur astronomer|open-water swimmer|chess player]; project [User is leading a
  project to {proj}, due at the end of {month}|User's project to {proj} has a deadline in {month}]
trip Events: went [User went to {tc} with {F} {d_trip}|User and {F} spent a week in {tc} {d_trip}]
race Hobbies: when [User is training for a {race} in {rc} {d_race}|User signed up for the {rc}
  {race}, which takes place {d_race}]
hobby Hobbies: start [User took up {hobby} {d_hobby}|User has been doing {hobby} since {y_hobby}]
vol General: where User [volunteers|helps out] at [a food bank|an animal shelter|a community garden|a
  repair café] [on Saturdays|every Saturday morning]
lang Hobbies: class [User has a {lang} lesson every {day} evening|User is learning {lang}, classes on
  {day}s]
injury Health: when User {inj} playing [five-a-side football|padel|korfball|frisbee] {d_inj}
cond Health: what {cond}
interview Events: when User [felt [nervous|anxious|jittery] before|was [nervous|anxious] about] the
  job interview at {org} {d_int}
hate Preferences: what User [can't stand|hates|really dislikes] [coriander|olives|liquorice|blue
  cheese|mushrooms|anchovies]
show Preferences: opinion [User thinks {show} is overrated|User found {show} overrated and stopped
  watching]
home Places: flat User lives in a flat above [a bakery|a bike shop|a launderette|a barber's|a
  pharmacy] in {home}; grew User grew up [on a farm|in a village|in a small fishing town] near {grew}
piano Events: bought User bought a second-hand upright piano {d_piano}
"""
# By group: kind (KINDS), needed facts (group.name if another's) :: question [:: user's turn :: reply].
QUESTIONS = """
partner: S name :: [What's my partner called again?|What's my other half's name?]; M name job :: [What
  does my partner do for a living?|What's my other half's job?]; M name from :: [Where is my partner
  from originally?|Which town did my other half grow up in?]; S from :: Where is {P} from?; T since ::
  [How long have {P} and I been together?|When did I get together with {P}?]; M name mum :: [What op did
  my partner's mum have?|What surgery is my other half's mother getting over?]; F mum :: yeah, mostly
  worried about {P_her} mum. what was the operation again? :: My other half had a rough week. :: Sorry
  to hear that. Is {P} okay?; T since pet.adopt :: Which came first, getting together with {P} or
  adopting {N}?
pet: S adopt :: [what was my {pa}'s name again?|What's my {pa} called?]; T adopt :: [When did I get
  {N}?|How long have I had {N}?|When did {N} come to live with me?]; M adopt fear :: [What is my {pa}
  scared of?|What frightens my {pa}?]; S fear :: What's {N} afraid of?; M adopt diet :: [Why does my
  {pa} eat special food?|What health issue is my {pa}'s food for?]; F adopt fear :: a bit. what is it
  that frightens them again? :: Taking my {pa} to the vet tomorrow. :: Hope {N} is okay! Worried?
kids: S ages :: [How old are my kids?|What ages are my children now?]; S ages :: How old is {K1}?; M
  ages band :: [What instrument does my youngest play?|Which instrument is my younger kid learning?]; M
  band ages :: How old is the kid who plays the {inst}?; T school :: [When did {K1} start secondary
  school?|What year did {K1} go up to big school?]; T ages school :: When did my eldest start
  secondary?; F band :: yes! remind me which instrument it is? :: My youngest has a school concert
  tonight. :: How lovely, is that {K2}?
sister: S name :: [What's my sister's name?|what's my sis called again?]; M name job :: [Which city is
  my sister's new job in?|Where did my sister move for work?]; M name married spouse_job :: What does
  my sister's {H_spouse} do for work?; M name married :: What's the name of my sister's {H_spouse}?; S
  job :: What's {S}'s new job?; T job :: When did {S} start the new job?; F name married :: yes, that's
  her. what's her {H_spouse} called again? :: I'm visiting my sister next week. :: Nice! Is that {S},
  who moved to {Sc}?
cousin: S lives :: [Which city is {C} in?|Where does {C} live these days?]; M lives biz :: [What does
  my cousin do for a living?|What's my cousin's business?]; F lives biz :: what does {C_she} do there?
  :: Did I tell you about my cousin? :: Yes, your cousin {C} lives in {Cc}.
friend: S who :: [Who's my best friend?|Who is my oldest mate?]; M who wedding :: [Where is my best
  friend's wedding?|Which city is my best mate getting married in?]; T wedding :: [When is {F}'s
  wedding?|What's the date of {F}'s big day?]; F wedding :: yeah. where is it again? :: I need to buy a
  suit for a wedding. :: Fun! Is that your best friend {F}'s wedding?; S job :: What does {F} do?
work: S job :: [What's my job again?|What do I do for work?|what's my profession?]; T start ::
  [Remind me, when did I start at {short}?|How long have I been working at {short}?]; S boss :: [Who's
  my boss?|Who do I report to at work?|What's my manager's name?]; S carshare :: [Who do I share lifts
  to work with?|Who's in my car-share?]; M carshare xhobby :: What hobby does the colleague I drive to
  work with have?; S project :: [What project am I running at work?|What am I in charge of at work
  right now?]; T project :: [When is my work project due?|What's the deadline for the project I'm
  leading?]; F project :: yes - when's that due again? :: Big meeting with my boss tomorrow. :: Good
  luck! Is it about the project you're leading?
trip: T went :: [When was my trip to {tc}?|When did I go to {tc}?]; S went :: [Who came with me to
  {tc}?|Who did I travel to {tc} with?]; T went work.start :: Did I go to {tc} before or after I
  started at {short}?; M went friend.job :: What's the job of the friend I went to {tc} with?; M
  friend.who went :: Where did my best friend and I go on holiday?
race: S when :: [What am I training for?|Which race am I getting fit for?|What event am I preparing
  for?]; T when :: [When is my {race_ask}?|What date is the {race_ask} in {rc}?]; F when :: yep! what
  date is it again? :: Only six weeks of training left! :: Is that for the {race_ask} in {rc}?
more: S hobby.start :: [What's my newest hobby?|What pastime did I pick up?]; T hobby.start :: When
  did I start {hobby_ask}?; S vol.where :: [Where do I volunteer at the weekend?|Where do I help out on
  weekends?]; S lang.class :: [Which language am I studying?|What language am I learning?]; S
  lang.class :: [Which night is my language class?|When do I have my {lang} lessons?]; S injury.when ::
  [What did I hurt playing sport?|Which body part did I injure?]; T injury.when :: [When did I
  {inj_ask}?|How long ago was my {part} injury?]; T injury.when hobby.start :: Which came first: my
  {part} injury or taking up {hobby_ask}?; S cond.what :: {cond_q}; S interview.when :: [How did I feel
  before my interview?|Was I calm before the interview at {org_ask}?]; T interview.when :: When was my
  interview at {org_ask}?; S hate.what :: [Is there any food I can't bear?|What ingredient do I hate?];
  S show.opinion :: [What did I think of {show}?|Which TV series did I find overhyped?]; T piano.bought
  :: [When did I buy the piano?|How long have I had my piano?]
home: S flat :: [What's downstairs from my apartment?|What shop is under my place?]; S flat :: [Which
  city do I live in?|Where's home for me these days?]; S grew :: [Where did I spend my childhood?|Where
  was I raised?]
"""
# Everyday notes by topic: they share words with the questions without answering them.
DISTRACTORS = """
General: User bought a new {thing} {date}; User's {thing} stopped working last week; User's train to
  work was cancelled {date}; User took a neighbour's dog for a walk along the canal on {day}; User
  cooked {food} for {P} {date}; User's car needed new tyres in {month}; User lost a glove on the bus
  {date}; User fixed the {thing} with help from a video; User's friend {O} is moving to {city} for a new
  job; User renewed a passport {date}; User met {O} for coffee to talk about {topic}; User helped {O}
  move house on {day}; User likes {food} but only when someone else cooks; User wants to visit {city}
  one day; User found a great bookshop in {city}; User thinks {city} is overrated for a holiday
Work: User's colleague {O} is leaving the company in {month}; User finds the {day} team meeting at work
  far too long; User's manager asked for the monthly report by {day}; User went to a job fair {date};
  User's colleague {O} just got a puppy; User had dinner with friends from work {date}
Family: User spent the weekend at a family barbecue in {city}; User's sister sent photos from a
  weekend in {city}; {K1} had a cold and missed two days of school; User had a long phone call
  with {S} on {day}; User and {P} can't agree where to go on holiday this year; User took {K2} to a
  swimming lesson on {day}; User visited {O}'s new baby {date}; {N} knocked a mug off the table
Hobbies: User and {P} watched a documentary about {topic} last weekend; User read a book about {topic}
  on the train to work; User watched a film about {topic} with {F}; User ran 5 km before work on {day}
Health: User had a dentist check-up {date}; User felt tired and a bit low after a busy week at work;
  User slept badly after a late dinner {date}; User is trying to drink less coffee at work
Events: User went to a birthday party in {city} {date}; User went to a wedding in {city} {date}; User's
  flight back from {city} was delayed {date}; User booked a weekend in {city} for {month}
"""
BRACKET = re.compile(r"\[([^\[\]]*)\]")


def entries(table: str) -> list[tuple[str, list[str]]]:
    """Each row of a table as (head, its "; "-separated entries); an indented line continues a row."""
    rows = table.strip("\n").replace("\n  ", " ").splitlines()
    return [(head, rest.split("; ")) for head, rest in (row.split(": ", 1) for row in rows)]


CHOICES = dict(entries(VOCAB))
TOPICS = dict(head.split() for head, _ in entries(FACTS))
TEMPLATES = {f"{h.split()[0]}.{n}": t for h, es in entries(FACTS) for n, t in (e.split(" ", 1) for e in es)}
ASKED = [(group, e.split(" :: ")) for group, es in entries(QUESTIONS) for e in es]
NOTES = [(topic, text) for topic, texts in entries(DISTRACTORS) for text in texts]


def fill(rng: random.Random, template: str, slots: dict[str, str]) -> str:
    """Fill the slots, then pick one option of each [a|b], innermost first."""
    text = template.format(**slots)
    while match := BRACKET.search(text):
        text = text[: match.start()] + rng.choice(match.group(1).split("|")) + text[match.end() :]
    return text


def pick(rng: random.Random, names: str) -> dict[str, str]:
    return dict(zip(names.split(), rng.choice(CHOICES[names]).split(" / "), strict=True))


def when(rng: random.Random, year: int, future: bool = False) -> str:
    """A date in one of several shapes; a future one is exact to the month or day."""
    shape = rng.choice(DATES[:3] if future else DATES)
    return shape.format(d=rng.randint(1, 28), m=rng.choice(MONTHS), s=rng.choice(SEASONS), y=year)


def person(rng: random.Random) -> Person:
    women, men = rng.sample(FEMALE, len(FEMALE)), rng.sample(MALE, len(MALE))
    slots: dict[str, str] = {"S": women.pop()}
    for key in ("P", "C", "H", "F", "K1", "K2", "M", "X"):
        woman = rng.random() < 0.5
        slots[key] = (women if woman else men).pop()
        slots[f"{key}_she"], slots[f"{key}_her"] = ("she", "her") if woman else ("he", "his")
    slots["H_spouse"] = "wife" if slots["H_she"] == "she" else "husband"
    others = women + men
    for names in CHOICES:
        slots |= pick(rng, names)
    places = ("home", "grew", "Pc", "Sc", "Cc", "Fc", "tc", "rc")
    slots |= dict(zip(places, rng.sample(CITIES, len(places)), strict=True))
    slots |= dict(zip(("Pj", "Sj", "Hj", "Fj"), rng.sample(JOBS, 4), strict=True))
    events = ("since", "adopt", "start", "trip", "hobby", "inj", "piano", "sjob")
    for event, year in zip(events, rng.sample(range(2012, 2025), len(events)), strict=True):
        slots[f"y_{event}"], slots[f"d_{event}"] = str(year), when(rng, year)
    a1, a2 = rng.randint(11, 15), rng.randint(4, 9)
    slots |= {"a1": str(a1), "a2": str(a2), "y_school": str(2035 - a1), "d_race": when(rng, 2025, True)}
    slots |= {"d_wed": when(rng, rng.choice((2025, 2026)), True), "d_int": when(rng, rng.randint(2015, 2024))}
    optional = sorted(set(TOPICS) - CORE)
    dropped = set(rng.sample(optional, rng.randint(4, 6)))
    keys = [key for key in TEMPLATES if key.split(".")[0] not in dropped]
    index = {key: i for i, key in enumerate(keys)}
    facts = [(fill(rng, TEMPLATES[key], slots), TOPICS[key.split(".")[0]]) for key in keys]
    questions = []
    for group, (head, text, *context) in ASKED:
        kind, *named = head.split()
        needs = [name if "." in name else f"{group}.{name}" for name in named]
        if all(need in index for need in needs):
            turns = [fill(rng, turn, slots) for turn in context]
            questions.append(Question(KINDS[kind], fill(rng, text, slots), [index[n] for n in needs], turns))
    seen = {text for text, _ in facts}
    wanted = len(facts) + rng.randint(85, 108)
    while len(facts) < wanted:
        label, template = rng.choice(NOTES)
        extra = {
            "city": rng.choice(CITIES),
            "O": rng.choice(others),
            "date": when(rng, rng.randint(2012, 2024)),
        }
        for names in ("thing", "topic", "food", "day", "month"):
            extra |= pick(rng, names)
        text = fill(rng, template, slots | extra)
        if text not in seen:
            seen.add(text)
            facts.append((text, label))
    # Told over many sessions in no particular order: the needed facts are not simply the newest.
    order = list(range(len(facts)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    for question in questions:
        question.needs = [position[i] for i in question.needs]
    return Person(facts=[facts[old] for old in order], questions=questions)


def dataset(people: int = 20, seed: int = 77) -> list[Person]:
    rng = random.Random(seed)
    return [person(rng) for _ in range(people)]
