package dev.cairn.http;

import dev.cairn.registry.ErrorCode;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.util.Map;

/**
 * Errors Jetty answers before a request reaches {@link FrontChain} (a path that climbs above the
 * root, a header too large, bytes that are not HTTP) get the OCI error body too, never an HTML page.
 */
final class OciErrorPages extends ErrorHandler {
    @Override
    protected void generateResponse(Request request, Response response, int status, String message, Throwable cause,
                                    Callback callback) {
        ErrorCode code = switch (status) {
            // Jetty's own 400s come from request lines it cannot parse, in practice a path that climbs above
            // the root ('/v2/../../x'); the repository name is the only free-form part of a registry path.
            case 400 -> ErrorCode.NAME_INVALID;
            case 413, 431 -> ErrorCode.SIZE_INVALID;
            case 401 -> ErrorCode.UNAUTHORIZED;
            case 403 -> ErrorCode.DENIED;
            case 404 -> ErrorCode.NAME_UNKNOWN;
            case 429 -> ErrorCode.TOOMANYREQUESTS;
            default -> ErrorCode.UNSUPPORTED;
        };
        byte[] body;
        try {
            body = Exchange.JSON.writeValueAsBytes(OciErrors.body(code, message == null ? code.defaultMessage() : message, Map.of()));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            body = "{}".getBytes();
        }
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
    }
}
