package dev.cairn.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * One {@code replicate:} rule: copy what another registry holds under some names into this node, every so
 * often. The source's password is named by an environment variable, never written in the file.
 *
 * <pre>
 * replicate:
 *   - from: https://cairn-eu.example:5000
 *     repositories: ["team/**", "base/*:stable"]
 *     every: 10m
 *     credentials: {user: replicator, password-env: CAIRN_EU_PASSWORD}
 * </pre>
 */
public record ReplicationRule(URI from, List<String> repositories, Duration every, Optional<String> user, Optional<String> passwordEnv) {
    private static final Set<String> KEYS = Set.of("from", "repositories", "every", "credentials");

    public ReplicationRule {
        repositories = List.copyOf(repositories);
    }

    /** What logs and metrics call the rule: its source and first pattern. */
    public String name() {
        return from.getAuthority() + " " + String.join(",", repositories);
    }

    static List<ReplicationRule> parse(String text) {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(text);
        } catch (Exception e) {
            throw new ConfigException("replicate: not a YAML list: " + e.getMessage());
        }
        if (root == null || root.isNull() || root.isMissingNode()) return List.of();
        if (!root.isArray()) throw new ConfigException("replicate: expected a list of rules");
        List<ReplicationRule> rules = new ArrayList<>();
        for (int i = 0; i < root.size(); i++) {
            JsonNode rule = root.get(i);
            String where = "replicate[" + i + "]";
            if (!rule.isObject()) throw new ConfigException(where + ": expected a mapping");
            rule.fieldNames().forEachRemaining(name -> {
                if (!KEYS.contains(name)) throw new ConfigException(where + ": unknown key '" + name + "' (known: " + KEYS + ")");
            });
            RemoteRegistry source = RemoteRegistry.parse(rule, where, "from");
            List<String> repositories = new ArrayList<>();
            JsonNode names = rule.path("repositories");
            if (names.isTextual()) repositories.add(names.asText());
            else if (names.isArray()) names.forEach(n -> repositories.add(n.isTextual() ? n.asText() : ""));
            if (repositories.isEmpty() || repositories.stream().anyMatch(String::isBlank)) {
                throw new ConfigException(where + ".repositories: one or more patterns are required (team/**, base/*:stable)");
            }
            Duration every;
            try {
                every = Quantities.parseDuration(rule.path("every").asText("10m"));
            } catch (IllegalArgumentException e) {
                throw new ConfigException(where + ".every: " + e.getMessage());
            }
            if (every.compareTo(Duration.ofSeconds(1)) < 0) throw new ConfigException(where + ".every: at least 1s");
            rules.add(new ReplicationRule(source.url(), repositories, every, source.user(), source.passwordEnv()));
        }
        return rules;
    }
}
