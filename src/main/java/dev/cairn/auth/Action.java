package dev.cairn.auth;

import java.util.Locale;

/** What a request does to a repository, as the token protocol names it. */
public enum Action {
    PULL, PUSH, DELETE;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Action parse(String text) {
        return switch (text.strip().toLowerCase(Locale.ROOT)) {
            case "pull" -> PULL;
            case "push" -> PUSH;
            case "delete" -> DELETE;
            // The token protocol writes "*" for every action
            default -> throw new IllegalArgumentException("unknown action '" + text + "' (pull, push, delete)");
        };
    }
}
