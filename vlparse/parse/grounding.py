"""Grounding answers of the four Qwen VL generations -> detections in original-image pixels.

Each generation speaks its own coordinate language (DESIGN.md §1):

- Qwen-VL:    ``<ref>label</ref><box>(x1,y1),(x2,y2)</box>`` (several ``<box>`` may follow one ref),
              integers in [0, 1000) of the image; text spotting uses ``<quad>`` with four corners.
- Qwen2-VL:   ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``,
              [0, 1000) of the image (``<|quad_start|>…<|quad_end|>`` for quadrilaterals).
- Qwen2.5-VL: a JSON list of ``{"bbox_2d": [x1, y1, x2, y2], "label": …}`` or ``{"point_2d": [x, y], …}``
              in pixels of the image *as the processor resized it* (``frame.model_width`` x ``model_height``);
              the cookbook's XML points ``<points x1=".." y1=".." alt="..">phrase</points>`` likewise.
- Qwen3-VL:   the same JSON keys, in [0, 1000] of the image.

Real answers are messy (``json`` fences, chatter, single quotes, trailing commas, a last element cut off
at the token limit, duplicated objects, extra keys, boxes written as strings). The parser repairs what
it safely can, says so in one warning per repair, never invents a coordinate and never raises on a
malformed answer. Pure functions; no torch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from vlparse.core.families import ABSOLUTE, Family
from vlparse.core.geometry import Frame, clean_box, clean_point, fmt_box
from vlparse.core.results import Detection
from vlparse.parse.text import clean_answer_text, code_fences, strip_special_tokens

#: keys that carry a box / a point in JSON answers (the first is what the Qwen models write)
BOX_KEYS = ("bbox_2d", "bbox", "box_2d", "box", "bounding_box")
POINT_KEYS = ("point_2d", "point")
#: where a label may come from when the object has no ``label`` (text spotting writes ``text_content``;
#: answers published by others use ``name``, ``name_en``, ``object_name`` or ``names: {"en": …}``)
LABEL_FALLBACKS = ("text_content", "name", "name_en", "object_name", "names", "category", "class", "text")
#: label keys the prompts ask for: taking the label from any other key is a guess (warned)
ASKED_LABEL_KEYS = ("label", "text_content")
#: nesting depth past which an answer is refused (a model loop, or hostile input)
MAX_DEPTH = 64
#: two detections of one label overlapping at least this much (IoU) are one object written twice
NEAR_DUPLICATE_IOU = 0.9
#: individual duplicate warnings before they are summed up in one line
MAX_DUPLICATE_WARNINGS = 5


@dataclass
class Grounding:
    detections: list[Detection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False  # the answer stopped inside an element (its incomplete tail was dropped)


@dataclass
class _Raw:
    """One detection as the model wrote it, still in the family's coordinate space."""

    label: str
    box: Any = None  # as written: a list, a string, ...
    point: Any = None
    quad: list[float] | None = None  # four corners (x, y) * 4, tag syntaxes' text spotting
    extra: dict[str, Any] = field(default_factory=dict)


def parse_grounding(text: str, family: Family, frame: Frame, want: str = "bbox",
                    queries: list[str] | None = None) -> Grounding:
    """Detections in original-image pixels (and PDF points where the frame knows them).

    ``want`` is what was asked for ("bbox" or "point"); ``queries`` (optional) label detections the
    model left unlabelled when there was a single query.
    """
    out = Grounding()
    text, out.warnings = clean_answer_text(text or "")
    if family.grounding == "json":
        raws, understood = _parse_json_answer(text, out)
        if not raws:
            raws = _parse_xml_points(text, out)
    else:
        raws, understood = _parse_tag_answer(text, family.grounding, out)
    if not raws and not understood and text.strip():
        _explain_nothing_found(text, family, out)
    _check_space(raws, family, frame, out)
    dets = _to_detections(raws, family, frame, want, queries, out)
    out.detections = _drop_duplicates(dets, frame, out)
    return out


# -- tag syntaxes: Qwen-VL and Qwen2-VL ---------------------------------------------------------

_NUM = r"-?\d+(?:\.\d+)?"
_PAIR = rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)"
_TAGS = {
    # grounding style -> (ref open, ref close, box open, box close, quad open, quad close)
    "ref_box": ("<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>"),
    "box_tokens": ("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
                   "<|quad_start|>", "<|quad_end|>"),
}
_BARE_BOX = re.compile(rf"{_PAIR}\s*,\s*{_PAIR}")


def _parse_tag_answer(text: str, style: str, out: Grounding) -> tuple[list[_Raw], bool]:
    """(detections, whether the answer used the syntax at all)."""
    ref_o, ref_c, box_o, box_c, quad_o, quad_c = (re.escape(t) for t in _TAGS[style])
    # box bodies hold only numbers: an unclosed box never swallows the text up to a later one
    token = re.compile(rf"{ref_o}(.*?){ref_c}|{box_o}([^<]*){box_c}|{quad_o}([^<]*){quad_c}", re.DOTALL)
    raws: list[_Raw] = []
    label = ""
    end = 0
    for m in token.finditer(text):
        end = m.end()
        ref, box, quad = m.group(1), m.group(2), m.group(3)
        if ref is not None:
            label = _clean_label(ref)
            continue
        body = box if box is not None else quad
        numbers = [float(v) for v in re.findall(_NUM, body)]
        if box is not None:
            if len(numbers) != 4:
                out.warnings.append(f"dropped malformed box {body.strip()!r}")
                continue
            raws.append(_Raw(label, box=numbers))
        else:
            if len(numbers) != 8:
                out.warnings.append(f"dropped malformed quadrilateral {body.strip()!r}")
                continue
            xs, ys = numbers[0::2], numbers[1::2]
            raws.append(_Raw(label, box=[min(xs), min(ys), max(xs), max(ys)], quad=numbers))
    tail = text[end:]
    open_tag = re.search(rf"{ref_o}|{box_o}|{quad_o}", tail)
    if open_tag:
        out.truncated = True
        out.warnings.append(f"the answer ends inside an unfinished {open_tag.group(0)} tag (cut off at the token "
                            f"limit?); kept the {len(raws)} complete detection(s)")
    if not raws and not open_tag:
        raws = _parse_bare_boxes(text, out)
    return raws, end > 0 or bool(open_tag)


def _parse_bare_boxes(text: str, out: Grounding) -> list[_Raw]:
    """``label(x1,y1),(x2,y2)``: a tag answer whose special tokens a server stripped."""
    raws = []
    start = 0
    for m in _BARE_BOX.finditer(text):
        label = _clean_label(re.sub(r"<[^>]*>", " ", text[start:m.start()]))
        raws.append(_Raw(label, box=[float(g) for g in m.groups()]))
        start = m.end()
    if raws:
        out.warnings.append(f"no box tags in the answer (special tokens stripped, e.g. by a server's "
                            f"skip_special_tokens?); read {len(raws)} bare (x1,y1),(x2,y2) box(es)")
    return raws


def _clean_label(s: str) -> str:
    s = " ".join(s.split())
    return s.strip(" \t\"'“”‘’:,;.-").strip()


# -- JSON: Qwen2.5-VL and Qwen3-VL -------------------------------------------------------------



def _parse_json_answer(text: str, out: Grounding) -> tuple[list[_Raw], bool]:
    """(detections, whether any JSON value was found: ``[]`` is a valid "nothing there")."""
    values: list[Any] = []
    repairs: set[str] = set()
    cut = False
    for segment in _json_segments(strip_special_tokens(text)):
        for chunk, truncated in _top_level_values(segment):
            try:
                value, fixes = _load(chunk)
            except _TooDeep as e:
                out.warnings.append(str(e))
                continue
            if value is None:
                continue
            repairs |= fixes
            cut = cut or truncated
            values.append(value)
    if repairs:
        out.warnings.append(f"repaired invalid JSON ({', '.join(sorted(repairs))})")
    raws: list[_Raw] = []
    for v in values:
        _collect(v, raws, out)
    if cut:
        out.truncated = True
        out.warnings.append(f"the JSON answer is cut off (token limit?); kept the {len(raws)} complete "
                            "detection(s) and dropped the unfinished last one")
    return raws, bool(values) or cut


def _json_segments(text: str) -> list[str]:
    """Where the JSON is: the bodies of code fences that hold JSON, else the text from its first ``[``/``{``."""
    bodies = [body for _, body in code_fences(text) if body.lstrip()[:1] in ("[", "{")]
    if bodies:
        return bodies
    m = _VALUE_START.search(text)
    return [text[m.start():]] if m else []


_VALUE_START = re.compile(r"[\[{]\s*[{\"'\[\d-]|\{\s*\}|\[\s*\]")


def _top_level_values(s: str) -> list[tuple[str, bool]]:
    """Split ``s`` into its complete top-level JSON values (chatter between them skipped).

    A value still open at the end of the text is cut back to before its unfinished element
    (an object inside a list) and returned with ``truncated=True``.
    """
    values: list[tuple[str, bool]] = []
    i, n = 0, len(s)
    decoder = json.JSONDecoder()
    while i < n:
        m = _VALUE_START.search(s, i)
        if m is None:
            break
        i = start = m.start()
        try:  # a well-formed value: the C decoder finds its end (the scan below is for broken ones)
            _, end = decoder.raw_decode(s, start)
            values.append((s[start:end], False))
            i = end
            continue
        except (ValueError, RecursionError):
            pass
        stack: list[tuple[str, int]] = []
        quote = ""
        element_end: dict[int, int] = {}  # depth -> just after the last complete element at that depth
        while i < n:
            c = s[i]
            if quote:
                if c == "\\":
                    i += 1
                elif c == quote or (c == "\n" and quote == "'"):
                    quote = ""
            elif c == '"' or (c == "'" and not s[i - 1].isalnum()):  # an apostrophe in a word is no quote
                quote = c
            elif c in "[{":
                stack.append((c, i))
            elif c in "]}":
                if stack:
                    stack.pop()
                element_end[len(stack)] = i + 1
                if not stack:
                    i += 1
                    break
            i += 1
        if stack:
            values.append((_cut_unfinished(s, start, stack, element_end), True))
            break
        values.append((s[start:i], False))
    return values


def _cut_unfinished(s: str, start: int, stack: list[tuple[str, int]], element_end: dict[int, int]) -> str:
    """The complete part of an unfinished value: cut before its unfinished element, brackets closed.

    The unfinished element is the innermost open object that sits in a list (else the innermost open
    list in a list); nothing of it is kept, so no coordinate is ever completed by guesswork. An open
    list whose elements are all closed keeps them; a lone unfinished object keeps nothing.
    """
    keep = None  # how many of the open containers stay (and get closed)
    end = None
    for want in ("{", "["):
        for k in range(len(stack) - 1, 0, -1):
            if stack[k][0] == want and stack[k - 1][0] == "[":
                keep, end = k, stack[k][1]
                break
        if keep is not None:
            break
    if keep is None:
        k = next((k for k in range(len(stack) - 1, -1, -1) if stack[k][0] == "["), None)
        if k is None:
            return ""
        keep = k + 1
        last = element_end.get(k + 1, -1)
        end = last if last > stack[k][1] else stack[k][1] + 1
    head = s[start:end].rstrip().removesuffix(",")
    return head + "".join("]" if ch == "[" else "}" for ch, _ in reversed(stack[:keep]))


class _RepeatedKeys(dict):
    """A JSON object that repeats keys (``{"object_name": "monitor", "bbox": …, "object_name": "laptop", …}``):
    the dict keeps the last value of each key, ``pairs`` keeps every one in order."""

    pairs: list[tuple[str, Any]]


def _object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    rep = _RepeatedKeys(obj)
    rep.pairs = list(pairs)
    return rep


class _TooDeep(ValueError):
    pass


def _depth_ok(chunk: str) -> bool:
    """Is the bracket nesting of ``chunk`` (outside strings) at most :data:`MAX_DEPTH`? Linear, no recursion."""
    depth = 0
    quote = False
    escaped = False
    for c in chunk:
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                quote = False
        elif c == '"':
            quote = True
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif c in "]}":
            depth -= 1
    return True


def _load(chunk: str) -> tuple[Any, set[str]]:
    """(value, repairs): strict JSON first, then json-repair for what LLMs get wrong."""
    if not _depth_ok(chunk):
        raise _TooDeep(f"the JSON answer is nested more than {MAX_DEPTH} levels deep; not read")
    try:
        return json.loads(chunk, object_pairs_hook=_object), set()
    except (ValueError, RecursionError):
        pass
    import json_repair

    try:
        value = json_repair.repair_json(chunk, return_objects=True)
    except Exception:  # noqa: BLE001 - a repair library bug must not cost the page
        value = None
    if value in ("", None) or isinstance(value, (str, int, float, bool)):
        return None, set()
    return value, _what_was_wrong(chunk)


def _what_was_wrong(chunk: str) -> set[str]:
    found = set()
    if re.search(r"'\s*:|[\[{,:]\s*'", chunk):
        found.add("single quotes")
    if re.search(r",\s*[}\]]", chunk):
        found.add("trailing commas")
    if chunk.count("[") + chunk.count("{") > chunk.count("]") + chunk.count("}"):
        found.add("unclosed brackets")
    return found or {"syntax errors"}


def _collect(value: Any, raws: list[_Raw], out: Grounding, label_hint: str = "") -> None:
    """Walk a parsed answer: lists, detection objects, ``{"objects": [...]}``, ``{"car": [x1,y1,x2,y2]}``."""
    guesses: dict[str, int] = {}
    _walk(value, raws, out, label_hint, guesses)
    for what, n in guesses.items():
        out.warnings.append(f"{what} ({n} object{'s' if n != 1 else ''})")


def _walk(value: Any, raws: list[_Raw], out: Grounding, label_hint: str, guesses: dict[str, int]) -> None:
    if isinstance(value, list):
        if _is_coords(value):
            kind = "box" if len(value) == 4 else "point"
            raws.append(_Raw(label_hint, box=value if kind == "box" else None,
                             point=value if kind == "point" else None))
            out.warnings.append(f"read a bare coordinate list {fmt_box(value)} as a {kind}"
                                + ("" if label_hint else " without a label"))
            return
        for v in value:
            _walk(v, raws, out, label_hint, guesses)
        return
    if not isinstance(value, dict):
        return
    if isinstance(value, _RepeatedKeys):
        parts = _split_repeated(value.pairs)
        if len(parts) > 1:
            _guess(guesses, "one JSON object repeats its keys: read it as several objects")
            for part in parts:
                _walk(part, raws, out, label_hint, guesses)
            return
    box_key = next((k for k in BOX_KEYS if k in value), None)
    point_key = next((k for k in POINT_KEYS if k in value), None)
    if box_key is None and point_key is None:
        for k, v in value.items():
            if _is_coords(v) or _is_coord_list(v):
                _walk(v, raws, out, str(k), guesses)  # {"car": [x1, y1, x2, y2]}: the key names the box
            elif isinstance(v, (list, dict)):
                _walk(v, raws, out, label_hint, guesses)  # {"objects": [...]}
        return
    if box_key not in (None, BOX_KEYS[0]):
        _guess(guesses, f"read boxes under {box_key!r} (the prompt asks for {BOX_KEYS[0]!r})")
    label_raw = value.get("label")
    extra = {k: v for k, v in value.items() if k not in (box_key, point_key, "label")}
    if label_raw is None or (isinstance(label_raw, str) and not label_raw.strip()):
        label_raw = label_hint
        for k in LABEL_FALLBACKS:
            found = _label_of(value.get(k))
            if found:
                label_raw = found
                if k not in ASKED_LABEL_KEYS:
                    _guess(guesses, f"took the label from {k!r} (the prompt asks for 'label')")
                break
    label = (label_raw if isinstance(label_raw, str) else json.dumps(label_raw, ensure_ascii=False)).strip()
    box = value.get(box_key) if box_key else None
    point = value.get(point_key) if point_key else None
    if box is None and point is None:
        out.warnings.append(f"dropped malformed box of {label!r}: no coordinates ({box_key or point_key}: null)")
        return
    if box_key and _is_coord_list(box) and all(len(b) == 4 for b in box) and point is None:
        raws.extend(_Raw(label, box=b, extra=dict(extra)) for b in box)  # several boxes under one label
        return
    raws.append(_Raw(label, box=box, point=point, extra=extra))


def _guess(guesses: dict[str, int], what: str) -> None:
    guesses[what] = guesses.get(what, 0) + 1


def _label_of(v: Any) -> str | None:
    """A label written as a string, or as names per language (``{"en": "car", "zh": "汽车"}``: English first)."""
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, dict):
        for k in ("en", "en_US", "en-US", "english", *v):
            if isinstance(v.get(k), str) and v[k].strip():
                return v[k].strip()
    return None


def _split_repeated(pairs: list[tuple[str, Any]]) -> list[dict]:
    """Key/value pairs of an object that repeats its keys -> one object per repetition (a repeated key
    starts the next object)."""
    parts: list[dict] = [{}]
    for k, v in pairs:
        if k in parts[-1]:
            parts.append({})
        parts[-1][k] = v
    return parts


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_coords(v: Any) -> bool:
    return isinstance(v, list) and len(v) in (2, 4) and all(_is_number(x) for x in v)


def _is_coord_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(_is_coords(x) for x in v)


_POINTS_TAG = re.compile(r"<\s*points\b([^>]*)>(.*?)<\s*/\s*points\s*>", re.DOTALL | re.IGNORECASE)
_ATTR = re.compile(r"([A-Za-z_][\w-]*)\s*=\s*\"([^\"]*)\"")


def _parse_xml_points(text: str, out: Grounding) -> list[_Raw]:
    """The Qwen2.5-VL cookbook's point format: ``<points x1="…" y1="…" alt="…">phrase</points>``."""
    raws = []
    for m in _POINTS_TAG.finditer(text):
        attrs = dict(_ATTR.findall(m.group(1)))
        label = _clean_label(m.group(2)) or attrs.get("alt", "")
        pairs = [(attrs[f"x{k}"], attrs[f"y{k}"]) for k in range(1, len(attrs)) if f"x{k}" in attrs and f"y{k}" in attrs]
        if not pairs and "x" in attrs and "y" in attrs:
            pairs = [(attrs["x"], attrs["y"])]
        for x, y in pairs:
            try:
                raws.append(_Raw(label, point=[float(x), float(y)]))
            except ValueError:
                out.warnings.append(f"dropped malformed point ({x!r}, {y!r})")
    return raws


def _explain_nothing_found(text: str, family: Family, out: Grounding) -> None:
    if family.grounding == "json" and ("<|box_start|>" in text or "<box>" in text):
        out.warnings.append(f"no JSON detections; the answer uses box tags (Qwen-VL / Qwen2-VL syntax), not "
                            f"{family.title}'s JSON: check --family")
    elif family.grounding != "json" and re.search(r"\b(bbox_2d|point_2d)\b", text):
        out.warnings.append(f"no box tags; the answer is JSON with bbox_2d/point_2d (Qwen2.5-VL / Qwen3-VL "
                            f"syntax), not {family.title}'s: check --family")
    elif not out.truncated:
        snippet = " ".join(text.split())[:80]
        out.warnings.append(f"no detections found in the answer ({snippet!r}{'…' if len(text) > 80 else ''})")


# -- coordinates ---------------------------------------------------------------------------------


def _numbers(value: Any, size: int, what: str, out: Grounding) -> list[float] | None:
    """``size`` numbers from what the model wrote (a list, numeric strings, a string, nested pairs)."""
    if isinstance(value, list) and len(value) == size and all(_is_number(v) for v in value):
        return [float(v) for v in value]
    if isinstance(value, list) and len(value) == size // 2 and all(_is_coords(v) and len(v) == 2 for v in value):
        flat = [float(x) for pair in value for x in pair]
        out.warnings.append(f"read the {what} written as corner pairs {value!r} as {fmt_box(flat)}")
        return flat
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        s = value if isinstance(value, str) else " ".join(value)
        found = re.findall(_NUM, s)
        if len(found) == size:
            nums = [float(v) for v in found]
            out.warnings.append(f"read the {what} written as text {value!r} as {fmt_box(nums)}")
            return nums
    out.warnings.append(f"dropped malformed {what} {value!r}")
    return None


def _space_limits(family: Family, frame: Frame) -> tuple[float, float]:
    if family.coords == ABSOLUTE:
        return float(frame.model_width), float(frame.model_height)
    return 1000.0, 1000.0


def _check_space(raws: list[_Raw], family: Family, frame: Frame, out: Grounding) -> None:
    """Warn when coordinates clearly belong to another space than the family's."""
    lim_x, lim_y = _space_limits(family, frame)
    coords = []
    for r in raws:
        for v in (r.box, r.point):
            if isinstance(v, list) and all(_is_number(x) for x in v) and len(v) in (2, 4):
                coords.append(v)
    if not coords:
        return
    slack = 1.02
    outside = [c for c in coords if max(c[0::2]) > lim_x * slack + 1 or max(c[1::2]) > lim_y * slack + 1]
    if not outside:
        return
    if family.coords == ABSOLUTE:
        hint = ("all within 0-1000: perhaps relative 0-1000 coordinates (Qwen3-VL style)"
                if all(max(c) <= 1000 for c in coords) else "perhaps pixels of the original image")
        out.warnings.append(f"{len(outside)} of {len(coords)} coordinate sets lie outside the "
                            f"{frame.model_width}x{frame.model_height} image the model saw ({hint}); "
                            "check --family and --max-pixels/--min-pixels")
    else:
        out.warnings.append(f"{len(outside)} of {len(coords)} coordinate sets go beyond 1000 (perhaps absolute "
                            "pixels, Qwen2.5-VL style); check --family")


def _to_detections(raws: list[_Raw], family: Family, frame: Frame, want: str, queries: list[str] | None,
                   out: Grounding) -> list[Detection]:
    dets = []
    centred = 0
    named = 0
    single_query = queries[0].strip() if queries and len(queries) == 1 and queries[0].strip() else None
    for r in raws:
        box = point = None
        if r.box is not None:
            nums = _numbers(r.box, 4, "box", out)
            if nums is not None:
                box, warns = clean_box(frame.to_pixels(nums, family.coords), frame.width, frame.height)
                out.warnings.extend(warns)
        if r.point is not None:
            nums = _numbers(r.point, 2, "point", out)
            if nums is not None:
                point, warns = clean_point(frame.to_pixels(nums, family.coords), frame.width, frame.height)
                out.warnings.extend(warns)
        if box is None and point is None:
            continue
        if want == "point" and point is None and box is not None:
            point = [round((box[0] + box[2]) / 2, 2), round((box[1] + box[3]) / 2, 2)]
            centred += 1
        extra = dict(r.extra)
        if r.quad is not None:
            extra["quad"] = [round(v, 2) for v in frame.to_pixels(r.quad, family.coords)]
        label = r.label
        if not label and single_query:
            label = single_query
            named += 1
        dets.append(Detection(label, box, point, frame.to_points(box), frame.to_points(point), extra))
    if centred:
        out.warnings.append(f"points were asked for but {centred} answer(s) gave boxes; their points are the box "
                            "centres")
    if named:
        out.warnings.append(f"{named} detection(s) had no label; labelled them with the query {single_query!r}")
    return dets


# -- duplicates ------------------------------------------------------------------------------------


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _same(a: Detection, b: Detection, point_tol: float) -> str | None:
    """"exact" / "near" when ``b`` repeats ``a`` (same label, same place), else None."""
    if a.label.casefold() != b.label.casefold() or (a.bbox is None) != (b.bbox is None):
        return None
    if a.bbox is not None and b.bbox is not None:
        if a.bbox == b.bbox and a.point == b.point:
            return "exact"
        return "near" if _iou(a.bbox, b.bbox) >= NEAR_DUPLICATE_IOU else None
    if a.point is not None and b.point is not None:
        if a.point == b.point:
            return "exact"
        return "near" if math.dist(a.point, b.point) <= point_tol else None
    return None


class _Seen:
    """The detections kept so far, indexed so that finding an earlier copy of one is constant time.

    Boxes go into buckets by label, size class (width and height on a 1.25 log scale) and a grid of
    their top-left corner whose cell is the size class's smallest side. Two boxes of one label with an
    IoU of at least 0.9 differ in width and height by at most ~11% and in each corner coordinate by at
    most a tenth of a side, so the few size classes and cells within those margins hold every candidate. Points use a grid of the point
    tolerance. An answer of 100,000 boxes is parsed in linear time, not 10^10 comparisons.
    """

    _INV_STEP = 1 / math.log(1.25)
    #: how far (in size classes) a width or height within 12% of another can lie: log(1.12) / log(1.25)
    _SPREAD = math.log(1.12) / math.log(1.25)

    def __init__(self, point_tol: float):
        self.point_tol = point_tol
        self.kept: list[Detection] = []
        self.buckets: dict[tuple, list[int]] = {}

    def _classes(self, v: float) -> tuple[float, int]:
        c = math.log(max(v, 1e-6)) * self._INV_STEP
        return c, math.floor(c)

    def _keys(self, d: Detection, probe: bool) -> list[tuple]:
        label = d.label.casefold()
        if d.bbox is not None:
            x1, y1, x2, y2 = d.bbox
            (cw, kw), (ch, kh) = self._classes(x2 - x1), self._classes(y2 - y1)
            if not probe:
                return [("b", label, kw, kh, math.floor(x1 / 1.25 ** kw), math.floor(y1 / 1.25 ** kh))]
            # a copy with IoU >= 0.9 is within 11% in size and a tenth of a side in position: its size classes
            # and its corner's cells lie in these ranges (the margin of 0.2 cell covers that tenth)
            keys = []
            spread = self._SPREAD
            cols = [(k, _cells(x1, 1.25 ** k)) for k in range(math.floor(cw - spread), math.floor(cw + spread) + 1)]
            rows = [(k, _cells(y1, 1.25 ** k)) for k in range(math.floor(ch - spread), math.floor(ch + spread) + 1)]
            for kx, xs in cols:
                for ky, ys in rows:
                    keys += [("b", label, kx, ky, cx, cy) for cx in xs for cy in ys]
            return keys
        if d.point is not None:
            gx, gy = math.floor(d.point[0] / self.point_tol), math.floor(d.point[1] / self.point_tol)
            if not probe:
                return [("p", label, gx, gy)]
            return [("p", label, gx + i, gy + j) for i in (-1, 0, 1) for j in (-1, 0, 1)]
        return [("n", label)]

    def find(self, d: Detection) -> str | None:
        """"exact" / "near" when ``d`` repeats a kept detection (the first such one), else None."""
        found = [i for key in self._keys(d, probe=True) for i in self.buckets.get(key, ())]
        if not found:
            return None
        return next((k for k in (_same(self.kept[i], d, self.point_tol) for i in sorted(set(found))) if k), None)

    def add(self, d: Detection) -> None:
        for key in self._keys(d, probe=False):
            self.buckets.setdefault(key, []).append(len(self.kept))
        self.kept.append(d)


def _cells(v: float, cell: float) -> tuple[int, ...]:
    """The grid cells (of size ``cell``) a coordinate within 0.2 cell of ``v`` can fall in: one or two."""
    lo, hi = math.floor((v - 0.2 * cell) / cell), math.floor((v + 0.2 * cell) / cell)
    return (lo,) if lo == hi else (lo, hi)


def _drop_duplicates(dets: list[Detection], frame: Frame, out: Grounding) -> list[Detection]:
    point_tol = max(2.0, 0.005 * math.hypot(frame.width, frame.height))
    seen = _Seen(point_tol)
    dropped = 0
    for d in dets:
        kind = seen.find(d)
        if kind is None:
            seen.add(d)
            continue
        dropped += 1
        if dropped <= MAX_DUPLICATE_WARNINGS:
            where = fmt_box(d.bbox if d.bbox is not None else d.point)
            out.warnings.append(f"dropped {'a' if kind == 'exact' else 'a near'} duplicate of {d.label!r} {where}")
    if dropped > MAX_DUPLICATE_WARNINGS:
        out.warnings.append(f"dropped {dropped - MAX_DUPLICATE_WARNINGS} more duplicate detection(s)")
    return seen.kept
