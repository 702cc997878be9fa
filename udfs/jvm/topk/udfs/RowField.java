package topk.udfs;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.types.Row;

/**
 * One string field of a row as UTF-8 bytes (null stays null): the key or the value of a Kafka record
 * whose parts a Python operator made ({@code connectors/kafka_sinks.py}).
 */
public class RowField implements SerializationSchema<Row> {
    private final int index;

    public RowField(int index) {
        this.index = index;
    }

    @Override
    public byte[] serialize(Row row) {
        Object field = row.getField(index);
        return field == null ? null : field.toString().getBytes(StandardCharsets.UTF_8);
    }
}
