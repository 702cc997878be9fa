"""Kafka tables, and the Redis and Cassandra writers of window results."""
