package topk.udfs;

import java.io.Serializable;
import java.nio.charset.CharacterCodingException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One tenant's parameters, read from a record of the tenant config topic (the rules are documented
 * in topk/tenant_config.py, which checks the same ones before the CLI writes a record). The job's
 * own settings are the defaults of every field left out and the limits of some.
 */
public final class TenantConfig implements Serializable {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final Set<String> FIELDS =
            Set.of("k", "capacity", "cmsWidth", "cmsDepth", "dimensions", "windows", "maxWeight", "quota",
                    "alertPhi", "alertItems");
    static final int MAX_CAPACITY = 1 << 16;
    static final int MAX_WIDTH = 1 << 22;
    static final int MAX_DEPTH = 16;
    /** Count-Min counters a summary may hold: 8 MiB as the Python operator's int64 table, at most that serialized. */
    static final int MAX_CELLS = 1 << 20;
    static final double MIN_ALERT_PHI = 0.001;
    static final int MAX_WATCHED = 100;
    static final int MAX_WATCHED_LENGTH = 1024;

    final int k;
    final int capacity;
    final int cmsWidth;
    final int cmsDepth;
    final List<String> dimensions; // null: every dimension of the job
    final List<String> windows; // null: every window of the job
    final long maxWeight;
    final long quota; // events per second; 0: none
    final double alertPhi;
    final List<String> alertItems; // null: every item alerts

    /** The job's settings: the defaults, and the limits a tenant's parameters must keep to. */
    public static final class Job implements Serializable {
        final int k;
        final int capacity;
        final int cmsWidth;
        final int cmsDepth;
        final List<String> dimensions;
        final List<String> windows;
        final long maxWeight;
        final double alertPhi;
        final TenantConfig defaults; // the job's settings as a tenant's: every tenant's without a record

        public Job(int k, int capacity, int cmsWidth, int cmsDepth, String dimensions, String windows, long maxWeight,
                double alertPhi) {
            this.k = k;
            this.capacity = capacity;
            this.cmsWidth = cmsWidth;
            this.cmsDepth = cmsDepth;
            this.dimensions = dimensions.isEmpty() ? List.of() : List.of(dimensions.split(","));
            this.windows = List.of(windows.split(","));
            this.maxWeight = maxWeight;
            this.alertPhi = alertPhi;
            this.defaults = new TenantConfig(k, capacity, cmsWidth, cmsDepth, null, null, maxWeight, 0, alertPhi, null);
        }
    }

    /** A record that is not a valid config; the message says why. */
    public static final class Invalid extends Exception {
        Invalid(String message) {
            super(message);
        }
    }

    private TenantConfig(int k, int capacity, int cmsWidth, int cmsDepth, List<String> dimensions,
            List<String> windows, long maxWeight, long quota, double alertPhi, List<String> alertItems) {
        this.k = k;
        this.capacity = capacity;
        this.cmsWidth = cmsWidth;
        this.cmsDepth = cmsDepth;
        this.dimensions = dimensions;
        this.windows = windows;
        this.maxWeight = maxWeight;
        this.quota = quota;
        this.alertPhi = alertPhi;
        this.alertItems = alertItems;
    }

    /** The config a record's value describes (null value: the job's defaults, a deleted config). */
    static TenantConfig parse(byte[] value, Job job) throws Invalid {
        if (value == null) {
            return job.defaults;
        }
        JsonNode root;
        try {
            root = JSON.readTree(ParseEvent.utf8(value));
        } catch (CharacterCodingException e) {
            throw new Invalid("not UTF-8");
        } catch (Exception e) {
            throw new Invalid("invalid JSON");
        }
        if (root == null || !root.isObject()) {
            throw new Invalid("not a JSON object");
        }
        for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!FIELDS.contains(name)) {
                throw new Invalid("unknown field '" + name + "'");
            }
        }
        int capacity = (int) number(root, "capacity", job.capacity, 1, MAX_CAPACITY);
        int k = (int) number(root, "k", job.k, 1, Integer.MAX_VALUE);
        if (k > capacity) {
            throw new Invalid("k " + k + " > capacity " + capacity);
        }
        int width = (int) number(root, "cmsWidth", job.cmsWidth, 1, MAX_WIDTH);
        long ratio = Math.max(width, job.cmsWidth) / Math.min(width, job.cmsWidth);
        if (Math.max(width, job.cmsWidth) % Math.min(width, job.cmsWidth) != 0 || Long.bitCount(ratio) != 1) {
            throw new Invalid("cmsWidth " + width + " is not the job's " + job.cmsWidth
                    + " times or divided by a power of two");
        }
        int depth = (int) number(root, "cmsDepth", job.cmsDepth, 1, MAX_DEPTH);
        if ((long) width * depth > MAX_CELLS) {
            throw new Invalid("cmsWidth x cmsDepth is at most " + MAX_CELLS + " counters, got " + width + " x " + depth);
        }
        long maxWeight = number(root, "maxWeight", job.maxWeight, 1, job.maxWeight);
        long quota = number(root, "quota", 0, 1, Long.MAX_VALUE);
        List<String> dimensions = names(root, "dimensions", job.dimensions, "dimension");
        List<String> windows = names(root, "windows", job.windows, "window");
        if (windows != null && windows.isEmpty()) {
            throw new Invalid("windows is empty");
        }
        JsonNode phi = root.get("alertPhi");
        if (phi != null && (!phi.isNumber() || !(phi.asDouble() == 0
                || (phi.asDouble() >= MIN_ALERT_PHI && phi.asDouble() < 1)))) {
            throw new Invalid("alertPhi must be 0 or a number from " + MIN_ALERT_PHI + " to below 1");
        }
        List<String> alertItems = watched(root.get("alertItems"));
        return new TenantConfig(k, capacity, width, depth, dimensions, windows, maxWeight, quota,
                phi == null ? job.alertPhi : phi.asDouble(), alertItems);
    }

    private static List<String> watched(JsonNode node) throws Invalid {
        if (node == null) {
            return null;
        }
        String rule = "alertItems holds 1 to " + MAX_WATCHED + " items of 1 to " + MAX_WATCHED_LENGTH
                + " characters";
        if (!node.isArray() || node.isEmpty() || node.size() > MAX_WATCHED) {
            throw new Invalid(rule);
        }
        List<String> items = new ArrayList<>();
        for (JsonNode item : node) {
            int length = item.isTextual() ? item.asText().codePointCount(0, item.asText().length()) : 0;
            if (length < 1 || length > MAX_WATCHED_LENGTH) {
                throw new Invalid(rule);
            }
            items.add(item.asText());
        }
        return items;
    }

    private static long number(JsonNode root, String field, long otherwise, long min, long max) throws Invalid {
        JsonNode node = root.get(field);
        if (node == null) {
            return otherwise;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong() || node.asLong() < min || node.asLong() > max) {
            throw new Invalid(field + " must be an integer from " + min + " to " + max);
        }
        return node.asLong();
    }

    private static List<String> names(JsonNode root, String field, List<String> allowed, String what) throws Invalid {
        JsonNode node = root.get(field);
        if (node == null) {
            return null;
        }
        if (!node.isArray()) {
            throw new Invalid(field + " must be a list of names");
        }
        List<String> names = new ArrayList<>();
        for (JsonNode name : node) {
            if (!name.isTextual() || !allowed.contains(name.asText())) {
                throw new Invalid("unknown " + what + " " + name + " (the job has " + String.join(",", allowed) + ")");
            }
            if (!names.contains(name.asText())) {
                names.add(name.asText());
            }
        }
        return names;
    }

    /** Whether this tenant counts {@code dimension} (every one when its config names none). */
    boolean counts(String dimension) {
        return dimensions == null || dimensions.contains(dimension);
    }

    /** The parameters in force from {@code effectiveMs}, every field filled in (the job's where left out). */
    String describe(long effectiveMs, Job job) {
        ObjectNode out = JSON.createObjectNode();
        out.put("effective", effectiveMs);
        out.put("k", k);
        out.put("capacity", capacity);
        out.put("cmsWidth", cmsWidth);
        out.put("cmsDepth", cmsDepth);
        ArrayNode dims = out.putArray("dimensions");
        (dimensions == null ? job.dimensions : dimensions).forEach(dims::add);
        ArrayNode wins = out.putArray("windows");
        (windows == null ? job.windows : windows).forEach(wins::add);
        out.put("maxWeight", maxWeight);
        out.put("quota", quota);
        out.put("alertPhi", alertPhi);
        if (alertItems != null) {
            alertItems.forEach(out.putArray("alertItems")::add);
        }
        return out.toString();
    }
}
