package dev.cairn.http;

import dev.cairn.registry.ErrorCode;
import dev.cairn.registry.RegistryException;

import java.util.Optional;

/**
 * A request without the right: 401 UNAUTHORIZED with a challenge naming the scope it needs (so token
 * clients know what to ask for), 403 DENIED for a known caller without the right, or 429 while the
 * caller's address is cooling off.
 */
final class AccessRefusedException extends RegistryException {
    private final Optional<String> scope;
    private final boolean insufficientScope;
    private final long retryAfterSeconds;

    AccessRefusedException(ErrorCode code, String message, Optional<String> scope, boolean insufficientScope, long retryAfterSeconds) {
        super(code, message);
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
