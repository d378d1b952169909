"""A position-keeping POSIX shell lexer: words and the simple commands they form.

Why not ``shlex`` or ``bashlex``: ``shlex`` drops token positions, swallows the newline after a
comment (merging two commands), ends a word at a ``#`` inside it, treats ``\\<newline>`` as a literal
and cannot tell ``'$X'`` from ``$X``; ``bashlex`` rejects ``[[ ]]``, arrays and ``for ((;;))``, which
real CI scripts are full of, and then yields nothing for the whole file. This lexer follows the
POSIX token recognition rules (quotes, escapes, line continuations, comments only at a word's start,
operators, ``$(...)``/backticks/``${...}``, here-documents) and keeps the offset of every word.

It never evaluates anything: an expansion stays in the word as written and its variable names are
recorded, so a caller can say "depends on X" instead of guessing X.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_OPERATOR_CHARS = ";&|()"
_BLANKS = " \t\r"
_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_CHARS = _NAME_START + "0123456789"
_SPECIAL_PARAMS = "@*#?-$!0123456789"


@dataclass(frozen=True, slots=True)
class Word:
    """One shell word. ``value`` is after quote removal, with expansions kept as written.

    ``start``/``end`` are offsets of the word's first and one-past-last character in the lexed text.
    ``variables`` are the parameters the word expands (``$HOME`` -> ``HOME``); ``dynamic`` is true when
    any part of the value is only known at run time (a parameter, ``$(...)``, backticks, ``~``).
    """

    value: str
    start: int
    end: int
    variables: tuple[str, ...] = ()
    dynamic: bool = False
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    """A simple command: the words between two control operators (``;``, ``&&``, ``|``, newline...)."""

    words: tuple[Word, ...]


@dataclass(slots=True)
class _WordBuilder:
    chars: list[str] = field(default_factory=list)
    start: int = -1
    variables: list[str] = field(default_factory=list)
    dynamic: bool = False
    quoted: bool = False

    def begin(self, pos: int) -> None:
        if self.start < 0:
            self.start = pos

    @property
    def started(self) -> bool:
        return self.start >= 0


@dataclass(frozen=True, slots=True)
class Dialect:
    """``make``: ``$(X)``/``${X}`` are make variables and ``$$`` is the shell's ``$`` (recipe lines)."""

    make: bool = False


SHELL = Dialect()
MAKE = Dialect(make=True)


# Command substitutions nested deeper than this are kept as words but not searched for commands:
# real scripts nest two or three levels; a hostile ``$($($(...`` must not exhaust the stack.
MAX_NESTING = 16


def lex(text: str, dialect: Dialect = SHELL) -> list[Command]:
    """All simple commands in ``text``, including those inside ``$(...)`` and backticks, in order."""
    return _Lexer(text, dialect).run()


def lex_slice(text: str, start: int, end: int, dialect: Dialect = SHELL) -> list[Command]:
    """Commands in ``text[start:end]``, with offsets in ``text`` (for a quoted ``sh -c '...'`` string)."""
    return [
        Command(tuple(Word(w.value, w.start + start, w.end + start, w.variables, w.dynamic, w.quoted) for w in c.words))
        for c in lex(text[start:end], dialect)
    ]


class _Lexer:
    def __init__(self, text: str, dialect: Dialect, depth: int = 0) -> None:
        self.depth = depth
        self.text = text
        self.dialect = dialect
        self.i = 0
        self.commands: list[Command] = []
        self.nested: list[Command] = []
        self.words: list[Word] = []
        self.word = _WordBuilder()
        # The next word is a redirection target (``> file``) or here-doc delimiter, not an argument.
        self.skip_next: str = ""
        self.heredocs: list[tuple[str, bool]] = []

    # -- driver -----------------------------------------------------------------------------------
    def run(self) -> list[Command]:
        text = self.text
        n = len(text)
        while self.i < n:
            c = text[self.i]
            if c == "\\" and self.i + 1 < n and text[self.i + 1] == "\n":
                self.i += 2  # line continuation: removed entirely, even inside a word
            elif c == "\n":
                self.end_word()
                self.end_command()
                self.i += 1
                self.read_heredocs()
            elif c in _BLANKS:
                self.end_word()
                self.i += 1
            elif c == "#" and not self.word.started:
                while self.i < n and text[self.i] != "\n":
                    self.i += 1
            elif c in _OPERATOR_CHARS:
                self.end_word()
                self.end_command()
                self.i += 1
            elif c in "<>":
                self.redirection()
            else:
                self.word_char()
        self.end_word()
        self.end_command()
        # Commands inside $(...) are found while their outer command is still open: order by start.
        return sorted(self.commands + self.nested, key=lambda cmd: cmd.words[0].start)

    # -- words ------------------------------------------------------------------------------------
    def word_char(self) -> None:
        text = self.text
        c = text[self.i]
        w = self.word
        w.begin(self.i)
        if c == "'":
            w.quoted = True
            close = text.find("'", self.i + 1)
            close = len(text) if close < 0 else close
            w.chars.append(text[self.i + 1 : close])
            self.i = close + 1
        elif c == '"':
            w.quoted = True
            self.double_quoted()
        elif c == "\\":
            if self.i + 1 < len(text):
                w.chars.append(text[self.i + 1])
            w.quoted = True
            self.i += 2
        elif c == "$":
            self.dollar(in_quotes=False)
        elif c == "`":
            self.backticks()
        elif c == "~" and not w.chars:
            # Tilde expansion at a word's start: the user's home directory, known only at run time.
            w.chars.append(c)
            w.variables.append("HOME")
            w.dynamic = True
            self.i += 1
        else:
            w.chars.append(c)
            self.i += 1

    def double_quoted(self) -> None:
        text = self.text
        n = len(text)
        self.i += 1
        w = self.word
        while self.i < n:
            c = text[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\" and self.i + 1 < n:
                nxt = text[self.i + 1]
                if nxt == "\n":
                    pass
                elif nxt in '$`"\\':
                    w.chars.append(nxt)
                else:
                    w.chars.append(c + nxt)
                self.i += 2
            elif c == "$":
                self.dollar(in_quotes=True)
            elif c == "`":
                self.backticks()
            else:
                w.chars.append(c)
                self.i += 1

    def dollar(self, in_quotes: bool) -> None:
        text = self.text
        n = len(text)
        w = self.word
        start = self.i
        nxt = text[self.i + 1] if self.i + 1 < n else ""
        if self.dialect.make:
            if nxt == "$":  # make's escape for the shell's $: lex what follows as a shell expansion
                self.i += 1
                self._shell_dollar(self.i, in_quotes)
                return
            if nxt in "({":
                close = _matching(text, self.i + 1)
                name = text[self.i + 2 : close].strip()
                w.chars.append(text[start : close + 1])
                w.variables.append(name)
                w.dynamic = True
                self.i = close + 1
                return
            if nxt and nxt in _NAME_CHARS:  # $X: a one-letter make variable
                w.chars.append(text[start : self.i + 2])
                w.variables.append(nxt)
                w.dynamic = True
                self.i += 2
                return
        self._shell_dollar(start, in_quotes)

    def _shell_dollar(self, start: int, in_quotes: bool) -> None:
        text = self.text
        n = len(text)
        w = self.word
        nxt = text[self.i + 1] if self.i + 1 < n else ""
        if nxt == "(":
            close = _matching(text, self.i + 1)
            inner_start = self.i + 2
            if text.startswith("((", self.i + 1):
                inner_start = self.i + 3  # arithmetic: nothing to run, but lexing it is harmless
            self.lex_nested(inner_start, close)
            w.chars.append(text[start : close + 1])
            w.dynamic = True
            self.i = close + 1
        elif nxt == "{":
            close = _matching(text, self.i + 1)
            inner = text[self.i + 2 : close]
            name = _param_name(inner)
            if name:
                w.variables.append(name)
            w.chars.append(text[start : close + 1])
            w.dynamic = True
            self.i = close + 1
        elif nxt == "'" and not in_quotes:  # $'...' ANSI-C quoting: a literal string
            close = self.i + 2
            while close < n and text[close] != "'":
                close += 2 if text[close] == "\\" else 1
            w.chars.append(text[self.i + 2 : close])
            w.quoted = True
            self.i = close + 1
        elif nxt and nxt in _NAME_START:
            end = self.i + 1
            while end < n and text[end] in _NAME_CHARS:
                end += 1
            w.variables.append(text[self.i + 1 : end])
            w.chars.append(text[start:end])
            w.dynamic = True
            self.i = end
        elif nxt and nxt in _SPECIAL_PARAMS:
            w.variables.append(nxt)
            w.chars.append(text[start : self.i + 2])
            w.dynamic = True
            self.i += 2
        else:
            w.chars.append("$")
            self.i += 1

    def backticks(self) -> None:
        text = self.text
        close = self.i + 1
        while close < len(text) and text[close] != "`":
            close += 2 if text[close] == "\\" else 1
        self.lex_nested(self.i + 1, close)
        self.word.chars.append(text[self.i : close + 1])
        self.word.dynamic = True
        self.i = close + 1

    def lex_nested(self, start: int, end: int) -> None:
        if self.depth >= MAX_NESTING:
            return
        inner = _Lexer(self.text[start:end], self.dialect, self.depth + 1).run()
        for cmd in inner:
            self.nested.append(
                Command(
                    tuple(
                        Word(wd.value, wd.start + start, wd.end + start, wd.variables, wd.dynamic, wd.quoted)
                        for wd in cmd.words
                    )
                )
            )

    def redirection(self) -> None:
        text = self.text
        w = self.word
        # ``2>&1``: digits right before the operator are a file descriptor, not an argument.
        fd_only = (
            w.started and not w.quoted and "".join(w.chars).isdigit() and self.i == w.start + len("".join(w.chars))
        )
        if fd_only:
            self.word = _WordBuilder()
        else:
            self.end_word()
        op_start = self.i
        while self.i < len(text) and text[self.i] in "<>&|-":
            self.i += 1
        op = text[op_start : self.i]
        if op.startswith("<<<"):
            self.skip_next = "redirect"
        elif op.startswith("<<"):
            self.skip_next = "heredoc-" if op.endswith("-") else "heredoc"
        elif op.endswith("&") and self.i < len(text) and text[self.i].isdigit():
            while self.i < len(text) and text[self.i].isdigit():
                self.i += 1
        elif op.endswith("&-"):
            pass
        else:
            self.skip_next = "redirect"

    def end_word(self) -> None:
        w = self.word
        if not w.started:
            return
        word = Word(
            "".join(w.chars),
            w.start,
            self.i,
            tuple(dict.fromkeys(w.variables)),
            w.dynamic,
            w.quoted,
        )
        self.word = _WordBuilder()
        if self.skip_next:
            if self.skip_next.startswith("heredoc"):
                self.heredocs.append((word.value, self.skip_next == "heredoc-"))
            self.skip_next = ""
            return
        self.words.append(word)

    def end_command(self) -> None:
        if self.words:
            self.commands.append(Command(tuple(self.words)))
        self.words = []

    def read_heredocs(self) -> None:
        """Skip the bodies of here-documents opened on the line just ended: they are data."""
        text = self.text
        for delim, strip_tabs in self.heredocs:
            while self.i < len(text):
                eol = text.find("\n", self.i)
                eol = len(text) if eol < 0 else eol
                line = text[self.i : eol]
                self.i = eol + 1
                if (line.lstrip("\t") if strip_tabs else line) == delim:
                    break
        self.heredocs = []


def _matching(text: str, open_at: int) -> int:
    """Offset of the bracket closing the one at ``open_at``, skipping quotes; ``len(text)`` if none."""
    opener = text[open_at]
    closer = ")" if opener == "(" else "}"
    depth = 0
    i = open_at
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and opener == "(":
            end = text.find("'", i + 1)
            i = n if end < 0 else end + 1
            continue
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _param_name(inner: str) -> str:
    """The parameter a ``${...}`` expansion reads: ``${#X}``, ``${X:-d}``, ``${X[@]}`` -> X."""
    body = inner.lstrip("#!")
    end = 0
    while end < len(body) and body[end] in _NAME_CHARS:
        end += 1
    if end == 0 and body[:1] in _SPECIAL_PARAMS:
        return body[:1]
    return body[:end]
