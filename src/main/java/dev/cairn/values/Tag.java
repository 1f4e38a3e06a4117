package dev.cairn.values;

import java.util.regex.Pattern;

/** A tag: up to 128 characters of {@code [a-zA-Z0-9_.-]}, not starting with '.' or '-'. */
public record Tag(String value) implements Comparable<Tag> {
    private static final Pattern GRAMMAR = Pattern.compile("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");

    public Tag {
        if (value == null || !GRAMMAR.matcher(value).matches()) {
            throw new Refusal(Refusal.Reason.INVALID_TAG, "invalid tag: "
                    + ClientText.shortened(value));
        }
    }

    @Override
    public String toString() {
        return value;
    }

    @Override
    public int compareTo(Tag other) {
        return value.compareTo(other.value);
    }
}
