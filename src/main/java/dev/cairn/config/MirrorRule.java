package dev.cairn.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.cairn.values.Glob;
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
 * The prefix {@code ""} makes the default mirror, for clients that send none (dockerd's {@code registry-mirrors}):
 * it mirrors every repository outside the other prefixes that holds no pushed images (see
 * {@code dev.cairn.mirror.Mirror}), or, with {@code repositories}, only the names those patterns match
 * ({@code ["library/**"]}: Docker Hub's official images, and no name a stranger could register upstream before a team
 * pushes its own under it).
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
public record MirrorRule(String prefix, RemoteRegistry upstream, Duration ttl, Duration maxStale, List<Glob> repositories) {
    private static final Set<String> KEYS = Set.of("prefix", "upstream", "ttl", "max-stale", "credentials", "repositories");

    public MirrorRule {
        repositories = List.copyOf(repositories);
    }

    /** Whether the default mirror was given the names it answers ({@code repositories:}): those are its own, read-only. */
    public boolean namesListed() {
        return !repositories.isEmpty();
    }

    /** Whether this is the default mirror (prefix {@code ""}). */
    public boolean isDefault() {
        return prefix.isEmpty();
    }

    /**
     * The upstream's name for {@code repository} when it lies under this rule's prefix ({@code hub/library/node} ->
     * {@code library/node}); the default mirror's is the repository's own name.
     */
    public java.util.Optional<RepositoryName> upstreamName(RepositoryName repository) {
        if (isDefault()) {
            if (!repositories.isEmpty() && repositories.stream().noneMatch(g -> g.matches(repository.value()))) return java.util.Optional.empty();
            return java.util.Optional.of(repository);
        }
        String name = repository.value();
        if (name.length() <= prefix.length() + 1 || !name.startsWith(prefix) || name.charAt(prefix.length()) != '/') return java.util.Optional.empty();
        return java.util.Optional.of(RepositoryName.of(name.substring(prefix.length() + 1)));
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
            if (!rule.has("prefix") || !rule.get("prefix").isTextual()) {
                throw new ConfigException(where + ".prefix: required (hub, ghcr, ...; \"\" for the default mirror, for clients that send no prefix)");
            }
            String prefix = rule.get("prefix").asText();
            if (!prefix.isEmpty()) {
                try {
                    RepositoryName.of(prefix);
                } catch (RuntimeException e) {
                    throw new ConfigException(where + ".prefix: '" + prefix + "' is not a repository name: " + e.getMessage());
                }
            }
            if (!prefixes.add(prefix)) {
                throw new ConfigException(where + ".prefix: " + (prefix.isEmpty() ? "two default mirrors (prefix \"\")" : "'" + prefix + "' is named by two mirrors"));
            }
            RemoteRegistry upstream = RemoteRegistry.parse(rule, where, "upstream");
            Duration ttl = duration(rule, where, "ttl", "10m");
            Duration maxStale = duration(rule, where, "max-stale", "7d");
            List<Glob> names = new ArrayList<>();
            JsonNode patterns = rule.path("repositories");
            if (!patterns.isMissingNode()) {
                if (!prefix.isEmpty()) {
                    throw new ConfigException(where + ".repositories: only the default mirror (prefix \"\") takes a list of names; "
                            + "a prefix already says which repositories are the mirror's");
                }
                List<JsonNode> items = new ArrayList<>();
                if (patterns.isArray()) patterns.forEach(items::add);
                else items.add(patterns);
                for (JsonNode item : items) {
                    if (!item.isTextual() || item.asText().isBlank()) throw new ConfigException(where + ".repositories: expected name patterns (\"library/**\")");
                    names.add(new Glob(item.asText()));
                }
                if (names.isEmpty()) throw new ConfigException(where + ".repositories: an empty list mirrors nothing; leave it out to mirror every name");
            }
            rules.add(new MirrorRule(prefix, upstream, ttl, maxStale, names));
        }
        for (MirrorRule a : rules) {
            for (MirrorRule b : rules) {
                if (a != b && !a.isDefault() && !b.isDefault() && b.upstreamName(RepositoryName.of(a.prefix())).isPresent()) {
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
