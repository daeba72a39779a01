"""Flip pairs from body-part names as DeepLabCut projects write them: which names pair, which
stay their own mirror, which warn and which are an error."""

from __future__ import annotations

import logging

import pytest

from fastkp.data import DatasetError
from fastkp.data.flips import flip_from_names, mirror_name


@pytest.mark.parametrize("name, mirror", [
    ("left_ear", "right_ear"), ("LeftPaw", "RightPaw"), ("RIGHT_EYE", "LEFT_EYE"),
    ("front_left_paw", "front_right_paw"), ("pawLeft", "pawRight"), ("Left", "Right"),  # the words, as before
    ("leftear", "rightear"), ("Rightpaw", "Leftpaw"), ("LEFTEAR", "RIGHTEAR"), ("lefthindpaw", "righthindpaw"),
    ("L_ear", "R_ear"), ("ear_R", "ear_L"), ("l_eye", "r_eye"), ("LEar", "REar"), ("earL", "earR"),
    ("RShoulder", "LShoulder"), ("L_ear2", "R_ear2"),
    ("bright", "bright"), ("upright", "upright"), ("tail", "tail"), ("Lhand", "Lhand"), ("lrleg", "lrleg"),
    ("L1", "L1"), ("L", "L"), ("Nearknee", "Nearknee"),
])  # fmt: skip
def test_mirror_name(name, mirror):
    assert mirror_name(name) == mirror


def _pairs(names: list[str]) -> set[tuple[str, str]]:
    flip = flip_from_names(names, "test").tolist()
    return {(names[i], names[j]) for i, j in enumerate(flip) if i < j}


# Body parts of DeepLabCut projects and of the conventions their users follow.
PROJECTS = {
    "open field (DLC example)": ("snout, leftear, rightear, tailbase", {("leftear", "rightear")}),
    "tri-mouse (DLC example)": ("snout, leftear, rightear, shoulder, spine1, tailbase, tail1, tailend",
                                {("leftear", "rightear")}),
    "face": ("nose, left_eye, right_eye, chin", {("left_eye", "right_eye")}),
    "L_/R_ prefixes": ("Nose, L_Eye, R_Eye, L_Ear, R_Ear, Throat", {("L_Eye", "R_Eye"), ("L_Ear", "R_Ear")}),
    "hands": ("Lhand, Rhand, Head", {("Lhand", "Rhand")}),
    "glued lowercase": ("nose, leye, reye, lear, rear, lhip, rhip", {("leye", "reye"), ("lear", "rear"),
                                                                      ("lhip", "rhip")}),
    "paw print (lf/rf/lb/rb)": ("lf_digit1, lf_heel, rf_digit1, rf_heel, lb_heel, rb_heel, tail",
                                {("lf_digit1", "rf_digit1"), ("lf_heel", "rf_heel"), ("lb_heel", "rb_heel")}),
    "marmoset (DLC example)": ("Front, Right, Middle, Left, FL1, BL1, FR1, BR1, Body1",
                               {("Right", "Left"), ("FL1", "FR1"), ("BL1", "BR1")}),
    "OpenPose": ("Nose, Neck, RShoulder, RElbow, LShoulder, LElbow, MidHip, REye, LEye",
                 {("RShoulder", "LShoulder"), ("RElbow", "LElbow"), ("REye", "LEye")}),
    "legs": ("lfleg, rfleg, lrleg, rrleg", {("lfleg", "rfleg"), ("lrleg", "rrleg")}),
    "suffixes": ("ear_L, ear_R, pawLeft, pawRight, eyel, eyer", {("ear_L", "ear_R"), ("pawLeft", "pawRight"),
                                                                  ("eyel", "eyer")}),
    "no sides": ("Leg, Rear, lip, tail, bright, L1, T12, Nearknee, Offknee", set()),
}


@pytest.mark.parametrize("project", PROJECTS)
def test_real_body_part_names_pair(project, caplog):
    names, pairs = PROJECTS[project]
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        assert _pairs(names.split(", ")) == pairs
    assert not caplog.records


def test_sided_names_without_a_partner_warn_in_one_line(caplog):
    names = ["snout", "leftear", "L_paw", "tail", "Lhand"]
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        assert flip_from_names(names, "CollectedData_x.csv: body parts", hint="; give a flip file").tolist() == \
            list(range(5))
    (record,) = caplog.records
    assert record.getMessage() == (
        "CollectedData_x.csv: body parts: 'leftear' (no 'rightear'), 'L_paw' (no 'R_paw') look sided but have no "
        "mirror point; each is kept as its own mirror under a horizontal flip; give a flip file")


def test_the_words_left_and_right_still_need_their_partner():
    with pytest.raises(DatasetError, match=r"^f: point 1 'left_ear' has no mirror point 'right_ear'; hint$"):
        flip_from_names(["nose", "left_ear", "right_eye", "leftear", "rightear"], "f", hint="; hint")


def test_an_ambiguous_letter_swap_pairs_nothing():
    # "lr" becomes "rr" or "ll": neither pairs, and the three stay their own mirrors
    assert _pairs(["lr", "rr", "ll"]) == set()
