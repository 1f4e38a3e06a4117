package dev.cairn.http;

import dev.cairn.auth.Action;
import dev.cairn.keyed.CacheKey;
import dev.cairn.keyed.KeyedCache;
import dev.cairn.values.ClientText;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.net.URLDecoder;
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
            // A directory is only the keys under it: an empty one is already gone, one with keys is the client's to empty.
            if (!cache.list(KIND, namespace, key).isEmpty()) {
                throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, "a directory that holds keys is not deleted at once; delete its keys");
            }
            x.send(204);
        }

        private void mkcol(Exchange x) {
            if (key.isPresent() && cache.describe(KIND, namespace, key).orElse(null) instanceof KeyedCache.ListedFile) {
                throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, "a key holding content is there: " + key.get().path());
            }
            x.settleUnreadBody();
            x.send(201);
        }

        private void propfind(Exchange x) {
            KeyedCache.Listed self = cache.describe(KIND, namespace, key).orElseThrow(() -> miss(key.get()));
            boolean children = !x.header("Depth").map(String::strip).orElse("infinity").equals("0");
            String base = PREFIX + rawNamespace + "/" + key.map(k -> encode(k.path())).orElse("");
            List<String> responses = new ArrayList<>();
            responses.add(response(self instanceof KeyedCache.ListedDirectory && key.isPresent() ? base + "/" : base, self));
            if (children && self instanceof KeyedCache.ListedDirectory) {
                String parent = key.isPresent() ? base + "/" : base;
                for (KeyedCache.Listed child : cache.list(KIND, namespace, key)) {
                    String href = parent + encode(child.name());
                    responses.add(response(child instanceof KeyedCache.ListedDirectory ? href + "/" : href, child));
                }
            }
            x.settleUnreadBody(); // a PROPFIND body asks for properties; every one we have is sent
            StringBuilder body = new StringBuilder("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n");
            responses.forEach(body::append);
            body.append("</D:multistatus>\n");
            x.sendBytes(207, "application/xml; charset=utf-8", body.toString().getBytes(StandardCharsets.UTF_8));
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

    /** Strict percent-decoding, segment by segment: an encoded '/' would make one key look like two. */
    private static String decode(String raw) {
        if (raw.indexOf('%') < 0) return raw;
        List<String> decoded = new ArrayList<>();
        for (String segment : raw.split("/", -1)) {
            String one;
            try {
                one = URLDecoder.decode(segment.replace("+", "%2B"), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new Refusal(Refusal.Reason.INVALID_KEY, "malformed percent-encoding in the key");
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
