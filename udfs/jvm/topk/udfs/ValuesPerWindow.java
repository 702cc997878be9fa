package topk.udfs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * At most {@code maxValues} values of one tenant's dimension per finest window reach the sketch
 * operator (udfs/route.py's rows, keyed here by tenant and dimension): the values with the largest
 * totals (ties by value), while the rest are folded into one row of value {@value #OTHER}, so a
 * client that sends a million distinct values makes at most {@code maxValues + 1} groups a window,
 * and every event is still counted (the dimension's totals stay exact). {@code all} has one value and
 * passes as it is. A late row (one event's summary) keeps its value if the window kept it, or while
 * the window has fewer than {@code maxValues}; else it joins {@value #OTHER}. Metric: {@code
 * topk.valuesFolded}, the values folded into {@value #OTHER}.
 *
 * <p>A window's rows are held in keyed state until the watermark passes the window's last
 * millisecond (the window aggregate emits them all before that watermark), then decided at once.
 */
public class ValuesPerWindow extends KeyedProcessFunction<String, Row, Row> {
    public static final String OTHER = "(other)";
    private static final int TOTAL_AT = 26; // ItemSummary.serialize: "HH" v1, length, "SS" v2, capacity, n, floor

    private final int maxValues;
    private final long finestMs;
    private final long lateness;
    private final TypeInformation<Row> rowType;

    private transient MapState<Tuple2<Long, String>, Row> pending; // (window's last ms, value) -> its row
    private transient MapState<Long, List<String>> kept; // window start -> values kept (with allowed lateness)
    private transient Counter folded;

    ValuesPerWindow(int maxValues, long finestMs, long lateness, TypeInformation<Row> rowType) {
        this.maxValues = maxValues;
        this.finestMs = finestMs;
        this.lateness = lateness;
        this.rowType = rowType;
    }

    /** {@code rows} (summary and late rows) with at most {@code maxValues} values per tenant, dimension and window. */
    public static DataStream<Row> limit(DataStream<Row> rows, int maxValues, long finestMs, long lateness) {
        return rows.keyBy(new TenantDimension())
                .process(new ValuesPerWindow(maxValues, finestMs, lateness, rows.getType()), rows.getType())
                .name("values per window");
    }

    /** The key: tenant and dimension (no tenant id holds a NUL). */
    static final class TenantDimension implements KeySelector<Row, String> {
        @Override
        public String getKey(Row row) {
            return row.getFieldAs("tenant") + "\0" + row.getFieldAs("dim");
        }
    }

    @Override
    public void open(OpenContext context) {
        pending = getRuntimeContext().getMapState(
                new MapStateDescriptor<>("pending", Types.TUPLE(Types.LONG, Types.STRING), rowType));
        kept = getRuntimeContext().getMapState(new MapStateDescriptor<>("kept", Types.LONG, Types.LIST(Types.STRING)));
        folded = getRuntimeContext().getMetricGroup().addGroup("topk").counter("valuesFolded");
    }

    @Override
    public void processElement(Row row, Context ctx, Collector<Row> out) throws Exception {
        if ("all".equals(row.getFieldAs("dim"))) {
            out.collect(row);
        } else if ("late".equals(row.getFieldAs("kind"))) {
            out.collect(late(row, ctx.timestamp(), ctx));
        } else { // a summary row: its window's last millisecond
            pending.put(Tuple2.of(ctx.timestamp(), row.getFieldAs("val")), row);
            ctx.timerService().registerEventTimeTimer(ctx.timestamp());
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
        List<Row> rows = new ArrayList<>();
        for (Iterator<Map.Entry<Tuple2<Long, String>, Row>> it = pending.iterator(); it.hasNext(); ) {
            Map.Entry<Tuple2<Long, String>, Row> e = it.next();
            if (e.getKey().f0 == timestamp) {
                rows.add(e.getValue());
                it.remove();
            }
        }
        long start = timestamp + 1 - finestMs;
        if (!rows.isEmpty()) {
            List<String> values = decide(rows, kept.contains(start) ? kept.get(start) : List.of(), out);
            if (lateness > 0) {
                kept.put(start, values);
                ctx.timerService().registerEventTimeTimer(start + finestMs + lateness);
            }
        }
        for (Iterator<Long> it = kept.keys().iterator(); it.hasNext(); ) {
            if (it.next() + finestMs + lateness <= timestamp) { // past its lateness: no late row can come
                it.remove();
            }
        }
    }

    /**
     * Emits the rows of one window's values in {@code already} (late rows took them before the window
     * was decided), then of the values with the largest totals up to {@code maxValues}, and one of the
     * rest (with the {@value #OTHER} row {@link GroupsOf} made, if any); the values kept.
     */
    private List<String> decide(List<Row> rows, List<String> already, Collector<Row> out) {
        List<Row> rest = new ArrayList<>();
        List<Row> values = new ArrayList<>();
        for (Row row : rows) {
            (OTHER.equals(row.getFieldAs("val")) ? rest : values).add(row);
        }
        values.sort((a, b) -> {
            boolean aFirst = already.contains(a.<String>getFieldAs("val"));
            int first = Boolean.compare(already.contains(b.<String>getFieldAs("val")), aFirst);
            int byTotal = first != 0 ? first : Long.compare(total(b), total(a));
            return byTotal != 0 ? byTotal : ItemSummary.compareCodePoints(a.getFieldAs("val"), b.getFieldAs("val"));
        });
        List<String> kept = new ArrayList<>(already);
        int room = Math.max(maxValues - already.size(), 0);
        for (Row row : values) {
            String value = row.getFieldAs("val");
            if (already.contains(value) || room-- > 0) {
                if (!kept.contains(value)) {
                    kept.add(value);
                }
                out.collect(row);
            } else {
                folded.inc();
                rest.add(row);
            }
        }
        if (!rest.isEmpty()) {
            List<byte[]> summaries = new ArrayList<>(rest.size());
            for (Row row : rest) {
                summaries.add(row.getFieldAs("summary"));
            }
            out.collect(asOther(rest.get(0), rest.size() == 1 ? summaries.get(0) : ItemSummary.folded(summaries)));
        }
        return kept;
    }

    private Row late(Row row, long eventMs, Context ctx) throws Exception {
        long start = Math.floorDiv(eventMs, finestMs) * finestMs;
        List<String> values = kept.contains(start) ? new ArrayList<>(kept.get(start)) : new ArrayList<>();
        String value = row.getFieldAs("val");
        if (values.contains(value) || OTHER.equals(value)) {
            return row;
        }
        if (values.size() < maxValues) {
            values.add(value);
            kept.put(start, values);
            ctx.timerService().registerEventTimeTimer(start + finestMs + lateness);
            return row;
        }
        folded.inc();
        return asOther(row, row.getFieldAs("summary"));
    }

    private static Row asOther(Row template, byte[] summary) {
        Row other = Row.copy(template);
        other.setField("val", OTHER);
        other.setField("summary", summary);
        return other;
    }

    private static long total(Row row) {
        byte[] summary = row.getFieldAs("summary");
        return ByteBuffer.wrap(summary).order(ByteOrder.LITTLE_ENDIAN).getLong(TOTAL_AT);
    }
}
