"""Store writes deferred to the end of a PyFlink bundle, so a bundle's results cost one round trip
to a store instead of one each, and are all written before any checkpoint that follows them.

PyFlink gives a Python function no hook at the end of a bundle nor before a checkpoint barrier.
What it does at the end of every bundle, before it answers the JVM that the bundle is done, is
read each gauge the function registered (``Operation.finish`` -> ``_update_gauge`` in
``pyflink/fn_execution/datastream/process/operations.py``); and a checkpoint barrier passes a
Python operator only after its current bundle is done (``prepareSnapshotPreBarrier`` ->
``invokeFinishBundle`` in ``AbstractPythonFunctionOperator``). A gauge that flushes the writes is
therefore a flush before every checkpoint: a result the checkpoint counts as emitted is in the
store, as with a write per result. Its value is the number of results the flush wrote.

Where the function has no metric group (``python.metric.enabled: false``) there is no such
call: the writer writes each result as it comes (``deferred`` is False).
"""

from __future__ import annotations

from collections.abc import Callable

from pyflink.datastream import RuntimeContext

MAX_DEFERRED = 500  # results held at most before a flush, whatever the bundle's size


def flush_at_bundle_end(runtime_context: RuntimeContext, name: str, flush: Callable[[], int]) -> bool:
    """Register ``flush`` to run at the end of every bundle (as the gauge ``name``); False if it
    cannot be, and the caller must not defer writes."""
    group = runtime_context.get_metrics_group()
    if group is None:
        return False
    group.gauge(name, flush)
    return True
