"""Models and rule data are inputs too: the skops artifact loads only listed types, every rule file and
payer profile is validated at load with an error naming the file and the field, and writes are atomic."""

import json
import os

import pytest
import spacy

from extractor import coding
from extractor.atomic import atomic_path, atomic_write_text
from extractor.coding import PayerProfileError, load_payer_profile
from extractor.gaps import model
from extractor.nlp import PatternFileError
from extractor.nlp.context import ClinicalContext
from extractor.nlp.sections import SectionDetector


def test_the_bundled_artifact_holds_only_trusted_types():
    import skops.io as sio

    found = sio.get_untrusted_types(file=model.skops_path())
    assert found and set(found) <= set(model.TRUSTED_TYPES)
    assert model.load().element_ids


def test_an_artifact_that_smuggles_a_callable_is_refused(tmp_path):
    import skops.io as sio

    path = tmp_path / "gaps-evil.skops"
    sio.dump({"features": None, "classifiers": {"D-X": os.system}, "thresholds": {}, "meta": {}}, path)
    with pytest.raises(ValueError, match=r"gaps-evil.skops: refusing to load untrusted types \['posix.system'\]"):
        model.load(path)


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("rows, message", [
    ([{"literal": "no", "category": "NEGATED"}], r"context.jsonl line 1: missing field 'direction'"),
    ([{"literal": "no", "category": "NEGATED", "direction": "sideways"}],
     r"context.jsonl line 1: field 'direction' has unknown value 'sideways'"),
    ([{"literal": "no", "category": "NEGATED", "direction": "forward"}, "{oops"],
     r"context.jsonl line 2: not valid JSON"),
    ([{"category": "HISTORICAL", "direction": "section"}], r"context.jsonl: a section rule needs .*'section'"),
    ([{"literal": "but", "category": "TERMINATE", "direction": "forward"}],
     r"context.jsonl: forward rule 1 field 'category' must be one of"),
])
def test_bad_context_rules_name_file_line_and_field(tmp_path, rows, message):
    path = _write(tmp_path / "context.jsonl", rows)
    with pytest.raises(PatternFileError, match=message):
        ClinicalContext(spacy.blank("en"), "ctx", path, 12)


def test_bad_section_rules_name_file_line_and_field(tmp_path):
    path = _write(tmp_path / "sections.jsonl", [{"literal": "plan", "category": "plan"}, {"literal": 3, "category": "x"}])
    with pytest.raises(PatternFileError, match=r"sections.jsonl line 2: field 'literal' must be a string"):
        SectionDetector(spacy.blank("en"), "sections", path)


@pytest.fixture
def fee_file(tmp_path, monkeypatch):
    path = tmp_path / "fees.json"
    monkeypatch.setattr(coding, "FEES_PATH", path)
    coding._fees.cache_clear()
    load_payer_profile.cache_clear()
    yield path
    coding._fees.cache_clear()
    load_payer_profile.cache_clear()


def test_a_bad_fee_amount_names_table_and_field(fee_file):
    table = json.loads((coding.Path(coding.__file__).parent / "fees.json").read_text())
    table["medicare-national"]["years"]["2025"]["64490"]["office"] = -5
    fee_file.write_text(json.dumps(table))
    with pytest.raises(PayerProfileError,
                       match=r"fees.json: table 'medicare-national' field 'years.2025.64490.office'"):
        coding._fees()


def test_a_payer_pointing_at_a_missing_fee_table_is_refused(fee_file):
    fee_file.write_text(json.dumps({"other": {"source": "x", "years": {"2026": {}}}}))
    with pytest.raises(PayerProfileError, match=r"medicare.json: field 'fee_table': no table 'medicare-national'"):
        load_payer_profile("medicare")


@pytest.mark.parametrize("name", ["../coding/fees", "/etc/passwd", "Medicare", "medicare.json", "", "a" * 80])
def test_payer_names_cannot_reach_other_files(name):
    with pytest.raises(PayerProfileError, match="invalid payer profile name"):
        load_payer_profile(name)


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "model.md"
    target.write_text("version 1")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("version 2, half writ")
            raise RuntimeError("disk full")
    assert target.read_text() == "version 1"
    atomic_write_text(target, "version 2")
    assert target.read_text() == "version 2"
    assert [p.name for p in tmp_path.iterdir()] == ["model.md"]  # no temporary file left behind
