"""Custom segment rules: a small expression language compiled to an Ibis boolean, never eval'd.

A rule is parsed by our own LALR grammar (Lark) into a frozen AST, checked against the table's
columns and types, and compiled to portable Ibis operations (DuckDB, PySpark). Positions in
error messages are 1-based character offsets into the rule text.

Values
  numbers   42, 1.5, .5 (no exponents; whole numbers up to 2**63-1)
  text      'it''s' or "a ""b"" c": either quote; a quote inside is doubled; backslash is literal
  booleans  true, false      null      dates  date '2024-01-31' (exactly YYYY-MM-DD)
  columns   a name [a-z_][a-z0-9_]* that is a column of the table (case-sensitive)
Keywords (and or not in between is null true false date) and function names are
case-insensitive; keywords cannot be used as column names.
Operators, loosest first; parentheses group:
  or  <  and  <  not  <  = == != <> < <= > >=, [not] in (a, b, ...), [not] between a and b
  (inclusive), is [not] null  <  + -  <  * /  <  unary minus.
  Comparisons do not chain (a < b < c is a syntax error). x / 0 is null.
Functions
  Aggregates over ALL rows of the table (all customers of the snapshot), ignoring nulls:
    quantile(col, q) (linear interpolation: numpy's default, QUANTILE_CONT; q a literal number
    from 0 to 1), mean(col), median(col), min(col), max(col), and count() (all rows).
    Their argument must be a column name; min and max also take text and date columns.
  Per row: abs(x), coalesce(a, b, ...), lower(text), round(x), round(x, n) (n a literal whole
    number from -10 to 10; halves round away from zero).
Types: number, text, true/false, date (date and timestamp columns: a date compares as its
midnight); columns of other types cannot be used.
Comparisons, in and between need one type on every side; arithmetic needs numbers; and, or and
not need true/false. Comparing with the literal null is an error (write `is null`).
Nulls follow SQL three-valued logic; a customer whose rule is null is not in the segment:
compile_rule returns coalesce(rule, false). The whole rule must be true or false.
Limits: 2,000 characters; 50 levels of nesting (each operator or call is a level; a chain
`a and b and c` counts once, `a + b + c` twice).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import operator as op
import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from tenure.errors import TenureError

MAX_LENGTH, MAX_DEPTH = 2_000, 50


class RuleError(TenureError):
    """A segment rule that does not parse or does not fit the table; the message has a position."""

    def __init__(self, message: str, *, name: str | None = None, position: int | None = None):
        super().__init__(f"segment '{name}': {message}" if name else message)
        self.rule_name, self.position = name, position


@dataclass(frozen=True)
class Literal:
    pos: int  # 1-based character where the node starts (the same in every node)
    value: object
    kind: str  # number, text, boolean, date or null


@dataclass(frozen=True)
class Column:
    pos: int
    name: str


@dataclass(frozen=True)
class Call:
    pos: int
    func: str
    args: tuple = ()


@dataclass(frozen=True)
class Op:
    """or, and (2+ args); not, neg; + - * /; = != < <= > >=; in, not in (operand, then items);
    between, not between (operand, low, high); is null, is not null."""
    pos: int
    op: str
    args: tuple = ()


Node = Literal | Column | Call | Op


@dataclass(frozen=True)
class Rule:
    text: str
    expr: Node
    name: str | None = None


# name -> (fewest args, most args or None, how it is written)
FUNCTIONS = {"quantile": (2, 2, "quantile(column, q)"), "mean": (1, 1, "mean(column)"),
             "median": (1, 1, "median(column)"), "min": (1, 1, "min(column)"),
             "max": (1, 1, "max(column)"), "count": (0, 0, "count()"), "abs": (1, 1, "abs(x)"),
             "coalesce": (1, None, "coalesce(a, b, ...)"), "lower": (1, 1, "lower(text)"),
             "round": (1, 2, "round(x) or round(x, n)")}
AGGREGATES = ("quantile", "mean", "median", "min", "max")  # count() takes no column
KINDS = {"number": "a number", "text": "text", "boolean": "true or false", "date": "a date",
         "null": "null"}
KEYWORDS = ("and", "or", "not", "in", "between", "is", "null", "true", "false", "date")
_IBIS_TYPE = {"number": "float64", "text": "string", "boolean": "boolean", "date": "date"}

_GRAMMAR = r"""
?start: disj
?disj: conj (OR conj)*
?conj: neg (AND neg)*
?neg: NOT neg -> not_
    | pred
?pred: arith
    | arith CMP arith -> compare
    | arith NOT? IN "(" items ")" -> in_
    | arith NOT? BETWEEN arith AND arith -> between
    | arith IS NOT? NULL -> is_null
?arith: term ((PLUS | MINUS) term)*
?term: unary ((STAR | SLASH) unary)*
?unary: MINUS unary -> negate
    | atom
?atom: NUMBER -> number
    | STRING -> string
    | TRUE -> const
    | FALSE -> const
    | NULL -> const
    | DATE STRING -> date
    | NAME "(" [items] ")" -> call
    | NAME -> column
    | "(" disj ")"
items: disj ("," disj)*
CMP: /<=|>=|<>|!=|==|=|<|>/
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
NUMBER: /[0-9]+(\.[0-9]+)?|\.[0-9]+/
STRING: /'(?:[^']|'')*'|"(?:[^"]|"")*"/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
%ignore /\s+/
""" + "\n".join(f'{k.upper()}: "{k}"i' for k in KEYWORDS)
_VALUE_START = {"NUMBER", "STRING", "NAME", "LPAR", "MINUS", "NOT", "TRUE", "FALSE", "NULL", "DATE"}
_OPERATORS = {"OR", "AND", "IN", "BETWEEN", "IS", "CMP", "PLUS", "MINUS", "STAR", "SLASH"}


def _at(x) -> int:
    return x.pos if hasattr(x, "pos") else x.start_pos + 1


def _bad(message: str, pos: int, more: str = ""):
    raise RuleError(f"{message} at character {pos}{more and '; ' + more}", position=pos)


class _Build(Transformer):
    """Builds the AST as the LALR parser reduces: no recursion, so no rule is too deep here."""

    def disj(self, c):
        return Op(_at(c[0]), "or", tuple(c[::2]))

    def conj(self, c):
        return Op(_at(c[0]), "and", tuple(c[::2]))

    def not_(self, c):
        return Op(_at(c[0]), "not", (c[1],))

    def compare(self, c):
        return Op(_at(c[0]), {"==": "=", "<>": "!="}.get(c[1], str(c[1])), (c[0], c[2]))

    def in_(self, c):
        return Op(_at(c[0]), "not in" if c[1].type == "NOT" else "in", (c[0], *c[-1]))

    def between(self, c):
        return Op(_at(c[0]), "not between" if c[1].type == "NOT" else "between",
                  (c[0], c[-3], c[-1]))

    def is_null(self, c):
        return Op(_at(c[0]), "is not null" if len(c) == 4 else "is null", (c[0],))

    def arith(self, c):  # a + b - c: left-associative
        node = c[0]
        for sym, right in zip(c[1::2], c[2::2]):
            node = Op(node.pos, str(sym), (node, right))
        return node

    term = arith

    def negate(self, c):
        if isinstance(c[1], Literal) and c[1].kind == "number":  # -5 is a literal
            return Literal(_at(c[0]), -c[1].value, "number")
        return Op(_at(c[0]), "neg", (c[1],))

    def number(self, c):
        value = float(c[0]) if "." in c[0] else int(c[0])
        if not math.isfinite(value) or abs(value) >= 2**63:
            _bad("number too large", _at(c[0]))
        return Literal(_at(c[0]), value, "number")

    def string(self, c):
        raw = str(c[-1])
        return Literal(_at(c[0]), raw[1:-1].replace(raw[0] * 2, raw[0]), "text")

    def const(self, c):
        value = {"TRUE": True, "FALSE": False, "NULL": None}[c[0].type]
        return Literal(_at(c[0]), value, "null" if value is None else "boolean")

    def date(self, c):
        text = self.string(c).value
        try:
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                return Literal(_at(c[0]), dt.date.fromisoformat(text), "date")
        except ValueError:
            pass
        _bad(f"invalid date {text!r}", _at(c[1]), "write date 'YYYY-MM-DD'")

    def column(self, c):
        return Column(_at(c[0]), str(c[0]))

    def items(self, c):
        return tuple(c)

    def call(self, c):
        func, args, pos = str(c[0]).lower(), c[1] or (), _at(c[0])
        if func not in FUNCTIONS:
            _bad(f"unknown function {str(c[0])!r}", pos, f"functions are: {', '.join(FUNCTIONS)}")
        low, high, usage = FUNCTIONS[func]
        if not low <= len(args) <= (high if high is not None else len(args)):
            _bad(f"wrong number of arguments to {func}()", pos, f"write {usage}")
        if func in AGGREGATES and not isinstance(args[0], Column):
            _bad(f"{func}() takes a column name", args[0].pos, f"write {usage}")
        n = args[1] if len(args) == 2 else None
        if func == "quantile" and not (isinstance(n, Literal) and n.kind == "number"
                                       and 0 <= n.value <= 1):
            _bad("the q of quantile(column, q) must be a number from 0 to 1", n.pos)
        if func == "round" and n and not (isinstance(n, Literal) and type(n.value) is int
                                          and -10 <= n.value <= 10):
            _bad("the n of round(x, n) must be a whole number from -10 to 10", n.pos)
        return Call(pos, func, args)


_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic", transformer=_Build(), maybe_placeholders=True)


def _walk(node: Node):
    """Every node with its depth, without recursion (a hand-built tree may be deep)."""
    stack = [(node, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        stack.extend((child, depth + 1) for child in getattr(node, "args", ()))


def _expected(e: UnexpectedToken) -> str:
    try:  # what the parser would take here, after the reductions a lookahead allows
        names = set(e.accepts or e.expected)
    except RuleError:  # a reduction tried on the way met a bad literal
        names = set(e.expected)
    wants, ops = [], _OPERATORS | ({"NOT"} if "CMP" in names else set())
    if names & _VALUE_START >= {"NUMBER", "NAME"}:
        wants, names = ["a value"], names - _VALUE_START
    if names & ops - {"AND"}:
        wants.append("an operator")
    literal = {"LPAR": "'('", "RPAR": "')'", "COMMA": "','", "STRING": "a quoted string"}
    wants += sorted(literal.get(n, f"'{n.lower()}'") for n in names - ops if n != "$END")
    wants += ["'and'"] * ("AND" in names and "OR" not in names)  # the and of between
    return " or ".join(wants + ["the end of the rule"] * ("$END" in names))


def parse_rule(text: str, *, name: str | None = None) -> Rule:
    """The rule's AST; raises RuleError on a syntax error. Needs no table."""
    def fail(message: str, pos: int | None = None):
        raise RuleError(message, name=name, position=pos) from None

    if len(text) > MAX_LENGTH:
        fail(f"rule is too long ({len(text):,} characters; the limit is {MAX_LENGTH:,})")
    if not text.strip():
        fail("the rule is empty")
    try:
        expr = _PARSER.parse(text)
    except RuleError as e:
        fail(str(e), e.position)
    except UnexpectedCharacters as e:
        ch, at = text[e.pos_in_stream], e.pos_in_stream + 1
        what = "unterminated string" if ch in "'\"" else f"unexpected character {ch!r}"
        fail(f"syntax error at character {at}: {what}", at)
    except UnexpectedToken as e:
        if e.token.type == "$END":
            at, what = len(text.rstrip()) + 1, "unexpected end of rule"
        else:
            at, what = e.token.start_pos + 1, f"unexpected {str(e.token)!r}"
        fail(f"syntax error at character {at}: {what}; expected {_expected(e)}", at)
    except UnexpectedInput as e:  # any other shape of syntax error
        fail(f"syntax error at character {e.pos_in_stream + 1}", e.pos_in_stream + 1)
    for node, depth in _walk(expr):
        if depth > MAX_DEPTH:
            fail(f"rule is nested too deeply at character {node.pos} (more than {MAX_DEPTH} "
                 "levels)", node.pos)
    return Rule(text, expr, name)


def columns_used(rule: str | Rule) -> set[str]:
    """Names of the columns a rule reads, including those inside aggregates."""
    rule = parse_rule(rule) if isinstance(rule, str) else rule
    return {n.name for n, _ in _walk(rule.expr) if isinstance(n, Column)}


def _kind(dtype) -> str | None:
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_string():
        return "text"
    return "date" if dtype.is_date() or dtype.is_timestamp() else None


def _balanced(fn, xs: list):
    """and/or of many terms as a balanced tree, so long chains stay shallow for SQL generators."""
    while len(xs) > 1:
        xs = [fn(*xs[i:i + 2]) if i + 1 < len(xs) else xs[i] for i in range(0, len(xs), 2)]
    return xs[0]


def _whole(expr: ir.Value, kind: str) -> ir.Value:
    """A boolean operand of =, <, in, between or is null, kept whole: Ibis 12 drops its parentheses
    (`(not x) is null` becomes `NOT x IS NULL`), which changes the meaning; a call cannot split."""
    return ibis.coalesce(expr, ibis.null("boolean")) if kind == "boolean" else expr


_CMP = {"=": op.eq, "!=": op.ne, "<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge}
_ARITH = {"+": op.add, "-": op.sub, "*": op.mul, "/": lambda a, b: a / b.nullif(0)}


class _Compiler:
    def __init__(self, table: ir.Table, name: str | None):
        self.t, self.name = table, name
        self.kinds = {c: _kind(t) for c, t in table.schema().items()}

    def fail(self, problem: str, pos: int, more: str | None = None):
        tail = f"; {more}" if more else ""
        raise RuleError(f"{problem} at character {pos}{tail}", name=self.name, position=pos)

    def need(self, node: Node, kinds: tuple[str, ...], what: str) -> tuple[ir.Value, str]:
        expr, kind = self.c(node)
        if kind == "null":  # a null literal takes the type wanted
            return ibis.null(_IBIS_TYPE[kinds[0]]), kinds[0]
        if kind not in kinds:
            self.fail(f"{what} needs {' or '.join(KINDS[k] for k in kinds)}, this is {KINDS[kind]}",
                      node.pos)
        return expr, kind

    def c(self, n: Node) -> tuple[ir.Value, str]:
        if isinstance(n, Literal):
            if n.kind == "null":
                return ibis.null(), "null"
            num = "int64" if isinstance(n.value, int) else "float64"  # no int8 overflows
            kind = num if n.kind == "number" else _IBIS_TYPE[n.kind]
            return ibis.literal(n.value, type=kind), n.kind
        if isinstance(n, Column):
            return self.column(n)
        if isinstance(n, Call):
            return self.call(n)
        o, args = n.op, n.args
        if o in ("and", "or", "not"):
            terms = [self.need(a, ("boolean",), f"'{o}'")[0] for a in args]
            if o == "not":
                return ~terms[0], "boolean"
            return _balanced(op.and_ if o == "and" else op.or_, terms), "boolean"
        if o == "neg" or o in _ARITH:
            xs = [self.need(a, ("number",), f"'{'-' if o == 'neg' else o}'")[0] for a in args]
            return (-xs[0] if o == "neg" else _ARITH[o](*xs)), "number"
        if o in ("is null", "is not null"):
            x = _whole(*self.c(args[0]))
            return (x.isnull() if o == "is null" else x.notnull()), "boolean"
        (x, kind), *rest = [self.c(a) for a in args]  # comparisons, in, between: one type
        for a, (_, k) in zip(args[1:], rest):
            self.same(kind, k, args[0].pos if kind == "null" else a.pos)
        x, ys = _whole(x, kind), [_whole(y, kind) for y, _ in rest]
        if o in _CMP:
            return _CMP[o](x, ys[0]), "boolean"
        if o.endswith("in"):
            return (x.notin(ys) if o == "not in" else x.isin(ys)), "boolean"
        return (~x.between(*ys) if o == "not between" else x.between(*ys)), "boolean"

    def same(self, a: str, b: str, pos: int) -> None:
        if "null" in (a, b):
            self.fail("comparing with null is never true", pos, "write 'is null' or 'is not null'")
        if a != b:
            hint = "write a date as date 'YYYY-MM-DD'" if {a, b} == {"date", "text"} else None
            self.fail(f"cannot compare {KINDS[a]} with {KINDS[b]}", pos, hint)

    def column(self, n: Column) -> tuple[ir.Value, str]:
        if n.name not in self.kinds:
            cols = list(self.kinds)
            near = [c for c in cols if c.lower() == n.name.lower()] or \
                difflib.get_close_matches(n.name, cols, 1, 0.6)
            listed = ", ".join(cols[:40]) + (f" and {len(cols) - 40} more" if len(cols) > 40 else "")
            self.fail(f"unknown column {n.name!r}", n.pos, f"columns are: {listed}"
                      + (f" (did you mean {near[0]!r}?)" if near else ""))
        if self.kinds[n.name] is None:
            self.fail(f"column {n.name!r} has type {self.t.schema()[n.name]}, which rules cannot "
                      "use", n.pos)
        return self.t[n.name], self.kinds[n.name]

    def call(self, n: Call) -> tuple[ir.Value, str]:
        f, args = n.func, n.args
        if f not in FUNCTIONS:  # only a hand-built Rule gets here; parse_rule checks this
            self.fail(f"unknown function {f!r}", n.pos)
        if f == "count":
            return self.t.count(), "number"
        if f in AGGREGATES:  # reductions of the whole table: Ibis makes them subqueries/windows
            kinds = ("number", "date", "text") if f in ("min", "max") else ("number",)
            col, kind = self.need(args[0], kinds, f"{f}()")
            if f == "quantile":
                return col.quantile(args[1].value), "number"
            # f is one of AGGREGATES, never user text: attribute access stays on our whitelist
            return getattr(col, f)(), "number" if f in ("mean", "median") else kind
        if f == "coalesce":  # one type for all arguments; null literals take it
            typed = [self.c(a) for a in args]
            kind = next((k for _, k in typed if k != "null"), "null")
            for a, (_, k) in zip(args, typed):
                if k not in (kind, "null"):
                    self.fail(f"coalesce() needs arguments of one type; this is {KINDS[k]}, not "
                              f"{KINDS[kind]}", a.pos)
            if kind == "null":
                return ibis.null(), "null"
            return ibis.coalesce(*(e if k != "null" else ibis.null(_IBIS_TYPE[kind])
                                   for e, k in typed)), kind
        if f == "lower":
            return self.need(args[0], ("text",), "lower()")[0].lower(), "text"
        x = self.need(args[0], ("number",), f"{f}()")[0]
        if f == "abs":
            return x.abs(), "number"
        return x.round(args[1].value if len(args) == 2 else 0), "number"


def compile_rule(rule: str | Rule, table: ir.Table, *, name: str | None = None) -> ir.BooleanValue:
    """The rule as a boolean over `table`: coalesce(rule, false), named after the segment."""
    rule = parse_rule(rule, name=name) if isinstance(rule, str) else rule
    name = name or rule.name
    expr, kind = _Compiler(table, name).c(rule.expr)
    if kind == "null":
        expr = ibis.null("boolean")
    elif kind != "boolean":
        raise RuleError(f"a segment rule must be true or false, this is {KINDS[kind]}", name=name)
    out = ibis.coalesce(expr, ibis.literal(False))
    return out.name(name) if name else out
