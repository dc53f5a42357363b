"""Second hold-out dataset for the recall benchmark: which stored notes does the bot put in its prompt?

Each synthetic person has ~110-140 short third-person notes, shuffled ("User is allergic to codeine",
"Idris moved to Kiel in spring 2019"), and ~55-65 questions asked the way people talk to a chat assistant,
mostly in other words than the notes. ~30-40 notes are needed; the rest are everyday distractors sharing
names, places, dates and topics. Kinds (~40/25/20/15%): single-hop (one note), multi-hop (2-3 notes, the
later ones only reachable through a name in the first: "where does my brother work?"), temporal (dates,
order, durations) and follow-up (`context` holds earlier turns the question depends on). Domains: money,
health, home, tech, travel, food, study, car, colleagues. Written without reading the bot's ranking code
or the other recall datasets, as a blind check.
"""

import random

from bench.recall_data import Person, Question

# Tables: "head: a | b" entries split by ";", line breaks are spaces. Pools: "x/y: a/b" pairs, "x,y" distinct.
POOLS = """
bro,friend,neigh,builder,mech,nephew,chef,tiler: Idris|Tomasz|Kenji|Mateo|Oluwaseun|Rahul|Henrik|Youssef|Duc|
Rafael|Aleksei|Lars|Farid|Emeka|Santiago; cousin,fpartner,boss,acct,tutor,colleague,broswife: Mirela|Aiyana|
Ngozi|Sakura|Ines|Priya|Leila|Svetlana|Ama|Freya|Mei|Zeynep|Catalina|Anouk|Thandiwe|Ewa; gp,dentist: Dr
Okafor|Dr Lindqvist|Dr Bhattacharya|Dr Moreau|Dr Tanaka|Dr Haddad|Dr Kowalczyk|Dr Mensah|Dr Alvarez|Dr Nguyen;
drug: penicillin|ibuprofen|codeine|aspirin|sulfa antibiotics|amoxicillin; diet: is lactose intolerant and
avoids dairy|has coeliac disease and avoids gluten|has a shellfish allergy|is allergic to peanuts|reacts badly
to sesame|cannot eat tree nuts; med/cond: levothyroxine/an underactive thyroid|metformin/type 2 diabetes|
amlodipine/high blood pressure|omeprazole/acid reflux|montelukast/asthma|propranolol/migraines; surgery: had
laser eye surgery|had a hernia repaired|had their gallbladder removed|had two wisdom teeth taken out|had their
tonsils removed|had a cataract operation; hospital: St Mary's|the Royal Infirmary|Riverside Hospital|Northgate
Clinic|the General; clinic,dclinic: Elm Grove|Parkside|Harbour Lane|Oakwood|Millbrook|Canal Street|Beacon
Hill; role: a data analyst|a quantity surveyor|a pharmacist|a UX designer|a logistics coordinator|an actuary;
company: Halvorsen Shipping|Brightwater Energy|Copperleaf Insurance|Nordlicht Games|Tamarind Foods|Greyfield
Council; dept: finance|operations|product|research|customer service|procurement; oldco: Siemens|a Lagos
fintech|the NHS|Unilever|a small architecture firm|the city council; course: accounting|web development|
interior design|project management|data science|counselling; college: the community college|City Lit|the adult
education centre|Westbury College; language/tutorcity: Spanish/Valencia|Japanese/Osaka|Portuguese/Porto|
Korean/Busan|Turkish/Izmir|Polish/Kraków; degree: history|chemistry|economics|geography|philosophy|
architecture; uni: Leeds|Edinburgh|Manchester|Utrecht|Dublin|Glasgow; grad: 2006|2008|2009|2010|2011|2012;
bank,bank2: Nationwide|Barclays|Santander|HSBC|Lloyds|Monzo|Starling|NatWest; rate: 3.2|4.1|4.75|2.9|5.05|
1.89; amount: £5,000|£12,000|£3,500|€9,000|£20,000|$15,000; goal: a loft conversion|a sabbatical year|an
electric car|a trip to Japan|paying off the car loan early; pct: 4|5|6|8|10; shop: bakery|pharmacy|bike shop|
Turkish barber|bookshop; street,street2: Wellington Road|Kingsway|Mill Lane|Castle Street|Albert Terrace|
Queens Parade; grocery: £60|£80|£100|£75|€90; quote: £14,500|£9,800|£22,000|£11,250|£17,300; neighjob:
firefighter|headteacher|merchant seaman|train driver|newspaper editor|police sergeant; veg: courgettes and
runner beans|tomatoes and chillies|garlic and onions|potatoes and kale|strawberries and lettuce; tree: apple|
plum|fig|cherry|pear|olive; laptop: MacBook Air|ThinkPad X1|Dell XPS 13|Surface Laptop|Framework laptop|HP
Spectre; phone: Pixel 8|iPhone 13|Samsung Galaxy S23|Fairphone 5|OnePlus 12|iPhone SE; isp: Virgin Media|BT|
Sky|Vodafone|Hyperoptic|Plusnet; cloud: Google Photos|iCloud|Dropbox|OneDrive|a home NAS; tripcity: Lisbon|
Marrakech|Hanoi|Reykjavik|Tbilisi|Montreal; flycity: Toronto|Nairobi|Melbourne|Singapore|Buenos Aires|Oslo;
airline: KLM|Emirates|Qatar Airways|Aer Lingus|Turkish Airlines|Singapore Airlines; visa: India|Vietnam|the
US|Kenya|Australia|China; cuisine,cuisine2: Ethiopian|Sichuan|Lebanese|Peruvian|Georgian|Keralan|Vietnamese|
Oaxacan; resto: Golden Lotus|Tbilisi Kitchen|El Farolito|Saffron House|Blue Dragon|Café Anatolia; dish: fresh
pasta|jollof rice|ramen broth|pierogi|biryani|croissants; car: a 2016 Skoda Octavia|an old Toyota Yaris|a Kia
Niro hybrid|a VW Golf estate|a Nissan Leaf; area: Hackbridge|Ancoats|Leith|Digbeth|Roath|Kelham Island;
motfail: worn brake pads|a cracked windscreen|bald tyres|a faulty headlight|an exhaust leak; brojob: boat
builder|paramedic|sound engineer|primary school teacher|airline pilot|software tester; brocity: Kiel|Gdańsk|
Aberdeen|Rotterdam|Cork|Bergen; swjob: midwife|marine biologist|barrister|florist|pharmacist|architect;
hometown: Swansea|Lagos|Chennai|Galway|Durban|Izmir; confcity: Vienna|Barcelona|Austin|Copenhagen|Accra|Lyon
"""

# Notes a question can need: "Topic: key=text | key=text".
FACTS = """
Health: allergy=User is allergic to {drug} | med=User takes {med} every morning for {cond} | gp=User's GP is
{gp} | gpclinic={gp} practises at the {clinic} surgery | medrev={gp} changed User's {med} dose {rA} |
surgery=User {surgery} at {hospital} {pB} | dentist=User's dentist is {dentist} at the {dclinic} practice |
dentappt=User has a check-up at {dclinic} {f1}; Food: diet=User {diet} | cuisine=User's favourite cuisine is
{cuisine} | resto=User's favourite restaurant is {resto} | chef={resto} is run by a chef called {chef} |
cook=User is learning to make {dish} from scratch; Family: bro=User's brother is called {bro} | brojob={bro}
works as a {brojob} | bromove={bro} moved to {brocity} {pD} | broswife={bro}'s wife {broswife} is a {swjob} |
cousin=User's cousin {cousin} lives in {flycity} | ckid={cousin} has a little boy called {nephew} |
kidbday={nephew} was born {pX}; Friends: friend=User's oldest friend is {friend}, from school days |
fpartner={friend} is engaged to {fpartner} | fwed={friend} is getting married {f2} | rec={colleague}
recommended {acct} to User; Work: boss=User reports to {boss}, head of {dept} | bossprev={boss} worked at
{oldco} for years before joining | bossleave={boss} is on leave and returns {f6} | job=User works as {role} at
{company} | jobstart=User joined {company} {pF}; Education: course=User is taking an evening course in
{course} at {college} | exam=User's final {course} exam is {f3} | degree=User studied {degree} at {uni} and
graduated in {grad} | tutor=User's {language} tutor is {tutor} | tutorcity={tutor} grew up in {tutorcity};
Money: mort=User's mortgage is with {bank} at a fixed {rate}% | fixend=User's current mortgage deal expires
{f4} | isa=User opened an ISA with {bank2} {rG} | pension=User puts {pct}% of their salary into a workplace
pension | save=User is saving {amount} towards {goal} | budget=User tries to keep groceries under {grocery} a
week | acct=User's accountant is {acct} | acctoff={acct}'s office is above a {shop} on {street}; Home:
kitchen={builder}'s firm is redoing User's kitchen | kstart=The kitchen renovation began {rH} |
quote={builder} quoted {quote} for the whole job, VAT included | movein=User moved into the house on {street2}
{pJ} | neigh=User's next-door neighbour is {neigh} | neighjob={neigh} is a retired {neighjob} | key={neigh}
keeps a spare key to User's house | veg=User grows {veg} in raised beds in the back garden | tree=User planted
a {tree} tree in the garden {rI}; Tech: laptop=User bought a {laptop} {pK} | phone=User uses a {phone} |
isp=User's broadband provider is {isp} | backup=User backs up photos to {cloud} every Sunday; Travel:
trip=User flew to {tripcity} {pL} for {friend}'s birthday weekend | flight=User flies to {flycity} {f5} |
airline=User's favourite airline is {airline} | visa=User applied for a visa for {visa} {rM}; Car: car=User
drives {car} | mech=User's mechanic is {mech} | mechloc={mech}'s garage is on an industrial estate in {area} |
mot=User's car failed its MOT {rN} because of {motfail}
"""

# "kind keys: ask | ask"; follow-ups "f keys: turn ~ turn >> ask | ask".
QUESTIONS = """
s allergy: what meds am I not supposed to take? | is there a medicine I react badly to? | which drug am I
allergic to?; s diet: is there anything I can't eat? | any foods I should avoid when eating out? | what do I
tell the waiter about my diet?; s med: what do I take every morning? | which tablets am I on at the moment? |
what's my daily pill called?; s gp: who's my doctor? | what's my GP called?; s dentist: who's my dentist? |
who looks after my teeth?; s job: what do I do for work? | what line of work am I in?; s boss: who do I report
to? | who's my line manager?; s course: what evening class am I taking? | what am I studying at night school?;
s mort: what's the interest rate on my home loan? | which lender is my mortgage with?; s save: how much am I
trying to put aside? | what am I saving up for? | what's my savings target?; s pension: how much do I pay into
my retirement pot? | what percentage of my pay goes to my pension?; s acct: who does my taxes? | what's my
accountant's name?; s budget: what's my weekly food shopping budget? | how much do I allow myself for
groceries?; s kitchen: who's renovating my kitchen? | which builder did I hire? | who's doing the work on the
house?; s key: who has a spare key to my place? | if I lock myself out, who can let me in?; s neigh: what's my
neighbour's name? | who lives next door to me?; s veg: what am I growing in the garden? | what veggies have I
got planted out back?; s laptop: what laptop do I have? | what kind of computer am I using these days?; s
phone: what phone do I have? | which mobile am I using?; s isp: who's my internet provider? | which company is
my wifi with?; s airline: what's my favourite airline? | which carrier do I like flying with?; s trip: what
did I go to {tripcity} for? | why did I fly out to {tripcity}?; s cuisine: what's my favourite kind of food? |
what cuisine do I like best?; s resto: what's my go-to restaurant? | where do I usually like to eat out?; s
car: what car do I drive? | what are my wheels these days?; s mech: who fixes my car? | who's my mechanic?; s
tutor: what language am I learning? | who's my language teacher?; s visa: which country did I need a visa for?
| what visa did I apply for?; s mot: why did my car fail its MOT? | what was wrong with the car at its last
inspection?; s degree: what did I study at uni? | what's my degree in?; s cousin: where does my cousin live? |
which city is {cousin} in these days?; s friend: who's my oldest friend? | who have I known since school?; s
brojob: what does {bro} do for work? | what's {bro}'s job?; s bromove: where does {bro} live now? | which city
did {bro} move to?; s fpartner: who is {friend} marrying? | who's {friend}'s fiancée?; s ckid: what's
{cousin}'s son called? | what's the name of {cousin}'s little boy?; s neighjob: what did {neigh} do before
retiring?; s acctoff: where's {acct}'s office?; s tutorcity: where is {tutor} from?; s broswife: what does
{bro}'s wife do?; s chef: who's the chef at {resto}?; t kidbday: how old is {nephew} now? | when's {nephew}'s
birthday?; m bro brojob: where does my brother work? | what does my brother do for a living?; m bro bromove:
which city does my brother live in now? | where did my brother move to?; m bro broswife: what does my
sister-in-law do? | what's my brother's wife called?; m cousin ckid: what's my cousin's little boy called? |
what's the name of my cousin's son?; m cousin ckid kidbday: when's my cousin's son's birthday? | how old is my
cousin's kid now?; m friend fpartner: who is my oldest mate marrying? | who's my school friend engaged to?; m
friend trip: where did I go for my best friend's birthday? | which city did I fly to for my oldest friend's
party?; m boss bossprev: where did my manager work before? | which company was my boss at before she joined?;
m acct acctoff: where's my accountant's office? | where do I go to drop things off for my taxes?; m kitchen
quote: how much is my kitchen refit going to cost? | what price did I get for redoing the kitchen?; m neigh
neighjob: what did the guy next door do before he retired? | what was my neighbour's career?; m tutor
tutorcity: where's my language teacher from? | where did my {language} tutor grow up?; m resto chef: who's the
chef at my favourite restaurant? | who cooks at the place I always eat at?; m mech mechloc: where's my
mechanic's garage? | where do I take the car when it needs fixing?; m cousin flight: when am I going to visit
my cousin? | when do I fly out to see my cousin?; m acct rec: who recommended my accountant? | who told me
about the person who does my taxes?; m gp gpclinic: which surgery is my doctor at? | where is my GP's
practice?; t medrev: when did the doctor last change my {med} dose? | when were my tablets last adjusted?; t
surgery: when did I have my operation? | how long ago was I in hospital for that procedure?; t dentist
dentappt: when's my next dental appointment? | when do I have to get my teeth checked?; t bro bromove: when
did my brother move away? | how long has my brother lived where he is now?; t fwed: when is {friend}'s
wedding? | what's the date of {friend}'s big day?; t friend fwed: when's my best friend getting married? |
when's my oldest mate's wedding?; t jobstart: when did I start my current job? | how long have I been at
{company}?; t degree: what year did I graduate? | when did I finish uni?; t exam: when's my exam? | what date
is my {course} final?; t fixend: when does my fixed-rate deal end? | when do I need to remortgage?; t isa:
when did I open my ISA? | how long ago did I set up that savings account?; t kstart: when did the kitchen work
kick off? | how long has my kitchen been a building site?; t tree: when did I plant the {tree} tree? | how
long ago did I put the fruit tree in?; t movein: how long have I lived in this house? | when did I move in
here?; t laptop: how old is my laptop? | when did I buy my computer?; t flight: when's my next flight? | when
am I off to {flycity}?; t boss bossleave: when's my manager back from leave? | when does my boss return to
work?; t surgery movein: which came first, my operation or moving into this house? | did I have surgery before
I moved here?; t jobstart trip: did I start my job before or after my {tripcity} trip? | which was first,
joining {company} or my {tripcity} trip?; t laptop jobstart: did I buy my laptop before I started at
{company}? | is my laptop older than my current job?; f allergy: The pharmacist asked if I have any drug
allergies. ~ Good that they checked. Did you tell them? >> not yet, which one is it again? | no, remind me
what I react to?; f brojob: I'm seeing my brother this weekend. ~ Nice! Is that {bro}? >> yeah, what does he
do again? | yep. remind me of his job?; f neighjob: My neighbour brought round some cake today. ~ That's kind!
Was it {neigh}? >> yes. what did he do before retiring? | yeah, what was his old job?; f kitchen quote: The
builders left dust everywhere again. ~ Sorry! Is the kitchen nearly done? >> not really. how much is it
costing me?; f fwed: I need to buy a suit for {friend}'s wedding. ~ Exciting! Do you know the date? >> not
offhand, when is it? | no, when's it happening?; f flight: I still haven't packed. ~ For your trip to
{flycity}? >> yes! what day do I leave? | yeah, when's the flight?; f gp: I have to renew my prescription. ~
Is that for your {med}? >> yes. who prescribes it again? | yep, which doctor do I ask?; f boss bossprev: My
boss keeps talking about her old job. ~ Do you remember where she worked? >> I forget, where was it?; f mech:
The car's making a weird noise again. ~ Maybe get it looked at? >> good idea. who's my mechanic? | yeah, who
do I usually take it to?; f ckid: My cousin just called. ~ Oh, {cousin}? How is she? >> she's good. what's her
son called again? | fine, what's her little one's name?; f tutor tutorcity: I've got my {language} lesson
tonight. ~ With your usual tutor? >> yes, where's she from again? | yeah. where did she grow up?; f exam: I'm
so stressed about my {course} course. ~ Is the exam coming up? >> yes, when is it again? | yep, what's the
date?; f acctoff: I need to drop off receipts for my tax return. ~ At {acct}'s? >> yeah, where's her office
again? | yes, where is she based?
"""

# Everyday notes sharing names, places, dates and topics with the questions without answering them.
DISTRACTORS = """
Health: User gets hay fever every May | User had the flu jab at the local pharmacy | {gp} suggested User cut
down on caffeine | User forgot to take their tablets twice last week | User keeps antihistamines in the
glovebox | User's blood pressure was normal at the last check | {dentist} told User to floss more | User is
trying to drink two litres of water a day | User had a tooth filled {date}; Food: User can't stand the taste
of coriander | User bakes sourdough at weekends | User prefers tea to coffee | {bro} has been vegetarian for
years | User had dinner at a {cuisine2} place with {colleague} | User tried oat milk and didn't like it |
{fpartner} is a pastry chef | User hosted a dinner party {date} | User celebrated a birthday at {resto}
{date}; Family: {bro} loves sailing at weekends | User phones their mother every Sunday | User's parents live
near {hometown} | {cousin} and User went camping as kids | {bro} lent User a tent for a festival |
{cousin}'s husband works night shifts at a hospital | {nephew} is obsessed with dinosaurs | {bro} stayed with
User for a week {date} | {broswife} runs a half-marathon every spring; Work: User has a team meeting every
Monday at nine | {boss} prefers updates by email | {company} lets staff work from home two days a week |
{colleague} is leaving the company in the summer | User presented the quarterly figures to the board {date} |
User got a pay rise {date}; Money: User pays council tax by direct debit | {bro} still owes User fifty pounds
| User keeps an emergency fund in a current account | User thinks {bank}'s app is clunky | User cancelled two
streaming subscriptions | {acct} charges a flat fee each year | User lent {friend} £400 {date}; Home: User's
boiler was serviced last autumn | User painted the hallway dark green | {neigh}'s dog barks early in the
morning | Bins are collected on Wednesdays on User's street | User wants solar panels one day | The gutter
over User's door leaks | {builder} recommended a tiler called {tiler} | User's garden gets sun in the
afternoon | Slugs ate most of User's lettuce last year | User replaced the front door lock {date}; Tech:
User's smart speaker often mishears them | User's old phone had a cracked screen | User set up a mesh wifi
system upstairs | User's laptop battery drains quickly | User bought a bigger monitor {date}; Travel: User
prefers window seats on long flights | User lost a suitcase in Rome years ago | User gets seasick on ferries |
{friend} recommended a hotel in {tripcity} | User collects fridge magnets from trips | User renewed their
passport {date} | User went on a work trip to {confcity} {date}; Car: User's car insurance renews every
November | User's car has a scratch on the rear bumper | User got a parking ticket {date}; Education: User
found statistics hard at university | User keeps flashcards for {language} vocabulary | User's {course} class
has twelve students | User passed the driving test {date}; Events: User went to a jazz concert with {cousin}
{date} | User hosted a barbecue for the neighbours {date} | User ran a charity quiz night at work | User went
to {friend}'s housewarming {date}; General: User dislikes loud, crowded restaurants | User writes with their
left hand | User reads crime novels before bed | User volunteers at a food bank once a month
"""

KINDS = {"s": "single-hop", "m": "multi-hop", "t": "temporal", "f": "follow-up"}
SHARE = {"m": 0.25, "f": 0.15, "t": 0.20}  # the rest single-hop; multi-hop picked first so others reuse it
SEASONS = ["winter", "spring", "summer", "autumn"]
MONTHS = "January February March April May June July August September October November December".split()
DATES = "rA pB pD pF rG rH rI pJ pK pL rM rN pX f1 f2 f3 f4 f5 f6".split()  # past, relative or future
RELATIVE = ["last {}", "two years ago in {}", "in {} the year before last", "three years ago in {}"]


def _entries(text: str) -> list[tuple[str, list[str]]]:
    """'head: a | b; head: c' -> [(head, [a, b]), (head, [c])]."""
    pairs = [" ".join(entry.split()).partition(": ") for entry in text.split(";") if entry.strip()]
    return [(head, [part.strip() for part in body.split("|")]) for head, _, body in pairs]


def _question(head: str, parts: list[str]) -> tuple[str, list[str], list[str], list[str]]:
    """'m bro brojob: ask | ask' or 'f key: turn ~ turn >> ask | ask' -> (kind, keys, asks, context)."""
    kind, *keys = head.split()
    context, _, first = parts[0].rpartition(">>")
    turns = [turn.strip() for turn in context.split("~")] if context else []
    return kind, keys, [first.strip(), *parts[1:]], turns


NOTES = [(k, topic, t) for topic, items in _entries(FACTS) for k, _, t in (i.partition("=") for i in items)]
SPARE = [(topic, text) for topic, texts in _entries(DISTRACTORS) for text in texts]
ASKS = [_question(head, parts) for head, parts in _entries(QUESTIONS)]


def _when(rng: random.Random, kind: str) -> str:
    """A date in one of several formats: 'p' past, 'r' past or relative ("last May"), 'f' future."""
    year = rng.randint(2026, 2027) if kind == "f" else rng.randint(2013, 2025)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    mon, season = MONTHS[month - 1], SEASONS[month % 12 // 3]
    if kind == "r" and rng.random() < 0.6:
        return rng.choice(RELATIVE).format(mon)
    forms = [f"on {day} {mon} {year}", f"in {mon} {year}", f"on {mon} {day}, {year}", f"in {season} {year}"]
    return rng.choice([*forms, f"on {year}-{month:02d}-{day:02d}"])


def _slots(rng: random.Random) -> dict[str, str]:
    slots = {key: _when(rng, key[0]) for key in DATES}
    for keys, options in _entries(POOLS):
        if "," in keys:
            slots.update(zip(keys.split(","), rng.sample(options, keys.count(",") + 1), strict=True))
        else:
            slots.update(zip(keys.split("/"), rng.choice(options).split("/"), strict=True))
    return slots


def _choose(rng: random.Random) -> list[tuple[str, list[str], list[str], list[str]]]:
    """55-65 questions by kind share; once `cap` notes are needed, prefer questions adding fewest new ones."""
    total, cap = rng.randint(55, 65), rng.randint(28, 34)
    want = {kind: round(total * share) for kind, share in SHARE.items()}
    want["s"] = total - sum(want.values())
    pool, chosen, needed = list(ASKS), [], list[str]()
    for kind, count in want.items():
        for _ in range(count):
            cands = [q for q in pool if q[0] == kind]
            if len(needed) >= cap:
                fewest = min(sum(k not in needed for k in q[1]) for q in cands)
                cands = [q for q in cands if sum(k not in needed for k in q[1]) == fewest]
            pick = rng.choice(cands)
            pool.remove(pick)
            chosen.append(pick)
            needed += [k for k in pick[1] if k not in needed]
    rng.shuffle(chosen)
    return chosen


def _person(rng: random.Random) -> Person:
    slots = _slots(rng)
    notes = [(key, text.format_map(slots), topic) for key, topic, text in NOTES]
    for topic, text in rng.sample(SPARE, rng.randint(110, 140) - len(notes)):
        notes.append(("", text.format(date=_when(rng, "p"), **slots), topic))
    rng.shuffle(notes)  # needed notes are not simply the newest
    index = {key: i for i, (key, _, _) in enumerate(notes) if key}
    questions = [
        Question(
            KINDS[kd],
            rng.choice(asks).format_map(slots),
            [index[k] for k in keys],
            [t.format_map(slots) for t in ctx],
        )
        for kd, keys, asks, ctx in _choose(rng)
    ]
    return Person(facts=[(text, topic) for _, text, topic in notes], questions=questions)


def dataset(people: int = 20, seed: int = 2026) -> list[Person]:
    """`people` synthetic people; identical for the same seed."""
    rng = random.Random(seed)
    return [_person(rng) for _ in range(people)]
