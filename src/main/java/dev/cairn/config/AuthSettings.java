package dev.cairn.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.cairn.auth.AccessPolicy;
import dev.cairn.auth.AccessRule;
import dev.cairn.auth.Action;
import dev.cairn.auth.Gatekeeper;
import dev.cairn.values.Glob;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The {@code auth.*} keys: the mode, the htpasswd file, groups, rules, admins, tokens and login
 * throttling. Groups, rules and admins are YAML structures in the file (or YAML/JSON text in the
 * environment):
 * <pre>
 * auth:
 *   mode: basic
 *   htpasswd: /etc/cairn/htpasswd
 *   groups: {runners: [ci-1, ci-2], devs: [alice]}
 *   rules:
 *     - groups: [runners]
 *       repositories: "cache/**"
 *       actions: [pull, push]
 *     - anonymous: true
 *       repositories: "public/**"
 *       actions: [pull]
 *   admins: {groups: [ops]}
 * </pre>
 */
public record AuthSettings(Gatekeeper.Mode mode, Optional<Path> htpasswd, AccessPolicy policy, String tokenService,
                           Duration tokenTtl, Optional<Path> tokenKey, Optional<String> tokenRealm,
                           Optional<String> externalIssuer, Optional<Path> externalIssuerKey,
                           int maxFailures, Duration failureWindow, Duration cooldown) {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Set<String> RULE_KEYS = Set.of("users", "groups", "anonymous", "repositories", "actions");

    static Map<String, Set<String>> parseGroups(String text) {
        JsonNode root = read(text, "auth.groups");
        Map<String, Set<String>> groups = new LinkedHashMap<>();
        if (root == null || root.isNull() || root.isMissingNode()) return groups;
        if (!root.isObject()) throw new ConfigException("auth.groups: expected a mapping of group to user list");
        for (var entry : root.properties()) {
            groups.put(entry.getKey(), strings(entry.getValue(), "auth.groups." + entry.getKey()));
        }
        return groups;
    }

    static List<AccessRule> parseRules(String text) {
        JsonNode root = read(text, "auth.rules");
        List<AccessRule> rules = new ArrayList<>();
        if (root == null || root.isNull() || root.isMissingNode()) return rules;
        if (!root.isArray()) throw new ConfigException("auth.rules: expected a list of rules");
        for (int i = 0; i < root.size(); i++) {
            JsonNode rule = root.get(i);
            String where = "auth.rules[" + i + "]";
            if (!rule.isObject()) throw new ConfigException(where + ": expected a mapping");
            rule.fieldNames().forEachRemaining(name -> {
                if (!RULE_KEYS.contains(name)) throw new ConfigException(where + ": unknown key '" + name + "' (known: " + RULE_KEYS + ")");
            });
            if (!rule.hasNonNull("repositories")) throw new ConfigException(where + ": 'repositories' is required");
            Set<Action> actions = EnumSet.noneOf(Action.class);
            for (String action : strings(rule.get("actions"), where + ".actions")) {
                try {
                    actions.add(Action.parse(action));
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(where + ".actions: " + e.getMessage());
                }
            }
            boolean anonymous = rule.path("anonymous").asBoolean(false);
            Set<String> users = strings(rule.get("users"), where + ".users");
            Set<String> groups = strings(rule.get("groups"), where + ".groups");
            if (!anonymous && users.isEmpty() && groups.isEmpty()) {
                throw new ConfigException(where + ": name users, groups, or anonymous: true");
            }
            rules.add(new AccessRule(users, groups, anonymous, new Glob(rule.get("repositories").asText()), actions));
        }
        return rules;
    }

    static Set<String>[] parseAdmins(String text) {
        JsonNode root = read(text, "auth.admins");
        @SuppressWarnings("unchecked")
        Set<String>[] admins = new Set[]{new HashSet<String>(), new HashSet<String>()};
        if (root == null || root.isNull() || root.isMissingNode()) return admins;
        if (!root.isObject()) throw new ConfigException("auth.admins: expected {users: [...], groups: [...]}");
        admins[0] = strings(root.get("users"), "auth.admins.users");
        admins[1] = strings(root.get("groups"), "auth.admins.groups");
        return admins;
    }

    private static JsonNode read(String text, String key) {
        try {
            return YAML.readTree(text);
        } catch (Exception e) {
            throw new ConfigException(key + ": not valid YAML: " + e.getMessage());
        }
    }

    private static Set<String> strings(JsonNode node, String where) {
        Set<String> values = new java.util.LinkedHashSet<>();
        if (node == null || node.isNull()) return values;
        if (!node.isArray()) throw new ConfigException(where + ": expected a list");
        node.forEach(v -> values.add(v.asText()));
        return values;
    }
}
