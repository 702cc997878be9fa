package topk.udfs;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * What a dead letter keeps of a rejected record: at most {@code maxBytes} of its first bytes, its
 * whole length and the SHA-256 of the whole (hex), so a record of any size makes a dead letter of
 * bounded size that still identifies it. Cut in the JVM, so a huge record never crosses into Python.
 * Call: {@code raw_excerpt(value, max_bytes)} -> {@code ROW<raw BYTES, raw_length INT, raw_sha256 STRING>}.
 */
public class RawExcerpt extends ScalarFunction {
    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JVM has SHA-256
        }
    });

    @DataTypeHint(value = "ROW<`raw` BYTES, raw_length INT, raw_sha256 STRING>", bridgedTo = RowData.class)
    public RowData eval(byte[] value, Integer maxBytes) {
        if (value == null) {
            return null;
        }
        byte[] kept = value.length <= maxBytes ? value : Arrays.copyOf(value, maxBytes);
        String sha256 = HexFormat.of().formatHex(SHA256.get().digest(value));
        return GenericRowData.of(kept, value.length, StringData.fromString(sha256));
    }
}
