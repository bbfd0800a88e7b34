"""The note as HTML with every extracted fact marked by kind; facts that do not count today (negated,
historical, planned, family) are struck through and greyed. All note text is HTML-escaped here, so the
app may render the output as HTML."""

from __future__ import annotations

import html

KIND_COLOURS = {
    "level": "#ffd966", "nerve": "#ffe599", "side": "#9fc5e8", "guidance": "#b6d7a8", "agent": "#d5a6bd",
    "diagnosis": "#f9cb9c", "procedure": "#b4a7d6", "intent": "#a2c4c9", "sedation": "#ea9999",
}
OTHER_COLOUR = "#e0e0e0"
CONTEXT_FLAGS = ("negated", "historical", "hypothetical", "family")


def not_counted_reason(mention: dict) -> str:
    ctx = mention.get("context") or {}
    flags = [("planned" if f == "hypothetical" else f) for f in CONTEXT_FLAGS if ctx.get(f)]
    if flags:
        return ", ".join(flags)
    # no context flag: the extraction set it aside for another reason (e.g. a symptom beside a diagnosis)
    return "" if mention.get("counted", True) else "set aside by the extraction"


def _chosen(mentions: list[dict], length: int) -> list[dict]:
    """Non-overlapping mentions, longest first where they overlap, within the text."""
    picked: list[dict] = []
    taken: list[tuple[int, int]] = []
    for m in sorted(mentions, key=lambda m: (-(m["end"] - m["start"]), m["start"])):
        s, e = m["start"], m["end"]
        if not (0 <= s < e <= length) or any(s < te and ts < e for ts, te in taken):
            continue
        picked.append(m)
        taken.append((s, e))
    return sorted(picked, key=lambda m: m["start"])


def _mark(text: str, m: dict) -> str:
    kind = m.get("kind", "fact")
    reason = not_counted_reason(m)
    title = f"{kind}: {m.get('label', '')}" + (f" (not counted: {reason})" if reason else "")
    body = html.escape(text).replace("\n", "<br>")
    colour = KIND_COLOURS.get(kind, OTHER_COLOUR)
    if reason:
        return (f'<mark class="fc-{html.escape(kind)} fc-not-counted" title="{html.escape(title)}" '
                f'style="background:#eeeeee;color:#777777;text-decoration:line-through;">{body}</mark>')
    return (f'<mark class="fc-{html.escape(kind)}" title="{html.escape(title)}" '
            f'style="background:{colour};">{body}</mark>')


def highlight_html(text: str, mentions: list[dict]) -> str:
    """One HTML block (no blank lines, so Markdown leaves it alone) with the facts marked."""
    parts, pos = [], 0
    for m in _chosen(mentions, len(text)):
        parts.append(html.escape(text[pos:m["start"]]).replace("\n", "<br>"))
        parts.append(_mark(text[m["start"]:m["end"]], m))
        pos = m["end"]
    parts.append(html.escape(text[pos:]).replace("\n", "<br>"))
    return ('<div class="fc-note" style="white-space:pre-wrap;font-family:monospace;font-size:0.85rem;'
            'line-height:1.5;border:1px solid #ddd;padding:0.75rem;border-radius:0.4rem;">'
            + "".join(parts) + "</div>")


def legend_html() -> str:
    items = [f'<mark style="background:{c};">{html.escape(k)}</mark>' for k, c in KIND_COLOURS.items()]
    items.append('<mark style="background:#eeeeee;color:#777777;text-decoration:line-through;">'
                 'not counted</mark>')
    return '<div class="fc-legend">' + " ".join(items) + "</div>"


def quote(text: str | None, spans: list, width: int = 160) -> str:
    """The first evidence span's words, whitespace collapsed and shortened; '' without text or spans."""
    if not text or not spans:
        return ""
    s, e = spans[0]
    q = " ".join(text[s:e].split())
    return q if len(q) <= width else q[: width - 1] + "…"
