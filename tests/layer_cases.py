"""Every layer configuration that goes through the shared harness: the
`CASES` of each family's `tests/<family>/cases.py`."""

from tests.families import collect

CASES = collect("cases", "CASES")
