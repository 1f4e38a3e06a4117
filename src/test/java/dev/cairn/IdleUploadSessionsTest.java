package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.errorCode;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Invariant 9 for upload sessions: builds cancelled mid-push leave sessions open every day, and one client
 * may open thousands on purpose. Idle sessions hold no file descriptors beyond a small bound, and one
 * client's open sessions are bounded, with a clear 429 beyond the bound.
 */
class IdleUploadSessionsTest {
    private static final int SESSIONS = 20_000;

    private static long openDescriptors() throws Exception {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    private static String path(HttpResponse<byte[]> opened) {
        String location = opened.headers().firstValue("Location").orElseThrow();
        return URI.create(location).isAbsolute() ? URI.create(location).getRawPath() : location;
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void twentyThousandIdleSessionsLeaveUploadsAndPullsWorking() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("registry.max-upload-sessions-per-client", "25000"))) {
            OciClient client = new OciClient(cairn);
            long before = openDescriptors();
            Semaphore inFlight = new Semaphore(32);
            List<Future<Integer>> done = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < SESSIONS; i++) {
                    inFlight.acquire();
                    done.add(pool.submit(() -> {
                        try {
                            HttpResponse<byte[]> opened = client.post("/v2/idle/app/blobs/uploads/", new byte[0]);
                            if (opened.statusCode() != 202) return opened.statusCode();
                            return client.patch(path(opened), new byte[]{1}, "Content-Type", "application/octet-stream").statusCode();
                        } finally {
                            inFlight.release();
                        }
                    }));
                }
            }
            for (Future<Integer> f : done) assertThat(f.get()).isEqualTo(202);
            assertThat(openDescriptors() - before).as("descriptors held by %d idle sessions", SESSIONS).isLessThan(1_000);

            // everyone else's work goes on: a chunked upload, a monolithic one, a manifest, a pull
            byte[] layer = SeededBytes.of(3 << 20, 1);
            HttpResponse<byte[]> opened = client.post("/v2/busy/app/blobs/uploads/", new byte[0]);
            assertThat(opened.statusCode()).isEqualTo(202);
            assertThat(client.patch(path(opened), layer, "Content-Type", "application/octet-stream").statusCode()).isEqualTo(202);
            String sep = path(opened).contains("?") ? "&" : "?";
            assertThat(client.put(path(opened) + sep + "digest=" + OciClient.sha256(layer), new byte[0]).statusCode()).isEqualTo(201);
            OciClient.Image image = client.prepareImage("busy/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1000, 2));
            client.pushManifest("busy/app", "v1", OCI_MANIFEST, image.manifest());
            assertThat(client.get("/v2/busy/app/manifests/v1").statusCode()).isEqualTo(200);
            assertThat(client.get("/v2/busy/app/blobs/" + OciClient.sha256(layer)).body()).isEqualTo(layer);
        }
    }

    @Test
    void oneClientsOpenSessionsAreBoundedAndOtherClientsAreNot() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("registry.max-upload-sessions-per-client", "5",
                "server.trusted-proxies", "127.0.0.0/8, ::1"))) {
            OciClient client = new OciClient(cairn);
            List<String> sessions = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                HttpResponse<byte[]> opened = client.post("/v2/bounded/app/blobs/uploads/", new byte[0], "X-Forwarded-For", "192.0.2.1");
                assertThat(opened.statusCode()).isEqualTo(202);
                sessions.add(path(opened));
            }
            HttpResponse<byte[]> refused = client.post("/v2/bounded/app/blobs/uploads/", new byte[0], "X-Forwarded-For", "192.0.2.1");
            assertThat(refused.statusCode()).isEqualTo(429);
            assertThat(errorCode(refused)).isEqualTo("TOOMANYREQUESTS");
            assertThat(OciClient.text(refused)).contains("registry.max-upload-sessions-per-client");
            assertThat(client.post("/v2/bounded/app/blobs/uploads/", new byte[0], "X-Forwarded-For", "192.0.2.2").statusCode())
                    .as("another client").isEqualTo(202);
            // a session finished or cancelled makes room
            assertThat(client.delete(sessions.getFirst()).statusCode()).isEqualTo(204);
            assertThat(client.post("/v2/bounded/app/blobs/uploads/", new byte[0], "X-Forwarded-For", "192.0.2.1").statusCode()).isEqualTo(202);
            // a monolithic push opens no session and is never refused for it
            byte[] blob = "whole".getBytes();
            assertThat(client.post("/v2/bounded/app/blobs/uploads/?digest=" + OciClient.sha256(blob), blob, "X-Forwarded-For", "192.0.2.1")
                    .statusCode()).isEqualTo(201);
        }
    }
}
