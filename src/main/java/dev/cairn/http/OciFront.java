package dev.cairn.http;

import dev.cairn.values.Refusal;
import dev.cairn.auth.Action;
import dev.cairn.registry.Registry;
import dev.cairn.registry.UploadRangeException;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/** The OCI Distribution API under {@code /v2/}: blobs, uploads, manifests, tags, referrers and the catalog. */
final class OciFront implements Front {
    private final BlobResource blobs;
    private final UploadResource uploads;
    private final ManifestResource manifests;
    private final ListingResource listings;
    /** The pull-through mirror, when mirrors are configured: its repositories' reads go there first. */
    private final Optional<MirrorResource> mirror;

    OciFront(Registry registry, AccessGate gate, Optional<Duration> blobRedirectFor, Optional<dev.cairn.mirror.Mirror> mirror) {
        this.mirror = mirror.map(MirrorResource::new);
        this.blobs = new BlobResource(registry.blobs(), blobRedirectFor);
        this.uploads = new UploadResource(registry.blobs(), registry.uploads(), gate);
        this.manifests = new ManifestResource(registry.manifests());
        this.listings = new ListingResource(registry.manifests(), gate);
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        return OciRoute.parse(rawPath).map(Request::new);
    }

    private final class Request implements Routed {
        private final OciRoute route;

        Request(OciRoute route) {
            this.route = route;
        }

        @Override
        public void authorize(Exchange x, AccessGate gate) {
            switch (route.kind()) {
                case BASE, CATALOG -> gate.requireKnown(x.caller);
                case BLOB, MANIFEST -> gate.require(x.caller, PathParameters.repository(route.name()).value(), switch (x.method()) {
                    case "GET", "HEAD" -> Action.PULL;
                    case "DELETE" -> Action.DELETE;
                    default -> Action.PUSH;
                });
                case UPLOADS, UPLOAD -> gate.require(x.caller, PathParameters.repository(route.name()).value(), Action.PUSH);
                case TAGS, REFERRERS -> gate.require(x.caller, PathParameters.repository(route.name()).value(), Action.PULL);
            }
            // a mirror's repositories hold what its upstream holds, and nothing a client writes
            boolean writes = switch (route.kind()) {
                case UPLOADS, UPLOAD -> true;
                case BLOB, MANIFEST -> !x.method().equals("GET") && !x.method().equals("HEAD");
                default -> false;
            };
            if (writes && mirror.isPresent()) mirror.get().refuseWrites(PathParameters.repository(route.name()));
        }

        @Override
        public void serve(Exchange x) {
            switch (route.kind()) {
                case BASE -> {
                    if (!x.method().equals("GET") && !x.method().equals("HEAD")) {
                        throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here");
                    }
                    x.sendJson(200, "application/json", Map.of());
                }
                case BLOB -> {
                    if (mirror.isEmpty() || !mirror.get().blob(x, route)) blobs.handle(x, route);
                }
                case UPLOADS -> uploads.start(x, route);
                case UPLOAD -> uploads.handle(x, route);
                case MANIFEST -> {
                    if (mirror.isEmpty() || !mirror.get().manifest(x, route)) manifests.handle(x, route);
                }
                case TAGS -> {
                    if (mirror.isEmpty() || !mirror.get().tags(x, route)) listings.tags(x, route);
                }
                case CATALOG -> listings.catalog(x);
                case REFERRERS -> {
                    if (mirror.isEmpty() || !mirror.get().referrers(x, route)) listings.referrers(x, route);
                }
            }
        }

        @Override
        public String allowedMethods() {
            return switch (route.kind()) {
                case BLOB -> "GET, HEAD, DELETE";
                case UPLOADS -> "POST";
                case UPLOAD -> "GET, PATCH, PUT, DELETE";
                case MANIFEST -> "GET, HEAD, PUT, DELETE";
                default -> "GET, HEAD";
            };
        }

        @Override
        public void onError(Exchange x, Refusal e) {
            // A refused chunk tells the client where the session stands, so it can resume from there.
            if (e instanceof UploadRangeException r) {
                x.header("Location", "/v2/" + route.name() + "/blobs/uploads/" + r.uploadId())
                        .header("Range", "0-" + Math.max(0, r.uploadSize() - 1))
                        .header("Docker-Upload-UUID", r.uploadId())
                        .header("Blob-Upload-Session-ID", r.uploadId());
            }
        }

        @Override
        public String nameForLog() {
            return route.name().isEmpty() ? "-" : route.name();
        }
    }
}
