package dev.cairn.http;

import dev.cairn.registry.ErrorCode;
import dev.cairn.registry.ManifestTooLargeException;
import dev.cairn.registry.RegistryException;
import dev.cairn.registry.UploadRangeException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The one place where OCI error codes meet HTTP status codes, and where the spec's error body is built. */
final class OciErrors {
    private OciErrors() {
    }

    static int status(RegistryException e) {
        if (e instanceof ManifestTooLargeException) return 413;
        if (e instanceof UploadRangeException) return 416;
        return status(e.code());
    }

    static int status(ErrorCode code) {
        return switch (code) {
            case BLOB_UNKNOWN, BLOB_UPLOAD_UNKNOWN, MANIFEST_UNKNOWN, NAME_UNKNOWN -> 404;
            case BLOB_UPLOAD_INVALID, DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID, NAME_INVALID,
                 SIZE_INVALID, PAGINATION_NUMBER_INVALID, INVALID_REQUEST -> 400;
            case RANGE_INVALID -> 416;
            case UNAUTHORIZED -> 401;
            case DENIED -> 403;
            case UNSUPPORTED -> 405;
            case TOOMANYREQUESTS -> 429;
            case BUDGET_EXCEEDED -> 507;
            case COLLECTION_BUSY -> 409;
        };
    }

    /** {@code {"errors":[{"code","message","detail"}]}} */
    static Map<String, Object> body(ErrorCode code, String message, Object detail) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", code.name());
        error.put("message", message == null || message.isBlank() ? code.defaultMessage() : message);
        error.put("detail", detail == null ? Map.of() : detail);
        return Map.of("errors", List.of(error));
    }

    static Map<String, Object> body(RegistryException e) {
        return body(e.code(), e.getMessage(), e.detail().orElse(null));
    }
}
