"""Verification during ``doc``: the page's text layer (read by the renderer thread) against its parsed blocks.

The pure comparison lives in :mod:`vlparse.parse.verify`; reading the layer in
:mod:`vlparse.pages.textlayer`. This module joins them for the pipeline (``RunConfig.text_layer`` makes the
renderer read each PDF page's layer next to rendering it; ``RunConfig.finish_page`` calls :func:`verifier`'s
function on the page's final result, before it is saved and exported).
"""

from __future__ import annotations

from collections.abc import Callable

from vlparse.core.results import FAILED, PageResult
from vlparse.parse.verify import DEFAULT, Thresholds, verify_page

#: part of the resume fingerprint: raise when verification changes what it records
VERIFY_VERSION = 1


def verify_result(result: PageResult, layer, *, snap_boxes: bool = False, thresholds: Thresholds = DEFAULT) -> None:
    """Verify ``result`` in place against ``layer`` (a :class:`~vlparse.pages.textlayer.TextLayer` or None)."""
    from vlparse.pages.textlayer import TextKind

    if result.status == FAILED:
        return
    if result.info.kind != "pdf":
        verify_page(result, None, reason="an image has no text layer")
    elif layer is None:
        verify_page(result, None, reason="the text layer could not be read")
    elif layer.kind is TextKind.NONE:
        verify_page(result, None, reason="no text layer (a scanned page?)")
    elif layer.kind is TextKind.INVISIBLE:
        verify_page(result, None, reason="only an invisible OCR layer")
    else:
        verify_page(result, layer.words, snap_boxes=snap_boxes, t=thresholds)


def verifier(*, snap_boxes: bool = False, thresholds: Thresholds = DEFAULT) -> Callable[[PageResult, object], None]:
    """The pipeline's ``finish_page`` hook: verify a page's result against its rendered page's text layer."""

    def finish(result: PageResult, page) -> None:
        try:
            verify_result(result, getattr(page, "text_layer", None), snap_boxes=snap_boxes, thresholds=thresholds)
        except Exception as e:  # noqa: BLE001 - verification never costs a page its result
            result.warnings.append(f"verify: could not verify the page ({type(e).__name__}: {e})")

    return finish
