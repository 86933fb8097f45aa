"""Segment rules: every construct against plain Python, every error with its message, and fuzzing."""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime as dt
import operator
import os
import subprocess

import ibis
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenure.analytics.rules import Call, Rule, RuleError, columns_used, compile_rule, parse_rule
from tenure.errors import TenureError

D = dt.date
COLS = ("customer_id", "orders", "spend", "spend_365", "days_since_last", "consent_email",
        "days_since_open", "days_since_click", "country", "first_purchase")
ROWS = [dict(zip(COLS, r)) for r in [
    ("c01", 0, 0.0, 0.0, None, True, None, None, "GB", D(2023, 3, 1)),
    ("c02", 1, 25.5, 25.5, 400, True, 500, None, "GB", D(2023, 11, 20)),
    ("c03", 2, 80.25, 0.0, 380, False, 10, 20, "FR", D(2022, 5, 5)),
    ("c04", 3, 150.0, 150.0, 12, True, 2, 3, "FR", D(2024, 1, 15)),
    ("c05", 5, 420.75, 300.5, 5, None, None, None, "DE", D(2021, 7, 30)),
    ("c06", 1, 12.5, 12.5, 200, True, 370, 400, "US", D(2025, 2, 1)),
    ("c07", 8, 999.0, 610.25, 1, True, 1, 1, "GB", D(2020, 12, 31)),
    ("c08", 2, 60.0, 0.0, 700, False, None, 800, "it's", D(2023, 1, 1)),
    ("c09", 4, 210.5, 95.75, 30, None, 366, 365, "DE", D(2024, 6, 30)),
    ("c10", 0, 0.0, 0.0, None, False, None, None, "US", D(2025, 5, 5)),
    ("c11", 6, 333.25, 333.25, 60, True, 20, None, "GB", D(2023, 8, 8)),
    ("c12", 2, 45.0, 45.0, 90, True, 400, 366, "FR", D(2024, 1, 31)),
]]
SCHEMA = pa.schema([("customer_id", pa.string()), ("orders", pa.int64()), ("spend", pa.float64()),
                    ("spend_365", pa.float64()), ("days_since_last", pa.int64()),
                    ("consent_email", pa.bool_()), ("days_since_open", pa.int64()),
                    ("days_since_click", pa.int64()), ("country", pa.string()),
                    ("first_purchase", pa.date32())])
T = ibis.memtable(pa.Table.from_pylist(ROWS, schema=SCHEMA))
CON = ibis.duckdb.connect()
ALL = {r["customer_id"] for r in ROWS}


def members(rule: str) -> set[str]:
    return set(CON.to_pyarrow(T.filter(compile_rule(rule, T)))["customer_id"].to_pylist())


def where(pred) -> set[str]:
    """Customers for whom pred is True (pred returns None for SQL null)."""
    return {r["customer_id"] for r in ROWS if (v := pred(r)) is not None and bool(v)}


def gt(a, b):  # SQL comparison: null in, null out
    return None if a is None or b is None else a > b


def vals(col):
    return np.array([r[col] for r in ROWS if r[col] is not None], dtype=float)


CASES = [
    ("orders > 2", lambda r: r["orders"] > 2),
    ("orders = 2", lambda r: r["orders"] == 2),
    ("orders == 2", lambda r: r["orders"] == 2),
    ("orders != 2", lambda r: r["orders"] != 2),
    ("orders <> 2", lambda r: r["orders"] != 2),
    ("orders <= 1", lambda r: r["orders"] <= 1),
    ("orders >= 5", lambda r: r["orders"] >= 5),
    ("spend < 25.5", lambda r: r["spend"] < 25.5),
    ("spend >= .5", lambda r: r["spend"] >= 0.5),
    ("days_since_last > 300", lambda r: gt(r["days_since_last"], 300)),
    ("not days_since_last > 300", lambda r: None if r["days_since_last"] is None
     else not r["days_since_last"] > 300),
    ("days_since_last is null", lambda r: r["days_since_last"] is None),
    ("days_since_last IS NOT NULL", lambda r: r["days_since_last"] is not None),
    ("consent_email", lambda r: r["consent_email"]),
    ("not consent_email", lambda r: None if r["consent_email"] is None else not r["consent_email"]),
    ("consent_email or orders >= 4", lambda r: True if r["consent_email"] or r["orders"] >= 4 else
     None if r["consent_email"] is None else False),
    ("consent_email = false", lambda r: r["consent_email"] is False),
    ("coalesce(consent_email, true)", lambda r: r["consent_email"] is not False),
    ("country in ('GB', \"FR\")", lambda r: r["country"] in ("GB", "FR")),
    ("country not in ('GB', 'FR', 'it''s')", lambda r: r["country"] not in ("GB", "FR", "it's")),
    ("country = \"it's\"", lambda r: r["country"] == "it's"),
    ("lower(country) = 'gb'", lambda r: r["country"] == "GB"),
    ("orders between 2 and 4", lambda r: 2 <= r["orders"] <= 4),
    ("orders not between 2 and 4", lambda r: not 2 <= r["orders"] <= 4),
    ("days_since_open between 1 and 370", lambda r: None if r["days_since_open"] is None
     else 1 <= r["days_since_open"] <= 370),
    ("first_purchase >= date '2024-01-15'", lambda r: r["first_purchase"] >= D(2024, 1, 15)),
    ("first_purchase between date '2023-01-01' and date '2023-12-31'",
     lambda r: r["first_purchase"].year == 2023),
    ("spend * 2 - 1 > orders * 100", lambda r: r["spend"] * 2 - 1 > r["orders"] * 100),
    ("1 + 2 * 3 = 7 and -orders * 2 < -5", lambda r: -r["orders"] * 2 < -5),
    ("spend - spend_365 - 10 > 0", lambda r: r["spend"] - r["spend_365"] - 10 > 0),
    ("spend / orders > 50", lambda r: r["orders"] != 0 and r["spend"] / r["orders"] > 50),
    ("spend / 0 is null", lambda r: True),
    ("abs(spend_365 - 100) < 60", lambda r: abs(r["spend_365"] - 100) < 60),
    ("round(spend) in (13, 421)", lambda r: r["spend"] in (12.5, 420.75)),  # halves away from 0
    ("round(spend_365, 1) = 95.8 or round(spend, -2) = 400", lambda r: r["customer_id"] in ("c05", "c09")),
    ("coalesce(days_since_open, days_since_click, 0) > 300",
     lambda r: next((v for v in (r["days_since_open"], r["days_since_click"], 0) if v is not None)) > 300),
    ("(not consent_email) is null", lambda r: r["consent_email"] is None),  # Ibis drops these parens
    ("(orders > 1) in (consent_email, false)", lambda r: r["orders"] <= 1 or r["consent_email"] is True),
    ("true", lambda r: True),
    ("false", lambda r: False),
    ("null", lambda r: None),
    ("orders > 0 OR NOT consent_email AnD spend = 0", lambda r: r["orders"] > 0 or r["consent_email"] is False),
    ("(orders > 0 or consent_email) and spend = 0", lambda r: r["spend"] == 0 and r["consent_email"] is True),
    ("count() = 12", lambda r: True),
    ("spend > mean(spend)", lambda r: r["spend"] > np.mean(vals("spend"))),
    ("days_since_open > mean(days_since_open)", lambda r: gt(r["days_since_open"], np.mean(vals("days_since_open")))),
    ("spend >= median(spend)", lambda r: r["spend"] >= np.median(vals("spend"))),
    ("days_since_last = max(days_since_last) or days_since_last = min(days_since_last)",
     lambda r: r["days_since_last"] in (1, 700)),
    ("first_purchase = min(first_purchase) or country = max(country)",
     lambda r: r["customer_id"] in ("c07", "c08")),
    ("spend_365 > 0 and spend_365 >= quantile(spend_365, 0.8)",
     lambda r: r["spend_365"] > 0 and r["spend_365"] >= np.quantile(vals("spend_365"), 0.8)),
    ("consent_email and (days_since_open is null or days_since_open > 365) "
     "and (days_since_click is null or days_since_click > 365)",
     lambda r: r["consent_email"] is True and (r["days_since_open"] or 999) > 365
     and (r["days_since_click"] or 999) > 365),
]


@pytest.mark.parametrize(("rule", "pred"), CASES, ids=[c[0][:40] for c in CASES])
def test_membership_matches_python(rule, pred):
    assert members(rule) == where(pred)


def test_segment_is_never_null_and_agrees_as_column_and_filter():
    rule = "spend_365 > 0 and spend_365 >= quantile(spend_365, 0.8) or consent_email"
    out = CON.to_pyarrow(T.mutate(compile_rule(rule, T, name="vip")).select("customer_id", "vip"))
    assert None not in out["vip"].to_pylist()
    assert {c for c, v in zip(out["customer_id"].to_pylist(), out["vip"].to_pylist()) if v} == members(rule)


@pytest.mark.parametrize("q", [0, 0.1, 0.25, 0.5, 0.8, 0.95, 1])
@pytest.mark.parametrize("col", ["spend_365", "days_since_open"])
def test_aggregates_match_numpy(col, q):
    x = vals(col)
    if q in (0.5, 0.8, 0.95) and col == "spend_365":  # data that tells linear from nearest rank
        assert np.quantile(x, q) not in set(x)
    for rule in (f"quantile({col}, {q})", f"mean({col})", f"median({col})"):
        expected = {"quantile": np.quantile(x, q), "mean": x.mean(), "median": np.median(x)}[rule[:rule.index("(")]]
        assert members(f"abs({rule} - {float(expected)!r}) < 0.000001") == ALL, rule


COLUMNS = ", ".join(COLS)
ERRORS = [
    ("spendd > 0", f"segment 'vip': unknown column 'spendd' at character 1; columns are: {COLUMNS} "
                   "(did you mean 'spend'?)"),
    ("Orders > 0", f"segment 'vip': unknown column 'Orders' at character 1; columns are: {COLUMNS} "
                   "(did you mean 'orders'?)"),
    ("orders in ()", "segment 'vip': syntax error at character 12: unexpected ')'; expected a value"),
    ("orders > 1 )", "segment 'vip': syntax error at character 12: unexpected ')'; expected the end of "
                     "the rule"),
    ("(orders > 1", "segment 'vip': syntax error at character 12: unexpected end of rule; expected ')'"),
    ("orders >", "segment 'vip': syntax error at character 9: unexpected end of rule; expected a value"),
    ("orders between 1", "segment 'vip': syntax error at character 17: unexpected end of rule; expected 'and'"),
    ("orders is 1", "segment 'vip': syntax error at character 11: unexpected '1'; expected 'not' or 'null'"),
    ("1 < orders < 3", "segment 'vip': syntax error at character 12: unexpected '<'; expected an operator "
                       "or the end of the rule"),
    ("country = 'GB", "segment 'vip': syntax error at character 11: unterminated string"),
    ("   ", "segment 'vip': the rule is empty"),
    ("spend + 1", "segment 'vip': a segment rule must be true or false, this is a number"),
    ("lower(country)", "segment 'vip': a segment rule must be true or false, this is text"),
    ("country > 5", "segment 'vip': cannot compare text with a number at character 11"),
    ("first_purchase > '2024-01-01'", "segment 'vip': cannot compare a date with text at character 18; "
                                      "write a date as date 'YYYY-MM-DD'"),
    ("orders in (1, 'x')", "segment 'vip': cannot compare a number with text at character 15"),
    ("orders between 1 and date '2024-01-01'", "segment 'vip': cannot compare a number with a date at "
                                               "character 22"),
    ("orders = null", "segment 'vip': comparing with null is never true at character 10; write 'is null' "
                      "or 'is not null'"),
    ("not spend", "segment 'vip': 'not' needs true or false, this is a number at character 5"),
    ("orders > 1 and spend", "segment 'vip': 'and' needs true or false, this is a number at character 16"),
    ("country * 2 > 1", "segment 'vip': '*' needs a number, this is text at character 1"),
    ("mean(country) > 1", "segment 'vip': mean() needs a number, this is text at character 6"),
    ("lower(orders) = 'x'", "segment 'vip': lower() needs text, this is a number at character 7"),
    ("coalesce(orders, 'x') = 1", "segment 'vip': coalesce() needs arguments of one type; this is text, "
                                  "not a number at character 18"),
    ("quantile(spend) > 1", "segment 'vip': wrong number of arguments to quantile() at character 1; "
                            "write quantile(column, q)"),
    ("spend > quantile(spend, 1.5)", "segment 'vip': the q of quantile(column, q) must be a number from "
                                     "0 to 1 at character 25"),
    ("spend > mean(spend * 2)", "segment 'vip': mean() takes a column name at character 14; write "
                                "mean(column)"),
    ("round(spend, 0.5) > 1", "segment 'vip': the n of round(x, n) must be a whole number from -10 to 10 "
                              "at character 14"),
    ("first_purchase = date '2024-02-30'", "segment 'vip': invalid date '2024-02-30' at character 23; "
                                           "write date 'YYYY-MM-DD'"),
    ("orders > 99999999999999999999", "segment 'vip': number too large at character 10"),
    ("orders > \u0663", "segment 'vip': syntax error at character 10: unexpected character '\u0663'"),
]
HOSTILE = [
    ("__import__('os').system('x')", "syntax error at character 17: unexpected character '.'"),
    ("().__class__", "syntax error at character 2: unexpected ')'; expected a value"),
    ("open('/etc/passwd')", "unknown function 'open' at character 1; functions are: quantile, mean, "
                            "median, min, max, count, abs, coalesce, lower, round"),
    ("spend; drop table orders", "syntax error at character 6: unexpected character ';'"),
    ('eval("1")', "unknown function 'eval' at character 1; functions are: quantile, mean, median, min, "
                  "max, count, abs, coalesce, lower, round"),
    ("lambda: 1", "syntax error at character 7: unexpected character ':'"),
    ("[x for x in y]", "syntax error at character 1: unexpected character '['"),
    ("spend.__class__", "syntax error at character 6: unexpected character '.'"),
    ("exec('x') or 1 = 1", "unknown function 'exec' at character 1; functions are: quantile, mean, "
                           "median, min, max, count, abs, coalesce, lower, round"),
    ("orders > 1 # comment", "syntax error at character 12: unexpected character '#'"),
    ("x' or '1'='1", "syntax error at character 2: unexpected \"' or '\"; expected an operator or '(' or "
                     "the end of the rule"),
]


@pytest.mark.parametrize(("rule", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_messages(rule, message):
    with pytest.raises(RuleError) as caught:
        compile_rule(rule, T, name="vip")
    assert str(caught.value) == message
    assert isinstance(caught.value, TenureError) and caught.value.exit_code == 2
    assert caught.value.rule_name == "vip"


@contextlib.contextmanager
def nothing_runs():
    """Any import, eval, exec, open or process start while parsing/compiling is recorded and fails."""
    calls = []

    def tripwire(what):
        def trip(*args, **kwargs):
            calls.append((what, args[:1]))
            raise AssertionError(f"{what} called")
        return trip
    saved = [(builtins, n, getattr(builtins, n)) for n in ("__import__", "eval", "exec", "open", "compile")]
    saved += [(os, "system", os.system), (os, "popen", os.popen), (subprocess, "Popen", subprocess.Popen)]
    for owner, attr, _ in saved:
        setattr(owner, attr, tripwire(attr))
    try:
        yield calls
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)
    assert calls == []


@pytest.mark.parametrize(("rule", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_rules_fail_cleanly_and_run_nothing(rule, message):
    compile_rule("orders > 1", T)  # warm up lazy imports outside the tripwire
    with nothing_runs():
        for attempt in (lambda: parse_rule(rule), lambda: compile_rule(rule, T, name="x")):
            try:
                attempt()
            except RuleError as e:
                caught = e
            else:
                raise AssertionError("no error")
    assert str(caught) == f"segment 'x': {message}" and caught.position is not None


def test_limits():
    with pytest.raises(RuleError, match=r"rule is too long \(2,001 characters; the limit is 2,000\)"):
        parse_rule("orders > 1" + " " * 1991)
    parse_rule("orders > 1" + " " * 1990)
    assert members("(" * 900 + "orders > 1" + ")" * 900) == members("orders > 1")  # no level
    with pytest.raises(RuleError, match="nested too deeply"):
        parse_rule("not " * 60 + "consent_email")
    with pytest.raises(RuleError, match="nested too deeply"):
        parse_rule("orders" + " + 1" * 60 + " > 0")
    assert members("not " * 40 + "consent_email") == where(lambda r: r["consent_email"])
    assert members(" or ".join(f"orders={i}" for i in range(140))) == ALL  # long chains are flat


def test_rule_is_a_frozen_ast_and_columns_used():
    rule = parse_rule("spend > quantile(spend_365, .5) and country in ('GB') and count() > 1", name="v")
    assert isinstance(rule, Rule) and rule.name == "v" and rule == parse_rule(rule.text, name="v")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.text = "x"
    assert columns_used(rule) == columns_used(rule.text) == {"spend", "spend_365", "country"}
    assert parse_rule("'it''s' = \"a \"\"b\"\"\"").expr.args[1].value == 'a "b"'
    with pytest.raises(RuleError, match="unknown function '__class__' at character 1"):
        compile_rule(Rule("", Call(1, "__class__", ())), T)  # hand-built trees are checked too
    median = np.quantile(vals("spend_365"), 0.5)
    assert members(rule) == where(lambda r: r["country"] == "GB" and r["spend"] > median)


# Hypothesis 1: arbitrary text, and soup of the language's own tokens, only ever give RuleError.
TOKENS = ["orders", "spend", "country", "consent_email", "first_purchase", "days_since_open", "nope",
          "and", "OR", "not", "in", "between", "is", "null", "true", "(", ")", ",", "+", "-", "*", "/",
          "=", "<>", "<", ">=", "1", "2.5", ".5", "'GB'", "date", "'2024-01-31'", "quantile", "mean",
          "count()", "abs", "coalesce", "lower", "round", "eval", "0.8", "'", ";", "."]


VALUES = ["orders", "spend", "country", "consent_email", "first_purchase", "days_since_open", "1",
          "-2.5", "'GB'", "null", "true", "date '2024-01-31'", "count()", "quantile(spend, .5)",
          "mean(days_since_open)", "max(country)", "abs(spend)", "lower(country)", "round(spend, 1)",
          "coalesce(days_since_open, 0)", "coalesce(consent_email, null)", "(orders > 1)"]
BINARY = ["and", "or", "=", "!=", "<", ">=", "+", "-", "*", "/", "in", "between", "is", "not"]
# Mostly well-formed but often ill-typed: value (op value)*, so the type checks get exercised.
SOUP = st.lists(st.tuples(st.sampled_from(BINARY), st.sampled_from(VALUES)), max_size=4).flatmap(
    lambda ops: st.sampled_from(VALUES).map(lambda first: " ".join([first, *(
        f"{o} ({v})" if o == "in" else f"{o} {v} and {v}" if o == "between" else
        "is null" if o == "is" else f"not in ({v})" if o == "not" else f"{o} {v}" for o, v in ops)])))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join), SOUP))
def test_any_text_gives_a_rule_or_a_rule_error(text):
    try:
        rule = parse_rule(text)
    except RuleError:
        return
    try:
        expr = compile_rule(rule, T)
    except RuleError:
        return
    CON.to_pyarrow(T.filter(expr).select("customer_id"))  # whatever compiles also runs


# Hypothesis 2: random well-typed ASTs, rendered to text, give on DuckDB the membership that the
# same AST gives in plain Python with SQL's null semantics. Numbers are exact in binary so that
# DuckDB's DECIMAL literals and Python floats agree; numeric depth is small so int64 cannot overflow.
NUM_COLS = ["orders", "spend", "spend_365", "days_since_last", "days_since_open", "days_since_click"]
AGG = {(f, c): (min if f == "min" else max)(r[c] for r in ROWS if r[c] is not None)
       for f in ("min", "max") for c in [*NUM_COLS, "country", "first_purchase"]}
LEVEL = {"or": 1, "and": 2, "not": 3, "cmp": 4, "in": 4, "between": 4, "isnull": 4, "neg": 7}
CMP = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, "<>": operator.ne, "<": operator.lt,
       "<=": operator.le, ">": operator.gt, ">=": operator.ge}
DATES = [D(2023, 1, 1), D(2024, 1, 15), D(2024, 1, 31)]


def leaf(kind):
    if kind == "n":
        cols = st.sampled_from([("col", c) for c in NUM_COLS])  # columns first, for varied answers
        return st.one_of(cols, cols, cols,
                         st.integers(-3, 30).map(lambda i: ("lit", i, str(i))),
                         st.sampled_from([("lit", 0.5, ".5"), ("lit", 1.25, "1.25"), ("lit", 12.5, "12.5")]),
                         st.sampled_from([("agg", f, c) for f in ("min", "max") for c in NUM_COLS]),
                         st.just(("count",)))
    if kind == "t":
        return st.sampled_from([("col", "country")] * 4 + [("lit", "GB", "'GB'"), ("lit", "gb", '"gb"'),
                                ("lit", "it's", "'it''s'"), ("lit", "FR", "'FR'"), ("agg", "max", "country")])
    if kind == "d":
        return st.sampled_from([("col", "first_purchase")] * 3 + [("agg", "min", "first_purchase"),
                                *[("lit", d, f"date '{d}'") for d in DATES]])
    return st.sampled_from([("col", "consent_email")] * 3 + [("lit", True, "true"), ("lit", False, "FALSE")])


@st.composite
def tree(draw, kind, depth, null_ok=True):
    """A well-typed AST of kind n(umber), t(ext), d(ate) or b(oolean); null_ok: may be a bare null."""
    if depth <= 0 or draw(st.integers(0, 3)) < (1 if kind in "nb" else 3):
        return draw(leaf(kind))

    def sub(k=kind, null_ok=True):
        return tree(k, min(depth - 1, 2) if k == "n" else depth - 1, null_ok)
    if kind == "n":
        form = draw(st.sampled_from(["+", "-", "*", "/", "neg", "abs", "coalesce", "coalesce_null"]))
        if form in ("neg", "abs"):
            return (form, draw(sub()))
        if form == "coalesce_null":
            return ("coalesce", draw(sub()), ("lit", None, "null"))
        return (form, draw(sub()), draw(sub())) if form == "coalesce" else ("arith", form, draw(sub()), draw(sub()))
    if kind in "td":
        return ("lower", draw(sub())) if kind == "t" and draw(st.booleans()) else ("coalesce", draw(sub()), draw(sub()))
    form = draw(st.sampled_from(["cmp", "threshold", "threshold", "in", "between", "isnull", "not",
                                 "and", "or", "and", "or", "null"]))
    k = draw(st.sampled_from("ntdb"))
    if form == "null":
        return ("lit", None, "null") if null_ok else draw(leaf("b"))
    if form == "threshold":  # a column-ish number against a value in the data's range: varied answers
        value = draw(st.integers(0, 500))
        return ("cmp", draw(st.sampled_from(list(CMP))), draw(sub("n")), ("lit", value, str(value)))
    if form == "cmp":
        return ("cmp", draw(st.sampled_from(list(CMP))), draw(sub(k, False)), draw(sub(k, False)))
    if form == "in":
        items = st.lists(sub(k, False), min_size=1, max_size=3)
        return ("in", draw(st.booleans()), draw(sub(k, False)), draw(items))
    if form == "between":
        return ("between", draw(st.booleans()), *(draw(sub(k, False)) for _ in range(3)))
    if form == "isnull":
        return ("isnull", draw(st.booleans()), draw(st.one_of(sub(k), st.just(("lit", None, "null")))))
    return (form, draw(sub())) if form == "not" else (form, draw(sub()), draw(sub()))


def render(n, up) -> tuple[str, int]:
    """Text with the fewest parentheses the precedence allows, and the level of its operator."""
    kw = (lambda w: w.upper()) if up else (lambda w: w)

    def wrap(child, level):
        text, own = render(child, up)
        return text if own >= level else f"({text})"
    tag = n[0]
    if tag == "lit":
        return (n[2] if n[2] not in ("true", "FALSE", "null") else kw(n[2])), 7 if n[2].startswith("-") else 8
    if tag == "col":
        return n[1], 8
    if tag in ("agg", "count"):
        return (f"{n[1]}({n[2]})" if tag == "agg" else "count()"), 8
    if tag in ("abs", "lower"):
        return f"{tag}({render(n[1], up)[0]})", 8
    if tag == "coalesce":
        return f"coalesce({render(n[1], up)[0]}, {render(n[2], up)[0]})", 8
    if tag == "arith":
        level = 5 if n[1] in "+-" else 6
        return f"{wrap(n[2], level)} {n[1]} {wrap(n[3], level + 1)}", level
    if tag == "neg":
        return f"- {wrap(n[1], 7)}", 7
    if tag == "not":
        return f"{kw('not')} {wrap(n[1], 3)}", 3
    if tag in ("and", "or"):
        return f"{wrap(n[1], LEVEL[tag])} {kw(tag)} {wrap(n[2], LEVEL[tag])}", LEVEL[tag]
    neg = kw("not ") if n[1] is True else ""
    if tag == "cmp":
        return f"{wrap(n[2], 5)} {n[1]} {wrap(n[3], 5)}", 4
    if tag == "in":
        return f"{wrap(n[2], 5)} {neg}{kw('in')} ({', '.join(render(i, up)[0] for i in n[3])})", 4
    if tag == "between":
        return f"{wrap(n[2], 5)} {neg}{kw('between')} {wrap(n[3], 5)} {kw('and')} {wrap(n[4], 5)}", 4
    return f"{wrap(n[2], 5)} {kw('is')} {neg}{kw('null')}", 4


def and3(a, b):
    return False if a is False or b is False else None if a is None or b is None else True


def ev(n, r):
    """SQL semantics in plain Python: None is null."""
    tag = n[0]
    if tag in ("lit", "col", "agg", "count"):
        return {"lit": lambda: n[1], "col": lambda: r[n[1]], "agg": lambda: AGG[n[1:]],
                "count": lambda: len(ROWS)}[tag]()
    args = [ev(x, r) for x in (n[1:] if tag not in ("arith", "cmp", "in", "between", "isnull") else n[2:])
            if not isinstance(x, list)]
    if tag == "coalesce":
        return next((a for a in args if a is not None), None)
    if tag == "isnull":
        return (args[0] is None) != n[1]
    if tag in ("and", "or", "not"):
        if tag == "not":
            return None if args[0] is None else not args[0]
        if tag == "and":
            return and3(*args)
        return not3(and3(not3(args[0]), not3(args[1])))
    if None in args[:1] or (tag in ("neg", "abs", "lower", "arith", "cmp") and None in args):
        return None
    if tag in ("neg", "abs", "lower"):
        return {"neg": operator.neg, "abs": abs, "lower": str.lower}[tag](args[0])
    if tag == "arith":
        a, b = args
        return None if n[1] == "/" and b == 0 else {"+": operator.add, "-": operator.sub,
                                                    "*": operator.mul, "/": operator.truediv}[n[1]](a, b)
    if tag == "cmp":
        return CMP[n[1]](*args)
    if tag == "between":
        x, lo, hi = args
        out = and3(None if lo is None else x >= lo, None if hi is None else x <= hi)
    else:
        items = [ev(i, r) for i in n[3]]
        out = True if args[0] in [i for i in items if i is not None] else None if None in items else False
    return not3(out) if n[1] is True else out


def not3(a):
    return None if a is None else not a


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree("b", 4), st.booleans())
def test_generated_rules_match_python_semantics(ast, up):
    text = render(ast, up)[0]
    assert members(text) == where(lambda r: ev(ast, r)), text
