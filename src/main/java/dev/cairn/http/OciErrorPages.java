package dev.cairn.http;

import dev.cairn.values.ErrorCode;
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
        ErrorCode code = OciErrors.codeForJettyStatus(status);
        String said = status == 400 ? refusedRequestLine(cause).orElse(message) : message;
        byte[] body;
        try {
            body = Exchange.JSON.writeValueAsBytes(OciErrors.body(code, said == null ? code.defaultMessage() : said, Map.of()));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            body = "{}".getBytes();
        }
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /**
     * What was wrong with a request line Jetty refused, for the user who reads it in a client's error: Jetty
     * itself says only "Bad Request" (and no longer has the path), but its cause names the fault.
     */
    static java.util.Optional<String> refusedRequestLine(Throwable cause) {
        Throwable root = cause;
        while (root != null && root.getCause() != null && root.getCause() != root) root = root.getCause();
        if (root == null || root == cause) return java.util.Optional.empty();
        String detail = root.getMessage() == null ? "" : root.getMessage();
        if (root instanceof NumberFormatException && detail.startsWith("!hex ")) {
            return java.util.Optional.of("the request path has a malformed percent-encoding: '%' must be followed by two hex digits, not '"
                    + detail.substring("!hex ".length()) + "' (names and digests need no percent-encoding)");
        }
        if (detail.equals("Bad URI")) {
            return java.util.Optional.of("the request path does not resolve: a '..' segment climbs above the root (a repository name has no "
                    + "'.' or '..' segments, and nothing lies outside /v2/)");
        }
        return java.util.Optional.of("the request is not valid HTTP (its request line or a header)" + (detail.isBlank() ? "" : ": " + detail));
    }
}
