"""vlparse: PDFs and images to structured, grounded results with the Qwen VL models.

The public API (everything in ``__all__``)::

    import vlparse

    doc = vlparse.parse("report.pdf", model="Qwen/Qwen2.5-VL-7B-Instruct")   # -> vlparse.Document
    hits = vlparse.ground("photo.jpg", "red car")                            # -> vlparse.GroundResult
    rec = vlparse.extract("invoice.pdf", ["vendor", "total:number"])         # -> dict (values with boxes)
    with vlparse.Parser(model="...") as parser:                               # the model loads once
        docs = parser.parse(["a.pdf", "b.png"])

Importing vlparse is cheap: the names are loaded on first use, and torch only when a model loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> (module, attribute)
_API = {
    # calls
    "Parser": ("vlparse.api", "Parser"),
    # results
    "Document": ("vlparse.api", "Document"),
    "Page": ("vlparse.core.results", "Page"),
    "Block": ("vlparse.core.results", "Block"),
    "Detection": ("vlparse.core.results", "Detection"),
    "GroundResult": ("vlparse.core.results", "GroundResult"),
    "PageInfo": ("vlparse.core.results", "PageInfo"),
    "PageStatus": ("vlparse.core.results", "PageStatus"),
    "SCHEMA_VERSION": ("vlparse.core.results", "SCHEMA_VERSION"),
    # choices and options
    "BackendKind": ("vlparse.core.options", "BackendKind"),
    "Dtype": ("vlparse.core.options", "Dtype"),
    "Quant": ("vlparse.core.options", "Quant"),
    "Attn": ("vlparse.core.options", "Attn"),
    "DeviceKind": ("vlparse.core.options", "DeviceKind"),
    "TaskKind": ("vlparse.core.options", "TaskKind"),
    "AnswerFormat": ("vlparse.core.options", "AnswerFormat"),
    "DateOrder": ("vlparse.core.options", "DateOrder"),
    "BackendOptions": ("vlparse.core.options", "BackendOptions"),
    # families
    "Family": ("vlparse.core.families", "Family"),
    "FAMILIES": ("vlparse.core.families", "FAMILIES"),
    "get_family": ("vlparse.core.families", "get_family"),
    "pixel_budget": ("vlparse.core.families", "pixel_budget"),
    # errors
    "VlparseError": ("vlparse.core.errors", "VlparseError"),
    "UsageError": ("vlparse.core.errors", "UsageError"),
    "InputError": ("vlparse.core.errors", "InputError"),
    "ModelError": ("vlparse.core.errors", "ModelError"),
    "BackendError": ("vlparse.core.errors", "BackendError"),
    "OutOfMemoryError": ("vlparse.core.errors", "OutOfMemoryError"),
}

__all__ = ["__version__", "parse", "ground", "extract", *_API]

# ``vlparse.parse`` names both the parsers' subpackage (vlparse/parse/) and the API call below. The subpackage
# (an empty __init__) is imported first, so the import system has set its attribute already and never sets it
# again: the function defined next keeps the name, and ``import vlparse.parse.html`` still works.
import vlparse.parse  # noqa: E402,F401


def parse(source, **options):  # noqa: F811 - see above
    """Parse PDFs and images into blocks: :func:`vlparse.api.parse` (its docs list the options).

    Examples:
        >>> import vlparse
        >>> doc = vlparse.parse("examples/sample.pdf", family="qwen2.5-vl",
        ...                     from_output="examples/answers/qwen2.5-vl/sample-pdf")
        >>> doc.ok
        True
    """
    from vlparse.api import parse as _parse

    return _parse(source, **options)


def ground(image, queries, **options):
    """Boxes or points for text queries: :func:`vlparse.api.ground` (its docs list the options)."""
    from vlparse.api import ground as _ground

    return _ground(image, queries, **options)


def extract(source, schema, **options):
    """The fields of a schema, every value with the page and box it was read from: :func:`vlparse.api.extract`
    (its docs list the options)."""
    from vlparse.api import extract as _extract

    return _extract(source, schema, **options)


def __getattr__(name: str):
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'vlparse' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from vlparse.api import Document, Parser, extract, ground, parse
    from vlparse.core.errors import (BackendError, InputError, ModelError, OutOfMemoryError, UsageError,
                                     VlparseError)
    from vlparse.core.families import FAMILIES, Family, get_family, pixel_budget
    from vlparse.core.options import (AnswerFormat, Attn, BackendKind, BackendOptions, DateOrder, DeviceKind, Dtype,
                                      Quant, TaskKind)
    from vlparse.core.results import (SCHEMA_VERSION, Block, Detection, GroundResult, Page, PageInfo,
                                      PageStatus)
