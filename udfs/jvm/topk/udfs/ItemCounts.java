package topk.udfs;

import java.util.HashMap;
import java.util.Map;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * Exact weight per item of one group (one window and dimension value), as a JSON object
 * {@code {item: weight}}. One accumulator per group, so keyed state is touched once per group
 * and flush, not once per distinct item.
 */
public class ItemCounts extends AggregateFunction<String, ItemCounts.Counts> {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The accumulator: weight per item so far. */
    public static class Counts {
        @DataTypeHint("MAP<STRING, BIGINT>")
        public Map<String, Long> weights = new HashMap<>();
    }

    @Override
    public Counts createAccumulator() {
        return new Counts();
    }

    public void accumulate(Counts acc, String item, Long weight) {
        acc.weights.merge(item, weight, Long::sum);
    }

    public void merge(Counts acc, Iterable<Counts> others) {
        for (Counts other : others) {
            other.weights.forEach((item, weight) -> acc.weights.merge(item, weight, Long::sum));
        }
    }

    @Override
    public String getValue(Counts acc) {
        try {
            return JSON.writeValueAsString(acc.weights);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
