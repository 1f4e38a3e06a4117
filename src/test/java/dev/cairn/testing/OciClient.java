package dev.cairn.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A plain HTTP client for the spec tests: one method per verb, and the few push helpers tests repeat. */
public final class OciClient {
    public static final ObjectMapper JSON = new ObjectMapper();
    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";

    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
    private final String base;

    public OciClient(RunningCairn cairn) {
        this.base = "http://" + cairn.hostPort();
    }

    public OciClient(String hostPort) {
        this.base = "http://" + hostPort;
    }

    public HttpResponse<byte[]> send(String method, String pathOrUrl, byte[] body, String... headers) {
        URI uri = URI.create(pathOrUrl.startsWith("http") ? pathOrUrl : base + pathOrUrl);
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(2))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        if (headers.length > 0) request.headers(headers);
        try {
            try {
                return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
            } catch (IOException e) {
                // a kept-alive connection the server closed as this request went out (Distribution does): it read nothing,
                // so the request is sent again, on a new connection
                if (e.getMessage() == null || !e.getMessage().contains("received no bytes")) throw e;
                return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
            }
        } catch (IOException e) {
            throw new AssertionError(method + " " + uri + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public HttpResponse<byte[]> get(String path, String... headers) {
        return send("GET", path, null, headers);
    }

    public HttpResponse<byte[]> head(String path, String... headers) {
        return send("HEAD", path, null, headers);
    }

    public HttpResponse<byte[]> delete(String path, String... headers) {
        return send("DELETE", path, null, headers);
    }

    public HttpResponse<byte[]> post(String path, byte[] body, String... headers) {
        return send("POST", path, body, headers);
    }

    public HttpResponse<byte[]> put(String path, byte[] body, String... headers) {
        return send("PUT", path, body, headers);
    }

    public HttpResponse<byte[]> patch(String path, byte[] body, String... headers) {
        return send("PATCH", path, body, headers);
    }

    /** Pushes a blob monolithically (POST ?digest=) and returns its digest. */
    public String pushBlob(String repository, byte[] content) {
        String digest = sha256(content);
        HttpResponse<byte[]> r = post("/v2/" + repository + "/blobs/uploads/?digest=" + digest, content,
                "Content-Type", "application/octet-stream");
        if (r.statusCode() == 202) {
            // a registry that opened a session instead (Distribution takes no one-request upload): the bytes go in its PUT
            String location = r.headers().firstValue("Location").orElseThrow();
            URI session = URI.create(base + "/").resolve(location);
            String separator = session.getRawQuery() == null ? "?" : "&";
            r = put(session + separator + "digest=" + digest, content, "Content-Type", "application/octet-stream");
        }
        if (r.statusCode() != 201) throw new AssertionError("blob push failed: " + r.statusCode() + " " + text(r));
        return digest;
    }

    /** Pushes a manifest and returns its digest; fails unless the answer is 201. */
    public String pushManifest(String repository, String reference, String mediaType, byte[] content) {
        HttpResponse<byte[]> r = put("/v2/" + repository + "/manifests/" + reference, content, "Content-Type", mediaType);
        if (r.statusCode() != 201) throw new AssertionError("manifest push failed: " + r.statusCode() + " " + text(r));
        return r.headers().firstValue("Docker-Content-Digest").orElseThrow();
    }

    /** An image: a config blob and layer blobs pushed, plus the manifest JSON (not pushed yet). */
    public record Image(String configDigest, List<String> layerDigests, byte[] manifest, String digest) {
    }

    /** Pushes a small OCI image (config + layers) and returns its unpushed manifest. */
    public Image prepareImage(String repository, String configMediaType, byte[]... layers) {
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"" + System.nanoTime() + "\"}")
                .getBytes(StandardCharsets.UTF_8);
        String configDigest = pushBlob(repository, config);
        List<String> layerDigests = new java.util.ArrayList<>();
        List<Map<String, Object>> layerDescriptors = new java.util.ArrayList<>();
        for (byte[] layer : layers) {
            String d = pushBlob(repository, layer);
            layerDigests.add(d);
            layerDescriptors.add(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", d, layer.length));
        }
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", OCI_MANIFEST);
        manifest.put("config", descriptor(configMediaType, configDigest, config.length));
        manifest.put("layers", layerDescriptors);
        byte[] bytes = json(manifest);
        return new Image(configDigest, layerDigests, bytes, sha256(bytes));
    }

    public static Map<String, Object> descriptor(String mediaType, String digest, long size) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("mediaType", mediaType);
        d.put("digest", digest);
        d.put("size", size);
        return d;
    }

    public static byte[] json(Object value) {
        try {
            return JSON.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** A JSON object document as a mutable map, to edit and push again. */
    public static Map<String, Object> jsonMap(byte[] document) {
        try {
            return new LinkedHashMap<>(JSON.readValue(document, new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() {
            }));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    public static JsonNode json(HttpResponse<byte[]> response) {
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + text(response), e);
        }
    }

    public static String text(HttpResponse<byte[]> response) {
        return response.body() == null ? "" : new String(response.body(), StandardCharsets.UTF_8);
    }

    /** The first OCI error code of an error response. */
    public static String errorCode(HttpResponse<byte[]> response) {
        JsonNode errors = json(response).path("errors");
        if (!errors.isArray() || errors.isEmpty()) throw new AssertionError("no OCI error body: " + text(response));
        return errors.get(0).path("code").asText();
    }

    public static String sha256(byte[] content) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
