package topk.udfs;

import java.util.Set;
import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.types.Row;

/**
 * Keeps the rows of the routed stream ({@code udfs/route.py}) whose {@code kind} (the first field)
 * is one of the given kinds, comma-separated. A filter in the JVM, so a branch's Python operator
 * receives only its own rows (summary rows never cross into the dead-letter worker).
 */
public class KindIs implements FilterFunction<Row> {
    private final Set<String> kinds;

    public KindIs(String kinds) {
        this.kinds = Set.of(kinds.split(","));
    }

    @Override
    public boolean filter(Row row) {
        return kinds.contains((String) row.getField(0));
    }
}
