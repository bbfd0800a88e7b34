"""Vertebral arithmetic: vertebrae, facet joints, nerve -> joint mapping and regions.

Everything here is pure and total: a parser either returns valid objects or ``None`` / an empty list.
Impossible levels (C9, T13, L6, S1-S2 facet joints, reversed or non-adjacent pairs written as one joint)
are never produced. Rules: R-LEVEL-JOINT, R-NERVE-MAP, R-REGION, R-AO-AA in ../shared/coding-rules.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

# Vertebrae in head-to-tail order. C0 stands for the occiput (atlanto-occipital joint C0-C1).
_ORDER: list[str] = (
    ["C0"] + [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)]
    + [f"L{i}" for i in range(1, 6)] + ["S1"]
)
_INDEX = {name: i for i, name in enumerate(_ORDER)}
_MAX = {"C": 7, "T": 12, "L": 5, "S": 1}

REGION_CERVICAL = "cervical"
REGION_THORACIC = "thoracic"
REGION_LUMBAR = "lumbar"

# The two code families of R-REGION.
FAMILY_CERVICOTHORACIC = "cervicothoracic"
FAMILY_LUMBOSACRAL = "lumbosacral"


@total_ordering
@dataclass(frozen=True)
class Vertebra:
    """One vertebra (or the occiput, C0)."""

    name: str

    @property
    def index(self) -> int:
        return _INDEX[self.name]

    def __lt__(self, other: "Vertebra") -> bool:
        return self.index < other.index

    def next(self) -> "Vertebra | None":
        i = self.index + 1
        return Vertebra(_ORDER[i]) if i < len(_ORDER) else None

    def __str__(self) -> str:
        return self.name


def vertebra(text: str) -> Vertebra | None:
    """'c5' -> C5; 'T13', 'L6', 'C9' -> None. Sacral segments other than S1 are not facet vertebrae."""
    m = re.fullmatch(r"\s*([CcTtLlSs])\s*(\d{1,2})\s*", text)
    if not m:
        return None
    letter, num = m.group(1).upper(), int(m.group(2))
    if letter == "C" and num == 0:
        return Vertebra("C0")
    if num < 1 or num > _MAX[letter]:
        return None
    return Vertebra(f"{letter}{num}")


@total_ordering
@dataclass(frozen=True)
class Joint:
    """A facet joint between two adjacent vertebrae, upper first: C5-C6, C7-T1, T12-L1, L5-S1."""

    upper: Vertebra

    @property
    def lower(self) -> Vertebra:
        nxt = self.upper.next()
        assert nxt is not None
        return nxt

    @property
    def name(self) -> str:
        return f"{self.upper}-{self.lower}"

    @property
    def index(self) -> int:
        return self.upper.index

    def __lt__(self, other: "Joint") -> bool:
        return self.index < other.index

    def __str__(self) -> str:
        return self.name


def all_joints() -> list[Joint]:
    return [Joint(Vertebra(n)) for n in _ORDER[:-1]]


def joint_between(a: Vertebra, b: Vertebra) -> Joint | None:
    """The joint between two vertebrae if they are adjacent and written upper first."""
    if b.index == a.index + 1:
        return Joint(a)
    return None


def joint_by_name(name: str) -> Joint | None:
    joints = parse_joint_text(name)
    return joints[0] if len(joints) == 1 else None


def region(joint: Joint | str) -> str:
    """R-REGION: C0-C1 ... C7-T1 cervical; T1-T2 ... T12-L1 thoracic; L1-L2 ... L5-S1 lumbar."""
    j = joint_by_name(joint) if isinstance(joint, str) else joint
    if j is None:
        raise ValueError(f"not a facet joint: {joint!r}")
    letter = j.upper.name[0]
    if letter == "C":
        return REGION_CERVICAL
    if letter == "T":
        return REGION_THORACIC
    return REGION_LUMBAR


def family(joint: Joint | str) -> str:
    """Code family: T12-L1 is coded with the cervical/thoracic family (R-REGION)."""
    return FAMILY_LUMBOSACRAL if region(joint) == REGION_LUMBAR else FAMILY_CERVICOTHORACIC


_SEP = r"\s*(?:-|–|—|/|to|through|thru|and)\s*"
_VERT = r"([CcTtLlSs])\s*(\d{1,2})"


def _compact(text: str) -> list[Joint]:
    """Compact notation without separator: C56, L45, L34, L5S1, C7T1, T12L1, T1112."""
    t = text.strip().upper()
    m = re.fullmatch(r"([CTL])(\d{1,2})([CTLS])(\d{1,2})", t)
    if m:  # L5S1, C7T1, T12L1
        a, b = vertebra(m.group(1) + m.group(2)), vertebra(m.group(3) + m.group(4))
        j = joint_between(a, b) if a and b else None
        return [j] if j else []
    m = re.fullmatch(r"([CTL])(\d{2,4})", t)
    if not m:
        return []
    letter, digits = m.group(1), m.group(2)
    if letter == "T" and len(digits) == 2 and 10 <= int(digits) <= 12:
        return []  # T10, T11, T12 are vertebrae, not compact joints
    for cut in range(1, len(digits)):
        a = vertebra(letter + digits[:cut])
        rest = digits[cut:]
        b = vertebra(letter + rest) if not (letter == "L" and rest == "6") else None
        if a and b:
            j = joint_between(a, b)
            if j:
                return [j]
    return []


def parse_joint_text(text: str) -> list[Joint]:
    """Parse one written level into joints.

    'C5-6', 'C5/6', 'C5-C6', 'C5–C6', 'C56', 'L5S1', 'L5-S1', 'T12-L1' -> one joint;
    'C5-C7', 'C5 to C7', 'C5 through C7', 'L3-S1' -> the range of joints between them;
    anything impossible (reversed, C9, L6, 'L5-S2') -> [].
    """
    t = text.strip()
    if re.fullmatch(r"[Ll]5\s+[Ss]1", t):  # 'L5 S1' as dictated: S1 has no facet nerve, so it is the joint
        return [joint_by_name("L5-S1")]
    spoken = re.fullmatch(r"([CcTtLl]) (\d{1,2}) (\d{1,2})", t)  # 'L 4 5', 'C 5 6' from speech recognition
    if spoken:
        letter, a, b = spoken.group(1).upper(), int(spoken.group(2)), int(spoken.group(3))
        return parse_joint_text(f"{letter}{a}-{letter}{b}") if b == a + 1 else []
    compact = _compact(t)
    if compact:
        return compact
    parts = re.split(r"\s+(?:to|through|thru)\s+", t, flags=re.I)
    if len(parts) == 2:  # a range written with joints at both ends: 'L2-3 through L5-S1'
        first, last = parse_joint_text(parts[0]), parse_joint_text(parts[1])
        if len(first) == 1 and len(last) == 1:
            return joint_range(first[0].upper, last[0].lower)
    m = re.fullmatch(_VERT + _SEP + r"([CcTtLlSs])?\s*(\d{1,2})", t, flags=re.IGNORECASE)
    if not m:
        return []
    a = vertebra(m.group(1) + m.group(2))
    b_letter = m.group(3) or m.group(1)
    if a is None:
        return []
    b = vertebra(b_letter + m.group(4))
    if m.group(3) is None and m.group(4) == "1" and a.name in ("C7", "T12", "L5"):
        b = a.next()  # 'C7-1', 'T12-1', 'L5-1': the lower vertebra starts the next region
    if b is None or b.index <= a.index:
        return []
    if b.index == a.index + 1:
        return [Joint(a)]
    return joint_range(a, b)


def joint_range(a: Vertebra, b: Vertebra) -> list[Joint]:
    """C5 .. C7 -> [C5-C6, C6-C7]. Empty when b is not below a."""
    if b.index <= a.index:
        return []
    return [Joint(Vertebra(_ORDER[i])) for i in range(a.index, b.index)]


# ---------------------------------------------------------------------------------------------
# R-NERVE-MAP: which nerves supply which joint.
# Nerve names: 'TON' (third occipital nerve), 'C3'..'C8', 'T1'..'T12', 'L1'..'L5' (L5 = dorsal ramus).

NERVES: list[str] = ["TON"] + [f"C{i}" for i in range(3, 9)] + [f"T{i}" for i in range(1, 13)] + [
    f"L{i}" for i in range(1, 6)
]


def _supply() -> dict[str, frozenset[str]]:
    supply: dict[str, frozenset[str]] = {"C2-C3": frozenset({"TON"})}
    for n in range(3, 7):  # C3-C4 .. C6-C7 <- Cn + Cn+1
        supply[f"C{n}-C{n + 1}"] = frozenset({f"C{n}", f"C{n + 1}"})
    supply["C7-T1"] = frozenset({"C7", "C8"})
    supply["T1-T2"] = frozenset({"C8", "T1"})
    for n in range(2, 12):  # Tn-Tn+1 <- Tn-1 + Tn
        supply[f"T{n}-T{n + 1}"] = frozenset({f"T{n - 1}", f"T{n}"})
    supply["T12-L1"] = frozenset({"T11", "T12"})
    supply["L1-L2"] = frozenset({"T12", "L1"})
    for n in range(2, 5):
        supply[f"L{n}-L{n + 1}"] = frozenset({f"L{n - 1}", f"L{n}"})
    supply["L5-S1"] = frozenset({"L4", "L5"})
    return supply


JOINT_SUPPLY: dict[str, frozenset[str]] = _supply()


def nerve(text: str) -> str | None:
    """Normalise a nerve name: 'c8' -> 'C8', 'third occipital' / 'TON' -> 'TON'; invalid -> None."""
    t = text.strip().upper()
    if t in ("TON", "THIRD OCCIPITAL", "THIRD OCCIPITAL NERVE", "C3 SUPERFICIAL MEDIAL BRANCH"):
        return "TON"
    m = re.fullmatch(r"([CTL])\s*(\d{1,2})", t)
    if not m:
        return None
    name = f"{m.group(1)}{int(m.group(2))}"
    return name if name in NERVES else None


def joints_from_nerves(nerves: set[str] | frozenset[str] | list[str]) -> list[Joint]:
    """Joints whose every supplying nerve is in the set (one side at a time).

    >>> [str(j) for j in joints_from_nerves({"L3", "L4", "L5"})]
    ['L4-L5', 'L5-S1']
    """
    have = {n for n in (nerve(x) if x not in NERVES else x for x in nerves) if n}
    out = [j for j in all_joints() if j.name in JOINT_SUPPLY and JOINT_SUPPLY[j.name] <= have]
    return sorted(out)


def nerve_range(a: str, b: str) -> list[str]:
    """Nerves from a to b inclusive in head-to-tail order: ('L2', 'L4') -> ['L2', 'L3', 'L4']."""
    na, nb = nerve(a), nerve(b)
    if not na or not nb:
        return []
    ia, ib = NERVES.index(na), NERVES.index(nb)
    if ib < ia:
        return []
    return NERVES[ia : ib + 1]
