package topk.udfs;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.co.BroadcastProcessFunction;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.MapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.utils.JoinedRowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.IntType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.table.types.logical.utils.LogicalTypeUtils;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Per-tenant parameters applied to each parsed event, in the JVM (udfs/tenant_gate.py wires it).
 *
 * <p>The config topic's records (key: tenant id, value: JSON, null: back to the job's defaults) are
 * broadcast state: every subtask holds every tenant's versions, each effective from the first finest
 * window that starts at or after its record's Kafka timestamp. An event takes the version in force
 * at its event time, so a finest window never mixes two versions, and a replay picks the same ones.
 * The version decides the event's summary shape (capacity, Count-Min width and depth, added as
 * columns the aggregate reads), which of its dimensions count, its maximum weight
 * ({@code bad_weight}) and the tenant's quota of events per event-time second ({@code over_quota}),
 * and travels with it as {@code config} (JSON, every field filled in) to the sketch operator, which
 * reads k and the windows from it. Rejected events keep flowing, with their reason, to the dead
 * letters. A bad config record becomes one dead letter (reason {@code bad_config}, the why in
 * {@code detail}) and changes nothing.
 *
 * <p>Metrics: {@code topk.overQuota}, and per tenant with a config ({@code tenant} key-value group, a Prometheus
 * label): {@code eventsCounted} (events it let through to be counted), {@code overQuota}, and
 * {@code lateEvents} (let through, but late: dead-lettered downstream, taking no quota).
 *
 * <p>The quota is counted per subtask: each of P parallel subtasks admits ceil(quota / P) events of
 * a tenant per second (exact at parallelism 1; with more, it assumes the tenant's partitions share
 * its traffic evenly). The counts are operator state, so after a restore every event read again
 * is counted once against the counts of the checkpoint.
 */
public class TenantGate extends BroadcastProcessFunction<RowData, Row, RowData> implements CheckpointedFunction {
    static final MapStateDescriptor<String, String> VERSIONS =
            new MapStateDescriptor<>("tenant-configs", Types.STRING, Types.STRING);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int KEPT_VERSIONS = 16;
    /** The event-time seconds counted per tenant (a watermark stuck behind is the only way to reach it). */
    private static final int MAX_SECONDS = 3_600;
    private static final ListStateDescriptor<Tuple3<String, Long, Long>> COUNTED = new ListStateDescriptor<>(
            "quota-counts", Types.TUPLE(Types.STRING, Types.LONG, Types.LONG));
    static final List<RowType.RowField> ADDED = List.of(new RowType.RowField("capacity", new IntType()),
            new RowType.RowField("cms_width", new IntType()), new RowType.RowField("cms_depth", new IntType()),
            new RowType.RowField("config", VarCharType.STRING_TYPE),
            new RowType.RowField("detail", VarCharType.STRING_TYPE),
            new RowType.RowField("topic", VarCharType.STRING_TYPE));
    private static final StringData BAD_WEIGHT = StringData.fromString("bad_weight");
    private static final StringData OVER_QUOTA = StringData.fromString("over_quota");

    private final TenantConfig.Job job;
    private final long finestMs;
    private final long lateness; // the job's allowed lateness: events further behind the watermark are late
    private final String configTopic;
    private final int value, kafkaTs, partition, offset, reason, weight, dims, tenant, eventTs; // input positions
    private final RowData.FieldGetter[] fields; // of the input rows
    private final Map<String, TreeMap<Long, String>> preloaded;

    private transient Map<String, TreeMap<Long, Version>> versions; // null: to be read from broadcast state
    private transient Map<String, TreeMap<Long, long[]>> perSecond; // tenant -> second -> events counted
    private transient ListState<Tuple3<String, Long, Long>> counted; // perSecond, in checkpoints
    private transient long quotaShare;
    private transient Counter overQuota;
    private transient Map<String, Counter[]> perTenant; // events counted, dead-lettered over_quota
    private transient GenericRowData defaults; // the added fields of an event whose tenant has no config

    private record Version(TenantConfig config, String described) {}

    /** A record of the config topic (table {@code tenant_configs}); {@code tenant} null: no key, or not UTF-8. */
    private record ConfigRecord(String tenant, byte[] value, Instant setAt, Integer partition, Long offset) {
        static ConfigRecord of(Row row) {
            byte[] key = row.getFieldAs("key");
            String tenant = key == null ? null : new String(key, StandardCharsets.UTF_8);
            return new ConfigRecord(tenant, row.getFieldAs("value"), row.getFieldAs("kafka_ts"),
                    row.getFieldAs("partition"), row.getFieldAs("offset"));
        }
    }

    TenantGate(TenantConfig.Job job, long finestMs, long lateness, String configTopic, RowType in, String preloaded) {
        this.job = job;
        this.finestMs = finestMs;
        this.lateness = lateness;
        this.configTopic = configTopic;
        List<String> names = in.getFieldNames();
        this.value = names.indexOf("value");
        this.kafkaTs = names.indexOf("kafka_ts");
        this.partition = names.indexOf("partition");
        this.offset = names.indexOf("offset");
        this.reason = names.indexOf("reason");
        this.weight = names.indexOf("weight");
        this.dims = names.indexOf("dims");
        this.tenant = names.indexOf("tenant");
        this.eventTs = names.indexOf("event_ts");
        this.fields = new RowData.FieldGetter[names.size()];
        for (int i = 0; i < fields.length; i++) {
            fields[i] = RowData.createFieldGetter(in.getTypeAt(i), i);
        }
        this.preloaded = preload(preloaded);
    }

    /**
     * {@code events} (parsed rows with fields value, kafka_ts, partition, offset, reason, item, weight,
     * dims, tenant and event_ts, their event time attribute) gated by the configs of {@code configs}
     * (rows key, value, kafka_ts, partition, offset; {@code preloaded}: its records when the job was
     * submitted, see {@link #preload}): the same rows plus the fields of {@link #ADDED}, and
     * {@code event_time} with the events' watermarks. The events stay in Flink's internal form on the
     * way in and out (nothing is converted per event).
     */
    public static Table gate(StreamTableEnvironment tEnv, Table events, Table configs, TenantConfig.Job job,
            long finestMs, long lateness, String configTopic, String preloaded) {
        DataType inType = events.getResolvedSchema().toPhysicalRowDataType().bridgedTo(RowData.class);
        RowType in = (RowType) LogicalTypeUtils.removeTimeAttributes(inType.getLogicalType());
        List<RowType.RowField> outFields = new java.util.ArrayList<>(in.getFields());
        outFields.addAll(ADDED);
        BroadcastStream<Row> broadcast = tEnv.toDataStream(configs)
                .assignTimestampsAndWatermarks(neverHoldsBack())
                .name("tenant configs")
                .broadcast(VERSIONS);
        DataStream<RowData> parsed = tEnv.toDataStream(events, inType);
        DataStream<RowData> gated = parsed.connect(broadcast)
                .process(new TenantGate(job, finestMs, lateness, configTopic, in, preloaded),
                        InternalTypeInfo.of(new RowType(outFields)))
                .name("tenant parameters");
        return tEnv.fromDataStream(gated, Schema.newBuilder()
                .columnByMetadata("event_time", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
                .watermark("event_time", "SOURCE_WATERMARK()")
                .build());
    }

    /**
     * Config records at time 0, and the highest watermark: a two-input operator forwards the lower of
     * its inputs' watermarks, and a config topic can be silent for days.
     */
    static WatermarkStrategy<Row> neverHoldsBack() {
        WatermarkStrategy<Row> strategy = context -> new WatermarkGenerator<>() {
            @Override
            public void onEvent(Row row, long timestamp, WatermarkOutput output) {}

            @Override
            public void onPeriodicEmit(WatermarkOutput output) {
                output.emitWatermark(new Watermark(Long.MAX_VALUE));
            }
        };
        return strategy.withTimestampAssigner((row, previous) -> 0L);
    }

    @Override
    public void processElement(RowData row, ReadOnlyContext ctx, Collector<RowData> out) throws Exception {
        if (!row.isNullAt(reason)) {
            out.collect(new JoinedRowData(row, defaults));
            return;
        }
        String id = row.getString(tenant).toString();
        Version version = versionAt(id, ctx.timestamp(), ctx);
        if (version == null) { // the common case: the job's parameters, the row as it came
            out.collect(new JoinedRowData(row, defaults));
            return;
        }
        TenantConfig config = version.config;
        GenericRowData copy = copied(row);
        long watermark = ctx.currentWatermark();
        boolean late = watermark != Long.MIN_VALUE && ctx.timestamp() <= watermark - lateness; // dead letter later
        if (row.getLong(weight) > config.maxWeight) {
            copy.setField(reason, BAD_WEIGHT);
        } else if (!late && config.quota > 0 && !admitted(id, ctx.timestamp(), config.quota, watermark)) {
            copy.setField(reason, OVER_QUOTA);
            overQuota.inc();
            counters(id)[1].inc();
        } else {
            counters(id)[late ? 2 : 0].inc();
            copy.setField(dims, projected(config, row.isNullAt(dims) ? null : row.getMap(dims)));
        }
        out.collect(new JoinedRowData(copy, added(config, version.described, null, null)));
    }

    /** The dimensions of {@code dims} that {@code config} counts. */
    private static MapData projected(TenantConfig config, MapData dims) {
        if (dims == null || config.dimensions == null) {
            return dims;
        }
        Map<StringData, StringData> kept = new HashMap<>();
        for (int i = 0; i < dims.size(); i++) {
            StringData name = dims.keyArray().getString(i);
            if (config.counts(name.toString())) {
                kept.put(name, dims.valueArray().getString(i));
            }
        }
        return new GenericMapData(kept);
    }

    private GenericRowData copied(RowData row) {
        GenericRowData copy = new GenericRowData(row.getRowKind(), fields.length);
        for (int i = 0; i < fields.length; i++) {
            copy.setField(i, fields[i].getFieldOrNull(row));
        }
        return copy;
    }

    /** Stores a valid config record as its tenant's newest version; an invalid one becomes a dead letter. */
    @Override
    public void processBroadcastElement(Row row, Context ctx, Collector<RowData> out) throws Exception {
        ConfigRecord record = ConfigRecord.of(row);
        try {
            store(ctx.getBroadcastState(VERSIONS), record);
            versions = null;
        } catch (TenantConfig.Invalid invalid) {
            // every subtask sees the record: the first one dead-letters it
            if (getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() == 0) {
                out.collect(deadLetter(record, invalid.getMessage()));
            }
        }
    }

    /** Adds {@code record}'s version to those kept for its tenant (the newest {@code KEPT_VERSIONS}). */
    private void store(BroadcastState<String, String> state, ConfigRecord record) throws Exception {
        if (record.tenant == null || !ParseEvent.TENANT.matcher(record.tenant).matches()) {
            throw new TenantConfig.Invalid("the record's key is not a tenant id");
        }
        TenantConfig.parse(record.value, job); // rejected here, before it is stored
        TreeMap<Long, String> kept = stored(state.get(record.tenant));
        String text = record.value == null ? null : new String(record.value, StandardCharsets.UTF_8);
        kept.put(effectiveFrom(record.setAt.toEpochMilli()), text);
        while (kept.size() > KEPT_VERSIONS) {
            kept.pollFirstEntry();
        }
        ArrayNode array = JSON.createArrayNode();
        kept.forEach((ms, value) -> array.addObject().put("effective", ms).put("value", value));
        state.put(record.tenant, array.toString());
    }

    /** The dead letter of a rejected config record: reason {@code bad_config}, the why in {@code detail}. */
    private RowData deadLetter(ConfigRecord record, String why) {
        GenericRowData letter = new GenericRowData(fields.length);
        letter.setField(value, record.value == null ? new byte[0] : record.value);
        letter.setField(kafkaTs, TimestampData.fromInstant(record.setAt));
        letter.setField(partition, record.partition);
        letter.setField(offset, record.offset);
        letter.setField(reason, StringData.fromString("bad_config"));
        letter.setField(eventTs, TimestampData.fromEpochMillis(0));
        return new JoinedRowData(letter, added(null, null, why, configTopic));
    }

    /** The fields of {@link #ADDED}: the summary's shape of {@code config} (null: none), and the rest as text. */
    private static GenericRowData added(TenantConfig config, String described, String detail, String topic) {
        return GenericRowData.of(config == null ? null : config.capacity, config == null ? null : config.cmsWidth,
                config == null ? null : config.cmsDepth, text(described), text(detail), text(topic));
    }

    private static StringData text(String s) {
        return s == null ? null : StringData.fromString(s);
    }

    @Override
    public void open(OpenContext context) {
        quotaShare = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
        overQuota = getRuntimeContext().getMetricGroup().addGroup("topk").counter("overQuota");
        perTenant = new HashMap<>();
        defaults = added(job.defaults, null, null, null);
    }

    /** A tenant's counters (Prometheus: {@code tenant_eventsCounted{tenant="..."}}, {@code tenant_overQuota}). */
    private Counter[] counters(String id) {
        return perTenant.computeIfAbsent(id, t -> {
            var group = getRuntimeContext().getMetricGroup().addGroup("tenant", t);
            return new Counter[] {group.counter("eventsCounted"), group.counter("overQuota"), group.counter("lateEvents")};
        });
    }

    private Version versionAt(String id, long eventMs, ReadOnlyContext ctx) throws Exception {
        if (versions == null) { // the records read at submission, then what the broadcast state holds
            Map<String, TreeMap<Long, String>> texts = new HashMap<>();
            preloaded.forEach((tenantId, kept) -> texts.put(tenantId, new TreeMap<>(kept)));
            for (Map.Entry<String, String> e : ctx.getBroadcastState(VERSIONS).immutableEntries()) {
                texts.computeIfAbsent(e.getKey(), t -> new TreeMap<>()).putAll(stored(e.getValue()));
            }
            versions = new HashMap<>();
            for (Map.Entry<String, TreeMap<Long, String>> e : texts.entrySet()) {
                TreeMap<Long, Version> parsed = new TreeMap<>();
                for (Map.Entry<Long, String> v : e.getValue().entrySet()) {
                    byte[] value = v.getValue() == null ? null : v.getValue().getBytes(StandardCharsets.UTF_8);
                    TenantConfig config;
                    try {
                        config = TenantConfig.parse(value, job);
                    } catch (TenantConfig.Invalid invalid) {
                        continue; // valid when stored, not under this job's rules or settings: as if never set
                    }
                    parsed.put(v.getKey(), new Version(config, config.describe(v.getKey(), job)));
                }
                versions.put(e.getKey(), parsed);
            }
        }
        TreeMap<Long, Version> tenantVersions = versions.get(id);
        Map.Entry<Long, Version> found = tenantVersions == null ? null : tenantVersions.floorEntry(eventMs);
        return found == null ? null : found.getValue();
    }

    /** The first finest window boundary at or after {@code setAtMs}: where a version set then takes effect. */
    private long effectiveFrom(long setAtMs) {
        return Math.floorDiv(setAtMs + finestMs - 1, finestMs) * finestMs;
    }

    /**
     * The valid records of {@code records} (JSON {@code [{"key", "value" (text or null), "ts"}, ...]}, the config topic
     * as read when the job was submitted) as tenant -> effective ms -> value. Events can reach the gate before the
     * broadcast input has delivered those records; with them preloaded, every event takes the version the topic held
     * for its time, on a fresh start and on a replay alike. Invalid ones are left to the broadcast input to dead-letter.
     */
    private Map<String, TreeMap<Long, String>> preload(String records) {
        Map<String, TreeMap<Long, String>> kept = new HashMap<>();
        try {
            for (JsonNode r : JSON.readTree(records)) {
                String id = r.get("key").asText();
                String value = r.get("value").isNull() ? null : r.get("value").asText();
                try {
                    TenantConfig.parse(value == null ? null : value.getBytes(StandardCharsets.UTF_8), job);
                } catch (TenantConfig.Invalid invalid) {
                    continue;
                }
                if (ParseEvent.TENANT.matcher(id).matches()) {
                    kept.computeIfAbsent(id, t -> new TreeMap<>()).put(effectiveFrom(r.get("ts").asLong()), value);
                }
            }
        } catch (Exception e) {
            throw new IllegalArgumentException("preloaded tenant configs are not a JSON list of records", e);
        }
        return kept;
    }

    private static TreeMap<Long, String> stored(String json) throws Exception {
        TreeMap<Long, String> kept = new TreeMap<>();
        if (json != null) {
            for (JsonNode v : JSON.readTree(json)) { // [{"effective": ms, "value": text or null}, ...]
                kept.put(v.get("effective").asLong(), v.get("value").isNull() ? null : v.get("value").asText());
            }
        }
        return kept;
    }

    /**
     * Counts the event in its tenant's event-time second on this subtask; false beyond the share.
     * (An event at or behind the watermark by more than the allowed lateness is late downstream,
     * dead-lettered there and never counted: it does not come here.) A second that can take no more
     * events is forgotten. A tenant holds at most {@code MAX_SECONDS} seconds: past that, an event
     * for a second older than every one kept is refused, so a forgotten second is never counted
     * afresh.
     */
    private boolean admitted(String id, long eventMs, long quota, long watermark) {
        TreeMap<Long, long[]> seconds = perSecond.computeIfAbsent(id, t -> new TreeMap<>());
        if (watermark != Long.MIN_VALUE) { // seconds before this one take no more events (they would be late)
            seconds.headMap(Math.floorDiv(watermark - lateness, 1000L), false).clear();
        }
        long second = Math.floorDiv(eventMs, 1000L);
        if (!seconds.containsKey(second) && seconds.size() >= MAX_SECONDS) {
            if (second < seconds.firstKey()) {
                return false;
            }
            seconds.pollFirstEntry();
        }
        long[] count = seconds.computeIfAbsent(second, s -> new long[1]);
        long share = (quota + quotaShare - 1) / quotaShare;
        return ++count[0] <= share;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        counted.clear();
        List<Tuple3<String, Long, Long>> all = new ArrayList<>();
        perSecond.forEach((id, seconds) -> seconds.forEach((second, n) -> all.add(Tuple3.of(id, second, n[0]))));
        counted.update(all);
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        counted = context.getOperatorStateStore().getListState(COUNTED);
        perSecond = new HashMap<>();
        for (Tuple3<String, Long, Long> c : counted.get()) { // summed: after rescaling, a second may come twice
            perSecond.computeIfAbsent(c.f0, t -> new TreeMap<>()).computeIfAbsent(c.f1, s -> new long[1])[0] += c.f2;
        }
    }
}
