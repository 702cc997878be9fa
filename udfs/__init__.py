"""Flink operators: event parsing (SQL), window pre-aggregation (SQL) and the sketch function."""
