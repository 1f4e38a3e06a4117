package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RawHttp;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Cairn often knows a request is refused before it has read the body (a manifest over the size limit, a
 * chunk that does not start where the upload ends). A client that sends its whole body before it reads
 * anything (Python's http.client, a raw socket, here) must still get the status and the OCI error body,
 * every time, not a broken pipe: the server reads and drops the rest of a bounded body before it answers.
 */
class EarlyErrorsTest {
    private static final int BODY = 8 << 20; // more than the socket buffers on both ends hold
    private static RunningCairn cairn;

    @BeforeAll
    static void start() throws Exception {
        cairn = RunningCairn.start(Map.of("registry.max-manifest-bytes", "1MiB"));
    }

    @AfterAll
    static void stop() throws Exception {
        cairn.close();
    }

    private static byte[] request(String method, String path, byte[] body, String... headers) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + body.length + "\r\n");
        for (int i = 0; i < headers.length; i += 2) head.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
        out.writeBytes(head.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
        out.writeBytes(body);
        return out.toByteArray();
    }

    @Test
    void aManifestOverTheLimitIs413ForAClientThatSendsTheWholeBodyFirst() throws Exception {
        byte[] huge = SeededBytes.of(BODY, 7);
        for (int i = 0; i < 5; i++) {
            String answer = RawHttp.exchange(cairn.port(), request("PUT", "/v2/early/app/manifests/v1", huge,
                    "Content-Type", "application/vnd.oci.image.manifest.v1+json"));
            assertThat(answer).as("try " + i).startsWith("HTTP/1.1 413");
            assertThat(RawHttp.body(answer)).contains("\"code\":\"MANIFEST_INVALID\"", "exceeds the limit");
        }
    }

    @Test
    void aRefusedChunkIs416ForAClientThatSendsTheWholeBodyFirst() throws Exception {
        OciClient client = new OciClient(cairn);
        HttpResponse<byte[]> opened = client.post("/v2/early/app/blobs/uploads/", new byte[0]);
        String location = opened.headers().firstValue("Location").orElseThrow();
        String path = URI.create(location).isAbsolute() ? URI.create(location).getRawPath() : location;
        byte[] chunk = SeededBytes.of(BODY, 8);
        for (int i = 0; i < 5; i++) {
            String answer = RawHttp.exchange(cairn.port(), request("PATCH", path, chunk,
                    "Content-Range", "100-" + (100 + BODY - 1), "Content-Type", "application/octet-stream"));
            assertThat(answer).as("try " + i).startsWith("HTTP/1.1 416");
            assertThat(RawHttp.body(answer)).contains("\"code\":\"BLOB_UPLOAD_INVALID\"");
        }
    }
}
