package dev.cairn.http;

import java.util.Optional;

import dev.cairn.auth.Action;
import dev.cairn.metadata.MetadataException;
import dev.cairn.storage.BlobStoreUnavailableException;
import dev.cairn.registry.ErrorCode;
import dev.cairn.registry.Registry;
import dev.cairn.registry.RegistryException;
import dev.cairn.registry.UploadRangeException;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.UncheckedIOException;
import java.util.Map;

/** Routes every request to its resource and turns every failure into an OCI error response. */
public final class RegistryHandler extends Handler.Abstract {
    private static final Logger log = LoggerFactory.getLogger(RegistryHandler.class);
    static final String API_VERSION_HEADER = "Docker-Distribution-API-Version";

    private final Registry registry;
    private final BlobResource blobs;
    private final UploadResource uploads;
    private final ManifestResource manifests;
    private final ListingResource listings;
    private final AdminResource admin;
    private final AccessGate gate;
    private final TokenResource tokens;

    RegistryHandler(Registry registry, AdminResource admin, AccessGate gate, Optional<java.time.Duration> blobRedirectFor) {
        this.registry = registry;
        this.admin = admin;
        this.gate = gate;
        this.blobs = new BlobResource(registry, blobRedirectFor);
        this.uploads = new UploadResource(registry, gate);
        this.manifests = new ManifestResource(registry);
        this.listings = new ListingResource(registry, gate);
        this.tokens = new TokenResource(gate);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        Exchange x = new Exchange(request, response, callback);
        Route route = Route.parse(request.getHttpURI().getPath());
        response.getHeaders().put(API_VERSION_HEADER, "registry/2.0");
        try {
            authorize(x, route);
            dispatch(x, route);
        } catch (RegistryException e) {
            sendError(x, route, e);
        } catch (MetadataException e) {
            log.error("metadata unavailable: {}", e.getMessage());
            sendFailure(x, 503, "the metadata store is unavailable; retry later");
        } catch (UncheckedIOException e) {
            if (e.getCause() instanceof EofException) {
                callback.failed(e.getCause()); // the client went away; nobody to answer
            } else if (e.getCause() instanceof BlobStoreUnavailableException unavailable) {
                log.error("blob store unavailable on {} {}: {}", request.getMethod(), request.getHttpURI().getPath(), unavailable.getMessage());
                sendFailure(x, 503, "the blob store is unavailable; retry later");
            } else {
                log.error("storage failure on {} {}", request.getMethod(), request.getHttpURI().getPath(), e);
                sendFailure(x, 503, "the blob store failed; retry later");
            }
        } catch (RuntimeException e) {
            log.error("unexpected failure on {} {}", request.getMethod(), request.getHttpURI().getPath(), e);
            sendFailure(x, 500, "internal error");
        }
        return true;
    }

    /** Checks credentials and rights before anything else happens (names are validated first: they are the resource). */
    private void authorize(Exchange x, Route route) {
        switch (route.kind()) {
            case HEALTHZ, READYZ -> {
                return;
            }
            default -> {
            }
        }
        x.caller = gate.authenticate(x);
        switch (route.kind()) {
            case BASE, CATALOG, UNKNOWN -> gate.requireKnown(x.caller);
            case TOKEN, HEALTHZ, READYZ -> {
            }
            case METRICS, ADMIN -> gate.requireAdmin(x.caller);
            case BLOB, MANIFEST -> gate.require(x.caller, PathParameters.repository(route.name()).value(), switch (x.method()) {
                case "GET", "HEAD" -> Action.PULL;
                case "DELETE" -> Action.DELETE;
                default -> Action.PUSH;
            });
            case UPLOADS, UPLOAD -> gate.require(x.caller, PathParameters.repository(route.name()).value(), Action.PUSH);
            case TAGS, REFERRERS -> gate.require(x.caller, PathParameters.repository(route.name()).value(), Action.PULL);
        }
    }

    private void dispatch(Exchange x, Route route) {
        switch (route.kind()) {
            case BASE -> {
                requireGetOrHead(x);
                x.sendJson(200, "application/json", Map.of());
            }
            case BLOB -> blobs.handle(x, route);
            case UPLOADS -> uploads.start(x, route);
            case UPLOAD -> uploads.handle(x, route);
            case MANIFEST -> manifests.handle(x, route);
            case TAGS -> listings.tags(x, route);
            case CATALOG -> listings.catalog(x);
            case REFERRERS -> listings.referrers(x, route);
            case HEALTHZ -> x.sendBytes(200, "text/plain", "ok\n".getBytes());
            case READYZ -> ready(x);
            case METRICS -> admin.metrics(x);
            case ADMIN -> admin.handle(x, route);
            case TOKEN -> tokens.handle(x, x.caller);
            case UNKNOWN -> throw new RegistryException(ErrorCode.NAME_UNKNOWN, "no such endpoint: " + x.request.getHttpURI().getPath(),
                    Map.of());
        }
    }

    private void ready(Exchange x) {
        try {
            registry.checkReady();
            x.sendBytes(200, "text/plain", "ready\n".getBytes());
        } catch (RuntimeException e) {
            log.warn("not ready: {}", e.toString()); // the details go to the log, not to unauthenticated callers
            x.sendBytes(503, "text/plain", "not ready: storage or metadata does not answer\n".getBytes());
        }
    }

    private static void requireGetOrHead(Exchange x) {
        if (!x.method().equals("GET") && !x.method().equals("HEAD")) {
            throw new RegistryException(ErrorCode.UNSUPPORTED, x.method() + " is not supported here");
        }
    }

    private void sendError(Exchange x, Route route, RegistryException e) {
        if (x.response.isCommitted()) {
            x.callback.failed(e);
            return;
        }
        x.settleUnreadBody();
        if (e instanceof AccessRefusedException refused) {
            if (refused.code() == ErrorCode.UNAUTHORIZED) x.header("WWW-Authenticate", gate.challenge(x, refused));
            if (refused.retryAfterSeconds() > 0) x.header("Retry-After", Long.toString(refused.retryAfterSeconds()));
        }
        if (e.code() == ErrorCode.UNSUPPORTED) {
            x.header("Allow", allowedMethods(route.kind()));
        }
        if (e instanceof UploadRangeException r) {
            x.header("Location", "/v2/" + route.name() + "/blobs/uploads/" + r.uploadId())
                    .header("Range", "0-" + Math.max(0, r.uploadSize() - 1))
                    .header("Docker-Upload-UUID", r.uploadId())
                    .header("Blob-Upload-Session-ID", r.uploadId());
        }
        x.sendJson(OciErrors.status(e), "application/json", OciErrors.body(e));
    }

    private static String allowedMethods(Route.Kind kind) {
        return switch (kind) {
            case BLOB -> "GET, HEAD, DELETE";
            case UPLOADS -> "POST";
            case UPLOAD -> "GET, PATCH, PUT, DELETE";
            case MANIFEST -> "GET, HEAD, PUT, DELETE";
            case ADMIN -> "GET, POST";
            default -> "GET, HEAD";
        };
    }

    private static void sendFailure(Exchange x, int status, String message) {
        if (x.response.isCommitted()) {
            x.callback.failed(new IllegalStateException(message));
            return;
        }
        x.settleUnreadBody();
        if (status == 503) x.response.getHeaders().put("Retry-After", "5");
        // 5xx carry the spec's body shape too; UNKNOWN is Distribution's code for server-side faults.
        x.sendJson(status, "application/json", Map.of("errors", java.util.List.of(
                Map.of("code", "UNKNOWN", "message", message, "detail", Map.of()))));
    }
}
