package dev.cairn.values;

import java.util.regex.Pattern;

/**
 * A pattern over repository names or tags: {@code *} matches within one path segment, {@code **} across
 * segments, {@code ?} one character. {@code cache/**} matches {@code cache/app} and {@code cache/a/b}.
 */
public record Glob(String pattern) {
    public Glob {
        if (pattern == null || pattern.isBlank()) throw new Refusal(Refusal.Reason.INVALID_PATTERN, "empty pattern");
    }

    public boolean matches(String name) {
        return regex().matcher(name).matches();
    }

    private Pattern regex() {
        StringBuilder regex = new StringBuilder();
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            if (c == '*') {
                if (i + 1 < pattern.length() && pattern.charAt(i + 1) == '*') {
                    regex.append(".*");
                    i++;
                } else {
                    regex.append("[^/]*");
                }
            } else if (c == '?') {
                regex.append("[^/]");
            } else {
                regex.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(regex.toString());
    }

    @Override
    public String toString() {
        return pattern;
    }
}
