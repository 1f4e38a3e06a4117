package dev.cairn.testing;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sqlite.SQLiteConfig;
import software.amazon.awssdk.core.sync.RequestBody;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link StoreProbe} sees, on the backend this JVM runs ({@link TestBackend}), what the spec tests that use it
 * rely on: each of its answers changes when the store does, so their "is empty" and "is exactly" can fail.
 */
class StoreProbeTest {
    private static RunningCairn cairn;
    private static OciClient client;
    private static StoreProbe probe;

    @BeforeAll
    static void start() throws Exception {
        cairn = RunningCairn.start();
        client = new OciClient(cairn);
        probe = StoreProbe.of(cairn);
    }

    @AfterAll
    static void stop() throws Exception {
        cairn.close();
    }

    private static boolean onS3() {
        return cairn.sharedStore().isPresent();
    }

    @Test
    void blobsAreListedByDigestAndSizeAndAStrayInTheBlobAreaShows() throws Exception {
        byte[] blob = "probe-blob".getBytes();
        String digest = sha256(blob);
        assertThat(client.post("/v2/probe/blobs/blobs/uploads/?digest=" + digest, blob).statusCode()).isEqualTo(201);
        assertThat(probe.blobs()).containsEntry(digest, (long) blob.length);

        String hex = digest.substring("sha256:".length());
        if (onS3()) {
            SharedStore store = cairn.sharedStore().orElseThrow();
            String stray = store.keyPrefix() + "/blobs/sha256/" + hex; // not under its two-hex directory
            store.s3().client().putObject(b -> b.bucket(store.s3().bucket()).key(stray), RequestBody.fromString("x"));
            assertThat(probe.blobs()).containsEntry("s3 " + stray, 1L).containsEntry(digest, (long) blob.length);
            store.s3().client().deleteObject(b -> b.bucket(store.s3().bucket()).key(stray));
        } else {
            Path stray = cairn.dataDir().resolve("blobs/sha256/" + hex);
            Files.write(stray, new byte[]{1});
            assertThat(probe.blobs()).containsEntry("file blobs/sha256/" + hex, 1L).containsEntry(digest, (long) blob.length);
            Files.delete(stray);
        }
        assertThat(probe.blobs()).allSatisfy((key, size) -> assertThat(key).startsWith("sha256:"));
    }

    @Test
    void uploadLeftoversShowEveryPieceOfAnOpenSessionUntilItEnds() throws Exception {
        HttpResponse<byte[]> open = client.post("/v2/probe/uploads/blobs/uploads/", null);
        String location = open.headers().firstValue("Location").orElseThrow();
        String id = open.headers().firstValue("Docker-Upload-UUID").orElseThrow();
        // more than a part (8MiB by default): on s3 a multipart upload with one part, and a tail object
        assertThat(client.patch(location, new byte[(8 << 20) + 100]).statusCode()).isEqualTo(202);

        assertThat(probe.uploadLeftovers()).isNotEmpty().allMatch(line -> line.contains(id))
                .anyMatch(line -> line.startsWith("uploads row id=" + id));
        if (onS3()) {
            String sessionKeys = cairn.sharedStore().orElseThrow().keyPrefix() + "/uploads/" + id + "/";
            assertThat(probe.uploadLeftovers())
                    .anyMatch(line -> line.startsWith("s3 multipart upload " + sessionKeys) && line.endsWith("(1 parts)"))
                    .anyMatch(line -> line.startsWith("s3 object " + sessionKeys) && line.endsWith("(100 bytes)"));
        } else {
            assertThat(probe.uploadLeftovers()).contains("file uploads/" + id);
        }

        assertThat(client.delete(location).statusCode()).isEqualTo(204);
        assertThat(probe.uploadLeftovers()).isEmpty();
    }

    @Test
    void anythingOutsideTheBlobAreaIsALeftover() throws Exception {
        if (onS3()) {
            SharedStore store = cairn.sharedStore().orElseThrow();
            String blobKey = store.keyPrefix() + "/blobs/sha256/ab/ab" + "0".repeat(62);
            String upload = store.s3().client().createMultipartUpload(b -> b.bucket(store.s3().bucket()).key(blobKey)).uploadId();
            assertThat(probe.uploadLeftovers()).containsExactly("s3 multipart upload " + blobKey + " " + upload + " (0 parts)");
            store.s3().client().abortMultipartUpload(b -> b.bucket(store.s3().bucket()).key(blobKey).uploadId(upload));

            String elsewhere = store.keyPrefix() + "/tmp/x";
            store.s3().client().putObject(b -> b.bucket(store.s3().bucket()).key(elsewhere), RequestBody.fromString("xy"));
            assertThat(probe.uploadLeftovers()).containsExactly("s3 object " + elsewhere + " (2 bytes)");
            store.s3().client().deleteObject(b -> b.bucket(store.s3().bucket()).key(elsewhere));
        } else {
            Path temp = cairn.dataDir().resolve("tmp/x");
            Files.write(temp, new byte[]{1});
            assertThat(probe.uploadLeftovers()).containsExactly("file tmp/x");
            Files.delete(temp);
        }
        assertThat(probe.uploadLeftovers()).isEmpty();
    }

    @Test
    void readsAreNoWritesButAWriteUndoneIs() throws Exception {
        OciClient.Image image = client.prepareImage("probe/writes", "application/vnd.oci.image.config.v1+json", "w".getBytes());
        client.pushManifest("probe/writes", "v1", OCI_MANIFEST, image.manifest());
        try (StoreProbe.WriteWatch watch = probe.watchWrites()) {
            assertThat(client.get("/v2/probe/writes/manifests/v1").statusCode()).isEqualTo(200);
            assertThat(watch.writes()).isEmpty();

            // a change, then its undoing, each committed: no row differs from before, yet the store was written
            try (Connection c = writableDatabase(); Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("UPDATE manifests SET last_used_at = last_used_at + 1")).isPositive();
                assertThat(s.executeUpdate("UPDATE manifests SET last_used_at = last_used_at - 1")).isPositive();
            }
            assertThat(watch.writes()).noneMatch(line -> line.contains(" lost: ") || line.contains(" gained: "))
                    .anyMatch(line -> line.startsWith(onS3() ? "row versions (xmin) of manifests: " : "cairn.db data_version: "));
        }
    }

    private static Connection writableDatabase() throws SQLException {
        if (onS3()) {
            SharedStore store = cairn.sharedStore().orElseThrow();
            return store.postgres().connect(store.jdbcUrl());
        }
        SQLiteConfig config = new SQLiteConfig();
        config.setBusyTimeout(30_000);
        return DriverManager.getConnection("jdbc:sqlite:" + cairn.dataDir().resolve("cairn.db"), config.toProperties());
    }
}
