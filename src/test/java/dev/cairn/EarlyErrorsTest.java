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

    /** Sends {@code head} and reads what comes back within {@code seconds}, without sending a body. */
    private static String answerToHeadersOnly(String head, int seconds) throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", cairn.port())) {
            socket.setSoTimeout(seconds * 1000);
            socket.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            java.io.InputStream in = socket.getInputStream();
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            byte[] buffer = new byte[4096];
            try {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    answer.write(buffer, 0, n);
                    if (answer.toString(StandardCharsets.ISO_8859_1).contains("}]}")) break;
                }
            } catch (java.net.SocketTimeoutException | java.net.SocketException e) {
                // what came is the answer
            }
            return answer.toString(StandardCharsets.ISO_8859_1);
        }
    }

    @Test
    void aClientThatNeverFinishesItsBodyHoldsTheDrainOnlyBriefly() throws Exception {
        long started = System.nanoTime();
        String answer = answerToHeadersOnly("PUT /v2/early/app/blobs/uploads/no-such-session?digest=sha256:"
                + "0".repeat(64) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000000\r\n\r\nx", 20);
        long seconds = java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
        assertThat(answer).startsWith("HTTP/1.1 404");
        assertThat(answer.toLowerCase(java.util.Locale.ROOT)).contains("connection: close");
        assertThat(seconds).as("answered once the drain gave up").isLessThan(15);
    }

    @Test
    void aClientWaitingFor100ContinueIsAnsweredWithoutBeingAskedForTheBody() throws Exception {
        String answer = answerToHeadersOnly("PUT /v2/early/app/blobs/uploads/no-such-session?digest=sha256:"
                + "0".repeat(64) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 33554432\r\nExpect: 100-continue\r\n\r\n", 10);
        assertThat(answer).startsWith("HTTP/1.1 404").doesNotContain("100 Continue");
        assertThat(RawHttp.body(answer)).contains("BLOB_UPLOAD_UNKNOWN");
    }
}
