package dev.cairn.mirror;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.cairn.testing.OciClient;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;

/**
 * A registry that misbehaves on purpose, on a loopback port: handlers by exact path, 404 for anything else, every
 * request line logged. For tests of the mirror (not a registry: it answers only what a test tells it to).
 */
final class StubUpstream implements AutoCloseable {
    interface Handler {
        void handle(HttpExchange x) throws Exception;
    }

    private final HttpServer server;
    private final Map<String, Handler> routes = new ConcurrentHashMap<>();
    final List<String> requests = new CopyOnWriteArrayList<>();

    StubUpstream() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 256);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", x -> {
            String line = x.getRequestMethod() + " " + x.getRequestURI().getPath();
            requests.add(line);
            try {
                if (x.getRequestURI().getPath().equals("/v2/")) {
                    send(x, 200, "application/json", "{}".getBytes());
                    return;
                }
                Handler h = routes.get(line);
                if (h == null && x.getRequestMethod().equals("HEAD")) h = routes.get("GET " + x.getRequestURI().getPath());
                if (h == null) {
                    send(x, 404, "application/json", "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"stub\"}]}".getBytes());
                    return;
                }
                h.handle(x);
            } catch (Exception e) {
                // a handler that hangs up on purpose ends here
            } finally {
                x.close();
            }
        });
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    int port() {
        return server.getAddress().getPort();
    }

    void on(String methodAndPath, Handler h) {
        routes.put(methodAndPath, h);
    }

    long count(String fragment) {
        return requests.stream().filter(r -> r.contains(fragment)).count();
    }

    /** A manifest served under the tag and under its digest (HEAD answered with its digest). */
    String manifest(String repository, String tag, String mediaType, byte[] content) {
        String digest = OciClient.sha256(content);
        Handler h = x -> {
            x.getResponseHeaders().add("Docker-Content-Digest", digest);
            send(x, 200, mediaType, content);
        };
        if (tag != null) on("GET /v2/" + repository + "/manifests/" + tag, h);
        on("GET /v2/" + repository + "/manifests/" + digest, h);
        return digest;
    }

    void blob(String repository, byte[] content) {
        on("GET /v2/" + repository + "/blobs/" + OciClient.sha256(content), x -> send(x, 200, "application/octet-stream", content));
    }

    static void send(HttpExchange x, int status, String type, byte[] body) throws IOException {
        x.getResponseHeaders().add("Content-Type", type);
        if (x.getRequestMethod().equals("HEAD")) {
            x.getResponseHeaders().add("Content-Length", Long.toString(body.length));
            x.sendResponseHeaders(status, -1);
            return;
        }
        x.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = x.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
