package topk.udfs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import topk.udfs.ItemSummary.Summary;

/**
 * The bytes of a summary: heavy-hitters format 1 = "HH" + Space-Saving v2 + Count-Min v3, as
 * {@code docs/formats.md} specifies and {@code topk.sketches} reads and writes (little-endian; counts,
 * errors and lengths in the narrowest of u1/u2/u4/u8 that holds their largest; Count-Min cells dense or
 * sparse, whichever is smaller). The header sizes and versions below are Python's struct sizes and
 * {@code FORMAT_VERSION}s ({@code tests/test_shared_constants.py} checks them).
 */
final class SummaryFormat {
    static final int HEAVY_HITTERS_VERSION = 1;
    static final int SPACE_SAVING_VERSION = 2;
    static final int COUNT_MIN_VERSION = 3;
    /** "HH", version, length of the Space-Saving part. */
    static final int HEAVY_HITTERS_HEADER = 7;
    /** "SS", version, capacity, items, floor, total, then the type codes of counts, errors and lengths. */
    static final int SPACE_SAVING_HEADER = 30;
    /** "CM", version, depth, width, seed, total, then sparse or not, the cells' type code, cells stored. */
    static final int COUNT_MIN_HEADER = 29;
    /** The length type code that says items are separated by NUL instead of stored with their lengths. */
    static final int SEPARATED = 255;

    private SummaryFormat() {}

    /** {@code acc} (at most its capacity of items) with its Count-Min {@code table}. */
    static byte[] write(Summary acc, long[] table) {
        byte[] spaceSaving = spaceSaving(acc);
        byte[] countMin = countMin(table, acc);
        ByteBuffer out = littleEndian(HEAVY_HITTERS_HEADER + spaceSaving.length + countMin.length);
        out.put((byte) 'H').put((byte) 'H').put((byte) HEAVY_HITTERS_VERSION).putInt(spaceSaving.length);
        return out.put(spaceSaving).put(countMin).array();
    }


    static byte[] spaceSaving(Summary acc) {
        List<String> items = ItemSummary.ranked(acc.counts);
        int n = items.size();
        long[] counts = new long[n];
        long[] errors = new long[n];
        boolean hasNul = false;
        StringBuilder text = new StringBuilder();
        long[] lengths = new long[n];
        for (int i = 0; i < n; i++) {
            String item = items.get(i);
            counts[i] = acc.counts.get(item);
            errors[i] = acc.errors.getOrDefault(item, 0L);
            hasNul |= item.indexOf('\0') >= 0;
            lengths[i] = item.codePointCount(0, item.length());
        }
        for (int i = 0; i < n; i++) {
            if (i > 0 && !hasNul) {
                text.append('\0');
            }
            text.append(items.get(i));
        }
        byte[] utf8 = text.toString().getBytes(StandardCharsets.UTF_8);
        int countCode = typeCode(largest(counts));
        int errorCode = typeCode(largest(errors));
        int lengthCode = hasNul ? typeCode(largest(lengths)) : SEPARATED;
        int size = SPACE_SAVING_HEADER + n * ((1 << countCode) + (1 << errorCode))
                + (hasNul ? n << lengthCode : 0) + utf8.length;
        ByteBuffer out = littleEndian(size);
        out.put((byte) 'S').put((byte) 'S').put((byte) SPACE_SAVING_VERSION).putInt(acc.capacity).putInt(n);
        out.putLong(acc.floor).putLong(acc.total);
        out.put((byte) countCode).put((byte) errorCode).put((byte) lengthCode);
        putAll(out, counts, countCode);
        putAll(out, errors, errorCode);
        if (hasNul) {
            putAll(out, lengths, lengthCode);
        }
        return out.put(utf8).array();
    }

    static byte[] countMin(long[] table, Summary acc) {
        int code = typeCode(largest(table));
        int cells = table.length;
        int nonzero = 0;
        for (long v : table) {
            nonzero += v != 0 ? 1 : 0;
        }
        int indexBytes = cells <= 1 << 16 ? 2 : 4;
        boolean sparse = (long) nonzero * (indexBytes + (1 << code)) < (long) cells * (1 << code);
        int stored = sparse ? nonzero : cells;
        ByteBuffer out = littleEndian(COUNT_MIN_HEADER + stored * ((sparse ? indexBytes : 0) + (1 << code)));
        out.put((byte) 'C').put((byte) 'M').put((byte) COUNT_MIN_VERSION).putInt(acc.depth).putInt(acc.width).putInt(ItemSummary.SEED);
        out.putLong(acc.total).put((byte) (sparse ? 1 : 0)).put((byte) code).putInt(stored);
        if (!sparse) {
            putAll(out, table, code);
            return out.array();
        }
        for (int i = 0; i < cells; i++) {
            if (table[i] != 0) {
                if (indexBytes == 2) {
                    out.putShort((short) i);
                } else {
                    out.putInt(i);
                }
            }
        }
        for (long v : table) {
            if (v != 0) {
                put(out, v, code);
            }
        }
        return out.array();
    }

    /** A summary as {@link #write} wrote it (its Count-Min table always present). */
    static Summary read(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        Summary acc = readSpaceSaving(in, bytes);
        expect(in, 'C', 'M', COUNT_MIN_VERSION);
        in.getInt(); // depth and width: as readSpaceSaving read them
        in.getInt();
        in.getInt(); // the seed: always SEED
        in.getLong(); // the total, as above
        boolean sparse = in.get() != 0;
        int code = in.get();
        int stored = in.getInt();
        if (!sparse) {
            acc.table = getAll(in, stored, code);
            return acc;
        }
        acc.table = new long[acc.depth * acc.width];
        int[] index = new int[stored];
        for (int i = 0; i < stored; i++) {
            index[i] = acc.table.length <= 1 << 16 ? in.getShort() & 0xFFFF : in.getInt();
        }
        for (int i = 0; i < stored; i++) {
            acc.table[index[i]] = get(in, code);
        }
        return acc;
    }

    /** The Space-Saving part and the Count-Min shape; {@code in} left at the Count-Min part. */
    static Summary readSpaceSaving(ByteBuffer in, byte[] bytes) {
        expect(in, 'H', 'H', HEAVY_HITTERS_VERSION);
        int countMinAt = in.getInt() + in.position();
        expect(in, 'S', 'S', SPACE_SAVING_VERSION);
        Summary acc = new Summary();
        acc.capacity = in.getInt();
        int n = in.getInt();
        acc.floor = in.getLong();
        acc.total = in.getLong();
        int countCode = in.get();
        int errorCode = in.get();
        int lengthCode = in.get() & 0xFF;
        long[] counts = getAll(in, n, countCode);
        long[] errors = getAll(in, n, errorCode);
        long[] lengths = lengthCode == SEPARATED ? null : getAll(in, n, lengthCode);
        String text = new String(bytes, in.position(), countMinAt - in.position(), StandardCharsets.UTF_8);
        int at = 0;
        for (int i = 0; i < n; i++) {
            int end = lengths != null ? text.offsetByCodePoints(at, (int) lengths[i])
                    : i == n - 1 ? text.length() : text.indexOf('\0', at);
            String item = text.substring(at, end);
            at = lengths != null ? end : end + 1;
            acc.counts.put(item, counts[i]);
            if (errors[i] != 0) {
                acc.errors.put(item, errors[i]);
            }
        }
        acc.depth = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(countMinAt + 3);
        acc.width = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(countMinAt + 7);
        in.position(countMinAt);
        return acc;
    }

    private static void expect(ByteBuffer in, char a, char b, int version) {
        if (in.get() != a || in.get() != b || in.get() != version) {
            throw new IllegalArgumentException("not a summary of this format: expected " + a + b + " v" + version);
        }
    }

    static long[] getAll(ByteBuffer in, int n, int code) {
        long[] values = new long[n];
        for (int i = 0; i < n; i++) {
            values[i] = get(in, code);
        }
        return values;
    }

    static long get(ByteBuffer in, int code) {
        return switch (code) {
            case 0 -> in.get() & 0xFFL;
            case 1 -> in.getShort() & 0xFFFFL;
            case 2 -> in.getInt() & 0xFFFFFFFFL;
            default -> in.getLong();
        };
    }

    static ByteBuffer littleEndian(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    static long largest(long[] values) {
        return Arrays.stream(values).max().orElse(0L);
    }

    /** 0..3: the smallest of u1, u2, u4, u8 that holds {@code largest} (>= 0). */
    static int typeCode(long largest) {
        return largest < 1L << 8 ? 0 : largest < 1L << 16 ? 1 : largest < 1L << 32 ? 2 : 3;
    }

    static void putAll(ByteBuffer out, long[] values, int code) {
        for (long v : values) {
            put(out, v, code);
        }
    }

    static void put(ByteBuffer out, long v, int code) {
        switch (code) {
            case 0 -> out.put((byte) v);
            case 1 -> out.putShort((short) v);
            case 2 -> out.putInt((int) v);
            default -> out.putLong(v);
        }
    }
}
