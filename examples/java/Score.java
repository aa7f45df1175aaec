// Score a modelpack PMML export on the JVM with JPMML-Evaluator.
//
//   javac -cp "$CP" Score.java && java -cp "$CP:." Score model.pmml [rows.csv]
//
// First checks the file against the expected outputs embedded in it (its ModelVerification rows,
// which modelpack writes from the original scikit-learn model): exit 1 when they do not match.
// Then, given a CSV with a header row, prints one JSON line per row with the model's outputs.
import java.io.BufferedReader;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.EvaluatorUtil;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;

public class Score {

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: java Score MODEL.pmml [ROWS.csv]");
            System.exit(2);
        }
        Evaluator evaluator = new LoadingModelEvaluatorBuilder().load(new File(args[0])).build();
        try {
            evaluator.verify();
        } catch (Exception e) {
            System.err.println("the model does not reproduce the expected outputs embedded in " + args[0] + ": " + e.getMessage());
            System.exit(1);
        }
        System.err.println("verified " + args[0] + " against its embedded expected outputs");
        if (args.length < 2) {
            return;
        }
        List<InputField> inputs = evaluator.getInputFields();
        try (BufferedReader reader = Files.newBufferedReader(new File(args[1]).toPath(), StandardCharsets.UTF_8)) {
            String[] header = reader.readLine().split(",", -1);
            String line;
            while ((line = reader.readLine()) != null) {
                String[] cells = line.split(",", -1);
                Map<String, Object> raw = new LinkedHashMap<>();
                for (int i = 0; i < header.length; i++) {
                    raw.put(header[i], cells[i].isEmpty() ? null : cells[i]);
                }
                Map<String, Object> arguments = new LinkedHashMap<>();
                for (InputField input : inputs) {
                    arguments.put(input.getName(), input.prepare(raw.get(input.getName())));
                }
                Map<String, ?> results = EvaluatorUtil.decodeAll(evaluator.evaluate(arguments));
                System.out.println(toJson(results));
            }
        }
    }

    private static String toJson(Map<String, ?> results) {
        StringBuilder out = new StringBuilder("{");
        for (Map.Entry<String, ?> entry : results.entrySet()) {
            if (out.length() > 1) {
                out.append(",");
            }
            out.append(quote(String.valueOf(entry.getKey()))).append(":");
            Object value = entry.getValue();
            out.append(value instanceof Number ? value.toString() : quote(String.valueOf(value)));
        }
        return out.append("}").toString();
    }

    private static String quote(String text) {
        return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
