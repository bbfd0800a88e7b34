"""The coder's view of one result in a terminal (rich): claim lines, edits by severity, gaps, evidence."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .schema import NoteResult

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _quote(text: str, spans, width: int = 70) -> str:
    if not spans:
        return ""
    s, e = spans[0]
    q = " ".join(text[s:e].split())
    return q if len(q) <= width else q[: width - 1] + "…"


def render_text(result: NoteResult, text: str, console: Console | None = None) -> None:
    console = console or Console()
    e = result.extraction
    console.rule(f"[bold]{result.note_id or 'note'}[/] · {result.payer} · {result.setting} · {result.claim} · "
                 f"DOS {result.date_of_service.isoformat()}")
    console.print(f"Procedure: [bold]{e.procedure}[/]  intent: {e.intent}  guidance: {', '.join(e.guidance)}")
    lines = Table(title="Claim lines", show_lines=False)
    for col in ("#", "CPT", "Mod", "Units", "ICD-10", "Joints", "Fee est.", "Rules"):
        lines.add_column(col)
    for i, ln in enumerate(result.claim_lines, start=1):
        lines.add_row(str(i), ln.cpt, "-".join(ln.modifiers), str(ln.units), ", ".join(ln.icd10),
                      ", ".join(ln.joints), f"${ln.fee_estimate:,.2f}" if ln.fee_estimate is not None else "",
                      ", ".join(r for r in ln.rules if r not in ("R-ORDER", "R-FEE")))
    if result.claim_lines:
        console.print(lines)
        for i, ln in enumerate(result.claim_lines, start=1):
            console.print(f"  {i}. {ln.rationale}")
        if result.fee_total is not None:
            basis = result.claim_lines[0].fee_basis.split(" x ")[0] if result.claim_lines[0].fee_basis else ""
            console.print(f"  Estimated total: ${result.fee_total:,.2f} ({basis}; bilateral lines at 150 %)")
    else:
        console.print("[bold]No claim line proposed.[/]")
    if result.edits:
        console.print("\n[bold]Edits[/]")
        for ed in result.edits:
            console.print(f"  [{SEVERITY_STYLE[ed.severity]}]{ed.severity.upper():8}[/] {ed.rule}: {ed.message}")
    if result.gaps:
        console.print("\n[bold]Documentation gaps[/]")
        for g in result.gaps:
            q = _quote(text, g.evidence)
            console.print(f"  {g.element}: {g.message}" + (f'  [dim]near "{q}"[/]' if q else ""))
            if g.query:
                console.print(f"    [dim]query:[/] {g.query}")
    console.print("\n[bold]Evidence[/]")
    for lv in e.levels:
        console.print(f"  level {lv.joint} {lv.side} ({lv.source}): \"{_quote(text, lv.evidence)}\"")
    if e.guidance_evidence:
        console.print(f"  guidance: \"{_quote(text, e.guidance_evidence)}\"")
    for a in e.agents:
        console.print(f"  agent {a.name} ({a.role}{', ' + a.dose if a.dose else ''}): \"{_quote(text, a.evidence)}\"")
    for d in e.diagnoses:
        console.print(f"  diagnosis {d.icd10}: \"{_quote(text, d.evidence)}\"")
    skipped = [m for m in e.mentions if not m.counted and m.kind in ("level", "guidance", "agent", "procedure")
               and not m.context.current]
    for m in skipped[:12]:
        flags = [k for k in ("negated", "historical", "hypothetical", "family") if getattr(m.context, k)]
        console.print(f"  [dim]not counted ({', '.join(flags)}): {m.kind} \"{m.text}\"[/]")
