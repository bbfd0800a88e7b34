"""Vertebral arithmetic (R-LEVEL-JOINT, R-NERVE-MAP, R-REGION), with property tests."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractor import spine

VALID = {j.name for j in spine.all_joints()}


@pytest.mark.parametrize("text, expected", [
    ("C5-6", ["C5-C6"]), ("C5/6", ["C5-C6"]), ("C5-C6", ["C5-C6"]), ("C56", ["C5-C6"]), ("C5–C6", ["C5-C6"]),
    ("L5S1", ["L5-S1"]), ("L5-S1", ["L5-S1"]), ("T12-L1", ["T12-L1"]), ("C7-T1", ["C7-T1"]), ("L34", ["L3-L4"]),
    ("C5-C7", ["C5-C6", "C6-C7"]), ("C5 to C7", ["C5-C6", "C6-C7"]), ("C5 through C7", ["C5-C6", "C6-C7"]),
    ("L3-S1", ["L3-L4", "L4-L5", "L5-S1"]), ("L2-3 through L4-5", ["L2-L3", "L3-L4", "L4-L5"]),
    ("C0-C1", ["C0-C1"]), ("C1-2", ["C1-C2"]), ("T1112", ["T11-T12"]),
])
def test_notations(text, expected):
    assert [j.name for j in spine.parse_joint_text(text)] == expected


@pytest.mark.parametrize("text", ["C9-10", "T13-L1", "L6-S1", "L5-6", "C6-5", "S1-S2", "C8-T1", "T12", "L5", "X4-5"])
def test_impossible_levels_are_never_emitted(text):
    assert spine.parse_joint_text(text) == []


@pytest.mark.parametrize("nerves, expected", [
    ({"L3", "L4", "L5"}, ["L4-L5", "L5-S1"]), ({"L4", "L5"}, ["L5-S1"]), ({"L2", "L3", "L4"}, ["L3-L4", "L4-L5"]),
    ({"TON"}, ["C2-C3"]), ({"TON", "C3"}, ["C2-C3"]), ({"C4", "C5"}, ["C4-C5"]), ({"C7", "C8"}, ["C7-T1"]),
    ({"C8", "T1"}, ["T1-T2"]), ({"T11", "T12"}, ["T12-L1"]), ({"T12", "L1"}, ["L1-L2"]), ({"L4"}, []),
])
def test_nerve_map(nerves, expected):
    assert [j.name for j in spine.joints_from_nerves(nerves)] == expected


@pytest.mark.parametrize("joint, region, family", [
    ("C2-C3", "cervical", "cervicothoracic"), ("C7-T1", "cervical", "cervicothoracic"),
    ("T1-T2", "thoracic", "cervicothoracic"), ("T12-L1", "thoracic", "cervicothoracic"),
    ("L1-L2", "lumbar", "lumbosacral"), ("L5-S1", "lumbar", "lumbosacral"), ("C0-C1", "cervical", "cervicothoracic"),
])
def test_regions(joint, region, family):
    assert spine.region(joint) == region and spine.family(joint) == family


def test_chain_of_n_nerves_covers_n_minus_one_joints():
    for start in range(1, 4):
        chain = [f"L{i}" for i in range(start, 6)]
        assert len(spine.joints_from_nerves(chain)) == len(chain) - 1


_letters = st.sampled_from("CTLSctlsXQ")
_nums = st.integers(min_value=-1, max_value=20)
_sep = st.sampled_from(["-", "/", "–", " to ", " through ", "", " "])


@settings(max_examples=400, deadline=None)
@given(a=_letters, n=_nums, sep=_sep, b=st.one_of(st.just(""), _letters), m=_nums)
def test_property_parse_never_gives_impossible_joints(a, n, sep, b, m):
    joints = spine.parse_joint_text(f"{a}{n}{sep}{b}{m}")
    names = [j.name for j in joints]
    assert set(names) <= VALID
    assert names == sorted(names, key=lambda x: spine.joint_by_name(x).index)  # head to tail, adjacent chain
    for x, y in zip(joints, joints[1:]):
        assert y.index == x.index + 1


@settings(max_examples=300, deadline=None)
@given(st.sets(st.sampled_from(spine.NERVES + ["C2", "S1", "L6", "junk"]), max_size=8))
def test_property_nerve_map_only_complete_pairs(nerves):
    for j in spine.joints_from_nerves(nerves):
        assert j.name in VALID
        assert spine.JOINT_SUPPLY[j.name] <= set(nerves)
