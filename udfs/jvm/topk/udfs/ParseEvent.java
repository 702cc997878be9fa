package topk.udfs;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * Parses and validates one raw event in a single pass (the rules are documented in
 * udfs/parse_events.py). Returns reason (null when valid), item, weight, event time in epoch ms
 * (0 when invalid, so a bad record never moves the watermark), the requested dimensions, the
 * event's id and type (for the archive), and its tenant.
 */
public class ParseEvent extends ScalarFunction {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, String> ITEM_FIELDS = Map.of(
            "page_view", "url", "product_view", "productId", "search", "query", "generic", "itemId");
    private static final Pattern DIGITS = Pattern.compile("[0-9]{1,15}");
    private static final Pattern POSITIVE = Pattern.compile("[1-9][0-9]{0,17}");
    private static final String ROW_TYPE =
            "ROW<reason STRING, item STRING, weight BIGINT, event_ms BIGINT, dims MAP<STRING, STRING>, "
                    + "event_id STRING, event_type STRING, tenant STRING>";
    /** A tenant id: safe in Redis keys, Cassandra partitions and archive paths (topk/events.py). */
    static final Pattern TENANT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    private static final String DEFAULT_TENANT = "default";

    /**
     * The planner still evaluates the call for the watermark and for the event time column as
     * well, chained on one thread: the last result per thread answers the repeats.
     */
    private static final ThreadLocal<Object[]> LAST = new ThreadLocal<>();

    /**
     * Deterministic in fact; declared otherwise so the planner computes {@code parsed} once per
     * record in one projection, instead of copying the call into every expression that reads one
     * of its fields (1M events: the per-window counts took 59 s, now 42 s).
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }

    @DataTypeHint(ROW_TYPE)
    public Row eval(byte[] value, @DataTypeHint("TIMESTAMP_LTZ(3)") Instant kafkaTs, String dimensions,
            Integer maxItemLength, Long maxWeight, Long maxPastMs, Long maxFutureMs) {
        Object[] args = {value, kafkaTs, dimensions, maxItemLength, maxWeight, maxPastMs, maxFutureMs};
        Object[] last = LAST.get();
        if (last != null && java.util.Arrays.deepEquals(args, (Object[]) last[0])) {
            return (Row) last[1];
        }
        Row parsed = parse(value, kafkaTs, dimensions, maxItemLength, maxWeight, maxPastMs, maxFutureMs);
        LAST.set(new Object[] {args, parsed});
        return parsed;
    }

    private static Row parse(byte[] value, Instant kafkaTs, String dimensions,
            Integer maxItemLength, Long maxWeight, Long maxPastMs, Long maxFutureMs) {
        String text;
        try {
            text = utf8(value);
        } catch (CharacterCodingException e) {
            return rejected("not_utf8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (Exception e) {
            return rejected("invalid_json");
        }
        if (root == null || !root.isObject()) {
            return rejected(root == null ? "invalid_json" : "not_an_object");
        }
        JsonNode metadata = root.path("metadata");
        JsonNode payload = root.path("payload");
        JsonNode tenantId = metadata.get("tenantId");
        String tenant = tenantId == null || tenantId.isNull() ? DEFAULT_TENANT : tenantId.isTextual() ? tenantId.asText() : "";
        if (!TENANT.matcher(tenant).matches()) {
            return rejected("bad_tenant");
        }
        String eventType = scalar(metadata.get("eventType"));
        String field = ITEM_FIELDS.get(eventType == null ? "generic" : eventType);
        if (field == null) {
            return rejected("unknown_event_type");
        }
        String item = scalar(payload.get(field));
        if (item == null || item.isEmpty()) {
            return rejected("missing_item");
        }
        if (item.codePointCount(0, item.length()) > maxItemLength) {
            return rejected("item_too_long");
        }
        Long weight = weight(payload.get("weight"), maxWeight);
        if (weight == null) {
            return rejected("bad_weight");
        }
        JsonNode ts = metadata.get("timestamp");
        if (ts == null || ts.isNull()) {
            return rejected("missing_timestamp");
        }
        Long eventMs = epochMillis(ts);
        if (eventMs == null) {
            return rejected("bad_timestamp");
        }
        long kafkaMs = kafkaTs.toEpochMilli();
        if (eventMs < kafkaMs - maxPastMs || eventMs > kafkaMs + maxFutureMs) {
            return rejected("timestamp_out_of_range");
        }
        Map<String, String> dims = new HashMap<>();
        for (String name : dimensions.split(",")) {
            String v = scalar(payload.get(name));
            if (!name.isEmpty() && v != null && v.codePointCount(0, v.length()) <= maxItemLength) {
                dims.put(name, v);
            }
        }
        String eventId = scalar(metadata.get("eventId"));
        return Row.of(null, item, weight, eventMs, dims, eventId, eventType == null ? "generic" : eventType, tenant);
    }

    /** {@code value} as UTF-8 text; malformed bytes are an error, not replaced. */
    static String utf8(byte[] value) throws CharacterCodingException {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(value)).toString();
    }

    private static Row rejected(String reason) {
        return Row.of(reason, null, null, 0L, null, null, null, null);
    }

    /** Text of a string or number; null for missing, null, objects, arrays and booleans. */
    private static String scalar(JsonNode node) {
        if (node == null || !(node.isTextual() || node.isNumber())) {
            return null;
        }
        return node.asText();
    }

    /** 1 when absent; the value when an integer (or digit string) in 1..max; else null. */
    private static Long weight(JsonNode node, long max) {
        if (node == null || node.isNull()) {
            return 1L;
        }
        Long w = null;
        if (node.isIntegralNumber() && node.canConvertToLong()) {
            w = node.asLong();
        } else if (node.isTextual() && POSITIVE.matcher(node.asText()).matches()) {
            w = Long.parseLong(node.asText());
        }
        return w != null && w >= 1 && w <= max ? w : null;
    }

    /** Epoch milliseconds (a number or digit string) or ISO-8601 with a zone; else null. */
    private static Long epochMillis(JsonNode node) {
        if (node.isIntegralNumber() && node.canConvertToLong()) {
            return node.asLong();
        }
        if (!node.isTextual()) {
            return null;
        }
        String s = node.asText();
        if (DIGITS.matcher(s).matches()) {
            return Long.parseLong(s);
        }
        try {
            return OffsetDateTime.parse(s).toInstant().toEpochMilli();
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
