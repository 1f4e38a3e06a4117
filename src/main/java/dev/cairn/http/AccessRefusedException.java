package dev.cairn.http;

import dev.cairn.values.Refusal;

import java.util.Optional;

/**
 * A request without the right: 401 UNAUTHORIZED with a challenge naming the scope it needs (so token
 * clients know what to ask for), 403 DENIED for a known caller without the right, or 429 while the
 * caller's address is cooling off.
 */
final class AccessRefusedException extends Refusal {
    private final Optional<String> scope;
    private final boolean insufficientScope;
    private final long retryAfterSeconds;

    AccessRefusedException(Reason reason, String message, Optional<String> scope, boolean insufficientScope, long retryAfterSeconds) {
        super(reason, message);
        this.scope = scope;
        this.insufficientScope = insufficientScope;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    Optional<String> scope() {
        return scope;
    }

    boolean insufficientScope() {
        return insufficientScope;
    }

    long retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
