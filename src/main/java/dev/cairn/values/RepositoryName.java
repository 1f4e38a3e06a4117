package dev.cairn.values;

import java.util.regex.Pattern;

/** A repository name as the distribution spec defines it: lower-case path components joined by '/'. */
public record RepositoryName(String value) implements Comparable<RepositoryName> {
    private static final Pattern GRAMMAR = Pattern.compile(
            "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*)*");
    /** Distribution's limit; longer names break tooling that embeds them in paths. */
    public static final int MAX_LENGTH = 255;

    public RepositoryName {
        if (value == null || value.isEmpty() || value.length() > MAX_LENGTH || !GRAMMAR.matcher(value).matches()) {
            throw new Refusal(Refusal.Reason.INVALID_REPOSITORY_NAME, "invalid repository name: "
                    + ClientText.shortened(value));
        }
    }

    public static RepositoryName of(String value) {
        return new RepositoryName(value);
    }

    @Override
    public String toString() {
        return value;
    }

    @Override
    public int compareTo(RepositoryName other) {
        return value.compareTo(other.value);
    }
}
