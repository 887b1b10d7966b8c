"""Formulas as MathML in the HTML export and the review page, and the sanitiser's MathML allowlist."""

from __future__ import annotations

import re

import pytest
from lxml import html as lxml_html

from vlparse.core.geometry import Frame
from vlparse.core.results import Block, Document, PageInfo, PageResult
from vlparse.export.html import render_html
from vlparse.export.mathml import formula_mathml
from vlparse.export.review import render_review
from vlparse.parse.sanitize import sanitize_fragment

LATEX = r"R_n = R_0 (1 + r)^n"


def _doc(latex: str, html: str = "") -> Document:
    block = Block("formula", latex, html or f'<div class="formula"><div>{latex}</div></div>', [10, 10, 90, 30],
                  None, {"latex": latex})
    return Document("f.png", "qwen2.5-vl", "m", [PageResult(PageInfo("f.png", 1, Frame(100, 40, 100, 40)),
                                                            blocks=[block])])


def _maths(page: str) -> list:
    return lxml_html.fromstring(page).xpath("//math")


def test_a_formula_becomes_mathml_with_its_latex_in_an_annotation():
    m = formula_mathml(LATEX)
    assert m.startswith('<math display="block"><semantics><mrow>')
    tree = lxml_html.fromstring(m)
    assert tree.xpath("//semantics/annotation/@encoding") == ["application/x-tex"]
    assert tree.xpath("string(//annotation)") == LATEX
    assert tree.xpath("//msub/mi/text()")[:2] == ["R", "n"] and tree.xpath("//msup")


@pytest.mark.parametrize("render", [render_html, lambda d: render_review(d, [None])], ids=["html", "review"])
def test_the_html_export_and_the_review_page_show_mathml(render):
    page = render(_doc(LATEX))
    [math] = _maths(page)
    assert math.xpath("string(.//annotation)") == LATEX
    assert math.xpath(".//msub")


def test_latex_the_converter_cannot_read_stays_as_source():
    assert formula_mathml(r"\frac{1}{") is None
    page = render_html(_doc(r"\frac{1}{"))
    assert not _maths(page) and r"\frac{1}{" in page


def test_latex_special_characters_stay_text_in_the_annotation():
    latex = r"a < b \text{ & } c > d"
    m = formula_mathml(latex)
    assert lxml_html.fromstring(m).xpath("string(//annotation)") == latex


# --------------------------------------------------------------------------- hostile input

_ACTIVE = re.compile(r"<script|<img|<style|<iframe|<a\b|\son\w+=|href|javascript:|style=|annotation-xml|mathcolor|"
                     r"xlink|<mglyph|<maction", re.I)


@pytest.mark.adversarial
@pytest.mark.parametrize("latex", [
    r"\href{javascript:alert(1)}{x}",  # latex2mathml writes <mrow href="javascript:...">
    r"\text{<script>alert(1)</script>}",  # ... and copies text unescaped into <mtext>
    r"\text{<img src=x onerror=alert(1)>}",
    r"\style{background:url(https://example.invalid/x)}{x}",
    r"\color{white} x",
    r"x</annotation><annotation-xml encoding='text/html'><img src=x onerror=alert(1)></annotation-xml>",
])
def test_hostile_latex_gives_inert_mathml(latex):
    for page in (render_html(_doc(latex)), render_review(_doc(latex), [None])):
        for math in _maths(page):
            markup = lxml_html.tostring(math, encoding="unicode")
            # the LaTeX source is kept as escaped text in the annotation; nothing in the markup is active
            without_annotation = re.sub(r"<annotation encoding=\"application/x-tex\">.*?</annotation>", "", markup,
                                        flags=re.S)
            assert not _ACTIVE.search(without_annotation), markup
        tree = lxml_html.fromstring(page)
        assert not tree.xpath("//script|//img[@src]|//iframe|//@*[starts-with(name(), 'on')]")
        assert all(h.startswith("#") for h in tree.xpath("//@href|//@src|//@xlink:href",
                                                          namespaces={"xlink": "http://www.w3.org/1999/xlink"}))


@pytest.mark.adversarial
@pytest.mark.parametrize("fragment,kept", [
    ('<math><mi href="javascript:alert(1)" xlink:href="javascript:alert(2)">x</mi></math>', "<mi>x</mi>"),
    ('<math onload="alert(1)"><mrow onclick="alert(2)" onmouseover="alert(3)"><mo onfocus="a()">+</mo></mrow></math>',
     "<math><mrow><mo>+</mo></mrow></math>"),
    ('<math><semantics><mi>x</mi><annotation-xml encoding="text/html"><img src=x onerror=alert(1)>'
     '<a href="javascript:alert(2)">y</a></annotation-xml></semantics></math>',
     "<math><semantics><mi>x</mi></semantics></math>"),
    ('<math><semantics><mi>x</mi><annotation encoding="text/html"><b>y</b></annotation></semantics></math>',
     "<annotation></annotation>"),  # the HTML parser closes the math at <b>: y is plain text after it
    ('<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>', "<math><mtext>"),  # namespace confusion
    ('<math><maction actiontype="statusline"><mi>x</mi><mtext>note</mtext></maction></math>',
     "<math><mi>x</mi><mtext>note</mtext></math>"),
    ('<math><mstyle style="color:red" mathcolor="white" mathbackground="white"><mi>y</mi></mstyle></math>',
     "<mstyle><mi>y</mi></mstyle>"),
    ('<math><mspace width="expression(alert(1))"/><mo stretchy="javascript:1">(</mo></math>', "<mo>(</mo>"),
])
def test_the_mathml_allowlist_removes_what_is_active(fragment, kept):
    clean = sanitize_fragment(fragment)
    assert kept in clean, clean
    assert not _ACTIVE.search(clean), clean
    assert "alert" not in clean


@pytest.mark.adversarial
def test_model_html_with_math_is_sanitised_in_the_html_export():
    doc = _doc("x", html='<div class="formula"><math><mi onclick="alert(1)" href="javascript:x">x</mi>'
                         '<annotation-xml><svg onload="alert(2)"/></annotation-xml></math></div>')
    doc.pages[0].blocks[0].attrs = {}  # no LaTeX: the model's own markup is what gets exported
    page = render_html(doc)
    assert "<math><mi>x</mi></math>" in page and "alert" not in page
