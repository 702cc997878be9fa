"""Reading top-K results back from Redis and Cassandra."""
