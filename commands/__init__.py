"""Thin Typer command modules: each parses its arguments and calls the library.

Shipped inside the package as ``vlparse.commands``. Importing a command module must stay
cheap (no torch / transformers at import time), so ``vlparse render`` and ``--help`` start fast.
"""

from __future__ import annotations


def REGISTRY():  # noqa: N802 - a constant-like accessor
    """(name, function, help, epilog) for every command, in the order ``--help`` lists them."""
    from vlparse.commands import env

    cmds = [env.COMMAND]
    for mod in ("doc", "ground", "extract", "eval", "render", "bench", "probe"):
        try:
            m = __import__(f"{__name__}.{mod}", fromlist=["COMMAND"])
        except ModuleNotFoundError as e:  # a command module not written yet
            if e.name != f"{__name__}.{mod}":
                raise
            continue
        cmds.append(m.COMMAND)
    order = {"doc": 0, "ground": 1, "extract": 2, "eval": 3, "render": 4, "bench": 5, "probe": 6, "env": 7}
    return sorted(cmds, key=lambda c: order.get(c[0], 9))
