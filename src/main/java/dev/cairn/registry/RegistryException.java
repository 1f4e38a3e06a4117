package dev.cairn.registry;

import java.util.Map;
import java.util.Optional;

/**
 * A request the registry refuses, with the OCI code that says why. {@code detail} is extra structured
 * information for the client (e.g. the missing digest); it never carries secrets or stack traces.
 */
public class RegistryException extends RuntimeException {
    private final ErrorCode code;
    private final Map<String, Object> detail;

    public RegistryException(ErrorCode code, String message) {
        this(code, message, Map.of());
    }

    public RegistryException(ErrorCode code, String message, Map<String, Object> detail) {
        super(message, null, false, false);
        this.code = code;
        this.detail = Map.copyOf(detail);
    }

    public ErrorCode code() {
        return code;
    }

    public Optional<Map<String, Object>> detail() {
        return detail.isEmpty() ? Optional.empty() : Optional.of(detail);
    }
}
