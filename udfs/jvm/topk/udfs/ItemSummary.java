package topk.udfs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * A bounded heavy-hitters summary of one group (one finest window and dimension value), in the
 * format Python reads ({@code topk.sketches.heavy_hitters}, bytes: {@link SummaryFormat}: Space-Saving v2 + Count-Min v3), so only
 * O(capacity) crosses into Python and sits in keyed state, whatever the number of distinct items.
 *
 * <p>The accumulator counts items exactly until it holds {@code 2 * capacity} of them; then it keeps
 * the {@code capacity} largest (ties by item) and raises its floor to the largest count dropped. An
 * item seen again after that starts at the floor, with the floor as its error. That is a merge of
 * the summary with the exact counts of the new items ({@code topk.sketches.space_saving.merge_columns}),
 * so Space-Saving's bounds hold: {@code c(x) - e(x) <= f(x) <= c(x)} for monitored items,
 * {@code f(x) <= floor <= N / capacity} for the rest. From the first compaction on, every event
 * also goes into a Count-Min table hashed exactly as the Python side hashes (MurmurHash3 x64_128,
 * cell {@code (h1 + row * h2) mod width}, unsigned), filled with the exact counts held until then;
 * a group that never compacts gets its table from its exact counts when it is emitted. The table
 * is the same, cell for cell, as Python's over the same events, in any order.
 *
 * <p>Call: {@code item_summary(item, weight, capacity, cms_width, cms_depth)} (the last three literals).
 */
public class ItemSummary extends AggregateFunction<byte[], ItemSummary.Summary> {
    static final int SEED = 0x70704B; // topk.sketches.count_min.DEFAULT_SEED (tests/test_shared_constants.py)

    /** The accumulator. */
    public static class Summary {
        @DataTypeHint("MAP<STRING, BIGINT>")
        public Map<String, Long> counts = new HashMap<>();

        /** Errors of items admitted above a floor of 0 (absent: 0). */
        @DataTypeHint("MAP<STRING, BIGINT>")
        public Map<String, Long> errors = new HashMap<>();

        public long floor;
        public long total;
        public int capacity;
        public int width;
        public int depth;

        /** depth x width Count-Min cells, row-major; null while the counts are exact. */
        @DataTypeHint("ARRAY<BIGINT NOT NULL>")
        public long[] table;
    }

    @Override
    public Summary createAccumulator() {
        return new Summary();
    }

    public void accumulate(Summary acc, String item, Long weight, Integer capacity, Integer width, Integer depth) {
        acc.capacity = capacity;
        acc.width = width;
        acc.depth = depth;
        add(acc, item, weight);
    }

    public void merge(Summary acc, Iterable<Summary> others) {
        mergeAll(acc, others);
    }

    /** Space-Saving's merge of {@code others} into {@code acc}, Count-Min tables summed. */
    static void mergeAll(Summary acc, Iterable<Summary> others) {
        for (Summary other : others) {
            if (other.capacity == 0) {
                continue; // never accumulated
            }
            if (acc.capacity == 0) {
                acc.capacity = other.capacity;
                acc.width = other.width;
                acc.depth = other.depth;
            }
            boolean exact = acc.table == null && other.table == null;
            long[] table = exact ? null : tableOf(acc);
            if (table != null) {
                long[] theirs = tableOf(other);
                for (int i = 0; i < table.length; i++) {
                    table[i] += theirs[i];
                }
            }
            Map<String, Long> counts = new HashMap<>(acc.counts.size() + other.counts.size());
            Map<String, Long> errors = new HashMap<>();
            for (Summary[] pair : new Summary[][] {{acc, other}, {other, acc}}) {
                Summary a = pair[0];
                Summary b = pair[1];
                a.counts.forEach((item, count) -> {
                    boolean both = b.counts.containsKey(item);
                    if (pair[0] == other && both) {
                        return; // summed once, from acc's side
                    }
                    counts.put(item, count + (both ? b.counts.get(item) : b.floor));
                    long error = a.errors.getOrDefault(item, 0L) + (both ? b.errors.getOrDefault(item, 0L) : b.floor);
                    if (error != 0) {
                        errors.put(item, error);
                    }
                });
            }
            acc.counts = counts;
            acc.errors = errors;
            acc.floor += other.floor;
            acc.total += other.total;
            acc.table = table;
            if (acc.counts.size() > 2 * acc.capacity) {
                acc.table = tableOf(acc);
                compact(acc);
            }
        }
    }

    /** The Count-Min table of a summary: its own, or built from its counts while they are exact. */
    static long[] tableOf(Summary acc) {
        return acc.table != null ? acc.table : exactTable(acc);
    }

    @Override
    public byte[] getValue(Summary acc) {
        return serialize(acc);
    }

    // ---- the summary ----------------------------------------------------------------------------

    static void add(Summary acc, String item, long weight) {
        acc.total += weight;
        Long count = acc.counts.get(item);
        if (count != null) {
            acc.counts.put(item, count + weight);
        } else {
            acc.counts.put(item, acc.floor + weight);
            if (acc.floor != 0) {
                acc.errors.put(item, acc.floor);
            }
        }
        if (acc.table != null) {
            addToTable(acc.table, acc.width, acc.depth, item, weight);
        }
        if (acc.counts.size() > 2 * acc.capacity) {
            acc.table = tableOf(acc); // exact so far: every event's count goes in now
            compact(acc);
        }
    }

    /** Keeps the {@code capacity} largest counts (ties by item); the largest dropped raises the floor. */
    static void compact(Summary acc) {
        int n = acc.counts.size();
        if (n <= acc.capacity) {
            return;
        }
        // The capacity-th largest count splits kept from dropped; only items at exactly that count
        // need ranking by item (a sort of primitives, not of the whole map by boxed lookups).
        long[] values = new long[n];
        int i = 0;
        for (long v : acc.counts.values()) {
            values[i++] = v;
        }
        Arrays.sort(values);
        long threshold = values[n - acc.capacity];
        int above = n - upperBound(values, threshold);
        List<String> ties = new ArrayList<>();
        long largestDropped = 0;
        for (var it = acc.counts.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            long v = e.getValue();
            if (v == threshold) {
                ties.add(e.getKey());
            } else if (v < threshold) {
                largestDropped = Math.max(largestDropped, v);
                acc.errors.remove(e.getKey());
                it.remove();
            }
        }
        ties.sort(ItemSummary::compareCodePoints);
        for (String item : ties.subList(acc.capacity - above, ties.size())) {
            largestDropped = threshold;
            acc.counts.remove(item);
            acc.errors.remove(item);
        }
        acc.floor = Math.max(acc.floor, largestDropped);
    }

    /** The first index of sorted {@code values} holding a value above {@code v}. */
    private static int upperBound(long[] values, long v) {
        int lo = 0;
        int hi = values.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (values[mid] <= v) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** Items by count descending, ties by item (code point order, as Python compares strings). */
    static List<String> ranked(Map<String, Long> counts) {
        List<String> items = new ArrayList<>(counts.keySet());
        items.sort((a, b) -> {
            int byCount = Long.compare(counts.get(b), counts.get(a));
            return byCount != 0 ? byCount : compareCodePoints(a, b);
        });
        return items;
    }

    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    /** The Count-Min table of exact counts (valid only while the counts are exact). */
    static long[] exactTable(Summary acc) {
        long[] table = new long[acc.depth * acc.width];
        acc.counts.forEach((item, count) -> addToTable(table, acc.width, acc.depth, item, count));
        return table;
    }

    static void addToTable(long[] table, int width, int depth, String item, long weight) {
        long[] h = MurmurHash3.hash128(item.getBytes(StandardCharsets.UTF_8), SEED);
        for (int row = 0; row < depth; row++) {
            table[row * width + (int) Long.remainderUnsigned(h[0] + row * h[1], width)] += weight;
        }
    }

    // ---- to and from bytes -------------------------------------------------------------------

    /** The summary's bytes ({@link SummaryFormat}): at most {@code capacity} items, like the Python summary. */
    static byte[] serialize(Summary acc) {
        Summary kept = acc;
        if (acc.counts.size() > acc.capacity) {
            kept = copy(acc);
            kept.table = tableOf(kept);
            compact(kept);
        }
        return SummaryFormat.write(kept, tableOf(kept));
    }

    static Summary copy(Summary acc) {
        Summary c = new Summary();
        c.counts = new HashMap<>(acc.counts);
        c.errors = new HashMap<>(acc.errors);
        c.floor = acc.floor;
        c.total = acc.total;
        c.capacity = acc.capacity;
        c.width = acc.width;
        c.depth = acc.depth;
        c.table = acc.table == null ? null : acc.table.clone();
        return c;
    }

    /** One summary of the serialized summaries {@code summaries} (all of one shape): each {@link #fold}ed in. */
    public static byte[] folded(List<byte[]> summaries) {
        Summary acc = new Summary();
        for (byte[] summary : summaries) {
            fold(acc, summary);
        }
        return serialize(acc);
    }

    /** {@code bytes} read and written again: the same bytes (the format's reader and writer agree). */
    public static byte[] rewritten(byte[] bytes) {
        return serialize(SummaryFormat.read(bytes));
    }

    /**
     * Adds the serialized summary {@code bytes} to {@code acc} (both of one shape): its items as exact
     * counts, as if its events came again, while it holds them exactly (floor 0: its table is theirs);
     * else a Space-Saving merge. So folding many small summaries costs what their items cost.
     */
    static void fold(Summary acc, byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        Summary other = SummaryFormat.readSpaceSaving(in, bytes);
        if (other.floor != 0) {
            mergeAll(acc, List.of(SummaryFormat.read(bytes)));
            return;
        }
        if (acc.capacity == 0) {
            acc.capacity = other.capacity;
            acc.width = other.width;
            acc.depth = other.depth;
        }
        other.counts.forEach((item, count) -> add(acc, item, count));
    }
}
