package topk.udfs;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.MapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;

/**
 * The groups one event is counted in: {@code ("all", "all")}, then one {@code (dimension, value)}
 * per dimension it carries. One table function instead of a UNION ALL of one projection per
 * dimension keeps parse, fan-out and the local pre-aggregate chained on one thread (a union is a
 * network hop, and copies each row per branch); internal data structures in and out, so no string
 * is converted on the way.
 *
 * <p>A tenant's dimension takes at most {@code maxValues} values per finest window on this subtask,
 * the first to come; an event with another value is counted under {@value ValuesPerWindow#OTHER}. So
 * a flood of new values costs the window aggregate at most {@code maxValues + 1} groups a window per
 * subtask, not one per value ({@link ValuesPerWindow} then bounds them across subtasks). The values
 * taken are kept in memory until the watermark has passed their window by the allowed lateness (no
 * event can reach it then): at most {@code maxValues} per tenant and dimension of each window between
 * the watermark and the newest event of this subtask. After a restart they are taken afresh, so which
 * values of a flooded window are kept may differ from a run without one (every event is counted either
 * way). Metric: {@code topk.eventsInOther}, the events counted under {@value ValuesPerWindow#OTHER} here.
 *
 * <p>Call: {@code LATERAL TABLE(groups_of(dims, tenant, event_time, CURRENT_WATERMARK(event_time),
 * <finest window ms>, <allowed lateness ms>, <max values>))}.
 */
@FunctionHint(
        input = {
            @DataTypeHint(value = "MAP<STRING, STRING>", bridgedTo = MapData.class),
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class),
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class),
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class),
            @DataTypeHint("BIGINT"),
            @DataTypeHint("BIGINT"),
            @DataTypeHint("INT")
        },
        output = @DataTypeHint(value = "ROW<dim STRING, val STRING>", bridgedTo = RowData.class))
public class GroupsOf extends TableFunction<RowData> {
    private static final StringData ALL = StringData.fromString("all");
    private static final StringData OTHER = StringData.fromString(ValuesPerWindow.OTHER);

    private transient Counter inOther;

    @Override
    public void open(FunctionContext context) {
        inOther = context.getMetricGroup().addGroup("topk").counter("eventsInOther");
    }

    /** Window start -> tenant -> dimension -> the values taken (copies: a row's strings may be reused). */
    private final TreeMap<Long, Map<StringData, Map<StringData, Set<StringData>>>> taken = new TreeMap<>();

    public void eval(MapData dims, StringData tenant, TimestampData eventTime, TimestampData watermark, Long windowMs,
            Long latenessMs, Integer maxValues) {
        collect(GenericRowData.of(ALL, ALL));
        if (dims == null || dims.size() == 0) {
            return;
        }
        long start = Math.floorDiv(eventTime.getMillisecond(), windowMs) * windowMs;
        if (watermark != null) { // windows ending at or before this take no more events
            long closed = watermark.getMillisecond() - latenessMs;
            while (!taken.isEmpty() && taken.firstKey() + windowMs <= closed && taken.firstKey() != start) {
                taken.pollFirstEntry();
            }
        }
        Map<StringData, Map<StringData, Set<StringData>>> window = taken.computeIfAbsent(start, s -> new HashMap<>());
        Map<StringData, Set<StringData>> ofTenant = window.get(tenant);
        if (ofTenant == null) {
            ofTenant = new HashMap<>();
            window.put(copy(tenant), ofTenant);
        }
        ArrayData names = dims.keyArray();
        ArrayData values = dims.valueArray();
        for (int i = 0; i < dims.size(); i++) {
            StringData name = names.getString(i);
            StringData value = values.getString(i);
            Set<StringData> kept = ofTenant.get(name);
            if (kept == null) {
                kept = new HashSet<>();
                ofTenant.put(copy(name), kept);
            }
            if (!kept.contains(value)) {
                if (kept.size() < maxValues) {
                    kept.add(copy(value));
                } else {
                    value = OTHER;
                    inOther.inc();
                }
            }
            collect(GenericRowData.of(name, value));
        }
    }

    private static StringData copy(StringData s) {
        return s instanceof BinaryStringData binary ? binary.copy() : StringData.fromString(s.toString());
    }
}
