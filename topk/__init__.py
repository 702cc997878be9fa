"""The foundation: Flink-free definitions every other package may import (window sizes and
retention, time text, the window result). It imports none of them (checked by the import
contracts in pyproject.toml)."""
