package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The CLI commands that act on a running Cairn talk to its admin API rather than opening its data
 * directory: the server owns the metadata and the locks that keep GC safe.
 */
final class AdminApi {
    /** Built on first use: picocli creates this mixin for every command, {@code serve} included, which needs no JSON client. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }

    static ObjectMapper json() {
        return Json.MAPPER;
    }

    @Option(names = "--server", paramLabel = "URL", defaultValue = "${env:CAIRN_SERVER:-http://127.0.0.1:5000}",
            description = "Cairn's address (default: $CAIRN_SERVER or http://127.0.0.1:5000).")
    String server;

    @Option(names = "--user", paramLabel = "USER", defaultValue = "${env:CAIRN_USER}",
            description = "An admin user, when Cairn has auth on (default: $CAIRN_USER); the password comes from $CAIRN_PASSWORD.")
    String user;

    /** A client of the registry's own API at {@link #server}, with the same credentials. */
    dev.cairn.http.RegistryClient registry() {
        return new dev.cairn.http.RegistryClient(server, java.util.Optional.ofNullable(user),
                System.getenv().getOrDefault("CAIRN_PASSWORD", ""));
    }

    JsonNode call(String method, String path, String body) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(server.replaceAll("/+$", "") + path))
                .timeout(Duration.ofMinutes(10))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (user != null && !user.isBlank()) {
            String password = System.getenv().getOrDefault("CAIRN_PASSWORD", "");
            builder.header("Authorization", "Basic " + java.util.Base64.getEncoder()
                    .encodeToString((user + ":" + password).getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        }
        HttpRequest request = builder.build();
        try {
            HttpResponse<String> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
            JsonNode json = response.body().isEmpty() ? json().nullNode() : json().readTree(response.body());
            if (response.statusCode() / 100 != 2) {
                throw new AdminApiException(response.statusCode() + ": " + json.path("errors").path(0).path("message").asText(response.body()));
            }
            return json;
        } catch (IOException e) {
            throw new AdminApiException("cannot reach Cairn at " + server + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AdminApiException("interrupted");
        }
    }

    static final class AdminApiException extends RuntimeException {
        AdminApiException(String message) {
            super(message);
        }
    }
}
