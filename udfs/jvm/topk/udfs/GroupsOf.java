package topk.udfs;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.MapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.TableFunction;

/**
 * The groups one event is counted in: {@code ("all", "all")}, then one {@code (dimension, value)}
 * per dimension it carries. One table function instead of a UNION ALL of one projection per
 * dimension keeps parse, fan-out and the local pre-aggregate chained on one thread (a union is a
 * network hop, and copies each row per branch); internal data structures in and out, so no string
 * is converted on the way. Call: {@code LATERAL TABLE(groups_of(dims))}.
 */
@FunctionHint(
        input = @DataTypeHint(value = "MAP<STRING, STRING>", bridgedTo = MapData.class),
        output = @DataTypeHint(value = "ROW<dim STRING, val STRING>", bridgedTo = RowData.class))
public class GroupsOf extends TableFunction<RowData> {
    private static final StringData ALL = StringData.fromString("all");

    public void eval(MapData dims) {
        collect(GenericRowData.of(ALL, ALL));
        if (dims != null) {
            ArrayData names = dims.keyArray();
            ArrayData values = dims.valueArray();
            for (int i = 0; i < dims.size(); i++) {
                collect(GenericRowData.of(names.getString(i), values.getString(i)));
            }
        }
    }
}
