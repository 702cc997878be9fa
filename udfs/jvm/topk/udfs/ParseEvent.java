package topk.udfs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * Parses and validates one raw event in a single pass (the rules are documented in
 * udfs/parse_events.py). Returns reason (null when valid), item, weight, event time in epoch ms
 * (0 when invalid, so a bad record never moves the watermark), the requested dimensions, the
 * event's id and type (for the archive), and its tenant.
 *
 * <p>One streaming pass over the bytes (Jackson's token parser, no tree), keeping only the fields
 * it reads, and Flink's internal data structures in and out, so nothing is converted on the way
 * (this parse was ~1.8x the JSON format's cost as a Jackson tree with external types). It answers
 * as a Jackson tree would: the whole root value must parse, a later duplicate key wins, a string or
 * number is a scalar (a number as Jackson prints it), anything else is not.
 */
public class ParseEvent extends ScalarFunction {
    private static final JsonFactory JSON = new JsonFactory();
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
    /** Event times windows, keys and archive paths can hold: 1970-01-01 to 9999-01-01 (topk/events.py). */
    static final long MIN_EVENT_MS = 0L;
    static final long MAX_EVENT_MS = 253_370_764_800_000L;
    /** The dimension that is the event's type (metadata.eventType), not a payload field (topk/events.py). */
    static final String EVENT_TYPE = "eventType";
    private static final int EVENT_TYPE_PART = -1;
    /** The longest dimension value counted, in code points (a combination's, joined): topk/events.py. */
    static final int MAX_VALUE_LENGTH = 256;
    private static final StringData DEFAULT_TENANT_DATA = StringData.fromString(DEFAULT_TENANT);

    /**
     * The planner still evaluates the call for the watermark and for the event time column as
     * well, chained on one thread: the last result per thread answers the repeats.
     */
    private static final ThreadLocal<Object[]> LAST = new ThreadLocal<>();

    /** The payload fields read for a list of dimensions: the last list's, per thread. */
    private static final ThreadLocal<Fields> FIELDS = new ThreadLocal<>();

    /**
     * Deterministic in fact; declared otherwise so the planner computes {@code parsed} once per
     * record in one projection, instead of copying the call into every expression that reads one
     * of its fields (a copy per field would parse each record again).
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }

    @DataTypeHint(value = ROW_TYPE, bridgedTo = RowData.class)
    public RowData eval(byte[] value,
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData kafkaTs,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData dimensions,
            Integer maxItemLength, Long maxWeight, Long maxPastMs, Long maxFutureMs) {
        Object[] args = {value, kafkaTs, dimensions, maxItemLength, maxWeight, maxPastMs, maxFutureMs};
        Object[] last = LAST.get();
        if (last != null && Arrays.deepEquals(args, (Object[]) last[0])) {
            return (RowData) last[1];
        }
        Fields fields = FIELDS.get();
        if (fields == null || !fields.dimensions.equals(dimensions)) {
            fields = new Fields(dimensions);
            FIELDS.set(fields);
        }
        RowData parsed = parse(value, kafkaTs.getMillisecond(), fields, maxItemLength, maxWeight, maxPastMs, maxFutureMs);
        LAST.set(new Object[] {args, parsed});
        return parsed;
    }

    private static RowData parse(byte[] value, long kafkaMs, Fields fields,
            int maxItemLength, long maxWeight, long maxPastMs, long maxFutureMs) {
        if (!isUtf8(value)) {
            return rejected("not_utf8");
        }
        if (value.length >= 3 && value[0] == (byte) 0xEF && value[1] == (byte) 0xBB && value[2] == (byte) 0xBF) {
            return rejected("invalid_json");  // a byte order mark: JSON text has none (Jackson's byte parser would skip it)
        }
        Event e = new Event(fields.index.size());
        try {
            String rejected = e.read(value, fields);
            if (rejected != null) {
                return rejected(rejected);
            }
        } catch (IOException | RuntimeException ex) {
            return rejected("invalid_json");
        }
        String tenant = e.tenantId == null || e.tenantId.kind == Kind.NULL ? DEFAULT_TENANT
                : e.tenantId.kind == Kind.TEXT ? e.tenantId.text : "";
        if (!TENANT.matcher(tenant).matches()) {
            return rejected("bad_tenant");
        }
        String eventType = scalar(e.eventType);
        String field = ITEM_FIELDS.get(eventType == null ? "generic" : eventType);
        if (field == null) {
            return rejected("unknown_event_type");
        }
        String item = scalar(e.payload[fields.index.get(field)]);
        if (item == null || item.isEmpty()) {
            return rejected("missing_item");
        }
        if (item.codePointCount(0, item.length()) > maxItemLength) {
            return rejected("item_too_long");
        }
        Long weight = weight(e.payload[fields.weight], maxWeight);
        if (weight == null) {
            return rejected("bad_weight");
        }
        if (e.timestamp == null || e.timestamp.kind == Kind.NULL) {
            return rejected("missing_timestamp");
        }
        Long eventMs = epochMillis(e.timestamp);
        if (eventMs == null) {
            return rejected("bad_timestamp");
        }
        if (eventMs < MIN_EVENT_MS || eventMs >= MAX_EVENT_MS || eventMs < kafkaMs - maxPastMs) {
            return rejected("timestamp_out_of_range");
        }
        if (eventMs > Math.min(kafkaMs, System.currentTimeMillis()) + maxFutureMs) { // a producer picks its Kafka time
            return rejected("too_far_ahead");
        }
        String type = eventType == null ? "generic" : eventType;
        Map<StringData, StringData> dims = new HashMap<>();
        String[] values = new String[fields.maxParts];
        for (int d = 0; d < fields.dimensionNames.length; d++) {
            int[] parts = fields.partIndex[d];
            boolean complete = true;
            for (int i = 0; i < parts.length && complete; i++) {
                String v = parts[i] == EVENT_TYPE_PART ? type : scalar(e.payload[parts[i]]);
                complete = v != null && v.length() <= MAX_VALUE_LENGTH * 2; // (UTF-16 units: a cheap first cut)
                values[i] = v;
            }
            String v = !complete ? null : parts.length == 1 ? values[0] : joinValues(values, parts.length);
            if (v != null && v.codePointCount(0, v.length()) <= MAX_VALUE_LENGTH) {
                dims.put(fields.dimensionNames[d], StringData.fromString(v));
            }
        }
        String eventId = scalar(e.eventId);
        return GenericRowData.of(null, StringData.fromString(item), weight, eventMs, new GenericMapData(dims),
                eventId == null ? null : StringData.fromString(eventId),
                StringData.fromString(type),
                DEFAULT_TENANT.equals(tenant) ? DEFAULT_TENANT_DATA : StringData.fromString(tenant));
    }

    /**
     * A combination's value: the first {@code n} parts' values in order, joined by {@code |}, each
     * backslash or {@code |} within a part escaped by a backslash (topk/events.py, {@code join_values}).
     */
    static String joinValues(String[] values, int n) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                out.append('|');
            }
            String v = values[i];
            for (int c = 0; c < v.length(); c++) {
                char ch = v.charAt(c);
                if (ch == '\\' || ch == '|') {
                    out.append('\\');
                }
                out.append(ch);
            }
        }
        return out.toString();
    }

    /** {@code value} as UTF-8 text; malformed bytes are an error, not replaced. */
    static String utf8(byte[] value) throws CharacterCodingException {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(value)).toString();
    }

    /** Whether {@code value} is well-formed UTF-8 (ASCII, the common case, without decoding). */
    private static boolean isUtf8(byte[] value) {
        for (byte b : value) {
            if (b < 0) {
                try {
                    utf8(value);
                    return true;
                } catch (CharacterCodingException e) {
                    return false;
                }
            }
        }
        return true;
    }

    private static RowData rejected(String reason) {
        return GenericRowData.of(StringData.fromString(reason), null, null, 0L, null, null, null, null);
    }

    /** Text of a string or number; null for missing, null, objects, arrays and booleans. */
    private static String scalar(Value v) {
        return v == null ? null : v.text;
    }

    /** 1 when absent; the value when an integer (or digit string) in 1..max; else null. */
    private static Long weight(Value v, long max) {
        if (v == null || v.kind == Kind.NULL) {
            return 1L;
        }
        Long w = null;
        if (v.kind == Kind.LONG) {
            w = v.number;
        } else if (v.kind == Kind.TEXT && POSITIVE.matcher(v.text).matches()) {
            w = Long.parseLong(v.text);
        }
        return w != null && w >= 1 && w <= max ? w : null;
    }

    /** Epoch milliseconds (a number or digit string) or ISO-8601 with a zone; else null. */
    private static Long epochMillis(Value v) {
        if (v.kind == Kind.LONG) {
            return v.number;
        }
        if (v.kind != Kind.TEXT) {
            return null;
        }
        String s = v.text;
        if (DIGITS.matcher(s).matches()) {
            return Long.parseLong(s);
        }
        Long fast = isoMillis(s);
        if (fast != null) {
            return fast;
        }
        try {
            return OffsetDateTime.parse(s).toInstant().toEpochMilli();
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    /**
     * The common ISO-8601 form, {@code yyyy-MM-ddTHH:mm:ss[.f{1,9}](Z|+HH:MM|-HH:MM)}, read without
     * java.time's formatter; null for anything else (then {@code OffsetDateTime.parse} decides), so
     * what it answers is what that parse would.
     */
    public static Long isoMillis(String s) {
        int n = s.length();
        if (n < 20 || s.charAt(4) != '-' || s.charAt(7) != '-' || s.charAt(10) != 'T' || s.charAt(13) != ':'
                || s.charAt(16) != ':') {
            return null;
        }
        int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
        int hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
        if ((year | month | day | hour | minute | second) < 0 || hour > 23 || minute > 59 || second > 59) {
            return null;
        }
        int i = 19;
        long nanos = 0;
        if (s.charAt(i) == '.') {
            int start = ++i;
            while (i < n && i - start < 9 && Character.isDigit(s.charAt(i)) && s.charAt(i) < 128) {
                nanos = nanos * 10 + (s.charAt(i++) - '0');
            }
            if (i == start) {
                return null;
            }
            for (int k = i - start; k < 9; k++) {
                nanos *= 10;
            }
        }
        int offsetSeconds;
        if (i == n - 1 && s.charAt(i) == 'Z') {
            offsetSeconds = 0;
        } else if (i == n - 6 && (s.charAt(i) == '+' || s.charAt(i) == '-') && s.charAt(i + 3) == ':') {
            int oh = digits(s, i + 1, 2), om = digits(s, i + 4, 2);
            if (oh < 0 || om < 0 || oh > 17 || om > 59) {
                return null;
            }
            offsetSeconds = (s.charAt(i) == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        } else {
            return null;
        }
        long epochDay;
        try {
            epochDay = LocalDate.of(year, month, day).toEpochDay();
        } catch (DateTimeException e) {
            return null;
        }
        long seconds = epochDay * 86_400L + hour * 3600L + minute * 60L + second - offsetSeconds;
        return seconds * 1000L + nanos / 1_000_000L;
    }

    /** The ASCII digits s[from, from + count) as a number; -1 if any is not one. */
    private static int digits(String s, int from, int count) {
        int v = 0;
        for (int i = from; i < from + count; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    /**
     * The payload fields read for a list of dimensions. A dimension is a name or names joined by
     * {@code +} (a combination); {@value #EVENT_TYPE} is the event's type, not a payload field.
     */
    private static final class Fields {
        final StringData dimensions;
        final Map<String, Integer> index = new HashMap<>();
        final int weight;
        final StringData[] dimensionNames;
        final int[][] partIndex; // per dimension, the payload index of each part, or EVENT_TYPE_PART
        final int maxParts;

        Fields(StringData dimensions) {
            this.dimensions = dimensions;
            for (String f : ITEM_FIELDS.values()) {
                index.putIfAbsent(f, index.size());
            }
            index.putIfAbsent("weight", index.size());
            String[] dims = Arrays.stream(dimensions.toString().split(",")).filter(d -> !d.isEmpty())
                    .toArray(String[]::new);
            dimensionNames = new StringData[dims.length];
            partIndex = new int[dims.length][];
            int most = 1;
            for (int d = 0; d < dims.length; d++) {
                String[] parts = dims[d].split("\\+");
                partIndex[d] = new int[parts.length];
                for (int i = 0; i < parts.length; i++) {
                    partIndex[d][i] = parts[i].equals(EVENT_TYPE) ? EVENT_TYPE_PART
                            : index.computeIfAbsent(parts[i], f -> index.size());
                }
                dimensionNames[d] = StringData.fromString(dims[d]);
                most = Math.max(most, parts.length);
            }
            weight = index.get("weight");
            maxParts = most;
        }
    }

    private enum Kind { NULL, TEXT, LONG, NUMBER, OTHER }

    /** One JSON value as the rules read it: {@code text} is set for a string or number. */
    private static final class Value {
        final Kind kind;
        final String text;
        final long number;

        Value(Kind kind, String text, long number) {
            this.kind = kind;
            this.text = text;
            this.number = number;
        }

        static final Value NULL = new Value(Kind.NULL, null, 0);
        static final Value OTHER = new Value(Kind.OTHER, null, 0);

        /** The value at the parser's current token, which it consumes whole. */
        static Value read(JsonParser p, JsonToken t) throws IOException {
            switch (t) {
                case VALUE_STRING:
                    return new Value(Kind.TEXT, p.getText(), 0);
                case VALUE_NUMBER_INT:
                    if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                        return new Value(Kind.NUMBER, p.getBigIntegerValue().toString(), 0);
                    }
                    long l = p.getLongValue();
                    return new Value(Kind.LONG, Long.toString(l), l);
                case VALUE_NUMBER_FLOAT:
                    return new Value(Kind.NUMBER, Double.toString(p.getDoubleValue()), 0);
                case VALUE_NULL:
                    return NULL;
                case START_OBJECT:
                case START_ARRAY:
                    p.skipChildren();
                    return OTHER;
                default:
                    return OTHER;
            }
        }
    }

    /** Past a value the rules do not read (the parser still checks it as it moves on). */
    private static void skip(JsonParser p, JsonToken t) throws IOException {
        if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
            p.skipChildren();
        }
    }

    /** The fields of one event that the rules read; a later duplicate key replaces an earlier one. */
    private static final class Event {
        Value tenantId, eventType, timestamp, eventId;
        final Value[] payload;

        Event(int payloadFields) {
            payload = new Value[payloadFields];
        }

        /** Reads the whole root value; a reason if it is not an object, null if it is. */
        String read(byte[] value, Fields fields) throws IOException {
            try (JsonParser p = JSON.createParser(value)) {
                JsonToken t = p.nextToken();
                if (t == null) {
                    return "not_an_object";  // no content: a Jackson tree reads it as a missing node
                }
                if (t != JsonToken.START_OBJECT) {
                    Value.read(p, t);
                    return "not_an_object";
                }
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    t = p.nextToken();
                    if (name.equals("metadata")) {
                        tenantId = eventType = timestamp = eventId = null;
                        if (t == JsonToken.START_OBJECT) {
                            readMetadata(p);
                        } else {
                            Value.read(p, t);
                        }
                    } else if (name.equals("payload")) {
                        Arrays.fill(payload, null);
                        if (t == JsonToken.START_OBJECT) {
                            readPayload(p, fields);
                        } else {
                            Value.read(p, t);
                        }
                    } else {
                        skip(p, t);
                    }
                }
                if (t != JsonToken.END_OBJECT) {
                    throw new IOException("unexpected " + t);
                }
                return null;
            }
        }

        private void readMetadata(JsonParser p) throws IOException {
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                t = p.nextToken();
                switch (name) {
                    case "tenantId": tenantId = Value.read(p, t); break;
                    case "eventType": eventType = Value.read(p, t); break;
                    case "timestamp": timestamp = Value.read(p, t); break;
                    case "eventId": eventId = Value.read(p, t); break;
                    default: skip(p, t); break;
                }
            }
            if (t != JsonToken.END_OBJECT) {
                throw new IOException("unexpected " + t);
            }
        }

        private void readPayload(JsonParser p, Fields fields) throws IOException {
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                Integer i = fields.index.get(p.currentName());
                t = p.nextToken();
                if (i != null) {
                    payload[i] = Value.read(p, t);
                } else {
                    skip(p, t);
                }
            }
            if (t != JsonToken.END_OBJECT) {
                throw new IOException("unexpected " + t);
            }
        }
    }
}
