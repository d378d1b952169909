"""The shell lexer on its own: words, values, offsets, variables, command boundaries."""

from __future__ import annotations

from leastcap.scripts.shell import MAKE, Word, lex


def _words(text: str, dialect=None) -> list[list[tuple[str, int]]]:
    commands = lex(text) if dialect is None else lex(text, dialect)
    return [[(w.value, w.start) for w in c.words] for c in commands]


def test_operators_split_commands_and_comments_only_at_word_start() -> None:
    assert _words("a b; c && d || e | f & g\nh#i # j\n(k)") == [
        [("a", 0), ("b", 2)],
        [("c", 5)],
        [("d", 10)],
        [("e", 15)],
        [("f", 19)],
        [("g", 23)],
        [("h#i", 25)],
        [("k", 34)],
    ]


def test_quotes_escapes_and_continuations() -> None:
    text = "x 'a b' \"c $d\" e\\ f g\\\nh"
    assert lex(text)[0].words == (
        Word("x", 0, 1),
        Word("a b", 2, 7, quoted=True),
        Word("c $d", 8, 14, ("d",), dynamic=True, quoted=True),
        Word("e f", 15, 19, quoted=True),
        Word("gh", 20, 24),
    )


def test_expansions_record_variables() -> None:
    (cmd,) = [c for c in lex("x ${A:-b} $B ${#C} $1 ~/x '$D' $'$E'") if c.words[0].value == "x"]
    assert [(w.value, w.variables, w.dynamic) for w in cmd.words[1:]] == [
        ("${A:-b}", ("A",), True),
        ("$B", ("B",), True),
        ("${#C}", ("C",), True),
        ("$1", ("1",), True),
        ("~/x", ("HOME",), True),
        ("$D", (), False),
        ("$E", (), False),
    ]


def test_command_substitution_is_lexed_in_place() -> None:
    assert _words('x="$(docker run a)" `b c` $((1+2))') == [
        [("x=$(docker run a)", 0), ("`b c`", 20), ("$((1+2))", 26)],
        [("docker", 5), ("run", 12), ("a", 16)],
        [("b", 21), ("c", 23)],
        [("1+2", 29)],
    ]


def test_redirections_and_heredocs_are_not_arguments() -> None:
    assert _words("a 2>&1 >out <in b <<<w c\nd <<-E\n\tbody\n\tE\ne") == [
        [("a", 0), ("b", 16), ("c", 23)],
        [("d", 25)],
        [("e", 41)],
    ]


def test_make_dialect() -> None:
    (cmd,) = lex("docker run $(IMG) $$HOME ${X}", MAKE)
    assert [(w.value, w.variables) for w in cmd.words] == [
        ("docker", ()),
        ("run", ()),
        ("$(IMG)", ("IMG",)),
        ("$HOME", ("HOME",)),
        ("${X}", ("X",)),
    ]


def test_unterminated_quote_does_not_raise() -> None:
    assert _words("a 'b c") == [[("a", 0), ("b c", 2)]]
