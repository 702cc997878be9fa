"""Validate job flags before submitting, so a bad flag fails at once with a clear message:

python -m jobs.settings_check --windows 1m,7m --k 10   ->  exit 2: window 7m is not a multiple ...
"""

from __future__ import annotations

import sys

from jobs.settings import parse_args

if __name__ == "__main__":
    try:
        parse_args(sys.argv[1:])
    except ValueError as err:
        sys.exit(f"invalid job settings: {err}")
