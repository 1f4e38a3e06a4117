package dev.cairn.auth;

import dev.cairn.values.Glob;

import java.util.EnumSet;
import java.util.Set;

/**
 * One permission rule: these users, groups, or anonymous callers may do these actions on the
 * repositories the glob matches. The first rule that matches both who and where decides.
 */
public record AccessRule(Set<String> users, Set<String> groups, boolean anonymous, Glob repositories, Set<Action> actions) {
    public AccessRule {
        users = Set.copyOf(users);
        groups = Set.copyOf(groups);
        actions = actions.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(actions));
    }

    boolean appliesTo(Identity who) {
        if (who.anonymous()) return anonymous;
        return users.contains(who.user()) || who.groups().stream().anyMatch(groups::contains) || users.contains("*");
    }
}
