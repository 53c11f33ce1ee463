"""Container names: validation and dockerd-style random names."""

from __future__ import annotations

import random
import re

from berth.engine.errors import InvalidParameter

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_LEFT = (
    "admiring adoring affectionate agitated amazing angry awesome blissful bold boring brave "
    "busy charming clever cool compassionate competent confident cranky crazy dazzling "
    "determined distracted dreamy eager ecstatic elastic elated elegant eloquent epic "
    "fervent festive flamboyant focused friendly frosty gallant gifted goofy gracious happy "
    "hardcore heuristic hopeful hungry infallible inspiring jolly jovial keen kind laughing "
    "loving lucid modest musing mystifying naughty nervous nice nifty nostalgic objective "
    "optimistic peaceful pedantic pensive practical priceless quirky quizzical relaxed "
    "reverent romantic sad serene sharp silly sleepy stoic strange stupefied suspicious "
    "sweet tender thirsty trusting unruffled upbeat vibrant vigilant vigorous wizardly "
    "wonderful xenodochial youthful zealous zen"
).split()
_RIGHT = (
    "agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach "
    "bardeen bartik bassi beaver bell bhabha bhaskara blackwell bohr booth borg bose boyd "
    "brahmagupta brattain brown carson chandrasekhar clarke colden cori cray curie darwin "
    "davinci dijkstra dubinsky easley edison einstein elion engelbart euclid euler fermat "
    "fermi feynman franklin galileo gates goldberg goldstine goldwasser golick goodall "
    "hamilton hawking heisenberg hermann hodgkin hoover hopper hugle hypatia jackson jang "
    "jennings jepsen johnson joliot jones kalam kare keller kepler khorana kilby kirch knuth "
    "kowalevski lalande lamarr lamport leakey leavitt lewin lichterman liskov lovelace "
    "lumiere mahavira mayer mccarthy mcclintock mclean mcnulty meitner mendel mestorf "
    "minsky mirzakhani montalcini moore morse moser napier nash neumann newton nightingale "
    "nobel noether northcutt noyce panini pare pasteur payne perlman pike poincare poitras "
    "ptolemy raman ramanujan ride ritchie roentgen rosalind saha sammet shannon shaw shirley "
    "shockley sinoussi snyder spence stonebraker sutherland swanson swartz swirles tesla "
    "thompson torvalds turing varahamihira visvesvaraya volhard wescoff wiles williams "
    "wilson wing wozniak wright yalow yonath"
).split()


def validate(name: str) -> str:
    """The name without a leading "/", or InvalidParameter with dockerd's message."""
    if not _VALID.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


def generate(taken: object) -> str:
    """A random adjective_surname not yet in use (`taken` supports `in`)."""
    for attempt in range(100):
        name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
        if attempt > 10:
            name += str(random.randint(0, 99))
        if name not in taken:  # type: ignore[operator]
            return name
    raise InvalidParameter("could not generate a unique container name")
