"""LaTeX formulas as MathML for the HTML export and the review page (browsers render MathML natively).

``formula_mathml(latex)`` converts with latex2mathml and keeps the LaTeX in the formula itself::

    <math display="block"><semantics><mrow>…</mrow>
      <annotation encoding="application/x-tex">R_n = R_0 (1 + r)^n</annotation></semantics></math>

The result goes through the sanitiser's MathML allowlist (``vlparse.parse.sanitize``) like every other
fragment. LaTeX the converter cannot read gives None: the caller shows the LaTeX source as before.
"""

from __future__ import annotations

from html import escape

from vlparse.parse.sanitize import sanitize_fragment

#: longer LaTeX is shown as source (the converter's time grows with it; real formulas are far shorter)
MAX_LATEX = 4000


def formula_mathml(latex: str, *, display: str = "block") -> str | None:
    """Sanitised MathML for ``latex`` with the source in an annotation, or None when it cannot be converted."""
    latex = (latex or "").strip()
    if not latex or len(latex) > MAX_LATEX:
        return None
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover - a dependency; without it formulas stay LaTeX source
        return None
    try:
        raw = convert(latex, display=display)
    except Exception:  # noqa: BLE001 - any LaTeX it cannot read: fall back to the source
        return None
    start, end = raw.find(">") + 1, raw.rfind("</math>")
    if start <= 0 or end < start:
        return None
    body = raw[start:end]
    if not body.strip():
        return None
    mathml = (f'<math display="{escape(display)}"><semantics><mrow>{body}</mrow>'
              f'<annotation encoding="application/x-tex">{escape(latex, quote=False)}</annotation>'
              f"</semantics></math>")
    clean = sanitize_fragment(mathml)
    return clean if "<math" in clean else None
