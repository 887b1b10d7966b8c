"""Key-information extraction: schemas, the answer's JSON, normalised values, evidence checks. Pure.

The model is asked (``prompts/<family>/extract.toml``) for one JSON object per page in which every
field's value comes with the box it was read from, in the family's coordinate language::

    {"invoice_number": {"value": "INV-0042", "bbox_2d": [x1, y1, x2, y2]},
     "total": {"value": "1,234.50", "bbox_2d": [...]},
     "due_date": null,
     "line_items": [{"description": {"value": "Widget", "bbox_2d": [...]}, "amount": {...}}]}

Supported schema shapes: scalars (string, number/integer, date, boolean) and arrays of flat
objects of scalars (line items). Values are normalised (numbers to numbers, dates to ISO
``YYYY-MM-DD``, booleans to true/false) and validated against the schema with ``jsonschema``; a
violation is reported so the runner can ask once more with the errors given back.

A page's values travel as :class:`~vlparse.core.results.Detection` objects (label = the field's
path, e.g. ``total`` or ``line_items[2].amount``; ``extra`` holds the value), so the resume store,
overlays and COCO export need nothing new. :func:`assemble` turns the pages of one document into
its record: the earliest page whose evidence matches wins, the other values go to ``conflicts``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlparse.core.errors import UsageError
from vlparse.core.families import Family
from vlparse.core.geometry import Frame, clean_box
from vlparse.core.results import SCHEMA_VERSION, Detection, PageResult

SCALARS = ("string", "number", "integer", "date", "boolean")
#: the prefix of a page warning that reports a schema violation (the retry gives these back to the model)
SCHEMA_WARNING = "schema violation: "
DATE_ORDERS = ("dmy", "mdy")


# -- schemas ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # one of SCALARS, or "array" (of flat objects: ``columns``)
    description: str = ""
    columns: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True)
class ExtractSchema:
    fields: tuple[FieldSpec, ...]
    json_schema: dict[str, Any]  # what the assembled values are validated against
    required: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def template(self) -> dict[str, Any]:
        """The answer's shape, shown to the model (each value as an evidence object)."""
        ev = {"value": "...", "bbox_2d": ["x1", "y1", "x2", "y2"]}
        out: dict[str, Any] = {}
        for f in self.fields:
            out[f.name] = [{c.name: dict(ev) for c in f.columns}] if f.type == "array" else dict(ev)
        return out

    def describe(self) -> str:
        """One line per field: its name, type and description (for the prompt)."""
        lines = []
        for f in self.fields:
            lines.append(_describe(f, ""))
            for c in f.columns:
                lines.append(_describe(c, "  "))
        return "\n".join(lines)


def _describe(f: FieldSpec, indent: str) -> str:
    kind = {"date": "a date", "number": "a number", "integer": "a whole number", "boolean": "true or false",
            "string": "text", "array": "a list with one object per row"}[f.type]
    return f"{indent}- {f.name}: {kind}" + (f" ({f.description})" if f.description else "")


def _scalar_type(node: dict[str, Any], where: str) -> str:
    t = node.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        t = rest[0] if len(rest) == 1 else None
    if t is None and isinstance(node.get("anyOf"), list):  # Optional[X] in Pydantic: anyOf [X, null]
        rest = [x for x in node["anyOf"] if isinstance(x, dict) and x.get("type") != "null"]
        if len(rest) == 1:
            return _scalar_type(rest[0], where)
    if t == "string" and node.get("format") in ("date", "date-time"):
        return "date"
    if t in ("string", "number", "integer", "boolean"):
        return t
    raise UsageError(f"schema: {where} has type {t!r}; supported: string, number, integer, date (string with "
                     "format date), boolean, and arrays of flat objects of those")


def _resolve(node: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """Follow local ``$ref`` (``#/$defs/X``, ``#/definitions/X``), as Pydantic writes nested models."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise UsageError(f"schema: only local $ref are supported (got {ref!r})")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            raise UsageError(f"schema: $ref {ref!r} points nowhere")
        node, depth = target, depth + 1
    return node


def schema_from_json(schema: dict[str, Any]) -> ExtractSchema:
    """An :class:`ExtractSchema` from a JSON Schema object (``{"type": "object", "properties": ...}``)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict) or not schema["properties"]:
        raise UsageError("schema: the JSON Schema must be an object with 'properties' (one per field)")
    fields = []
    for name, node in schema["properties"].items():
        node = _resolve(node, schema)
        if not isinstance(node, dict):
            raise UsageError(f"schema: field {name!r} is not a schema object")
        desc = str(node.get("description") or "")
        if node.get("type") == "array" or (isinstance(node.get("anyOf"), list) and any(
                isinstance(x, dict) and x.get("type") == "array" for x in node["anyOf"])):
            arr = node if node.get("type") == "array" else next(x for x in node["anyOf"] if x.get("type") == "array")
            items = _resolve(arr.get("items"), schema)
            if not isinstance(items, dict) or not isinstance(items.get("properties"), dict) or not items["properties"]:
                raise UsageError(f"schema: array field {name!r} must hold objects with 'properties' (line items)")
            cols = []
            for cname, cnode in items["properties"].items():
                cnode = _resolve(cnode, schema)
                cols.append(FieldSpec(cname, _scalar_type(cnode, f"{name}[].{cname}"),
                                      str(cnode.get("description") or "")))
            fields.append(FieldSpec(name, "array", desc, tuple(cols)))
        else:
            fields.append(FieldSpec(name, _scalar_type(node, name), desc))
    required = tuple(r for r in schema.get("required", []) if isinstance(r, str))
    return ExtractSchema(tuple(fields), schema, required)


def schema_from_fields(specs: Sequence[str]) -> ExtractSchema:
    """``--field "invoice number" --field "total amount:number"``: scalar fields, string unless typed."""
    props: dict[str, Any] = {}
    for spec in specs:
        name, sep, kind = spec.rpartition(":") if ":" in spec else (spec, "", "string")
        name, kind = name.strip(), (kind.strip().lower() or "string")
        if not name:
            raise UsageError(f"--field {spec!r}: give a name, e.g. --field \"total amount:number\"")
        if kind not in SCALARS:
            raise UsageError(f"--field {spec!r}: type must be one of {', '.join(SCALARS)}")
        if name in props:
            raise UsageError(f"--field {name!r} is given twice")
        props[name] = {"type": "string", "format": "date"} if kind == "date" else {"type": kind}
    if not props:
        raise UsageError("give a schema: --schema FILE (JSON Schema) or --field NAME[:TYPE] (repeatable)")
    return schema_from_json({"type": "object", "properties": props})


def schema_from_any(schema: Any) -> ExtractSchema:
    """A Pydantic model class, a JSON Schema dict, a list of ``--field`` specs, or an ExtractSchema."""
    if isinstance(schema, ExtractSchema):
        return schema
    if isinstance(schema, dict):
        return schema_from_json(schema)
    if isinstance(schema, (list, tuple)) and all(isinstance(s, str) for s in schema):
        return schema_from_fields(list(schema))
    make = getattr(schema, "model_json_schema", None)  # Pydantic v2 models, without importing pydantic
    if callable(make):
        return schema_from_json(make())
    raise UsageError(f"schema: expected a JSON Schema, a Pydantic model or field names, got {type(schema).__name__}")


# -- normalisation -----------------------------------------------------------------------------------

_CURRENCY = re.compile(r"[€$£¥₹₽₩%]|\b(?:EUR|USD|GBP|CHF|JPY|CNY|CAD|AUD|INR|SEK|NOK|DKK|PLN)\b", re.I)
_NUMBER = re.compile(r"^\d[\d.,]*$")


def parse_number(raw: Any) -> float | int | None:
    """``"1,234.50"``, ``"1.234,50"``, ``"€ 12"``, ``"(3.00)"``, ``1234.5`` -> a number, or None.

    One comma followed by exactly three digits is a thousands separator (``1,234``), otherwise a
    decimal comma (``12,50``); one dot is a decimal point; with both, the last one is the decimal mark.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return raw
    if not isinstance(raw, str):
        return None
    s = _CURRENCY.sub("", raw).strip()
    s = re.sub(r"^[A-Za-z]{1,3}\.?\s*(?=[\d(+-])|(?<=\d)\s*[A-Za-z]{1,3}\.?$", "", s)  # RM8.75, 12 kr, Rs. 5
    neg = s.startswith("(") and s.endswith(")")
    s = s.strip("()").strip()
    if s.endswith("-"):  # "12.00-" (accounting)
        neg, s = True, s[:-1]
    s = re.sub(r"[\s\u00a0\u202f']", "", s)  # spaces and apostrophes group thousands
    if s[:1] and s[0] in "+-":
        neg, s = neg or s[0] == "-", s[1:]
    if not _NUMBER.match(s) or s.endswith((".", ",")):
        return None
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        dec = "." if s.rfind(".") > s.rfind(",") else ","
        if s.count(dec) > 1:
            return None
    elif commas:
        dec = "," if commas == 1 and len(s) - s.rfind(",") - 1 != 3 else ""
    elif dots:
        dec = "." if dots == 1 else ""
    else:
        dec = ""
    whole, frac = (s.rsplit(dec, 1) if dec else (s, ""))
    groups = re.split(r"[.,]", whole)
    if len(groups) > 1 and any(len(g) != 3 for g in groups[1:]):
        return None  # "1.2.3": not grouped thousands
    whole = re.sub(r"[.,]", "", whole)
    try:
        value: float | int = float(f"{whole or '0'}.{frac}") if frac else int(whole)
    except ValueError:
        return None
    return -value if neg else value


_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                         "dec"], 1)}
_MONTH_WORD = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|" \
              r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"


@dataclass(frozen=True)
class ParsedDate:
    iso: str
    ambiguous: bool = False  # day and month could be swapped: the --date-order decided


def _mk(y: int, m: int, d: int) -> str | None:
    if y < 100:
        y += 2000 if y < 70 else 1900
    try:
        return _dt.date(y, m, d).isoformat()
    except ValueError:
        return None


def parse_date(raw: Any, order: str = "dmy") -> ParsedDate | None:
    """A date written any common way -> ISO ``YYYY-MM-DD``; numeric day/month that could be swapped
    are read in ``order`` (dmy or mdy) and marked ambiguous."""
    if not isinstance(raw, str):
        return None
    s = " ".join(raw.strip().split()).lower().rstrip(".")
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ][\d:.+z-]*)?", s)
    if m:
        iso = _mk(int(m[1]), int(m[2]), int(m[3]))
        return ParsedDate(iso) if iso else None
    m = re.fullmatch(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})", s)
    if m:
        iso = _mk(int(m[1]), int(m[2]), int(m[3]))
        return ParsedDate(iso) if iso else None
    m = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})", s)
    if m:
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        dmy, mdy = _mk(y, b, a), _mk(y, a, b)
        if dmy and mdy and dmy != mdy:
            return ParsedDate(mdy if order == "mdy" else dmy, ambiguous=True)
        iso = dmy or mdy
        return ParsedDate(iso) if iso else None
    m = re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?{_MONTH_WORD}[\s,]+(\d{{4}})", s) or \
        re.fullmatch(rf"(\d{{1,2}})[\-\s]{_MONTH_WORD}[\-\s](\d{{2,4}})", s)
    if m:
        iso = _mk(int(m[3]), _MONTHS[m[2][:3]], int(m[1]))
        return ParsedDate(iso) if iso else None
    m = re.fullmatch(rf"{_MONTH_WORD}\s*(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", s)
    if m:
        iso = _mk(int(m[3]), _MONTHS[m[1][:3]], int(m[2]))
        return ParsedDate(iso) if iso else None
    return None


_TRUE = {"true", "yes", "y", "x", "checked", "1", "on", "ja", "oui", "si", "sí"}
_FALSE = {"false", "no", "n", "unchecked", "0", "off", "nein", "non", ""}


def parse_bool(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        s = raw.strip().lower().strip("[]()☐☑☒✓✔ ")
        if raw.strip() in ("☑", "☒", "✓", "✔", "[x]", "[X]"):
            return True
        if raw.strip() in ("☐", "[ ]"):
            return False
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    return None


@dataclass
class Normalised:
    value: Any  # the normalised value, or the raw one when it cannot be normalised
    ok: bool = True  # False: the raw value is not of the field's type (left for validation to report)
    flags: list[str] = field(default_factory=list)


def normalise(raw: Any, kind: str, date_order: str = "dmy") -> Normalised:
    if raw is None:
        return Normalised(None)
    if kind in ("number", "integer"):
        n = parse_number(raw)
        if n is None:
            return Normalised(raw, ok=False)
        if isinstance(n, float) and n.is_integer() and kind == "integer":
            n = int(n)
        return Normalised(n)
    if kind == "date":
        d = parse_date(raw if isinstance(raw, str) else str(raw), date_order)
        if d is None:
            return Normalised(raw, ok=False)
        return Normalised(d.iso, flags=["ambiguous date: day and month could be swapped (read as "
                                        f"{date_order}; see --date-order)"] if d.ambiguous else [])
    if kind == "boolean":
        b = parse_bool(raw)
        return Normalised(raw, ok=False) if b is None else Normalised(b)
    if isinstance(raw, (dict, list)):
        return Normalised(raw, ok=False)
    return Normalised(" ".join(str(raw).split()))


# -- parsing one page's answer ----------------------------------------------------------------------------


@dataclass
class PageExtraction:
    values: list[Detection] = field(default_factory=list)  # one per value found (label = field path)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # schema violations
    found: bool = False  # a JSON object was found at all
    truncated: bool = False


def _split_evidence(v: Any) -> tuple[Any, Any]:
    """(value, box as written) from ``{"value": .., "bbox_2d": [..]}``, a bare value, or ``[value, box]``."""
    if isinstance(v, dict):
        box = next((v[k] for k in ("bbox_2d", "bbox", "box_2d", "box") if k in v), None)
        val = next((v[k] for k in ("value", "text", "text_content", "content") if k in v), None)
        return val, box
    return v, None


def _numbers(box: Any) -> list[float] | None:
    if isinstance(box, list) and len(box) == 4 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                       for x in box):
        return [float(x) for x in box]
    if isinstance(box, str):
        found = re.findall(r"-?\d+(?:\.\d+)?", box)
        if len(found) == 4:
            return [float(x) for x in found]
    return None


def _load_answer(text: str) -> tuple[Any, list[str], bool]:
    """(the answer's JSON object, repair warnings, truncated), robust like the grounding parser."""
    from vlparse.parse.grounding import _json_segments, _load, _top_level_values
    from vlparse.parse.text import strip_special_tokens

    warnings: list[str] = []
    truncated = False
    for segment in _json_segments(strip_special_tokens(text or "")):
        for chunk, cut in _top_level_values(segment):
            value, fixes = _load(chunk)
            if cut:
                truncated = True
            if isinstance(value, dict):
                if fixes:
                    warnings.append(f"repaired invalid JSON ({', '.join(sorted(fixes))})")
                return value, warnings, truncated
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
                return value[0], warnings, truncated
            if value == []:  # "nothing on this page"
                return {}, warnings, truncated
    return None, warnings, truncated


def parse_extraction(text: str, schema: ExtractSchema, family: Family, frame: Frame,
                     date_order: str = "dmy") -> PageExtraction:
    """One page's answer -> values with boxes in original pixels (and PDF points), validated."""
    out = PageExtraction()
    obj, repairs, truncated = _load_answer(text)
    out.warnings += repairs
    out.truncated = truncated
    if obj is None:
        out.warnings.append("no JSON object in the answer")
        return out
    out.found = True
    known = {f.name for f in schema.fields}
    lowered = {_key(k): k for k in obj}
    for f in schema.fields:
        key = f.name if f.name in obj else lowered.get(_key(f.name))
        if key is None:
            continue
        if f.type == "array":
            rows = obj[key]
            if rows is None:
                continue
            if isinstance(rows, dict):
                rows = [rows]
            if not isinstance(rows, list):
                out.errors.append(f"{f.name}: expected a list of rows, got {type(rows).__name__}")
                continue
            for i, row in enumerate(rows):
                if not isinstance(row, dict):
                    out.errors.append(f"{f.name}[{i}]: expected an object, got {type(row).__name__}")
                    continue
                rkeys = {_key(k): k for k in row}
                for c in f.columns:
                    ck = c.name if c.name in row else rkeys.get(_key(c.name))
                    if ck is not None:
                        _add(out, f"{f.name}[{i}].{c.name}", c, row[ck], family, frame, date_order,
                             {"field": f.name, "row": i, "column": c.name})
        else:
            _add(out, f.name, f, obj[key], family, frame, date_order, {"field": f.name})
    extra = [k for k in obj if k not in known and _key(k) not in {_key(n) for n in known}]
    if extra:
        out.warnings.append(f"ignored fields the schema does not name: {', '.join(map(str, extra[:8]))}")
    out.errors += validate_values(page_values(out.values, schema), schema, require=False)
    out.warnings += [SCHEMA_WARNING + e for e in out.errors]
    return out


def _key(name: Any) -> str:
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().casefold()


def _add(out: PageExtraction, path: str, spec: FieldSpec, node: Any, family: Family, frame: Frame,
         date_order: str, where: dict[str, Any]) -> None:
    raw, box = _split_evidence(node)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return  # not on this page
    norm = normalise(raw, spec.type, date_order)
    bbox = None
    if box is not None:
        nums = _numbers(box)
        if nums is None:
            out.warnings.append(f"{path}: dropped malformed box {box!r}")
        else:
            bbox, warns = clean_box(frame.to_pixels(nums, family.coords), frame.width, frame.height)
            out.warnings += [f"{path}: {w}" for w in warns]
    else:
        out.warnings.append(f"{path}: the value has no box")
    extra = {**where, "value": norm.value, "raw": raw, "type": spec.type}
    if norm.flags:
        extra["flags"] = list(norm.flags)
    out.values.append(Detection(path, bbox, None, frame.to_points(bbox), None, extra))


def page_values(values: Sequence[Detection], schema: ExtractSchema) -> dict[str, Any]:
    """The plain values of one page (or a chosen set) in the schema's shape, for validation."""
    out: dict[str, Any] = {}
    for d in values:
        x = d.extra
        spec = schema.field(x.get("field", ""))
        if spec is None:
            continue
        if spec.type == "array":
            rows = out.setdefault(spec.name, [])
            while len(rows) <= x.get("row", 0):
                rows.append({})
            rows[x.get("row", 0)][x.get("column")] = x.get("value")
        else:
            out[spec.name] = x.get("value")
    return out


def _value_schema(schema: ExtractSchema, require: bool) -> dict[str, Any]:
    s = copy.deepcopy(schema.json_schema)
    if not require:
        _drop_required(s)
    # a missing value is null (the model is asked to write null), which the schema's own types may not allow
    for name, node in (s.get("properties") or {}).items():
        if isinstance(node, dict) and "$ref" not in node:
            s["properties"][name] = {"anyOf": [node, {"type": "null"}]}
    return s


def _drop_required(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for v in node.values():
            _drop_required(v)
    elif isinstance(node, list):
        for v in node:
            _drop_required(v)


def validate_values(values: dict[str, Any], schema: ExtractSchema, *, require: bool = True) -> list[str]:
    """jsonschema's errors for ``values`` (one line each, with the field's path); ``require=False``
    ignores ``required`` (a field may be on another page)."""
    import jsonschema

    s = _value_schema(schema, require)
    cls = jsonschema.validators.validator_for(s, default=jsonschema.Draft202012Validator)
    try:
        validator = cls(s, format_checker=cls.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.absolute_path)))
    except jsonschema.exceptions.SchemaError as e:
        raise UsageError(f"schema: not a valid JSON Schema ({e.message})") from None
    lines = []
    for e in errors:
        if e.validator == "anyOf" and e.context:  # our null wrapper: report the field's own errors
            own = [c for c in e.context if c.relative_schema_path and c.relative_schema_path[0] == 0]
            found = own or e.context[:1]
        else:
            found = [e]
        for c in found:
            path = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                           for i, p in enumerate(c.absolute_path))
            lines.append(f"{path or '(document)'}: {c.message}")
    return list(dict.fromkeys(lines))


def feedback(errors: Sequence[str]) -> str:
    """The text added to the prompt of the retry after a schema violation."""
    items = "\n".join(f"- {e}" for e in errors[:20])
    return ("Your previous answer did not match the schema:\n" + items +
            "\nAnswer again with the whole JSON object, corrected. Write null for a field that is not on the page.")


# -- evidence: the text under a box ----------------------------------------------------------------------

Word = tuple[float, float, float, float, str]  # x0, y0, x1, y1 in displayed-page points, text


def words_in_box(words: Sequence[Word], box: Sequence[float], slack: float = 2.0) -> str:
    """The words whose centre lies inside ``box`` (points, a little slack), in reading order."""
    x0, y0, x1, y1 = box
    inside = [w for w in words
              if x0 - slack <= (w[0] + w[2]) / 2 <= x1 + slack and y0 - slack <= (w[1] + w[3]) / 2 <= y1 + slack]
    inside.sort(key=lambda w: (round((w[1] + w[3]) / 2 / 3), w[0]))
    return " ".join(w[4] for w in inside)


def _canon(s: str) -> str:
    return re.sub(r"[^\w]+", " ", s.casefold()).strip()


def text_matches(value: Any, kind: str, text: str, date_order: str = "dmy") -> bool:
    """Whether ``text`` (under the value's box) says ``value`` (normalised for numbers and dates)."""
    if value is None:
        return False
    tokens = text.split()
    if kind in ("number", "integer"):
        for i in range(len(tokens)):
            for j in range(i + 1, min(len(tokens), i + 4) + 1):
                n = parse_number(" ".join(tokens[i:j]).strip(":;"))
                if n is not None and abs(float(n) - float(value)) < 0.005:
                    return True
        return False
    if kind == "date":
        for i in range(len(tokens)):
            for j in range(i + 1, min(len(tokens), i + 4) + 1):
                d = parse_date(" ".join(tokens[i:j]).strip(":;,"), date_order)
                if d is not None and d.iso == value:
                    return True
        return False
    if kind == "boolean":
        return bool(text.strip())  # a tick box: the evidence is that something is there
    want, have = _canon(str(value)), _canon(text)
    return bool(want) and (f" {want} " in f" {have} ")


# -- one document -------------------------------------------------------------------------------------------


def _evidence(d: Detection, page: int, words: Sequence[Word] | None, date_order: str) -> dict[str, Any]:
    x = d.extra
    ev: dict[str, Any] = {"value": x.get("value"), "raw": x.get("raw"), "page": page, "bbox_px": d.bbox,
                          "bbox_pt": d.bbox_pt}
    flags = list(x.get("flags") or [])
    if words is None or d.bbox_pt is None:
        ev["text_match"] = None  # no text layer (a scan, an image) or no box: nothing to check against
        if d.bbox is None:
            flags.append("no box: the model did not say where it read the value")
    else:
        text = words_in_box(words, d.bbox_pt)
        ev["evidence_text"] = text
        ev["text_match"] = text_matches(x.get("value"), x.get("type", "string"), text, date_order)
        if not ev["text_match"]:
            flags.append("the text under the box does not match the value" if text else
                         "no text under the box")
    ev["flags"] = flags
    return ev


def _rank(ev: dict[str, Any]) -> int:
    return {True: 0, None: 1, False: 2}[ev["text_match"]]


def assemble(source: str, family: str, model: str, pages: Sequence[PageResult], schema: ExtractSchema,
             words: Callable[[PageResult], Sequence[Word] | None], *, date_order: str = "dmy") -> dict[str, Any]:
    """The document's record: every field's chosen value with its evidence, conflicts, missing fields,
    validation against the schema (required fields included).

    ``words(page)``: the text layer of a page (displayed-page points), or None where there is none.
    Scalars: the earliest page whose evidence matches wins (then unchecked evidence, then flagged);
    every other differing value found goes to ``conflicts``. Arrays: rows of every page, in page order.
    """
    candidates: dict[str, list[dict[str, Any]]] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    page_records = []
    for p in pages:
        page_records.append({"page": p.info.page, "status": p.status, "warnings": list(p.warnings),
                             **({"error": p.error} if p.error else {})})
        if p.status == "failed":
            continue
        w = words(p)
        page_rows: dict[tuple[str, int], dict[str, Any]] = {}
        for d in p.detections:
            x = d.extra
            spec = schema.field(x.get("field", ""))
            if spec is None:
                continue
            ev = _evidence(d, p.info.page, w, date_order)
            if spec.type == "array":
                page_rows.setdefault((spec.name, x.get("row", 0)), {})[x.get("column")] = ev
            else:
                candidates.setdefault(spec.name, []).append(ev)
        for (name, _), row in sorted(page_rows.items(), key=lambda kv: kv[0][1]):
            rows.setdefault(name, []).append(row)
    fields: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    missing: list[str] = []
    flagged: list[str] = []
    for spec in schema.fields:
        if spec.type == "array":
            fields[spec.name] = rows.get(spec.name, [])
            if not fields[spec.name]:
                missing.append(spec.name)
            for i, row in enumerate(fields[spec.name]):
                flagged += [f"{spec.name}[{i}].{c}" for c, ev in row.items() if ev["flags"]]
            continue
        cands = candidates.get(spec.name, [])
        if not cands:
            fields[spec.name] = None
            missing.append(spec.name)
            continue
        best = min(cands, key=lambda ev: (_rank(ev), ev["page"]))  # stable: earliest page among equals
        fields[spec.name] = best
        if best["flags"]:
            flagged.append(spec.name)
        for ev in cands:
            if ev is not best and ev["value"] != best["value"]:
                conflicts.append({"field": spec.name, **ev})
    values = {k: ([{c: ev["value"] for c, ev in row.items()} for row in v] if isinstance(v, list)
                  else (v["value"] if v else None)) for k, v in fields.items()}
    errors = validate_values({k: v for k, v in values.items() if v is not None and v != []}, schema)
    failed = sum(p.status == "failed" for p in pages)
    status = "failed" if pages and failed == len(pages) else ("partial" if failed else "ok")
    return {"schema_version": SCHEMA_VERSION, "source": source, "family": family, "model": model, "status": status,
            "values": values, "fields": fields, "conflicts": conflicts, "missing": missing, "flagged": flagged,
            "valid": not errors, "errors": errors, "pages": page_records}


# -- CSV ---------------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def csv_safe(cell: Any) -> str:
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading ``'``
    (OWASP's advice). Plain numbers vlparse wrote itself (``-12.5``) are left alone."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, (int, float)):
        return repr(cell) if isinstance(cell, float) else str(cell)
    s = cell if isinstance(cell, str) else json.dumps(cell, ensure_ascii=False)
    if s.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(s):
        return "'" + s
    return s


def csv_header(schema: ExtractSchema) -> list[str]:
    cols = ["source", "status", "valid"]
    for f in schema.fields:
        if f.type == "array":
            cols.append(f.name)
        else:
            cols += [f.name, f"{f.name}.page", f"{f.name}.text_match"]
    return cols + ["flagged", "conflicts", "errors"]


def csv_row(record: dict[str, Any], schema: ExtractSchema) -> list[str]:
    row: list[Any] = [record["source"], record["status"], record["valid"]]
    for f in schema.fields:
        v = record["fields"].get(f.name)
        if f.type == "array":
            row.append(json.dumps([{c: ev["value"] for c, ev in r.items()} for r in v or []], ensure_ascii=False))
        elif v is None:
            row += [None, None, None]
        else:
            row += [v["value"], v["page"], v["text_match"]]
    row += ["; ".join(record["flagged"]), len(record["conflicts"]), "; ".join(record["errors"])]
    return [csv_safe(c) for c in row]
