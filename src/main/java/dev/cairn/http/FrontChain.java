package dev.cairn.http;

import dev.cairn.metadata.MetadataException;
import dev.cairn.values.ErrorCode;
import dev.cairn.values.Refusal;
import dev.cairn.storage.BlobStoreUnavailableException;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Hands every request to the first front that claims its path, after authenticating the caller, and turns
 * every failure, whichever front it came from, into one kind of error answer: the OCI error body with the
 * status {@link OciErrors} gives its code, 503 when a store does not answer.
 */
public final class FrontChain extends Handler.Abstract {
    private static final Logger log = LoggerFactory.getLogger(FrontChain.class);
    static final String API_VERSION_HEADER = "Docker-Distribution-API-Version";
    /** The request attribute that carries the name the access log shows. */
    static final String LOGGED_NAME = "cairn.logged-name";

    private final List<Front> fronts;
    private final AccessGate gate;

    FrontChain(AccessGate gate, List<Front> fronts) {
        this.gate = gate;
        this.fronts = List.copyOf(fronts);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        Exchange x = new Exchange(request, response, callback);
        Front.Routed routed = route(request.getHttpURI().getPath());
        request.setAttribute(LOGGED_NAME, routed.nameForLog());
        // Clients probe the API version on every answer, not only on /v2/.
        response.getHeaders().put(API_VERSION_HEADER, "registry/2.0");
        try {
            if (!routed.needsNoCaller()) x.caller = gate.authenticate(x);
            routed.authorize(x, gate);
            request.setAttribute(LOGGED_NAME, routed.nameForLog()); // some fronts know the name only once they read the request
            routed.serve(x);
        } catch (Refusal e) {
            sendError(x, routed, e, OciErrors.answer(e));
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

    private Front.Routed route(String rawPath) {
        for (Front front : fronts) {
            Optional<Front.Routed> routed;
            try {
                routed = front.route(rawPath);
            } catch (Refusal refused) {
                // a front that knows the path is its own but not one of its routes: answered as refused, to a known
                // caller (routing happens before the try that turns refusals into answers, where it would be a 500)
                return new RefusedPath(refused);
            }
            if (routed.isPresent()) return routed.get();
        }
        return UNKNOWN_PATH;
    }

    private record RefusedPath(Refusal refused) implements Front.Routed {
        @Override
        public void authorize(Exchange x, AccessGate gate) {
            gate.requireKnown(x.caller);
        }

        @Override
        public void serve(Exchange x) {
            throw refused;
        }
    }

    /** A path no front claims: known callers learn it does not exist, others are asked to log in first. */
    private static final Front.Routed UNKNOWN_PATH = new Front.Routed() {
        @Override
        public void authorize(Exchange x, AccessGate gate) {
            gate.requireKnown(x.caller);
        }

        @Override
        public void serve(Exchange x) {
            throw new Refusal(Refusal.Reason.UNKNOWN_ENDPOINT, "no such endpoint: " + x.request.getHttpURI().getPath(), Map.of());
        }
    };

    private void sendError(Exchange x, Front.Routed routed, Refusal e, OciErrors.Answer answer) {
        if (x.response.isCommitted()) {
            x.callback.failed(e);
            return;
        }
        x.settleUnreadBody();
        if (e instanceof AccessRefusedException refused) {
            if (refused.reason() == Refusal.Reason.NOT_AUTHENTICATED) x.header("WWW-Authenticate", gate.challenge(x, refused));
            if (refused.retryAfterSeconds() > 0) x.header("Retry-After", Long.toString(refused.retryAfterSeconds()));
        }
        if (answer.code() == ErrorCode.UNSUPPORTED) {
            x.header("Allow", routed.allowedMethods());
        }
        routed.onError(x, e);
        x.sendJson(answer.status(), "application/json", OciErrors.body(answer));
    }

    private static void sendFailure(Exchange x, int status, String message) {
        if (x.response.isCommitted()) {
            x.callback.failed(new IllegalStateException(message));
            return;
        }
        x.settleUnreadBody();
        if (status == 503) x.response.getHeaders().put("Retry-After", "5");
        x.sendJson(status, "application/json", OciErrors.body(OciErrors.failure(status, message)));
    }
}
