package dev.cairn.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.cairn.values.RepositoryName;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One {@code mirrors:} rule: the repositories under {@code prefix} are a pull-through mirror of {@code upstream}
 * ({@code cairn:5000/hub/library/node:22} reads {@code library/node:22} there). A tag is trusted for {@code ttl}
 * before it is checked again; while the upstream fails, a tag seen before is served for up to {@code max-stale}.
 *
 * <pre>
 * mirrors:
 *   - prefix: hub
 *     upstream: https://registry-1.docker.io
 *     ttl: 10m
 *     max-stale: 7d
 *     credentials: {user: NAME, password-env: HUB_TOKEN}
 * </pre>
 */
public record MirrorRule(RepositoryName prefix, RemoteRegistry upstream, Duration ttl, Duration maxStale) {
    private static final Set<String> KEYS = Set.of("prefix", "upstream", "ttl", "max-stale", "credentials");

    /** The upstream's name for {@code repository} when this rule mirrors it ({@code hub/library/node} -> {@code library/node}). */
    public java.util.Optional<RepositoryName> upstreamName(RepositoryName repository) {
        String name = repository.value();
        String p = prefix.value();
        if (name.length() <= p.length() + 1 || !name.startsWith(p) || name.charAt(p.length()) != '/') return java.util.Optional.empty();
        return java.util.Optional.of(RepositoryName.of(name.substring(p.length() + 1)));
    }

    static List<MirrorRule> parse(String text) {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(text);
        } catch (Exception e) {
            throw new ConfigException("mirrors: not a YAML list: " + e.getMessage());
        }
        if (root == null || root.isNull() || root.isMissingNode()) return List.of();
        if (!root.isArray()) throw new ConfigException("mirrors: expected a list of rules");
        List<MirrorRule> rules = new ArrayList<>();
        Set<String> prefixes = new HashSet<>();
        for (int i = 0; i < root.size(); i++) {
            JsonNode rule = root.get(i);
            String where = "mirrors[" + i + "]";
            if (!rule.isObject()) throw new ConfigException(where + ": expected a mapping");
            rule.fieldNames().forEachRemaining(name -> {
                if (!KEYS.contains(name)) throw new ConfigException(where + ": unknown key '" + name + "' (known: " + KEYS + ")");
            });
            String text0 = rule.path("prefix").asText("");
            if (text0.isEmpty()) {
                throw new ConfigException(where + ".prefix: required (hub, ghcr, ...): a mirror without a prefix, for clients that "
                        + "send none, is not supported yet");
            }
            RepositoryName prefix;
            try {
                prefix = RepositoryName.of(text0);
            } catch (RuntimeException e) {
                throw new ConfigException(where + ".prefix: '" + text0 + "' is not a repository name: " + e.getMessage());
            }
            if (!prefixes.add(prefix.value())) throw new ConfigException(where + ".prefix: '" + prefix + "' is named by two mirrors");
            RemoteRegistry upstream = RemoteRegistry.parse(rule, where, "upstream");
            Duration ttl = duration(rule, where, "ttl", "10m");
            Duration maxStale = duration(rule, where, "max-stale", "7d");
            rules.add(new MirrorRule(prefix, upstream, ttl, maxStale));
        }
        for (MirrorRule a : rules) {
            for (MirrorRule b : rules) {
                if (a != b && b.upstreamName(a.prefix()).isPresent()) {
                    throw new ConfigException("mirrors: the prefix '" + a.prefix() + "' lies under '" + b.prefix() + "': which upstream would serve it?");
                }
            }
        }
        return rules;
    }

    private static Duration duration(JsonNode rule, String where, String key, String fallback) {
        try {
            Duration d = Quantities.parseDuration(rule.path(key).asText(fallback));
            if (d.isNegative()) throw new IllegalArgumentException("must not be negative");
            return d;
        } catch (IllegalArgumentException e) {
            throw new ConfigException(where + "." + key + ": " + e.getMessage());
        }
    }
}
