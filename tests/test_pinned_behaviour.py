"""Behaviour an adversarial pass found unguarded: each test fails when the code it protects is broken."""

from __future__ import annotations

import pytest

from vlparse.core.families import get_family
from vlparse.core.geometry import Frame
from vlparse.core.results import OK, PageInfo
from vlparse.parse.html import parse_page_html
from vlparse.parse.sanitize import sanitize_fragment

Q25, Q3 = get_family("qwen2.5-vl"), get_family("qwen3-vl")


def doc(text, family=Q25, frame=Frame(1512, 2800, 1008, 1400, 0.5, 0.25)):
    return parse_page_html(text, family, PageInfo("doc.pdf", 1, frame, kind="pdf"))


def test_the_same_text_at_two_places_on_a_page_is_kept_twice():
    page = doc('<html><body><p data-bbox="10 10 200 40">Total</p><p data-bbox="10 900 200 930">Total</p>'
               '<p data-bbox="10 900 200 930">Total</p></body></html>')
    # the copy at another place is content; only the copy at the same place (a loop artefact) goes
    assert [(b.text, b.bbox_px) for b in page.blocks] == [("Total", [15, 20, 300, 80]),
                                                         ("Total", [15, 1800, 300, 1860])]
    assert any("dropped 1 repeated copy" in w for w in page.warnings)


def test_the_wrong_coordinate_space_check_looks_at_y_too():
    # a tall page: x stays well inside the 1008 px the model saw, y goes past its 1400 px height
    tall = doc('<html><body><p data-bbox="10 10 600 300">Top</p><p data-bbox="10 1500 600 2000">Bottom</p>'
               '</body></html>')
    assert any("outside the 1008x1400 image" in w for w in tall.warnings), tall.warnings
    # Qwen3-VL: y past 1000 on a tall page is pixels, not 0..1000
    q3 = doc('<html><body><p data-bbox="10 10 600 300">Top</p><p data-bbox="10 1500 600 2400">Bottom</p>'
             '</body></html>', Q3, Frame(1000, 3000, 640, 1920))
    assert any("they look like pixels" in w for w in q3.warnings), q3.warnings
    fine = doc('<html><body><p data-bbox="10 10 600 300">Top</p><p data-bbox="10 1100 600 1390">Bottom</p>'
               '</body></html>')
    assert fine.status == OK and fine.warnings == []


def test_style_text_does_not_survive_sanitising():
    assert sanitize_fragment("<style>p { color: red }</style><p>kept</p>") == "<p>kept</p>"
    assert "color" not in sanitize_fragment('<div><style>.x{background:url(http://e/x)}</style>text</div>')
    page = doc('<html><body><style>table1 { border: 1px }</style><p data-bbox="1 1 100 20">Body</p></body></html>')
    assert [(b.text, b.html) for b in page.blocks] == [("Body", '<p data-bbox="1.5 2 150 40">Body</p>')]


@pytest.mark.parametrize("family, doc_px, ground_px, min_px", [
    ("qwen-vl", 2_195_200, 1_003_520, 3136),
    ("qwen2-vl", 2_195_200, 1_003_520, 3136),
    ("qwen2.5-vl", 2_195_200, 1_003_520, 3136),  # 2800 / 1280 visual tokens of 28x28 px
    ("qwen3-vl", 2_867_200, 1_310_720, 65_536),  # 2800 / 1280 tokens of 32x32 px; the processor's own minimum
])
def test_per_family_default_pixel_budgets_are_pinned(family, doc_px, ground_px, min_px):
    from vlparse.run.job import budget_for

    fam = get_family(family)
    assert (fam.default_max_pixels("doc"), fam.default_max_pixels("ground"), fam.default_min_pixels()) == \
        (doc_px, ground_px, min_px)

    class Opts:
        min_pixels = max_pixels = None

    assert (budget_for(fam, "doc", Opts).max_pixels, budget_for(fam, "ground", Opts).max_pixels) == (doc_px, ground_px)
    assert budget_for(fam, "doc", Opts).min_pixels == min_px


def test_each_box_is_mapped_once(monkeypatch):
    """A list item's box is the item's, the list's HTML's; a line's is the block's lines' and HTML's: one mapping."""
    from vlparse.parse import html

    calls = []
    real = html._Walker._map

    def counting(self, raw):
        calls.append(tuple(raw))
        return real(self, raw)

    monkeypatch.setattr(html._Walker, "_map", counting)
    page = doc('<html><body><ul data-bbox="10 10 500 100"><li data-bbox="10 10 500 50">One</li>'
               '<li data-bbox="10 50 500 100">Two</li></ul>'
               '<p data-bbox="10 120 400 160"><span data-bbox="10 120 400 140">line one</span><br>'
               '<span data-bbox="10 140 300 160">line two</span></p></body></html>')
    assert [b.type for b in page.blocks] == ["list", "paragraph"]
    assert page.blocks[0].attrs["items"][1]["bbox_px"] == [15, 100, 750, 200]
    assert page.blocks[1].attrs["lines"][0]["bbox_px"] == [15, 240, 600, 280]
    assert 'data-bbox="15 100 750 200"' in page.blocks[0].html
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 6


def test_block_types_are_declared_in_one_table():
    from vlparse.parse import html, schema

    assert schema.BLOCK_TYPES == tuple(schema.TYPES)
    assert set(html.READERS) == {spec.reader for spec in schema.TYPES.values() if spec.reader}
    assert html.REGION_TYPES == {"header", "footer", "footnote", "page_number", "quote"}
    assert html.VERBATIM_TYPES == {"code", "music_sheet", "chemical_formula", "formula"}
    assert {t for t, spec in schema.TYPES.items() if spec.attrs} == set(schema.TYPE_ATTRS)
