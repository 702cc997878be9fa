"""Flink job entry points: each wires source -> operators -> sinks."""
