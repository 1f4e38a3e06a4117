package dev.cairn.http;

import dev.cairn.values.Refusal;

import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** One satisfiable byte range of a blob, from an HTTP {@code Range} header (RFC 9110 §14.1.2). */
record ByteRange(long first, long last) {
    private static final Pattern SINGLE = Pattern.compile("bytes=(\\d*)-(\\d*)");

    long length() {
        return last - first + 1;
    }

    String contentRange(long size) {
        return "bytes " + first + "-" + last + "/" + size;
    }

    /**
     * The range of a blob of {@code size} bytes that {@code header} asks for; empty when there is no
     * header. Multiple ranges, malformed headers and ranges past the end are refused (416).
     */
    static Optional<ByteRange> parse(Optional<String> header, long size) {
        if (header.isEmpty()) return Optional.empty();
        Matcher m = SINGLE.matcher(header.get().strip());
        if (!m.matches() || (m.group(1).isEmpty() && m.group(2).isEmpty())) {
            throw unsatisfiable("malformed or multiple Range: " + header.get(), size);
        }
        try {
            if (m.group(1).isEmpty()) { // suffix: the last N bytes
                long suffix = Long.parseLong(m.group(2));
                if (suffix == 0 || size == 0) throw unsatisfiable("empty suffix range", size);
                return Optional.of(new ByteRange(Math.max(0, size - suffix), size - 1));
            }
            long first = Long.parseLong(m.group(1));
            long last = m.group(2).isEmpty() ? size - 1 : Math.min(Long.parseLong(m.group(2)), size - 1);
            if (first >= size || (!m.group(2).isEmpty() && Long.parseLong(m.group(2)) < first)) {
                throw unsatisfiable("range " + header.get() + " is outside the blob's " + size + " bytes", size);
            }
            return Optional.of(new ByteRange(first, last));
        } catch (NumberFormatException e) {
            throw unsatisfiable("range numbers too large: " + header.get(), size);
        }
    }

    private static Refusal unsatisfiable(String message, long size) {
        return new Refusal(Refusal.Reason.UNSATISFIABLE_RANGE, message, Map.of("size", size));
    }
}
