package dev.cairn;

import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.StoreProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

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
            byte[] blob = SeededBytes.of(BLOB_SIZE, 16);
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

            // one copy of each blob in the store, and nothing left of any upload session: no file in the
            // temporary and upload areas (embedded), no object outside the blob area and no open multipart
            // upload (s3), no session row (both); StoreProbe says where it looks on each backend
            StoreProbe store = StoreProbe.of(cairn);
            assertThat(store.blobs()).containsExactlyInAnyOrderEntriesOf(Map.of(digest, (long) BLOB_SIZE, configDigest, (long) config.length));
            assertThat(store.uploadLeftovers()).isEmpty();
        }
    }
}
