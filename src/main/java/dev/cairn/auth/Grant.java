package dev.cairn.auth;

import java.util.Set;

/** One entry of a token's access claim: {@code repository:cache/app:pull,push} as a value. */
public record Grant(String type, String name, Set<String> actions) {
    public Grant {
        actions = Set.copyOf(actions);
    }

    /** Parses a token-protocol scope: {@code TYPE:NAME:ACTIONS} (the name may itself hold ':'). */
    public static Grant parseScope(String scope) {
        int first = scope.indexOf(':');
        int last = scope.lastIndexOf(':');
        if (first < 0 || last == first) throw new IllegalArgumentException("malformed scope: " + scope);
        Set<String> actions = new java.util.LinkedHashSet<>();
        for (String a : scope.substring(last + 1).split(",")) if (!a.isBlank()) actions.add(a.strip());
        return new Grant(scope.substring(0, first), scope.substring(first + 1, last), actions);
    }

    public boolean permits(String repository, Action action) {
        return type.equals("repository") && name.equals(repository) && (actions.contains(action.wireName()) || actions.contains("*"));
    }

    public String scope() {
        return type + ":" + name + ":" + String.join(",", actions);
    }
}
