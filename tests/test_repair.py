"""Repetition loops are cut at the first copy; real content (numeric tables, dot leaders) is left alone."""

import random

from vlparse.parse.repair import cut_repetition


def test_counting_table_rows_are_cut_after_the_first_copy():
    head = "<html><body><h1>Title</h1>\n<table>\n"
    rows = "".join(f"<tr><td>{i}</td><td>row value</td></tr>\n" for i in range(1, 200))
    text, why = cut_repetition(head + rows + "<tr><td>200</td><td>ro")
    assert text == head + "<tr><td>1</td><td>row value</td></tr>\n"
    assert "repeated" in why and "199" in why


def test_a_loop_inside_one_line_is_cut_at_a_word_end():
    text, why = cut_repetition("Some text " + "the cat sat. " * 100 + "the ca")
    assert text == "Some text the cat sat." and "13-character" in why


def test_multi_line_units_keep_one_whole_copy():
    unit = "<p>Same paragraph line here, again and again.</p>\n<p>second line</p>\n"
    text, why = cut_repetition("<p>a</p>\n" + unit * 30)
    assert text == "<p>a</p>\n" + unit and why


def test_real_numeric_tables_are_not_loops():
    rng = random.Random(1)
    rows = "".join(f"<tr><td>{rng.randint(1, 999)}</td><td>{rng.randint(1, 99)}.{rng.randint(0, 9)}</td></tr>\n"
                   for _ in range(80))
    text = "<table>\n" + rows + "<tr><td>2"
    assert cut_repetition(text) == (text, None)


def test_short_legitimate_repeats_are_kept():
    toc = "Chapter 1 " + "." * 60 + " 5\nChapter 2 " + "." * 60 + " 9\n</body></html>"
    assert cut_repetition(toc) == (toc, None)
    three = "<li>Yes</li>\n" * 3
    assert cut_repetition(three) == (three, None)
    assert cut_repetition("") == ("", None)


def test_random_text_has_no_loop_and_is_fast():
    rng = random.Random(0)
    text = "".join(rng.choice("abcdefgh \n") for _ in range(40000))
    assert cut_repetition(text) == (text, None)
