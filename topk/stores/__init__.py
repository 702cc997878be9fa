"""The stores, with no Flink: how to reach Kafka, Redis, Cassandra and the S3 archive (settings,
credentials, TLS), and what is kept in each (the Redis key schema, the Cassandra schema and its
bucketing, the archive's Parquet layout). The job's sinks (``connectors``) and the query side
(``topk.query``) both stand on these."""
