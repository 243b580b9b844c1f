"""The one exception type for input we cannot use.

Every reader turns "file missing / empty / truncated / corrupt / not what we
expected" into an :class:`InputError`.  The CLI prints it as a single line
(``tsdiag: error: <file>: <problem>``) and exits with code 2, so a user never
sees a traceback for a bad file and a CI job can tell "bad input" (2) from
"findings" (1).
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A file or argument that cannot be used.

    ``source`` names what was wrong (usually a path), ``problem`` says why in
    words a user can act on.
    """

    def __init__(self, source: str | Path, problem: str):
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class UnsafeInputError(InputError):
    """A checkpoint that would need arbitrary unpickling to read.

    Kept distinct so that callers (and tests) can tell "refused for safety"
    from "broken file".
    """
