package dev.cairn.http;

import dev.cairn.values.ErrorCode;
import dev.cairn.values.Refusal;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one table where refusals meet the wire (and the only place outside {@code values} that names an OCI code): each domain reason's OCI error code and HTTP status, and the
 * spec's error body, which every error answer (4xx and 5xx) carries.
 */
final class OciErrors {
    private OciErrors() {
    }

    /** What an error answer says: its status, and the body's code, message and detail. */
    record Answer(int status, ErrorCode code, String message, Map<String, Object> detail) {
    }

    static Answer answer(Refusal refusal) {
        ErrorCode code = switch (refusal.reason()) {
            case INVALID_DIGEST, CONTENT_DIGEST_MISMATCH -> ErrorCode.DIGEST_INVALID;
            case INVALID_REPOSITORY_NAME -> ErrorCode.NAME_INVALID;
            // The spec has no code for a bad tag; it travels as a manifest problem, as in Distribution.
            case INVALID_TAG, INVALID_MANIFEST, MANIFEST_TOO_LARGE -> ErrorCode.MANIFEST_INVALID;
            case INVALID_PATTERN -> ErrorCode.INVALID_REQUEST;
            case INVALID_PAGE_SIZE -> ErrorCode.PAGINATION_NUMBER_INVALID;
            case BLOB_NOT_FOUND -> ErrorCode.BLOB_UNKNOWN;
            case ENTRY_NOT_FOUND -> ErrorCode.ENTRY_UNKNOWN;
            case INVALID_KEY -> ErrorCode.KEY_INVALID;
            case ENTRY_TOO_LARGE -> ErrorCode.SIZE_INVALID;
            case LISTING_TOO_LARGE -> ErrorCode.LISTING_TOO_LARGE;
            case UNSUPPORTED_MEDIA_TYPE -> ErrorCode.UNSUPPORTED_MEDIA_TYPE;
            case MANIFEST_NOT_FOUND -> ErrorCode.MANIFEST_UNKNOWN;
            case UPLOAD_NOT_FOUND -> ErrorCode.BLOB_UPLOAD_UNKNOWN;
            case REPOSITORY_NOT_FOUND -> ErrorCode.NAME_UNKNOWN;
            case MISSING_REFERENCES -> ErrorCode.MANIFEST_BLOB_UNKNOWN;
            case UPLOAD_OUT_OF_ORDER -> ErrorCode.BLOB_UPLOAD_INVALID;
            case TOO_MANY_UPLOAD_SESSIONS -> ErrorCode.TOOMANYREQUESTS;
            case BUDGET_EXHAUSTED -> ErrorCode.BUDGET_EXCEEDED;
            case COLLECTION_BUSY -> ErrorCode.COLLECTION_BUSY;
            case UNSUPPORTED_METHOD -> ErrorCode.UNSUPPORTED;
            case UNKNOWN_ENDPOINT -> ErrorCode.NAME_UNKNOWN;
            case INVALID_REQUEST -> ErrorCode.INVALID_REQUEST;
            case UNSATISFIABLE_RANGE -> ErrorCode.RANGE_INVALID;
            case NOT_AUTHENTICATED -> ErrorCode.UNAUTHORIZED;
            case ACCESS_DENIED -> ErrorCode.DENIED;
            case LOGIN_COOLING_OFF, UPSTREAM_RATE_LIMITED -> ErrorCode.TOOMANYREQUESTS;
            case UPSTREAM_UNAVAILABLE -> ErrorCode.UNAVAILABLE;
        };
        int status = switch (refusal.reason()) {
            case MANIFEST_TOO_LARGE, ENTRY_TOO_LARGE -> 413;
            case UPLOAD_OUT_OF_ORDER -> 416;
            default -> status(code);
        };
        return new Answer(status, code, refusal.getMessage(), refusal.detail().orElse(Map.of()));
    }

    /** A fault on Cairn's side (5xx): UNKNOWN, Distribution's code for those, in the same body. */
    static Answer failure(int status, String message) {
        return new Answer(status, ErrorCode.UNKNOWN, message, Map.of());
    }

    /** The code for an answer Jetty gives before any front sees the request (its status is already chosen). */
    static ErrorCode codeForJettyStatus(int status) {
        return switch (status) {
            // Jetty's own 400s come from request lines it cannot parse, in practice a path that climbs above
            // the root ('/v2/../../x'); the repository name is the only free-form part of a registry path.
            case 400 -> ErrorCode.NAME_INVALID;
            case 413, 431 -> ErrorCode.SIZE_INVALID;
            case 401 -> ErrorCode.UNAUTHORIZED;
            case 403 -> ErrorCode.DENIED;
            case 404 -> ErrorCode.NAME_UNKNOWN;
            case 429 -> ErrorCode.TOOMANYREQUESTS;
            // A fault on Cairn's side (an error no front caught, out of memory say) is UNKNOWN, never UNSUPPORTED.
            default -> status >= 500 ? ErrorCode.UNKNOWN : ErrorCode.UNSUPPORTED;
        };
    }

    static int status(ErrorCode code) {
        return switch (code) {
            case BLOB_UNKNOWN, BLOB_UPLOAD_UNKNOWN, MANIFEST_UNKNOWN, NAME_UNKNOWN, ENTRY_UNKNOWN -> 404;
            case BLOB_UPLOAD_INVALID, DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID, NAME_INVALID,
                 SIZE_INVALID, PAGINATION_NUMBER_INVALID, INVALID_REQUEST, KEY_INVALID -> 400;
            case RANGE_INVALID -> 416;
            case UNAUTHORIZED -> 401;
            case DENIED -> 403;
            case UNSUPPORTED -> 405;
            case TOOMANYREQUESTS -> 429;
            case BUDGET_EXCEEDED, LISTING_TOO_LARGE -> 507;
            case UNSUPPORTED_MEDIA_TYPE -> 415;
            case COLLECTION_BUSY -> 409;
            case UNAVAILABLE -> 503;
            case UNKNOWN -> 500;
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

    static Map<String, Object> body(Answer answer) {
        return body(answer.code(), answer.message(), answer.detail());
    }
}
