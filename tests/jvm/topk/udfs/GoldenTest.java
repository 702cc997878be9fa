package topk.udfs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.data.MapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.junit.jupiter.api.Test;

/**
 * The golden files of tests/golden as the JVM functions read them (tests/test_golden.py reads the same
 * in Python): MurmurHash3 as Python's mmh3, the sketch format both ways, and each raw event's verdict.
 */
class GoldenTest {
    private static final Path GOLDEN = Path.of(System.getProperty("topk.golden", "tests/golden"));
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode golden(String name) throws IOException {
        return JSON.readTree(GOLDEN.resolve(name).toFile());
    }

    @Test
    void murmur3IsPythonsMmh3() throws IOException {
        for (JsonNode c : golden("murmur3.json")) {
            long[] h = MurmurHash3.hash128(c.get("text").asText().getBytes(StandardCharsets.UTF_8), c.get("seed").asInt());
            assertArrayEquals(new long[] {c.get("h1").asLong(), c.get("h2").asLong()}, h, c.toString());
        }
    }

    @Test
    void summariesDecodeToTheirFieldsAndEncodeToTheirBytes() throws IOException {
        for (JsonNode c : golden("summaries.json")) {
            byte[] bytes = HexFormat.of().parseHex(c.get("bytes").asText());
            ItemSummary.Summary s = SummaryFormat.read(bytes);
            String id = "capacity " + c.get("capacity") + ", total " + c.get("total");
            assertEquals(c.get("capacity").asInt(), s.capacity, id);
            assertEquals(c.get("width").asInt(), s.width, id);
            assertEquals(c.get("depth").asInt(), s.depth, id);
            assertEquals(c.get("total").asLong(), s.total, id);
            assertEquals(c.get("floor").asLong(), s.floor, id);
            Map<String, List<Long>> items = new HashMap<>();
            for (JsonNode item : c.get("items")) {
                items.put(item.get(0).asText(), List.of(item.get(1).asLong(), item.get(2).asLong()));
            }
            Map<String, List<Long>> decoded = new HashMap<>();
            s.counts.forEach((item, count) -> decoded.put(item, List.of(count, s.errors.getOrDefault(item, 0L))));
            assertEquals(items, decoded, id);
            long[] table = new long[c.get("table").size()];
            for (int i = 0; i < table.length; i++) {
                table[i] = c.get("table").get(i).asLong();
            }
            assertArrayEquals(table, ItemSummary.tableOf(s), id);
            assertArrayEquals(bytes, ItemSummary.serialize(s), id);
        }
    }

    @Test
    void eventsGetTheirVerdicts() throws IOException {
        JsonNode corpus = golden("events.json");
        JsonNode limits = corpus.get("limits");
        List<String> dimensions = new ArrayList<>();
        corpus.get("dimensions").forEach(d -> dimensions.add(d.asText()));
        TimestampData kafkaTs = TimestampData.fromEpochMillis(corpus.get("kafka_ms").asLong());
        StringData declared = StringData.fromString(String.join(",", dimensions));
        ParseEvent parse = new ParseEvent();
        assertTrue(corpus.get("cases").size() > 30);
        for (JsonNode c : corpus.get("cases")) {
            byte[] raw = Base64.getDecoder().decode(c.get("raw").asText());
            String id = new String(raw, StandardCharsets.UTF_8);
            RowData row = parse.eval(raw, kafkaTs, declared, limits.get("max_item_length").asInt(),
                    limits.get("max_weight").asLong(), limits.get("max_past_ms").asLong(),
                    limits.get("max_future_ms").asLong());
            if (!c.get("reason").isNull()) {
                assertEquals(c.get("reason").asText(), row.isNullAt(0) ? null : row.getString(0).toString(), id);
                continue;
            }
            assertNull(row.isNullAt(0) ? null : row.getString(0).toString(), id);
            assertEquals(c.get("item").asText(), row.getString(1).toString(), id);
            assertEquals(c.get("weight").asLong(), row.getLong(2), id);
            assertEquals(c.get("event_ms").asLong(), row.getLong(3), id);
            Map<String, String> dims = new HashMap<>();
            MapData map = row.getMap(4);
            for (int i = 0; i < map.size(); i++) {
                dims.put(map.keyArray().getString(i).toString(), map.valueArray().getString(i).toString());
            }
            Map<String, String> expected = new HashMap<>();
            c.get("dims").properties().forEach(e -> expected.put(e.getKey(), e.getValue().asText()));
            assertEquals(expected, dims, id);
        }
    }

    @Test
    void tenantConfigsGetTheirVerdicts() throws IOException {
        JsonNode corpus = golden("tenant_configs.json");
        JsonNode j = corpus.get("job");
        List<String> dimensions = new ArrayList<>();
        j.get("dimensions").forEach(d -> dimensions.add(d.asText()));
        List<String> windows = new ArrayList<>();
        j.get("windows").forEach(w -> windows.add(w.asText()));
        TenantConfig.Job job = new TenantConfig.Job(j.get("k").asInt(), j.get("capacity").asInt(),
                j.get("cmsWidth").asInt(), j.get("cmsDepth").asInt(), String.join(",", dimensions),
                String.join(",", windows), j.get("maxWeight").asLong(), j.get("alertPhi").asDouble());
        assertTrue(corpus.get("cases").size() > 30);
        for (JsonNode c : corpus.get("cases")) {
            String id = c.get("value").isNull() ? "null" : c.get("value").asText();
            byte[] value = c.get("value").isNull() ? null : id.getBytes(StandardCharsets.UTF_8);
            String described;
            try {
                described = TenantConfig.parse(value, job).describe(0, job);
            } catch (TenantConfig.Invalid invalid) {
                described = null;
            }
            if (c.get("described").isNull()) {
                assertNull(described, id);
            } else {
                assertTrue(described != null && c.get("described").equals(NUMBERS_BY_VALUE, JSON.readTree(described)),
                        id + ": " + described);
            }
        }
    }

    /** JSON numbers equal by value (Python writes 0, Jackson reads 0 as an int and the job writes a long). */
    private static final java.util.Comparator<JsonNode> NUMBERS_BY_VALUE = (a, b) ->
            a.isNumber() && b.isNumber() ? Double.compare(a.asDouble(), b.asDouble()) : a.equals(b) ? 0 : 1;
}
