"""The project's namespace. At its top, the foundation: Flink-free definitions every other package
may import (``windows``: window sizes and retention; ``times``: time text; ``events``: the item
field per event type; ``window_result``), with ``sketches``; above them the query side
(``query``) and the stream generator (``generator``). The foundation imports none of the rest
(the import contracts in pyproject.toml)."""
