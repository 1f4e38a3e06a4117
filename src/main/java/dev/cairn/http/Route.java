package dev.cairn.http;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One parsed request path. OCI names have several segments ({@code team/app/cache}), so the route is
 * read from the end of the path: the name is the longest prefix followed by a known endpoint suffix,
 * as in Distribution's route table. {@code name} and {@code argument} are still raw (percent-encoded) text.
 */
record Route(Kind kind, String name, String argument) {
    enum Kind { BASE, CATALOG, BLOB, UPLOADS, UPLOAD, MANIFEST, TAGS, REFERRERS, HEALTHZ, READYZ, METRICS, ADMIN, TOKEN, UNKNOWN }

    private static final Pattern V2 = Pattern.compile(
            "^/v2/(?<name>.+)/(?:manifests/(?<ref>[^/]+)|blobs/uploads/(?<upload>[^/]*)|blobs/(?<digest>[^/]+)"
                    + "|tags/list|referrers/(?<subject>[^/]+))$");

    static Route parse(String rawPath) {
        switch (rawPath) {
            case "/v2", "/v2/" -> {
                return new Route(Kind.BASE, "", "");
            }
            case "/v2/_catalog" -> {
                return new Route(Kind.CATALOG, "", "");
            }
            case "/healthz" -> {
                return new Route(Kind.HEALTHZ, "", "");
            }
            case "/readyz" -> {
                return new Route(Kind.READYZ, "", "");
            }
            case "/metrics" -> {
                return new Route(Kind.METRICS, "", "");
            }
            case "/token" -> {
                return new Route(Kind.TOKEN, "", "");
            }
            default -> {
            }
        }
        if (rawPath.startsWith("/api/v1/")) {
            return new Route(Kind.ADMIN, "", rawPath.substring("/api/v1/".length()));
        }
        Matcher m = lastMatch(rawPath);
        if (m == null) {
            return new Route(Kind.UNKNOWN, "", "");
        }
        String name = m.group("name");
        if (m.group("ref") != null) return new Route(Kind.MANIFEST, name, m.group("ref"));
        if (m.group("upload") != null) {
            return m.group("upload").isEmpty() ? new Route(Kind.UPLOADS, name, "") : new Route(Kind.UPLOAD, name, m.group("upload"));
        }
        if (m.group("digest") != null) {
            // "/blobs/uploads" without the trailing slash still means "start an upload"
            return m.group("digest").equals("uploads") ? new Route(Kind.UPLOADS, name, "") : new Route(Kind.BLOB, name, m.group("digest"));
        }
        if (m.group("subject") != null) return new Route(Kind.REFERRERS, name, m.group("subject"));
        return new Route(Kind.TAGS, name, "");
    }

    private static Matcher lastMatch(String path) {
        Matcher m = V2.matcher(path);
        return m.matches() ? m : null;
    }

    /** The repository part as the access log shows it. */
    String repositoryForLog() {
        return name.isEmpty() ? "-" : name;
    }
}
