package topk.udfs;

import org.apache.flink.table.functions.ScalarFunction;

/**
 * The summary of one event, in the format {@link ItemSummary} emits (for late events, which reach
 * Python one at a time). Call: {@code item_summary_of(item, weight, capacity, cms_width, cms_depth)}.
 */
public class ItemSummaryOf extends ScalarFunction {
    public byte[] eval(String item, Long weight, Integer capacity, Integer width, Integer depth) {
        ItemSummary.Summary summary = new ItemSummary.Summary();
        summary.capacity = capacity;
        summary.width = width;
        summary.depth = depth;
        ItemSummary.add(summary, item, weight);
        return ItemSummary.serialize(summary);
    }
}
