package dev.cairn.http;

import dev.cairn.auth.Action;
import dev.cairn.keyed.CacheKey;
import dev.cairn.keyed.KeyedCache;
import dev.cairn.values.ClientText;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code /cache/<namespace>/<key path>}: a plain HTTP cache of keys, as ccache (remote_storage http, every
 * layout), Gradle's HTTP build cache and sccache speak it (GET, HEAD, PUT, DELETE), and enough WebDAV
 * (PROPFIND, MKCOL, OPTIONS) for WebDAV clients such as rclone. Directories are implicit: a directory is
 * there while a key lies under it, MKCOL makes nothing, and a PUT needs no parent made first.
 */
final class KeyedCacheFront implements Front {
    /** The kind of entry this front's keys are, in retention, the audit log and the metrics. */
    static final String KIND = "cache";
    private static final String PREFIX = "/cache/";
    private static final String METHODS = "GET, HEAD, PUT, DELETE, OPTIONS, PROPFIND, MKCOL";
    /** HTTP's date form (RFC 9110 IMF-fixdate: two-digit day, GMT); RFC_1123_DATE_TIME would write "7 Dec". */
    private static final DateTimeFormatter HTTP_DATE = DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", java.util.Locale.US)
            .withZone(ZoneOffset.UTC);

    private final KeyedCache cache;

    KeyedCacheFront(KeyedCache cache) {
        this.cache = cache;
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        if (rawPath.equals("/cache")) return Optional.of(new Request("", ""));
        if (!rawPath.startsWith(PREFIX)) return Optional.empty();
        String rest = rawPath.substring(PREFIX.length());
        int slash = rest.indexOf('/');
        return Optional.of(slash < 0 ? new Request(rest, "") : new Request(rest.substring(0, slash), rest.substring(slash + 1)));
    }

    private final class Request implements Routed {
        private final String rawNamespace;
        private final String rawKey;
        private RepositoryName namespace;
        /** Empty for the namespace's root. */
        private Optional<CacheKey> key;
        /** The path ended in '/': it names a directory. */
        private boolean directory;

        Request(String rawNamespace, String rawKey) {
            this.rawNamespace = rawNamespace;
            this.rawKey = rawKey;
        }

        @Override
        public void authorize(Exchange x, AccessGate gate) {
            parse();
            gate.require(x.caller, namespace.value(), switch (x.method()) {
                case "PUT", "MKCOL" -> Action.PUSH;
                case "DELETE" -> Action.DELETE;
                default -> Action.PULL;
            });
        }

        /** Namespace and key, validated before access rules are applied to them. */
        private void parse() {
            namespace = namespace(rawNamespace);
            directory = rawKey.isEmpty() || rawKey.endsWith("/");
            String trimmed = directory && !rawKey.isEmpty() ? rawKey.substring(0, rawKey.length() - 1) : rawKey;
            key = trimmed.isEmpty() ? Optional.empty() : Optional.of(new CacheKey(decode(trimmed)));
        }

        @Override
        public void serve(Exchange x) {
            switch (x.method()) {
                case "GET", "HEAD" -> get(x);
                case "PUT" -> put(x);
                case "DELETE" -> delete(x);
                case "PROPFIND" -> propfind(x);
                case "MKCOL" -> mkcol(x);
                case "OPTIONS" -> {
                    x.header("DAV", "1").header("Allow", METHODS);
                    x.send(200);
                }
                default -> throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on the cache");
            }
        }

        private CacheKey entryKey() {
            if (key.isEmpty() || directory) {
                throw new Refusal(Refusal.Reason.INVALID_KEY, "a key names a file, not a directory: " + PREFIX + rawNamespace + "/" + rawKey);
            }
            return key.get();
        }

        private void get(Exchange x) {
            CacheKey entry = entryKey();
            KeyedCache.Hit hit = cache.read(KIND, namespace, entry, !x.isHead()).orElseThrow(() -> miss(entry));
            x.header("ETag", "\"" + hit.digest() + "\"").header("Last-Modified", HTTP_DATE.format(hit.storedAt()));
            x.sendStream(200, "application/octet-stream", hit.size(), hit.content().orElse(java.io.InputStream.nullInputStream()));
        }

        private void put(Exchange x) {
            CacheKey entry = entryKey();
            long limit = cache.maxEntryBytes();
            KeyedCache.Hit stored = cache.write(KIND, namespace, entry, x.contentLength(),
                    x.body(limit, () -> cache.tooLarge("more than " + limit + " bytes")));
            x.header("ETag", "\"" + stored.digest() + "\"");
            x.send(201);
        }

        private void delete(Exchange x) {
            if (key.isPresent() && !directory) {
                cache.delete(KIND, namespace, key.get());
                x.send(204);
                return;
            }
            // A directory is only the keys under it: one with keys is the client's to empty, one without is not there.
            if (cache.holdsAnything(KIND, namespace, key)) {
                throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, "a directory that holds keys is not deleted at once; delete its keys");
            }
            if (key.isEmpty()) {
                x.send(204); // the namespace's root is always there, and empty
                return;
            }
            throw miss(key.get());
        }

        private void mkcol(Exchange x) {
            if (x.contentLength().orElse(0) > 0 || x.header("Transfer-Encoding").isPresent()) {
                x.settleUnreadBody();
                throw new Refusal(Refusal.Reason.UNSUPPORTED_MEDIA_TYPE, "MKCOL takes no body");
            }
            if (key.isEmpty() || cache.describe(KIND, namespace, key, false).isPresent()) {
                throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, "something is there already: " + PREFIX + rawNamespace + "/" + rawKey);
            }
            x.send(201); // directories are implicit: this one is there once a key lies under it
        }

        private void propfind(Exchange x) {
            String depth = x.header("Depth").map(String::strip).orElse("infinity");
            if (!depth.equals("0") && !depth.equals("1")) {
                x.settleUnreadBody();
                throw new Refusal(Refusal.Reason.ACCESS_DENIED, "PROPFIND answers Depth 0 or 1, not '" + ClientText.shortened(depth)
                        + "' (DAV:propfind-finite-depth)");
            }
            KeyedCache.Listed self = cache.describe(KIND, namespace, key, directory).orElseThrow(() -> miss(key.get()));
            String base = PREFIX + rawNamespace + "/" + key.map(k -> encode(k.path())).orElse("");
            String parent = key.isPresent() ? base + "/" : base;
            boolean listChildren = depth.equals("1") && self instanceof KeyedCache.ListedDirectory;
            // Counted before a byte is sent: a listing too long to give whole is refused, not cut.
            if (listChildren) cache.list(KIND, namespace, key, child -> { });
            x.settleUnreadBody(); // a PROPFIND body asks for properties; every one we have is sent
            x.sendWritten(207, "application/xml; charset=utf-8", out -> {
                java.io.Writer w = new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8);
                w.write("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n");
                w.write(response(self instanceof KeyedCache.ListedDirectory ? parent : base, self));
                if (listChildren) {
                    try {
                        cache.list(KIND, namespace, key, child -> {
                            String href = parent + encode(child.name());
                            try {
                                w.write(response(child instanceof KeyedCache.ListedDirectory ? href + "/" : href, child));
                            } catch (java.io.IOException e) {
                                throw new UncheckedIOException(e);
                            }
                        });
                    } catch (UncheckedIOException e) {
                        throw e.getCause();
                    }
                }
                w.write("</D:multistatus>\n");
                w.flush();
            });
        }

        private static String response(String href, KeyedCache.Listed listed) {
            String props = switch (listed) {
                case KeyedCache.ListedDirectory d -> "<D:resourcetype><D:collection/></D:resourcetype>";
                case KeyedCache.ListedFile f -> "<D:resourcetype/><D:getcontentlength>" + f.size() + "</D:getcontentlength>"
                        + "<D:getlastmodified>" + HTTP_DATE.format(f.storedAt()) + "</D:getlastmodified>"
                        + "<D:getcontenttype>application/octet-stream</D:getcontenttype>";
            };
            return "<D:response><D:href>" + escapeXml(href) + "</D:href><D:propstat><D:prop>" + props
                    + "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n";
        }

        private Refusal miss(CacheKey k) {
            return new Refusal(Refusal.Reason.ENTRY_NOT_FOUND, "no entry " + ClientText.shortened(k.path()) + " in " + namespace);
        }

        @Override
        public String allowedMethods() {
            return METHODS;
        }

        @Override
        public String nameForLog() {
            return rawNamespace.isEmpty() ? "-" : rawNamespace;
        }
    }

    /** A namespace of a keyed cache's path: one segment, lower-case, not percent-encoded (KEY_INVALID otherwise). */
    static RepositoryName namespace(String raw) {
        if (raw.isEmpty()) {
            throw new Refusal(Refusal.Reason.INVALID_KEY, "a cache path names a namespace first: /<front>/<namespace>/...");
        }
        if (raw.indexOf('%') >= 0) {
            throw new Refusal(Refusal.Reason.INVALID_KEY, "invalid namespace: percent-encoding is not allowed");
        }
        try {
            return RepositoryName.of(raw);
        } catch (Refusal e) {
            throw new Refusal(Refusal.Reason.INVALID_KEY, "invalid namespace '" + ClientText.shortened(raw)
                    + "': one path segment of lower-case letters, digits and '.', '_' or '-' between them");
        }
    }

    /**
     * Strict percent-decoding, segment by segment: an encoded '/' would make one key look like two, and bytes
     * that are not UTF-8 would all read as U+FFFD, making different keys one.
     */
    private static String decode(String raw) {
        if (raw.indexOf('%') < 0) return raw;
        List<String> decoded = new ArrayList<>();
        for (String segment : raw.split("/", -1)) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            for (int i = 0; i < segment.length(); i++) {
                char c = segment.charAt(i);
                if (c == '%') {
                    if (i + 2 >= segment.length() || Character.digit(segment.charAt(i + 1), 16) < 0 || Character.digit(segment.charAt(i + 2), 16) < 0) {
                        throw new Refusal(Refusal.Reason.INVALID_KEY, "malformed percent-encoding in the key");
                    }
                    bytes.write(Integer.parseInt(segment, i + 1, i + 3, 16));
                    i += 2;
                } else {
                    bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
                }
            }
            String one;
            try {
                one = StandardCharsets.UTF_8.newDecoder().onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                        .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(bytes.toByteArray())).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new Refusal(Refusal.Reason.INVALID_KEY, "a key is UTF-8 text; its percent-encoding holds other bytes");
            }
            if (one.indexOf('/') >= 0) throw new Refusal(Refusal.Reason.INVALID_KEY, "a key segment may not hold an encoded '/'");
            decoded.add(one);
        }
        return String.join("/", decoded);
    }

    private static String encode(String path) {
        List<String> segments = new ArrayList<>();
        for (String segment : path.split("/", -1)) segments.add(URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20"));
        return String.join("/", segments);
    }

    private static String escapeXml(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
