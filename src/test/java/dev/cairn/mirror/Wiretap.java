package dev.cairn.mirror;

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;

/**
 * Passes every request on to a real registry on loopback and keeps, for each, its method, path and the scheme of
 * its Authorization ("none" without one): to see how the mirror talks to an upstream that is not a stub.
 */
final class Wiretap implements AutoCloseable {
    /** Headers the JDK's client sets itself. */
    private static final Set<String> OWN_HEADERS = Set.of("host", "connection", "content-length", "expect", "upgrade");
    private final HttpServer server;
    /** "GET /v2/x/manifests/v1 Bearer", in order. */
    final List<String> seen = new CopyOnWriteArrayList<>();

    Wiretap(String targetHostPort) throws IOException {
        HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", x -> {
            try (x) {
                String scheme = Optional.ofNullable(x.getRequestHeaders().getFirst("Authorization")).map(a -> a.split(" ")[0]).orElse("none");
                seen.add(x.getRequestMethod() + " " + x.getRequestURI().getPath() + " " + scheme);
                byte[] body = x.getRequestBody().readAllBytes();
                HttpRequest.Builder forward = HttpRequest.newBuilder(URI.create("http://" + targetHostPort + x.getRequestURI()))
                        .method(x.getRequestMethod(), body.length == 0 ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
                x.getRequestHeaders().forEach((name, values) -> {
                    if (!OWN_HEADERS.contains(name.toLowerCase(Locale.ROOT))) values.forEach(v -> forward.header(name, v));
                });
                HttpResponse<byte[]> answer = http.send(forward.build(), HttpResponse.BodyHandlers.ofByteArray());
                answer.headers().map().forEach((name, values) -> {
                    String lower = name.toLowerCase(Locale.ROOT);
                    if (!lower.equals("content-length") && !lower.equals("transfer-encoding") && !lower.startsWith(":")) {
                        values.forEach(v -> x.getResponseHeaders().add(name, v));
                    }
                });
                boolean empty = x.getRequestMethod().equals("HEAD") || answer.body().length == 0;
                x.sendResponseHeaders(answer.statusCode(), empty ? -1 : answer.body().length);
                if (!empty) {
                    try (OutputStream out = x.getResponseBody()) {
                        out.write(answer.body());
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
