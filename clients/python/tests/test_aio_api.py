"""Every class, method, parameter, default and class attribute that AIOHappyBase 1.4's
documentation gives, for ``aiohappybase`` (hbpool.aio) and ``aiohappybase.sync``
(hbpool.aio.sync), compared with the package's by ``inspect.signature``.

The documented list is aiohappybase_api.txt, extracted from the documentation by
reference_api.py. On the happybase target the same test runs against aiohappybase 1.4.0 itself,
which proves the list. What the documentation does not say (which methods are coroutines) is
taken from aiohappybase 1.4.0, and checked against it the same way.
"""

import ast
import importlib
import inspect
import os
import re

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

# Deliberate differences, hbpool target only; each is also in clients/python/README.md.
DIFFERENCES = {
    # hbpoold's Unix socket (else $HBPOOL_SOCKET): the one thing hbpool needs to know that
    # AIOHappyBase has no argument for. Keyword-only, so positional calls are unchanged.
    ("aiohappybase.Connection", "socket"): inspect.Parameter.KEYWORD_ONLY,
    ("aiohappybase.sync.Connection", "socket"): inspect.Parameter.KEYWORD_ONLY,
}

# Coroutine functions of the asyncio flavour (aiohappybase 1.4.0's code; the documentation
# does not mark them). Everything else documented there is a plain method; the sync flavour
# has none.
COROUTINES = {
    "Connection": {"open", "tables", "create_table", "delete_table", "enable_table",
                   "disable_table", "is_table_enabled", "compact_table"},
    "Table": {"families", "column_family_names", "regions", "row", "rows", "cells", "put",
              "delete", "append", "counter_get", "counter_set", "counter_inc", "counter_dec"},
    "Batch": {"put", "delete", "counter_inc", "counter_dec", "send", "close"},
    "ConnectionPool": set(),
}
ASYNC_GENERATORS = {"Table": {"scan"}}
LINE = re.compile(r"^(?P<path>[\w.]+?)(?:\((?P<params>.*)\))?(?: -> (?P<returns>.+))?"
                  r"(?: = alias of (?P<alias>\S+))?$")


def documented():
    with open(os.path.join(HERE, "aiohappybase_api.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            match = LINE.match(line.rstrip("\n"))
            assert match, line
            yield match


def split_params(text):
    """Parameters at the top level of a documented list (brackets hold commas too)."""
    params, depth, current = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            params.append(current.strip())
            current = ""
            continue
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        current += ch
    if current.strip():
        params.append(current.strip())
    return params


def parse_param(text):
    """(name, kind, default) of a documented parameter like ``timeout: int = None``."""
    if text.startswith("**"):
        return text[2:], inspect.Parameter.VAR_KEYWORD, inspect.Parameter.empty
    name, _, default = text.partition("=")
    name = name.split(":")[0].strip()
    default = ast.literal_eval(default.strip()) if default else inspect.Parameter.empty
    return name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default


def resolve(path, flavours):
    """The object that a documented path names, in the module under test."""
    parts = path.split(".")
    if parts[1] == "sync":
        module, rest = flavours["sync"], parts[2:]
    else:
        module, rest = flavours["async"], parts[1:]
    obj = module
    for part in rest:
        if not hasattr(obj, part):
            return None, rest
        obj = getattr(obj, part)
    return obj, rest


@pytest.fixture(scope="module")
def flavours(aio, aio_sync):
    return {"async": aio, "sync": aio_sync}


ENTRIES = list(documented())


def test_the_list_covers_both_flavours():
    paths = [m.group("path") for m in ENTRIES]
    assert len(paths) == len(set(paths)) == 80
    for name in ("Connection", "Table", "Batch", "ConnectionPool", "NoConnectionsAvailable"):
        assert "aiohappybase." + name in paths
        assert "aiohappybase.sync." + name in paths


@pytest.mark.parametrize("entry", ENTRIES, ids=[m.group("path") for m in ENTRIES])
def test_documented_signature(entry, flavours, target):
    path = entry.group("path")
    obj, rest = resolve(path, flavours)
    assert obj is not None, "%s is documented but missing" % path
    if entry.group("alias"):
        module, _, name = entry.group("alias").rpartition(".")
        assert obj is getattr(importlib.import_module(module), name)
        return
    if entry.group("params") is None:  # a class documented without a signature
        assert inspect.isclass(obj)
        return
    wanted = [parse_param(p) for p in split_params(entry.group("params"))]
    try:
        actual = list(inspect.signature(obj).parameters.values())
    except ValueError:  # a builtin without a signature (Exception.with_traceback)
        assert callable(obj)
        return
    if len(rest) == 2:  # a method, read off its class: the first parameter is self
        actual = actual[1:]
    extra = {(path, p.name): p.kind for p in actual if p.name not in {w[0] for w in wanted}}
    allowed = {k: v for k, v in DIFFERENCES.items() if k[0] == path} if target == "hbpool" \
        else {}
    assert extra == allowed, "parameters that %s does not document" % path
    actual = [p for p in actual if (path, p.name) not in allowed]
    assert [(p.name, p.kind, p.default) for p in actual] == wanted


@pytest.mark.parametrize("cls", sorted(COROUTINES))
def test_coroutines_are_coroutines(cls, aio, aio_sync):
    documented_methods = {m.group("path").rsplit(".", 1)[1] for m in ENTRIES
                          if m.group("path").startswith("aiohappybase.%s." % cls)}
    for name in documented_methods:
        attr = getattr(getattr(aio, cls), name)
        if name == "QUEUE_TYPE" or inspect.isbuiltin(attr):
            continue
        assert inspect.iscoroutinefunction(attr) == (name in COROUTINES[cls]), name
        assert inspect.isasyncgenfunction(attr) == (name in ASYNC_GENERATORS.get(cls, ())), name
        sync_attr = getattr(getattr(aio_sync, cls), name, None)
        if sync_attr is not None and name != "QUEUE_TYPE":
            assert not inspect.iscoroutinefunction(sync_attr), name
            assert not inspect.isasyncgenfunction(sync_attr), name
