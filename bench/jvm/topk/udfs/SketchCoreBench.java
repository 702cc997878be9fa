package topk.udfs;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import org.apache.datasketches.common.ArrayOfStringsSerDe;
import org.apache.datasketches.frequencies.ErrorType;
import org.apache.datasketches.frequencies.ItemsSketch;

/**
 * The sketch core where the job runs it, in the JVM (bench/jvm_core.py runs it): one stream of items,
 * one per event, into {@link ItemSummary} (capacity, Count-Min width and depth as the job's), Apache
 * DataSketches' {@code ItemsSketch<String>} sized to the same serialized bytes, and a {@code HashMap}
 * of exact counts, each timed on one thread (the median of {@code repeats} runs, after one warm-up).
 *
 * <p>Args: items file (one item per line), capacity, width, depth, repeats, output directory. Writes
 * {@code ours.bin} (the summary, in the format Python reads) and {@code datasketches.tsv} (its frequent
 * items with no false negatives: estimate, lower and upper bound, item) there; prints one JSON line of
 * updates per second and bytes. Accuracy against the exact counts is computed in Python, with the same
 * code as the Python sketch core's.
 */
public final class SketchCoreBench {
    private SketchCoreBench() {}

    public static void main(String[] args) throws IOException {
        String[] items = read(Path.of(args[0]));
        int capacity = Integer.parseInt(args[1]);
        int width = Integer.parseInt(args[2]);
        int depth = Integer.parseInt(args[3]);
        int repeats = Integer.parseInt(args[4]);
        Path out = Path.of(args[5]);

        double exact = perSecond(items.length, repeats, () -> exact(items));
        ItemSummary function = new ItemSummary();
        byte[][] ours = new byte[1][];
        double oursRate = perSecond(items.length, repeats, () -> {
            ItemSummary.Summary acc = function.createAccumulator();
            for (String item : items) {
                function.accumulate(acc, item, 1L, capacity, width, depth);
            }
            ours[0] = function.getValue(acc);
            return acc;
        });
        Files.write(out.resolve("ours.bin"), ours[0]);

        int lg = sameBytes(items, ours[0].length);
        List<ItemsSketch<String>> last = new ArrayList<>(List.of(new ItemsSketch<>(1 << lg)));
        double dsRate = perSecond(items.length, repeats, () -> {
            ItemsSketch<String> sketch = new ItemsSketch<>(1 << lg);
            for (String item : items) {
                sketch.update(item);
            }
            last.set(0, sketch);
            return sketch;
        });
        ItemsSketch<String> sketch = last.get(0);
        byte[] dsBytes = sketch.toByteArray(new ArrayOfStringsSerDe());
        try (PrintWriter tsv = new PrintWriter(Files.newBufferedWriter(out.resolve("datasketches.tsv")))) {
            for (ItemsSketch.Row<String> row : sketch.getFrequentItems(ErrorType.NO_FALSE_NEGATIVES)) {
                tsv.printf("%d\t%d\t%d\t%s%n", row.getEstimate(), row.getLowerBound(), row.getUpperBound(), row.getItem());
            }
        }
        System.out.printf("{\"events\": %d, \"exact_updates_per_s\": %.1f, \"ours_updates_per_s\": %.1f, "
                + "\"ours_bytes\": %d, \"datasketches_updates_per_s\": %.1f, \"datasketches_bytes\": %d, "
                + "\"datasketches_lg_max_map_size\": %d}%n",
                items.length, exact, oursRate, ours[0].length, dsRate, dsBytes.length, lg);
    }

    /** The stream's items, each distinct string once in memory. */
    private static String[] read(Path file) throws IOException {
        Map<String, String> interned = new HashMap<>();
        return Files.readAllLines(file, StandardCharsets.UTF_8).stream()
                .map(s -> interned.computeIfAbsent(s, x -> x)).toArray(String[]::new);
    }

    private static Map<String, long[]> exact(String[] items) {
        Map<String, long[]> counts = new HashMap<>();
        for (String item : items) {
            counts.computeIfAbsent(item, x -> new long[1])[0]++;
        }
        return counts;
    }

    /** The log2 map size whose serialized sketch of {@code items} is closest to {@code target} bytes. */
    private static int sameBytes(String[] items, int target) {
        int best = 6;
        long bestGap = Long.MAX_VALUE;
        for (int lg = 6; lg < 24; lg++) {
            ItemsSketch<String> sketch = new ItemsSketch<>(1 << lg);
            for (String item : items) {
                sketch.update(item);
            }
            int size = sketch.toByteArray(new ArrayOfStringsSerDe()).length;
            if (Math.abs(size - target) < bestGap) {
                best = lg;
                bestGap = Math.abs(size - target);
            }
            if (size > target) {
                break;
            }
        }
        return best;
    }

    /** Items per second of {@code run} over {@code n} items: the median of {@code repeats} runs after one warm-up. */
    private static double perSecond(int n, int repeats, Supplier<Object> run) {
        run.get();
        double[] seconds = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long started = System.nanoTime();
            run.get();
            seconds[i] = (System.nanoTime() - started) / 1e9;
        }
        Arrays.sort(seconds);
        return n / seconds[repeats / 2];
    }
}
