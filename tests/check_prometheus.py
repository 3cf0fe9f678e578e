#!/usr/bin/python3
"""check_prometheus: checks a Prometheus text exposition (format 0.0.4) read on stdin and prints
its samples as JSON, [{"name": ..., "labels": {...}, "value": ...}, ...], for tests/test_metrics.

The text is parsed with prometheus_client's parser (Debian: python3-prometheus-client); since that
parser is lax (it accepts samples without a TYPE, repeated series, ...), the rules of the format
are checked here too: every line's grammar, one HELP and one TYPE before each family's samples,
a family's lines together, no series twice, counters named *_total and never negative,
histograms with increasing bounds, cumulative buckets, +Inf equal to _count, and a _sum.
Any violation, or any exception from the parser, prints the reason on stderr and exits 1."""

import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (%s)(?: -?[0-9]+)?$" % (NAME, LABEL, LABEL,
                                                                          VALUE))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
HELP_RE = re.compile(r"^# HELP (%s) (.+)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
SUFFIXES = {"counter": [""], "gauge": [""], "untyped": [""],
            "histogram": ["_bucket", "_sum", "_count"], "summary": ["", "_sum", "_count"]}


class Invalid(Exception):
    pass


def fail(lineno, line, why):
    raise Invalid("line %d: %s: %r" % (lineno, why, line))


class Family:
    def __init__(self, name):
        self.name, self.help, self.type, self.samples = name, None, None, []


def parse_value(text):
    return float(text.replace("Inf", "inf").replace("NaN", "nan"))


def check_lines(text):
    """The grammar and the grouping of families; returns them, in order."""
    if not text.endswith("\n"):
        raise Invalid("the text does not end with a newline")
    families, seen, current = [], set(), None
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        if line == "":
            continue
        m = HELP_RE.match(line) or TYPE_RE.match(line)
        if m is not None:
            name, what = m.group(1), "help" if line.startswith("# HELP") else "type"
            if current is None or current.name != name:
                if name in seen:
                    fail(lineno, line, "family %s appears twice" % name)
                if current is not None and current.type is None:
                    fail(lineno, line, "family %s has no TYPE" % current.name)
                current = Family(name)
                seen.add(name)
                families.append(current)
            if getattr(current, what) is not None:
                fail(lineno, line, "a second %s line for %s" % (what.upper(), name))
            if current.samples:
                fail(lineno, line, "%s after the samples of %s" % (what.upper(), name))
            setattr(current, what, m.group(2))
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if m is None:
            fail(lineno, line, "not a sample line")
        name = m.group(1)
        if current is None or current.type is None or \
                name not in [current.name + s for s in SUFFIXES[current.type]]:
            fail(lineno, line, "sample %s outside a family declared by HELP and TYPE" % name)
        labels = LABEL_RE.findall(m.group(2) or "")
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            fail(lineno, line, "a label given twice")
        if ("le" in names) != (current.type == "histogram" and name.endswith("_bucket")):
            fail(lineno, line, "le is the label of histogram buckets, and only theirs")
        current.samples.append((lineno, line, name, dict(labels), parse_value(m.group(3))))
    for f in families:
        if f.help is None or f.type is None:
            raise Invalid("family %s lacks its %s line" % (f.name, "HELP" if f.help is None
                                                          else "TYPE"))
    return families


def check_family(f):
    series = set()
    for lineno, line, name, labels, value in f.samples:
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            fail(lineno, line, "the same series twice")
        series.add(key)
        if f.type == "counter" and (math.isnan(value) or value < 0):
            fail(lineno, line, "a counter must be a number >= 0")
    if f.type == "counter" and not f.name.endswith("_total"):
        raise Invalid("counter %s is not named *_total" % f.name)
    if f.type == "histogram":
        check_histogram(f)


def check_histogram(f):
    groups = {}
    for lineno, line, name, labels, value in f.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"]), value, lineno, line))
        else:
            g[name[len(f.name) + 1:]] = value
    for rest, g in groups.items():
        what = "%s%s" % (f.name, dict(rest))
        bounds = [b for b, _, _, _ in g["buckets"]]
        if not bounds or bounds[-1] != math.inf:
            raise Invalid("%s has no le=\"+Inf\" bucket as its last" % what)
        for (b0, v0, _, _), (b1, v1, lineno, line) in zip(g["buckets"], g["buckets"][1:]):
            if b1 <= b0:
                fail(lineno, line, "bucket bounds must increase")
            if v1 < v0:
                fail(lineno, line, "buckets must be cumulative")
        if g["count"] is None or g["sum"] is None:
            raise Invalid("%s lacks _count or _sum" % what)
        if g["count"] != g["buckets"][-1][1]:
            raise Invalid("%s: _count %s differs from the +Inf bucket %s" % (
                what, g["count"], g["buckets"][-1][1]))


def parsed_samples(text, families):
    """prometheus_client's reading; it must see the same families, with their types."""
    out, types = [], {}
    for fam in text_string_to_metric_families(text):
        types.setdefault(fam.name, fam.type)
        for s in fam.samples:
            out.append({"name": s.name, "labels": s.labels, "value": s.value})
    for f in families:
        name = f.name[:-len("_total")] if f.type == "counter" else f.name
        if types.get(name) != f.type:
            raise Invalid("prometheus_client reads family %s as %s, not %s" % (
                f.name, types.get(name), f.type))
    if len(out) != sum(len(f.samples) for f in families):
        raise Invalid("prometheus_client found %d samples, the lines hold %d" % (
            len(out), sum(len(f.samples) for f in families)))
    return out


def main():
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
        families = check_lines(text)
        for f in families:
            check_family(f)
        samples = parsed_samples(text, families)
        out = json.dumps(samples, allow_nan=False)  # hbpoold's values are all finite
    except Invalid as e:
        print("check_prometheus: %s" % e, file=sys.stderr)
        return 1
    except Exception as e:  # the parser's own complaints, bad UTF-8, ...
        print("check_prometheus: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
