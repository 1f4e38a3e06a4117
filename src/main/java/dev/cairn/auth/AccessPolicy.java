package dev.cairn.auth;

import dev.cairn.values.Glob;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The rules in force: group membership, permission rules (first match wins) and who holds the admin
 * right (the admin API and /metrics).
 */
public record AccessPolicy(Map<String, Set<String>> groups, List<AccessRule> rules, Set<String> adminUsers, Set<String> adminGroups) {
    public AccessPolicy {
        groups = Map.copyOf(groups);
        rules = List.copyOf(rules);
        adminUsers = Set.copyOf(adminUsers);
        adminGroups = Set.copyOf(adminGroups);
    }

    /** The groups a user belongs to. */
    public Set<String> groupsOf(String user) {
        return groups.entrySet().stream().filter(e -> e.getValue().contains(user)).map(Map.Entry::getKey)
                .collect(Collectors.toUnmodifiableSet());
    }

    /**
     * What {@code who} may do on {@code repository}: the actions of the first rule matching both. A known
     * user no rule names keeps what anonymous callers may do there (a runner's stored credentials must not
     * cost it the public base images).
     */
    public Set<Action> allowed(Identity who, String repository) {
        for (AccessRule rule : rules) {
            if (rule.appliesTo(who) && rule.repositories().matches(repository)) {
                return rule.actions().isEmpty() ? Set.of() : EnumSet.copyOf(rule.actions());
            }
        }
        return who.anonymous() ? Set.of() : allowed(Identity.ANONYMOUS, repository);
    }

    /**
     * Whether some rule lets someone push to {@code repository}: a name clients write to. A rule that earlier ones
     * hide from everyone it names still counts; the answer errs towards yes.
     */
    public boolean somebodyMayPush(String repository) {
        return rules.stream().anyMatch(r -> r.actions().contains(Action.PUSH) && r.repositories().matches(repository));
    }

    public boolean isAdmin(Identity who) {
        return !who.anonymous() && (adminUsers.contains(who.user()) || who.groups().stream().anyMatch(adminGroups::contains));
    }

    /** The permissive policy of {@code auth.mode: none}. */
    public static AccessPolicy everyoneMayDoEverything() {
        return new AccessPolicy(Map.of(), List.of(new AccessRule(Set.of("*"), Set.of(), true, new Glob("**"),
                EnumSet.allOf(Action.class))), Set.of(), Set.of());
    }
}
