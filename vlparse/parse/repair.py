"""Repetition loops: detect the unit a model got stuck on and cut the copies.

A looping answer repeats one unit (a few characters, a line, a table row, a whole paragraph)
until the token limit, so the loop sits at the *end* of the answer, usually ending mid-unit.
Two detectors, both pure:

- exact periodicity of the tail (a Z-array of the reversed text gives, for every period ``p``,
  how far back the text keeps repeating itself with that period), which catches loops inside a
  single line as well as across lines;
- line units with digits masked, which catches loops whose numbers count up
  (``<tr><td>17</td>…``, ``<tr><td>18</td>…``), within ``MAX_UNIT_LINES`` lines per unit.

The first copy of the unit is kept, every later copy is cut, and one human-readable sentence
says what was cut. Nothing is cut unless the copies cover enough text to be a real loop.
"""

from __future__ import annotations

import re

#: a loop must cover at least this many characters ...
MIN_LOOP_CHARS = 200
#: ... and repeat its unit at least this often (``MIN_REPEATS_LONG`` for units of 100+ characters)
MIN_REPEATS = 4
MIN_REPEATS_LONG = 3
#: longest unit the exact detector looks for (characters) and the line detector (lines)
MAX_PERIOD = 4000
MAX_UNIT_LINES = 12

_DIGITS = re.compile(r"\d+")


def _z_array(s: str) -> list[int]:
    n = len(s)
    z = [0] * n
    if n:
        z[0] = n
    left = right = 0
    for i in range(1, n):
        if i < right:
            z[i] = min(right - i, z[i - left])
        while i + z[i] < n and s[z[i]] == s[i + z[i]]:
            z[i] += 1
        if i + z[i] > right:
            left, right = i, i + z[i]
    return z


def _enough(period: int, covered: int) -> bool:
    reps = covered / period
    need = MIN_REPEATS_LONG if period >= 100 else MIN_REPEATS
    return covered >= MIN_LOOP_CHARS and reps >= need


def _exact_tail_loop(text: str) -> tuple[int, int] | None:
    """(start of the looping tail, period) for the shortest period that loops, or None."""
    body = text.rstrip()
    n = len(body)
    if n < MIN_LOOP_CHARS:
        return None
    window = body[-(MAX_PERIOD * 8 + MIN_LOOP_CHARS):]
    rev = window[::-1]
    z = _z_array(rev)
    m = len(rev)
    for p in range(1, min(MAX_PERIOD, m // 2) + 1):
        covered = p + z[p]  # the reversed text's prefix with period p
        if _enough(p, covered):
            start = n - covered
            return start, p
    return None


def _arithmetic(rows: list[list[int]]) -> bool:
    """Each number position steps by a constant across the copies (a counter, or unchanged)."""
    if any(len(r) != len(rows[0]) for r in rows):
        return False
    for j in range(len(rows[0])):
        col = [r[j] for r in rows]
        step = col[1] - col[0]
        if any(b - a != step for a, b in zip(col, col[1:])):
            return False
    return True


def _line_tail_loop(text: str) -> tuple[int, int, int] | None:
    """(char offset after the first copy, unit lines, copies) for a loop of line units.

    Units compare with their numbers masked, and count as a loop only when every number steps
    by a constant from copy to copy (a counting loop), so a real table of figures is never cut.
    """
    lines = text.rstrip().split("\n")
    if len(lines) < MIN_REPEATS + 1:
        return None
    masked = [_DIGITS.sub("0", ln.strip()) for ln in lines]
    best = None
    for k in range(1, MAX_UNIT_LINES + 1):
        # the last line may be a cut-off copy: leave it out of the comparison
        n = len(masked) - 1 if len(masked) > k and masked[-1] != masked[-1 - k] else len(masked)
        i = n  # copies are masked[i-k:i], walking backwards
        while i - 2 * k >= 0 and masked[i - k:i] == masked[i - 2 * k:i - k]:
            i -= k
        first = i - k  # the first copy is masked[first:i]
        copies = (n - first) // k
        if copies < 2 or not any(masked[first:i]):
            continue
        unit_chars = sum(len(ln) + 1 for ln in lines[first:i])
        if not _enough(unit_chars, unit_chars * copies):
            continue
        numbers = [[int(x) for x in _DIGITS.findall("\n".join(lines[first + c * k:first + (c + 1) * k]))]
                   for c in range(copies)]
        if not _arithmetic(numbers):
            continue
        offset = sum(len(ln) + 1 for ln in lines[:i])
        if best is None or offset < best[0]:
            best = (offset, k, copies)
    return best


def _clean_cut(text: str, cut: int, period: int) -> int:
    """Move a cut inside the periodic tail (by less than one period) to the nearest line, tag or word end."""
    window = range(cut, min(cut + period, len(text)) + 1)
    for ok in (lambda c: text[c - 1] == "\n", lambda c: text[c - 1] == ">", lambda c: text[c - 1] in " \t"):
        for c in window:
            if ok(c):
                return c
    return cut


def cut_repetition(text: str) -> tuple[str, str | None]:
    """The answer with a trailing repetition loop cut (first copy kept), and what was cut.

    Returns ``(text, None)`` when there is no loop.
    """
    exact = _exact_tail_loop(text)
    lines = _line_tail_loop(text)
    candidates = []
    if exact is not None:
        start, p = exact
        body = text.rstrip()
        copies = (len(body) - start) / p
        candidates.append((_clean_cut(body, start + p, p), f"the same {p}-character text repeated {copies:.0f} times; "
                                                            "kept the first"))
    if lines is not None:
        offset, k, copies = lines
        what = "line" if k == 1 else f"{k}-line block"
        candidates.append((offset, f"the same {what} repeated {copies} times (numbers aside); kept the first"))
    if not candidates:
        return text, None
    cut, why = min(candidates, key=lambda c: c[0])
    return text[:cut].rstrip(" \t") if text[:cut].strip() else text[:cut], why
