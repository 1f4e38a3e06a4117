package dev.cairn.http;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One parsed {@code /v2/} path. OCI names have several segments ({@code team/app/cache}), so the route is
 * read from the end of the path: the name is the longest prefix followed by a known endpoint suffix,
 * as in Distribution's route table. {@code name} and {@code argument} are still raw (percent-encoded) text.
 */
record OciRoute(Kind kind, String name, String argument) {
    enum Kind { BASE, CATALOG, BLOB, UPLOADS, UPLOAD, MANIFEST, TAGS, REFERRERS }

    private static final Pattern V2 = Pattern.compile(
            "^/v2/(?<name>.+)/(?:manifests/(?<ref>[^/]+)|blobs/uploads/(?<upload>[^/]*)|blobs/(?<digest>[^/]+)"
                    + "|tags/list|referrers/(?<subject>[^/]+))$");

    /** The OCI endpoint the path names; empty for any other path. */
    static Optional<OciRoute> parse(String rawPath) {
        switch (rawPath) {
            case "/v2", "/v2/" -> {
                return Optional.of(new OciRoute(Kind.BASE, "", ""));
            }
            case "/v2/_catalog" -> {
                return Optional.of(new OciRoute(Kind.CATALOG, "", ""));
            }
            default -> {
            }
        }
        Matcher m = V2.matcher(rawPath);
        if (!m.matches()) return Optional.empty();
        String name = m.group("name");
        if (m.group("ref") != null) return Optional.of(new OciRoute(Kind.MANIFEST, name, m.group("ref")));
        if (m.group("upload") != null) {
            return Optional.of(m.group("upload").isEmpty() ? new OciRoute(Kind.UPLOADS, name, "") : new OciRoute(Kind.UPLOAD, name, m.group("upload")));
        }
        if (m.group("digest") != null) {
            // "/blobs/uploads" without the trailing slash still means "start an upload"
            return Optional.of(m.group("digest").equals("uploads") ? new OciRoute(Kind.UPLOADS, name, "")
                    : new OciRoute(Kind.BLOB, name, m.group("digest")));
        }
        if (m.group("subject") != null) return Optional.of(new OciRoute(Kind.REFERRERS, name, m.group("subject")));
        return Optional.of(new OciRoute(Kind.TAGS, name, ""));
    }
}
