package dev.cairn.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.cairn.values.Glob;
import dev.cairn.retention.RetentionRule;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The {@code retention.*} keys. {@code maxBytes} is empty for "auto": 20 GiB or half the free space of
 * the data filesystem at first start, whichever is smaller (decided once and remembered).
 * {@code retention.rules} is a list, in the file or as YAML/JSON text in {@code CAIRN_RETENTION_RULES}:
 * <pre>
 * - repositories: "cache/**"
 *   max-age: 7d
 *   max-idle: 2d
 * - repositories: "releases/**"
 *   evict: never
 * - repositories: "gradle"       # a namespace of build-tool results: at most this much of the budget
 *   max-bytes: 5GiB
 * </pre>
 */
public record RetentionSettings(Optional<Long> maxBytes, double highWatermark, double lowWatermark, boolean hardLimit,
                                Duration grace, Duration gcInterval, Optional<Duration> untaggedAfter, List<RetentionRule> rules) {
    private static final Set<String> RULE_KEYS = Set.of("repositories", "max-age", "max-idle", "evict", "max-bytes");

    public RetentionSettings {
        rules = List.copyOf(rules);
    }

    static List<RetentionRule> parseRules(String text) {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(text);
        } catch (Exception e) {
            throw new ConfigException("retention.rules: not a YAML list: " + e.getMessage());
        }
        if (root == null || root.isNull() || root.isMissingNode()) return List.of();
        if (!root.isArray()) throw new ConfigException("retention.rules: expected a list of rules");
        List<RetentionRule> rules = new ArrayList<>();
        for (int i = 0; i < root.size(); i++) {
            JsonNode rule = root.get(i);
            String where = "retention.rules[" + i + "]";
            if (!rule.isObject()) throw new ConfigException(where + ": expected a mapping");
            rule.fieldNames().forEachRemaining(name -> {
                if (!RULE_KEYS.contains(name)) throw new ConfigException(where + ": unknown key '" + name + "' (known: " + RULE_KEYS + ")");
            });
            if (!rule.hasNonNull("repositories")) throw new ConfigException(where + ": 'repositories' is required");
            String evict = rule.path("evict").asText("lru");
            if (!evict.equals("lru") && !evict.equals("never")) {
                throw new ConfigException(where + ".evict: expected 'never' or 'lru', got '" + evict + "'");
            }
            Optional<Long> maxBytes = Optional.empty();
            if (rule.hasNonNull("max-bytes")) {
                try {
                    maxBytes = Optional.of(Quantities.parseSize(rule.get("max-bytes").asText()));
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(where + ".max-bytes: " + e.getMessage());
                }
                if (evict.equals("never")) throw new ConfigException(where + ": max-bytes cannot be kept by a rule that never evicts");
            }
            rules.add(new RetentionRule(new Glob(rule.get("repositories").asText()), duration(rule, "max-age", where),
                    duration(rule, "max-idle", where), evict.equals("never"), maxBytes));
        }
        return rules;
    }

    private static Optional<Duration> duration(JsonNode rule, String key, String where) {
        if (!rule.hasNonNull(key)) return Optional.empty();
        try {
            return Optional.of(Quantities.parseDuration(rule.get(key).asText()));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(where + "." + key + ": " + e.getMessage());
        }
    }

    static String describeRules(List<RetentionRule> rules) {
        if (rules.isEmpty()) return "[] (no per-repository rules)";
        List<String> parts = new ArrayList<>();
        for (RetentionRule r : rules) {
            StringBuilder b = new StringBuilder("{repositories: ").append(r.repositories());
            r.maxAge().ifPresent(d -> b.append(", max-age: ").append(Quantities.formatDuration(d)));
            r.maxIdle().ifPresent(d -> b.append(", max-idle: ").append(Quantities.formatDuration(d)));
            if (r.neverEvict()) b.append(", evict: never");
            r.maxBytes().ifPresent(n -> b.append(", max-bytes: ").append(Quantities.formatSize(n)));
            parts.add(b.append('}').toString());
        }
        return String.join(", ", parts);
    }
}
