package dev.cairn.http;

import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.server.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;

/** One line per request: method, repository (or namespace), path, status, bytes sent and received, milliseconds. */
final class AccessLog implements RequestLog {
    private static final Logger log = LoggerFactory.getLogger("cairn.access");

    @Override
    public void log(Request request, Response response) {
        if (!log.isInfoEnabled()) return;
        String path = request.getHttpURI().getPath();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - request.getBeginNanoTime());
        log.info("{} {} {} {} sent={} received={} {}ms", request.getMethod(), loggedName(request), path,
                response.getStatus(), Response.getContentBytesWritten(response), Request.getContentBytesRead(request), ms);
    }

    /** The name the front that served the request put on it (FrontChain), "-" when none did. */
    private static String loggedName(Request request) {
        return request.getAttribute(FrontChain.LOGGED_NAME) instanceof String name ? name : "-";
    }
}
