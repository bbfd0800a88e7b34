"""The public API and the CLI: process_note's contract, errors, and `facetcoder code|schema|evaluate`."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import code
from extractor import InputError, process_note
from extractor.cli import app
from extractor.schema import MAX_NOTE_CHARS, NoteResult

NOTE = "PROCEDURE: Bilateral L4-5 facet joint injections under fluoroscopy, bupivacaine and Kenalog 20 mg."


def test_contract_fields_of_the_one_note_json():
    data = code(NOTE, note_id="n1").model_dump(mode="json")
    assert data["note_id"] == "n1"
    ex = data["extraction"]
    for key in ("procedure", "levels", "guidance", "agents", "intent", "diagnoses"):
        assert key in ex
    lv = ex["levels"][0]
    assert set(lv) >= {"joint", "region", "side", "evidence"} and lv["evidence"][0][1] > lv["evidence"][0][0]
    ln = data["claim_lines"][0]
    assert set(ln) >= {"cpt", "modifiers", "units", "icd10", "rules", "rationale"}
    assert all(set(e) >= {"rule", "severity", "message"} for e in data["edits"])
    assert NoteResult.model_validate(data).claim_lines[0].cpt == "64493"


@pytest.mark.parametrize("text, procedure", [("", "unknown"), ("   \n", "unknown"),
                                             ("The patient likes gardening.", "unknown"),
                                             ("Right knee arthroscopy with partial meniscectomy.", "other")])
def test_any_string_gives_a_result(text, procedure):
    r = process_note(text)
    assert r.extraction.procedure == procedure and r.claim_lines == [] and r.extraction.levels == []


def test_type_and_size_errors():
    with pytest.raises(TypeError):
        process_note(b"bytes are not a note")  # type: ignore[arg-type]
    with pytest.raises(InputError) as exc:
        process_note("x" * (MAX_NOTE_CHARS + 1))
    assert "limit" in str(exc.value) and "xxxx" not in str(exc.value)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("kwargs, word", [({"setting": "hospital"}, "setting"), ({"payer": "acme"}, "payer"),
                                         ({"date_of_service": "31/12/2025"}, "date_of_service"),
                                         ({"claim": "both"}, "claim")])
def test_bad_context_is_a_clear_input_error(kwargs, word):
    with pytest.raises(InputError) as exc:
        process_note(NOTE, **kwargs)
    assert word in str(exc.value)


def test_cli_code_json_and_text(tmp_path):
    note = tmp_path / "n42.txt"
    note.write_text(NOTE, encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["code", str(note), "--format", "json", "--date", "2026-06-15"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["note_id"] == "n42" and [ln["cpt"] for ln in data["claim_lines"]] == ["64493"]
    text = runner.invoke(app, ["code", str(note), "--setting", "asc", "--claim", "facility", "--date", "2026-06-15"])
    assert text.exit_code == 0 and "64493" in text.output and "RT" in text.output and "Evidence" in text.output


def test_cli_code_reads_stdin_and_reports_missing_files(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["code", "-", "--format", "json"], input=NOTE)
    assert out.exit_code == 0 and json.loads(out.output)["claim_lines"]
    missing = runner.invoke(app, ["code", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_cli_schema_is_the_json_schema_of_noteresult():
    out = CliRunner().invoke(app, ["schema"])
    schema = json.loads(out.output)
    assert schema["title"] == "NoteResult" and "claim_lines" in schema["properties"]


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "extractor.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "code" in proc.stdout and "evaluate" in proc.stdout


def test_evaluate_one_batch_only():
    """`facetcoder evaluate --batch NAME` scores one batch file's notes: how a new practice's notes fare."""
    from typer.testing import CliRunner

    from extractor.cli import app
    from extractor.corpus import load_corpus

    expected = sum(1 for r in load_corpus("dev") if r["_locator"].startswith("zx.jsonl:"))
    run = CliRunner().invoke(app, ["evaluate", "--split", "dev", "--batch", "zx", "--json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["notes"] == expected > 0
    missing = CliRunner().invoke(app, ["evaluate", "--split", "dev", "--batch", "no-such-batch"])
    assert missing.exit_code == 2 and "no notes of split dev" in missing.output
