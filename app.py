"""facetcoder review app (Streamlit): code a pasted note, review batch results, agreement figures, code lookup.

A thin shell: extraction and coding are ``extractor.process_note``; corrections, the review store, the queue,
highlighting, export and agreement are ``extractor.review``. This file only lays out widgets.
Start it with ``streamlit run app.py`` (``.streamlit/config.toml`` keeps it on localhost, no usage stats).
Privacy: nothing here logs or prints note text.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import re
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from extractor.coding import available_payers
from extractor.review.agreement import agreement
from extractor.review.corrections import apply_corrections, recode
from extractor.review.export import export_reviews
from extractor.review.highlight import highlight_html, legend_html, not_counted_reason, quote
from extractor.review.lookup import rules_md_path, search
from extractor.review.queue import filter_items, load_results, note_text_for, parse_results
from extractor.review.store import ENV_DB, ReviewStore, default_db

REPO = Path(__file__).resolve().parent
EXAMPLES = REPO / "annotated_notes" / "examples"
PAGES = ["Code a note", "Review queue", "Agreement & export", "Code lookup"]
PROCEDURES = ["facet_joint_injection", "medial_branch_block", "radiofrequency_ablation", "epidural", "other",
              "unknown"]
INTENTS = ["diagnostic", "therapeutic", "unknown"]
GUIDANCE = ["fluoroscopy", "ct", "ultrasound"]
SIDES = ["bilateral", "left", "right", "unknown"]
ANY = "(any)"
QUEUE_TABLE_ROWS = 500  # a nightly batch may hold millions; the table lists the first ones, Next walks all

st.set_page_config(page_title="facetcoder", page_icon="🩺", layout="wide")


@st.cache_resource(show_spinner="Loading the facetcoder pipeline…")
def coder():
    """The library entry point with its spaCy pipeline built once per server process."""
    from extractor import process_note
    from extractor.nlp import get_pipeline

    get_pipeline()
    return process_note


@st.cache_resource
def open_store(url: str) -> ReviewStore:
    return ReviewStore(url)


# ------------------------------------------------------------------------------------------------ sidebar

def sidebar() -> dict:
    sb = st.sidebar
    sb.title("facetcoder")
    page = sb.radio("Page", PAGES, key="page")
    reviewer = sb.text_input("Reviewer", value=_default_reviewer(), key="reviewer")
    sb.subheader("Coding context")
    setting = sb.selectbox("Setting", ["office", "asc", "hopd"], key="setting")
    claim = sb.selectbox("Claim", ["professional", "facility"], key="claim")
    payers = available_payers()
    payer = sb.selectbox("Payer", payers, index=payers.index("medicare") if "medicare" in payers else 0,
                         key="payer")
    abn = sb.selectbox("Signed ABN on file", ["unknown", "yes", "no"], key="abn")
    dos = sb.date_input("Date of service", value=dt.date.today(), key="date_of_service")
    sb.subheader("Review store")
    db = sb.text_input("Database (file path or SQLAlchemy URL)",
                       value=os.environ.get(ENV_DB) or str(default_db()), key="review_db")
    store_text = sb.checkbox("Store note text with reviews", value=False, key="store_text",
                             help="Off: the store keeps codes, labels and spans only. On: the note text is kept "
                                  "too, which export needs to turn the note into a gold record.")
    return {"page": page, "reviewer": reviewer, "db": db, "store_text": store_text,
            "context": {"setting": setting, "claim": claim, "payer": payer,
                        "abn_on_file": {"unknown": None, "yes": True, "no": False}[abn], "date_of_service": dos}}


def _default_reviewer() -> str:
    try:
        return os.environ.get("FACETCODER_REVIEWER") or getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return ""


def store_or_error(cfg: dict) -> ReviewStore | None:
    try:
        return open_store(cfg["db"].strip())
    except Exception as exc:  # noqa: BLE001 - a bad URL, a missing driver, a server down: say so, keep the page
        st.error(f"Cannot open the review store {_without_password(cfg['db'])}: {type(exc).__name__}")
        return None


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True) if "://" in url else url
    except Exception:  # noqa: BLE001 - not a URL at all: nothing secret to hide in what it could parse
        return "(unreadable URL)"


# ------------------------------------------------------------------------------------------------ one result

def show_facts(result: dict, text: str | None) -> None:
    """Facts in short, and the note with every fact highlighted (or the facts and quotes without text)."""
    ex = result["extraction"]
    levels = ", ".join(f"{lv['joint']} {lv['side']}" for lv in ex["levels"]) or "none"
    dx = ", ".join(d["icd10"] for d in ex["diagnoses"]) or "none"
    agents = ", ".join(a["name"] + (f" {a['dose']}" if a.get("dose") else "") for a in ex["agents"]) or "none"
    guidance = ", ".join(ex["guidance"]).replace("none_documented", "none documented")
    st.markdown(f"**Levels:** {levels}  \n**Guidance:** {guidance}  \n**Diagnoses:** {dx}  \n**Agents:** {agents}")
    if text is not None:
        st.markdown(legend_html(), unsafe_allow_html=True)
        st.markdown(highlight_html(text, ex["mentions"]), unsafe_allow_html=True)
    else:
        st.caption("Facts and quotes (the note's text file is not beside these results)")
        st.dataframe(pd.DataFrame([{
            "kind": m["kind"], "value": m["label"], "quote": m["text"], "section": m["section"],
            "counted": m["counted"], "not counted because": not_counted_reason(m)} for m in ex["mentions"]]),
            hide_index=True, width="stretch")


def show_edits_and_gaps(result: dict, text: str | None) -> None:
    st.subheader("Edits")
    if not result["edits"]:
        st.caption("No edits.")
    for e in result["edits"]:
        show = {"error": st.error, "warning": st.warning, "info": st.info}[e["severity"]]
        show(f"**{e['severity'].upper()} {e['rule']}** — {e['message']}")

    st.subheader("Documentation gaps")
    if not result["gaps"]:
        st.caption("No documentation gaps.")
    for g in result["gaps"]:
        near = quote(text, g.get("evidence", []))
        st.markdown(f"**{g['element']}** — {g['message']} (probability missing {g.get('probability', 1):.0%})"
                    + (f"  \n> near: “{near}”" if near else ""))
        if g.get("query"):
            st.caption("Physician query (copy):")
            st.code(g["query"], language=None, wrap_lines=True)


def claim_lines_editor(result: dict, prefix: str, suffix: str = "") -> pd.DataFrame:
    st.subheader("Claim lines")
    if result["claim_lines"]:
        # the lines as a coder writes them, also as text (the table below is a canvas)
        st.markdown("**Proposed:** " + " · ".join(
            f"`{'-'.join([ln['cpt'], *ln['modifiers']])}`" for ln in result["claim_lines"]))
    rows = pd.DataFrame([{
        "cpt": ln["cpt"], "modifiers": ", ".join(ln["modifiers"]), "units": ln["units"],
        "icd10": ", ".join(ln["icd10"]), "joints": ", ".join(ln.get("joints", [])),
        "rules": ", ".join(ln["rules"]), "rationale": ln["rationale"], "fee estimate": ln.get("fee_estimate"),
    } for ln in result["claim_lines"]], columns=["cpt", "modifiers", "units", "icd10", "joints", "rules",
                                                   "rationale", "fee estimate"])
    edited = st.data_editor(
        rows, key=f"{prefix}claim_lines_editor{suffix}", num_rows="dynamic", hide_index=True, width="stretch",
        disabled=["joints", "rules", "rationale", "fee estimate"],
        column_config={
            "cpt": st.column_config.TextColumn("CPT", required=True),
            "modifiers": st.column_config.TextColumn("Modifiers", help="comma-separated, e.g. 50, KX"),
            "units": st.column_config.NumberColumn("Units", min_value=1, step=1, default=1),
            "icd10": st.column_config.TextColumn("ICD-10", help="comma-separated"),
            "fee estimate": st.column_config.NumberColumn("Fee estimate", format="$%.2f"),
        })
    if not result["claim_lines"]:
        st.caption("No claim line proposed; add one above if the note supports it.")
    elif result.get("fee_total") is not None:
        basis = (result["claim_lines"][0].get("fee_basis") or "").split(" x ")[0]
        st.caption(f"Estimated total ${result['fee_total']:,.2f} ({basis}; bilateral lines at 150 %). "
                   "An estimate from the payer profile's fee table, not a price.")
    with st.expander("Why each line"):
        for i, ln in enumerate(result["claim_lines"], start=1):
            st.markdown(f"{i}. `{ln['cpt']}` — {ln['rationale']}  \n   rules: {', '.join(ln['rules'])}")
    return edited


def review_panel(result: dict, text: str | None, cfg: dict, *, prefix: str, note_key: str,
                 locator: str | None = None, previous_status: str | None = None) -> None:
    """The result with its editable claim lines and corrections, and the Save/Accept buttons.

    Widget keys carry ``prefix`` so that each queue item keeps its own unsaved edits. After "Re-code" the
    panel shows the lines the coding core derives from the corrected facts (``working``); the review still
    compares with the result as facetcoder first coded it."""
    state = st.session_state.get(f"{prefix}working")
    if state and state["note"] == note_key:
        working, generation = state["result"], state["generation"]
        st.info("Claim lines and edits re-coded from the corrected facts; save to keep them.")
    else:
        working, generation = result, 0
    ex = result["extraction"]
    cols = st.columns([2.2, 1, 1])
    cols[0].metric("Procedure", ex["procedure"].replace("_", " "))
    cols[1].metric("Intent", ex["intent"])
    fee = working.get("fee_total")
    cols[2].metric("Fee estimate", f"${fee:,.2f}" if fee is not None else "—")
    left, right = st.columns([1, 1], gap="medium")
    with left:
        show_facts(result, text)
    with right:
        # a new table after each re-code: the old table's cell edits refer to lines that are gone
        edited = claim_lines_editor(working, prefix, f"_{generation}" if generation else "")
        show_edits_and_gaps(working, text)

    with st.expander("Correct facts, gaps and edits"):
        c1, c2 = st.columns(2)
        procedure = c1.selectbox("Procedure", PROCEDURES, index=PROCEDURES.index(ex["procedure"]),
                                 key=f"{prefix}fix_procedure")
        intent = c2.selectbox("Intent", INTENTS, index=INTENTS.index(ex["intent"]), key=f"{prefix}fix_intent")
        guidance = st.multiselect("Guidance", GUIDANCE, default=[g for g in ex["guidance"] if g in GUIDANCE],
                                  key=f"{prefix}fix_guidance")
        st.caption("Levels (joint, e.g. C5-C6 or L5-S1, and side)")
        levels = st.data_editor(
            pd.DataFrame([{"joint": lv["joint"], "side": lv["side"]} for lv in ex["levels"]],
                         columns=["joint", "side"]),
            key=f"{prefix}levels_editor", num_rows="dynamic", hide_index=True,
            column_config={"side": st.column_config.SelectboxColumn("side", options=SIDES, default="bilateral")})
        agents = st.text_input("Agents (generic names, comma-separated)",
                               value=", ".join(a["name"] for a in ex["agents"]), key=f"{prefix}fix_agents")
        diagnoses = st.text_input("Diagnoses (ICD-10, comma-separated)",
                                  value=", ".join(d["icd10"] for d in ex["diagnoses"]), key=f"{prefix}fix_diagnoses")
        gap_ids = [g["element"] for g in result["gaps"]]
        keep_gaps = st.multiselect("Gaps that are right (remove a wrong one)", gap_ids, default=gap_ids,
                                   key=f"{prefix}keep_gaps")
        edit_ids = [e["rule"] for e in working["edits"]]
        keep_edits = st.multiselect("Edits that are right (remove a wrong one)", edit_ids, default=edit_ids,
                                    key=f"{prefix}keep_edits{f'_{generation}' if generation else ''}")
        recode_clicked = st.button("Re-code lines from these facts", key=f"{prefix}recode",
                                   help="The coding core derives claim lines and edits from the corrected facts")
    if recode_clicked:
        try:
            facts = apply_corrections(result, procedure=procedure, intent=intent, guidance=guidance,
                                      levels=levels.to_dict("records"), agents=agents.split(","),
                                      diagnoses=diagnoses, keep_gaps=keep_gaps)
            recoded = recode(facts, result)
        except ValueError as exc:
            st.error(f"Not re-coded: {exc}")
        else:
            st.session_state[f"{prefix}working"] = {"note": note_key, "result": recoded,
                                                    "generation": generation + 1}
            st.rerun()

    if st.session_state.get("saved_message"):
        st.success(st.session_state.pop("saved_message"))
    b1, b2, _ = st.columns([1, 1, 3])
    save = b1.button("Save review", key=f"{prefix}save_review", type="primary")
    accept = b2.button("Accept as coded", key=f"{prefix}accept_review")
    if not (save or accept):
        return
    store = store_or_error(cfg)
    if store is None:
        return
    if not cfg["reviewer"].strip():
        st.error("Enter your name as reviewer in the sidebar before saving.")
        return
    corrected = None
    if save:
        try:
            corrected = apply_corrections(
                working, claim_lines=edited.to_dict("records"), procedure=procedure, intent=intent,
                guidance=guidance, levels=levels.to_dict("records"), agents=agents.split(","),
                diagnoses=diagnoses, keep_gaps=keep_gaps, keep_edits=keep_edits)
        except ValueError as exc:
            st.error(f"Not saved: {exc}")
            return
    try:
        saved = store.save_review(result, corrected, reviewer=cfg["reviewer"], note_id=note_key, locator=locator,
                                  note_text=text, store_text=cfg["store_text"], previous_status=previous_status)
    except (SQLAlchemyError, ValueError) as exc:  # the database refused: show it, keep the page
        st.error(f"Not saved: {type(exc).__name__}: {exc}")
        return
    changed = ", ".join(ch.field for ch in saved.changes)
    # shown after the rerun below, which refreshes the queue's "reviewed" marks
    st.session_state["saved_message"] = (f"Review #{saved.review_id} saved: {saved.status}"
                                         + (f" ({changed})" if changed else "")
                                         + f" — by {cfg['reviewer']} in {store.location}")
    st.rerun()


# ------------------------------------------------------------------------------------------------ pages

def _load_example() -> None:
    name = st.session_state.get("example")
    if name and name != "—":
        st.session_state["note_text"] = (EXAMPLES / name).read_text(encoding="utf-8")


#: Widget keys of the review panel on the Code-a-note page: reset when a new note is coded, so that edits
#: made to the previous note's tables are not applied to the new one.
PANEL_KEYS = ("claim_lines_editor", "levels_editor", "fix_procedure", "fix_intent", "fix_guidance", "fix_agents",
              "fix_diagnoses", "keep_gaps", "keep_edits", "working")


def _code_pasted_note(context: dict) -> None:
    from extractor import InputError

    st.session_state.pop("code_error", None)
    text = st.session_state.get("note_text") or ""
    if not text.strip():
        st.session_state["code_error"] = "Paste a note first."
        return
    note_id = (st.session_state.get("note_id") or "").strip() or \
        "pasted-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    try:
        result = coder()(text, note_id=note_id, **context)
    except InputError as exc:  # its message never quotes the note
        st.session_state["code_error"] = str(exc)
        return
    for key in [k for k in st.session_state if str(k).startswith(PANEL_KEYS)]:
        del st.session_state[key]
    st.session_state["coded"] = {"result": result.model_dump(mode="json"), "text": text}


def page_code(cfg: dict) -> None:
    st.header("Code a note")
    examples = sorted(p.name for p in EXAMPLES.glob("*.txt")) if EXAMPLES.is_dir() else []
    if examples:
        st.selectbox("Open an example note", ["—", *examples], key="example", on_change=_load_example)
    st.text_area("Procedure note", key="note_text", height=260,
                 placeholder="Paste a facet joint injection or medial branch block note here.")
    st.text_input("Note id (optional)", key="note_id", help="Stored with the review; default: a hash of the text")
    st.button("Code note", key="code_note", type="primary", on_click=_code_pasted_note, args=(cfg["context"],))
    if st.session_state.get("code_error"):
        st.error(st.session_state["code_error"])
    coded = st.session_state.get("coded")
    if not coded:
        return
    if coded["text"] != st.session_state.get("note_text"):
        st.info("The note was changed after coding: press Code note to code the new text.")
    result = coded["result"]
    st.divider()
    review_panel(result, coded["text"], cfg, prefix="", note_key=result["note_id"])


def _forget_queue_edits() -> None:
    """Unsaved edits of queue items are keyed by line number: a newly opened file must not inherit them."""
    for key in [k for k in st.session_state if re.match(r"q\d+_", str(k))]:
        del st.session_state[key]


def _open_folder() -> None:
    folder = (st.session_state.get("queue_folder") or "").strip()
    _forget_queue_edits()
    try:
        st.session_state["queue"] = load_results(folder)
        st.session_state["queue_source"] = folder
        st.session_state["queue_pos"] = 0
        st.session_state.pop("queue_error", None)
    except (FileNotFoundError, OSError) as exc:
        st.session_state["queue_error"] = str(exc)


def _move(step: int) -> None:
    st.session_state["queue_pos"] = st.session_state.get("queue_pos", 0) + step


def page_queue(cfg: dict) -> None:
    st.header("Review queue")
    c1, c2 = st.columns([3, 1])
    c1.text_input("Batch output folder (holding results.jsonl)", key="queue_folder")
    c2.button("Open folder", key="open_queue", on_click=_open_folder)
    upload = st.file_uploader("…or upload results.jsonl", type=["jsonl"], key="queue_upload")
    if upload is not None and st.session_state.get("queue_source") != f"upload:{upload.file_id}":
        _forget_queue_edits()
        st.session_state["queue"] = parse_results(upload.getvalue().decode("utf-8", errors="replace").splitlines())
        st.session_state["queue_source"] = f"upload:{upload.file_id}"
        st.session_state["queue_pos"] = 0
    if st.session_state.get("queue_error"):
        st.error(st.session_state["queue_error"])
    queue = st.session_state.get("queue")
    if queue is None:
        st.caption("Open the output folder of `facetcoder batch`, or upload its results.jsonl.")
        return
    for w in queue.warnings[:20]:
        st.warning(w)
    if len(queue.warnings) > 20:
        st.warning(f"… and {len(queue.warnings) - 20} more lines skipped")
    st.caption(f"{len(queue.items)} notes loaded from {st.session_state.get('queue_source')}")

    f1, f2, f3 = st.columns(3)
    st.session_state.setdefault("queue_status", ["review"])  # kept across pages, so no default= here
    statuses = f1.multiselect("Status", ["review", "auto"], key="queue_status")
    rules = sorted({r for it in queue.items for r in it.edit_rules})
    rule = f2.selectbox("Edit rule", [ANY, *rules], key="queue_edit_rule")
    elements = sorted({g for it in queue.items for g in it.gap_elements})
    element = f3.selectbox("Gap element", [ANY, *elements], key="queue_gap_element")
    items = filter_items(queue.items, statuses=statuses, edit_rule=None if rule == ANY else rule,
                         gap_element=None if element == ANY else element)
    if not items:
        st.info("No note matches these filters.")
        return
    pos = min(max(st.session_state.get("queue_pos", 0), 0), len(items) - 1)
    st.session_state["queue_pos"] = pos
    store = store_or_error(cfg)
    done = store.reviewed_status() if store else {}

    with st.expander(f"Queue ({len(items)} notes)"):
        shown = items[:QUEUE_TABLE_ROWS]
        st.dataframe(pd.DataFrame([{
            "#": i + 1, "note": it.key, "status": it.status, "confidence": it.confidence,
            "lines": " ".join(it.lines), "edits": ", ".join(it.edit_rules), "gaps": ", ".join(it.gap_elements),
            "reviewed": done.get(it.key, "")} for i, it in enumerate(shown)]), hide_index=True, width="stretch")
        if len(items) > len(shown):
            st.caption(f"First {len(shown)} of {len(items)} listed; narrow the filters or use Next.")

    n1, n2, n3 = st.columns([1, 1, 4])
    n1.button("◀ Previous", key="queue_prev", on_click=_move, args=(-1,), disabled=pos == 0)
    n2.button("Next ▶", key="queue_next", on_click=_move, args=(1,), disabled=pos >= len(items) - 1)
    item = items[pos]
    conf = f"{item.confidence:.2f}" if item.confidence is not None else "—"
    n3.markdown(f"**Note {pos + 1} of {len(items)}**: `{item.key}` · status {item.status} · confidence {conf}"
                + (f" · reviewed: **{done[item.key]}**" if item.key in done else ""))
    try:
        result = queue.result(item)
    except ValueError as exc:
        st.error(f"{exc}; skip it with Next.")
        return
    text = note_text_for(item, queue.folder)
    review_panel(result, text, cfg, prefix=f"q{item.line_no}_", note_key=item.key, locator=item.locator,
                 previous_status=item.status)


def page_agreement(cfg: dict) -> None:
    st.header("Agreement")
    store = store_or_error(cfg)
    if store is None:
        return
    ag = agreement(store)
    st.caption(f"Latest review of each note in {store.location}")
    c1, c2, c3 = st.columns(3)
    c1.metric("Notes reviewed", ag.reviews)
    c2.metric("Accepted as coded", ag.accepted)
    c3.metric("Acceptance rate", f"{ag.accepted / ag.reviews:.0%}" if ag.reviews else "—")
    if ag.reviews:
        st.subheader("Acceptance rate per field")
        st.dataframe(pd.DataFrame(ag.field_rows()), hide_index=True,
                     column_config={"acceptance rate": st.column_config.NumberColumn(format="percent")})
        st.subheader("Corrections by rule id")
        st.dataframe(pd.DataFrame(ag.corrections_by_rule.most_common(), columns=["rule", "notes corrected"]),
                     hide_index=True)
        st.subheader("Corrections by gap element")
        st.dataframe(pd.DataFrame(ag.corrections_by_gap_element.most_common(),
                                  columns=["gap element", "notes corrected"]), hide_index=True)

    st.header("Export corrected notes")
    st.caption("Writes the corrected notes as gold records in the annotated_notes/ format (JSONL). Notes whose "
               "text was not stored are skipped and counted. Same as `facetcoder review export`.")
    out = st.text_input("Output file", value="reviewed-notes.jsonl", key="export_path")
    split = st.text_input("Split of the exported records", value="review", key="export_split")
    include = st.checkbox("Also notes accepted without correction", key="export_accepted")
    if st.button("Export", key="export_reviews"):
        try:
            summary = export_reviews(store, out, split=split.strip() or "review", include_accepted=include)
        except OSError as exc:
            st.error(f"Cannot write {out}: {exc}")
        else:
            st.success(f"{Path(out).resolve()}: {summary.describe()}")


def page_lookup(cfg: dict) -> None:
    st.header("Code lookup")
    query = st.text_input("Search CPT codes, modifiers, rule ids and documentation elements", key="lookup_query")
    kinds = st.multiselect("Kinds", ["CPT code", "modifier", "rule", "documentation element"], key="lookup_kinds")
    md = rules_md_path()
    found = search(query, kinds or None, md)
    st.caption(f"{len(found)} entries" + (f"; full rule text from {md}" if md else ""))
    for entry in found:
        units = f" · {entry['units']}" if entry.get("units") else ""
        st.markdown(f"**{entry['id']}** · {entry['kind']}{units} — {entry['summary']}")
        if entry.get("rules_md"):
            with st.expander(f"{entry['id']} in coding-rules.md"):
                st.markdown(entry["rules_md"])


# Streamlit drops a widget's value when its page is not shown; re-setting these keeps the pasted note and the
# queue's folder and filters while the reviewer visits another page.
for _key in ("note_text", "note_id", "queue_folder", "queue_status", "queue_edit_rule", "queue_gap_element"):
    if _key in st.session_state:
        st.session_state[_key] = st.session_state[_key]

cfg = sidebar()
{"Code a note": page_code, "Review queue": page_queue, "Agreement & export": page_agreement,
 "Code lookup": page_lookup}[cfg["page"]](cfg)
