package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.descriptor;
import static dev.cairn.testing.OciClient.json;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/** DESIGN.md invariant 6: concurrent pushes of the same blob and tag from many runners all succeed; one copy is kept. */
class ConcurrentPushTest {
    private static final int CLIENTS = 16;
    private static final int BLOB_SIZE = 50 << 20;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void sixteenClientsPushTheSameBlobAndTagAtOnce() throws Exception {
        try (RunningCairn cairn = RunningCairn.start()) {
            byte[] blob = UploadApiTest.random(BLOB_SIZE, 16);
            String digest = sha256(blob);
            byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes();
            String configDigest = sha256(config);
            byte[] manifest = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                    "config", descriptor("application/vnd.oci.image.config.v1+json", configDigest, config.length),
                    "layers", List.of(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", digest, blob.length))));

            CountDownLatch go = new CountDownLatch(1);
            List<Future<List<Integer>>> results = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(CLIENTS)) {
                for (int i = 0; i < CLIENTS; i++) {
                    boolean chunked = i % 2 == 0;
                    results.add(pool.submit(() -> {
                        OciClient client = new OciClient(cairn);
                        go.await();
                        List<Integer> statuses = new ArrayList<>();
                        if (chunked) {
                            HttpResponse<byte[]> open = client.post("/v2/race/app/blobs/uploads/", null);
                            statuses.add(open.statusCode());
                            String location = open.headers().firstValue("Location").orElseThrow();
                            int half = blob.length / 2;
                            HttpResponse<byte[]> patch = client.patch(location, java.util.Arrays.copyOfRange(blob, 0, half),
                                    "Content-Range", "0-" + (half - 1));
                            statuses.add(patch.statusCode());
                            statuses.add(client.put(location + "?digest=" + digest, java.util.Arrays.copyOfRange(blob, half, blob.length))
                                    .statusCode());
                        } else {
                            statuses.add(client.post("/v2/race/app/blobs/uploads/?digest=" + digest, blob).statusCode());
                        }
                        statuses.add(client.post("/v2/race/app/blobs/uploads/?digest=" + configDigest, config).statusCode());
                        statuses.add(client.put("/v2/race/app/manifests/latest", manifest, "Content-Type", OCI_MANIFEST).statusCode());
                        return statuses;
                    }));
                }
                go.countDown();
                for (Future<List<Integer>> result : results) {
                    List<Integer> statuses = result.get(3, TimeUnit.MINUTES);
                    assertThat(statuses).allSatisfy(s -> assertThat(s).isIn(201, 202));
                    assertThat(statuses.getLast()).isEqualTo(201);
                }
            }

            OciClient client = new OciClient(cairn);
            HttpResponse<byte[]> pulled = client.get("/v2/race/app/blobs/" + digest);
            assertThat(pulled.statusCode()).isEqualTo(200);
            assertThat(sha256(pulled.body())).isEqualTo(digest);
            assertThat(client.get("/v2/race/app/manifests/latest").body()).isEqualTo(manifest);

            // one copy of each blob on disk, nothing left behind in the temporary and upload areas
            List<Path> blobFiles;
            try (Stream<Path> files = Files.walk(cairn.dataDir().resolve("blobs"))) {
                blobFiles = files.filter(Files::isRegularFile).toList();
            }
            assertThat(blobFiles).extracting(p -> p.getFileName().toString())
                    .containsExactlyInAnyOrder(digest.substring(7), configDigest.substring(7));
            assertThat(Files.size(blobFiles.stream().filter(p -> p.endsWith(digest.substring(7))).findFirst().orElseThrow()))
                    .isEqualTo(BLOB_SIZE);
            try (Stream<Path> tmp = Files.list(cairn.dataDir().resolve("tmp"));
                 Stream<Path> uploads = Files.list(cairn.dataDir().resolve("uploads"))) {
                assertThat(tmp.toList()).isEmpty();
                assertThat(uploads.toList()).isEmpty();
            }
        }
    }
}
