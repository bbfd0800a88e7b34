"""Rule files and payer profiles are validated at load, with errors that name the file and the field."""

import json

import pytest
import spacy

from extractor import coding, nlp
from extractor.coding import PayerProfileError, load_payer_profile
from extractor.nlp import PatternFileError, regex_ruler


def test_every_shipped_file_loads():
    assert nlp.fact_patterns() and nlp.agent_lexicon() and nlp.diagnosis_lexicon()
    assert regex_ruler.load_regex_rules("spine") and regex_ruler.load_regex_rules("facts")
    for name in coding.available_payers():
        assert load_payer_profile(name).name == name


def test_bad_pattern_file_names_file_line_and_field(tmp_path, monkeypatch):
    (tmp_path / "agents.jsonl").write_text(json.dumps({"name": "x", "role": "tonic", "synonyms": []}) + "\n")
    (tmp_path / "sides.jsonl").write_text(json.dumps({"label": "SIDE"}) + "\n")
    monkeypatch.setattr(nlp, "PATTERN_DIR", tmp_path)
    nlp.agent_lexicon.cache_clear()
    try:
        with pytest.raises(PatternFileError, match=r"agents.jsonl line 1: field 'role'"):
            nlp.agent_lexicon()
        with pytest.raises(PatternFileError, match=r"sides.jsonl line 1: missing field 'pattern'"):
            nlp.load_patterns("sides")
    finally:
        nlp.agent_lexicon.cache_clear()


def test_bad_regex_file(tmp_path, monkeypatch):
    (tmp_path / "spine.regex.jsonl").write_text(json.dumps({"label": "SPINE_VERT", "regex": "(unclosed"}) + "\n")
    monkeypatch.setattr(regex_ruler, "PATTERN_DIR", tmp_path)
    with pytest.raises(regex_ruler.RegexRulerError, match=r"spine.regex.jsonl line 1: field 'regex'"):
        regex_ruler.load_regex_rules("spine")


@pytest.mark.parametrize("first_longest", [False, True])
def test_regex_rule_keeps_its_case_setting(tmp_path, monkeypatch, first_longest):
    """A rule marked "case": true stays case-sensitive in both matching modes (the first-longest mode
    joins every rule of a file into one alternation)."""
    rules = [{"label": "CODE", "id": "upper", "regex": "M47\\.816", "case": True},
             {"label": "WORD", "id": "any", "regex": "facet"}]
    (tmp_path / "mixed.regex.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rules))
    monkeypatch.setattr(regex_ruler, "PATTERN_DIR", tmp_path)
    ruler = regex_ruler.RegexRuler(spacy.blank("en"), "test", "facts", ["mixed"], first_longest)
    doc = ruler(spacy.blank("en")("FACET M47.816 and facet m47.816"))
    assert sorted((s.label_, s.text) for s in doc.spans["facts"]) == [
        ("CODE", "M47.816"), ("WORD", "FACET"), ("WORD", "facet")]


def test_bad_payer_profile_names_file_and_field(tmp_path, monkeypatch):
    good = json.loads((coding.PAYER_DIR / "commercial.json").read_text())
    good["level_limit"] = 0
    (tmp_path / "acme.json").write_text(json.dumps(good))
    (tmp_path / "broken.json").write_text("{not json")
    monkeypatch.setattr(coding, "PAYER_DIR", tmp_path)
    load_payer_profile.cache_clear()
    try:
        with pytest.raises(PayerProfileError, match=r"acme.json: field 'level_limit'"):
            load_payer_profile("acme")
        with pytest.raises(PayerProfileError, match=r"broken.json: not valid JSON"):
            load_payer_profile("broken")
        with pytest.raises(PayerProfileError, match="unknown payer profile 'nobody'"):
            load_payer_profile("nobody")
    finally:
        load_payer_profile.cache_clear()
