package dev.cairn.http;

import dev.cairn.auth.Action;
import dev.cairn.keyed.BazelCache;
import dev.cairn.keyed.KeyedCache;
import dev.cairn.values.ClientText;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.InputStream;
import java.util.Optional;

/**
 * {@code /bazel/<namespace>/ac/<sha256>} and {@code /bazel/<namespace>/cas/<sha256>}: Bazel's HTTP remote
 * cache ({@code --remote_cache=http://HOST:5000/bazel/<namespace>}). GET and HEAD read, PUT writes; a
 * miss is a 404, which Bazel takes as "build it".
 */
final class BazelFront implements Front {
    private static final String PREFIX = "/bazel/";

    private final BazelCache cache;

    BazelFront(BazelCache cache) {
        this.cache = cache;
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        if (!rawPath.startsWith(PREFIX)) return Optional.empty();
        String[] parts = rawPath.substring(PREFIX.length()).split("/", -1);
        return Optional.of(new Request(parts));
    }

    private final class Request implements Routed {
        private final String[] parts;
        private RepositoryName namespace;
        private boolean actionCache;
        private String hash;

        Request(String[] parts) {
            this.parts = parts;
        }

        @Override
        public void authorize(Exchange x, AccessGate gate) {
            if (parts.length != 3 || !(parts[1].equals("ac") || parts[1].equals("cas"))) {
                throw new Refusal(Refusal.Reason.UNKNOWN_ENDPOINT, "a Bazel cache path is /bazel/<namespace>/ac/<sha256> or /bazel/<namespace>/cas/<sha256>");
            }
            namespace = KeyedCacheFront.namespace(parts[0]);
            actionCache = parts[1].equals("ac");
            hash = parts[2];
            BazelCache.casDigest(hash);
            gate.require(x.caller, namespace.value(), x.method().equals("PUT") ? Action.PUSH : Action.PULL);
        }

        @Override
        public void serve(Exchange x) {
            switch (x.method()) {
                case "GET", "HEAD" -> {
                    Optional<KeyedCache.Hit> hit = actionCache
                            ? cache.readActionResult(namespace, hash, !x.isHead())
                            : cache.readCas(namespace, hash, !x.isHead());
                    KeyedCache.Hit found = hit.orElseThrow(() -> new Refusal(Refusal.Reason.ENTRY_NOT_FOUND,
                            "no " + (actionCache ? "action result " : "CAS blob ") + hash + " in " + namespace));
                    x.sendStream(200, "application/octet-stream", found.size(), found.content().orElse(InputStream.nullInputStream()));
                }
                case "PUT" -> {
                    long limit = cache.maxEntryBytes();
                    InputStream body = x.body(limit, () -> cache.tooLarge("more than " + limit + " bytes"));
                    if (actionCache) {
                        cache.writeActionResult(namespace, hash, x.contentLength(), body);
                    } else {
                        cache.writeCas(namespace, hash, x.contentLength(), body);
                    }
                    x.send(200);
                }
                default -> throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on Bazel's cache");
            }
        }

        @Override
        public String allowedMethods() {
            return "GET, HEAD, PUT";
        }

        @Override
        public String nameForLog() {
            return parts.length > 0 && !parts[0].isEmpty() ? ClientText.shortened(parts[0]) : "-";
        }
    }
}
