package dev.cairn.auth;

import java.util.Set;

/** Who is asking: a user with their groups, or nobody (anonymous). */
public record Identity(String user, Set<String> groups, boolean anonymous) {
    public static final Identity ANONYMOUS = new Identity("", Set.of(), true);

    public Identity {
        groups = Set.copyOf(groups);
    }

    public static Identity user(String name, Set<String> groups) {
        return new Identity(name, groups, false);
    }

    @Override
    public String toString() {
        return anonymous ? "anonymous" : user;
    }
}
