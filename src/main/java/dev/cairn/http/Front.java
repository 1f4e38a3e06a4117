package dev.cairn.http;


import dev.cairn.values.Refusal;
import java.util.Optional;

/**
 * One protocol Cairn speaks over HTTP, with its own small route table: it claims the paths that are its
 * own and serves them. What every front shares (authentication, error bodies, the access log line) is
 * done once, by {@link FrontChain}; access rules by {@link AccessGate}. A new front is a class like this,
 * with its resources, and one line where HttpServer builds the chain.
 */
interface Front {

    /** What this front makes of {@code rawPath} (still percent-encoded), or empty when the path is another front's. */
    Optional<Routed> route(String rawPath);

    /** A request a front has claimed. */
    interface Routed {

        /**
         * Refuses the request when the caller (authenticated by then, unless {@link #needsNoCaller()}) may not
         * make it. Names in the path are validated first: they are the resource the rules are about.
         */
        void authorize(Exchange x, AccessGate gate);

        void serve(Exchange x);

        /** Health probes answer anyone, without even looking at credentials. */
        default boolean needsNoCaller() {
            return false;
        }

        /** The methods an UNSUPPORTED refusal lists in its Allow header. */
        default String allowedMethods() {
            return "GET, HEAD";
        }

        /** Adds what an error answer to this request carries beyond the shared body (a session's Range, say). */
        default void onError(Exchange x, Refusal e) {
        }

        /** The repository or namespace the access log line names; "-" for none. */
        default String nameForLog() {
            return "-";
        }
    }
}
