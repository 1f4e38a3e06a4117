package dev.cairn.it;

import dev.cairn.testing.CairnProcess;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * DESIGN.md invariant 1: kill -9 in the middle of a 200 MiB upload (a chunked session and a monolithic
 * PUT at once). After a restart the half-written blob is never served, the same upload repeated
 * completes, and everything pushed before is intact, its digests verified again from disk.
 */
class CrashSafetyIT {
    private static final long BIG = 200L << 20;

    /** 200 MiB of seeded pseudo-random bytes, made as they are read (never whole in memory). */
    private static InputStream bigBody(long seed, long length) {
        return new InputStream() {
            private final Random random = new Random(seed);
            private final byte[] block = new byte[1 << 16];
            private int blockPos = block.length;
            private long left = length;

            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (left == 0) return -1;
                if (blockPos == block.length) {
                    random.nextBytes(block);
                    blockPos = 0;
                }
                int n = (int) Math.min(Math.min(len, block.length - blockPos), left);
                System.arraycopy(block, blockPos, b, off, n);
                blockPos += n;
                left -= n;
                return n;
            }
        };
    }

    private static String digestOf(long seed, long length) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = bigBody(seed, length)) {
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) md.update(buffer, 0, n);
        }
        return "sha256:" + HexFormat.of().formatHex(md.digest());
    }

    private static long bytesUnder(Path dir) throws IOException {
        if (!Files.exists(dir)) return 0;
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void killDuringA200MiBUploadLosesNothingAndServesNoHalfBlob() throws Exception {
        Path root = Files.createTempDirectory("cairn-crash-");
        try (CairnProcess cairn = CairnProcess.start(root.resolve("data"))) {
            OciClient client = new OciClient(cairn.hostPort());
            // what was pushed before the crash
            Map<String, byte[]> before = new LinkedHashMap<>();
            OciClient.Image image = client.prepareImage("crash/app", "application/vnd.oci.image.config.v1+json",
                    new byte[3 << 20], "small layer".getBytes());
            String manifestDigest = client.pushManifest("crash/app", "v1", OCI_MANIFEST, image.manifest());
            for (String d : image.layerDigests()) before.put(d, client.get("/v2/crash/app/blobs/" + d).body());

            String bigDigest = digestOf(7, BIG);
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String location = client.post("/v2/crash/app/blobs/uploads/", null).headers().firstValue("Location").orElseThrow();
            CompletableFuture<HttpResponse<Void>> chunked = http.sendAsync(
                    HttpRequest.newBuilder(URI.create("http://" + cairn.hostPort() + location))
                            .method("PATCH", HttpRequest.BodyPublishers.ofInputStream(() -> bigBody(7, BIG))).build(),
                    HttpResponse.BodyHandlers.discarding());
            CompletableFuture<HttpResponse<Void>> monolithic = http.sendAsync(
                    HttpRequest.newBuilder(URI.create("http://" + cairn.hostPort() + "/v2/crash/app/blobs/uploads/?digest=" + bigDigest))
                            .POST(HttpRequest.BodyPublishers.ofInputStream(() -> bigBody(7, BIG))).build(),
                    HttpResponse.BodyHandlers.discarding());

            // kill once both writes are well under way but far from done
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline
                    && (bytesUnder(cairn.dataDir().resolve("uploads")) < (40L << 20) || bytesUnder(cairn.dataDir().resolve("tmp")) < (40L << 20))) {
                Thread.sleep(20);
            }
            assertThat(bytesUnder(cairn.dataDir().resolve("tmp"))).as("monolithic upload in flight").isBetween(1L, BIG - 1);
            cairn.kill();
            assertThat(chunked).failsWithin(30, TimeUnit.SECONDS);
            assertThat(monolithic).failsWithin(30, TimeUnit.SECONDS);

            cairn.restart();
            // the half-written blob is never served, and no partial file is left in the temporary area
            assertThat(client.head("/v2/crash/app/blobs/" + bigDigest).statusCode()).isEqualTo(404);
            assertThat(client.get("/v2/crash/app/blobs/" + bigDigest).statusCode()).isEqualTo(404);
            assertThat(bytesUnder(cairn.dataDir().resolve("tmp"))).isZero();
            // the session survived with what had arrived, and finishing it with wrong content is refused
            HttpResponse<byte[]> status = client.get(location);
            assertThat(status.statusCode()).isEqualTo(204);
            long received = Long.parseLong(status.headers().firstValue("Range").orElseThrow().split("-")[1]) + 1;
            assertThat(received).isBetween(1L, BIG - 1);
            assertThat(client.put(location + "?digest=" + bigDigest, null).statusCode()).isEqualTo(400);
            assertThat(client.head("/v2/crash/app/blobs/" + bigDigest).statusCode()).isEqualTo(404);

            // the same upload repeated completes
            String again = client.post("/v2/crash/app/blobs/uploads/", null).headers().firstValue("Location").orElseThrow();
            HttpResponse<String> patched = http.send(HttpRequest.newBuilder(URI.create("http://" + cairn.hostPort() + again))
                    .method("PATCH", HttpRequest.BodyPublishers.ofInputStream(() -> bigBody(7, BIG))).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(patched.statusCode()).isEqualTo(202);
            assertThat(client.put(again + "?digest=" + bigDigest, null).statusCode()).isEqualTo(201);
            HttpResponse<InputStream> pulled = http.send(HttpRequest.newBuilder(
                    URI.create("http://" + cairn.hostPort() + "/v2/crash/app/blobs/" + bigDigest)).build(), HttpResponse.BodyHandlers.ofInputStream());
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (InputStream in = pulled.body()) {
                byte[] buffer = new byte[1 << 16];
                int n;
                while ((n = in.read(buffer)) > 0) md.update(buffer, 0, n);
            }
            assertThat("sha256:" + HexFormat.of().formatHex(md.digest())).isEqualTo(bigDigest);

            // everything pushed before is intact
            assertThat(client.get("/v2/crash/app/manifests/v1").body()).isEqualTo(image.manifest());
            assertThat(client.get("/v2/crash/app/manifests/v1").headers().firstValue("Docker-Content-Digest")).hasValue(manifestDigest);
            for (Map.Entry<String, byte[]> blob : before.entrySet()) {
                byte[] body = client.get("/v2/crash/app/blobs/" + blob.getKey()).body();
                assertThat(sha256(body)).isEqualTo(blob.getKey());
                assertThat(body).isEqualTo(blob.getValue());
            }
            // and every blob file on disk hashes to its name
            try (Stream<Path> files = Files.walk(cairn.dataDir().resolve("blobs"))) {
                for (Path file : files.filter(Files::isRegularFile).toList()) {
                    MessageDigest fileMd = MessageDigest.getInstance("SHA-256");
                    try (InputStream in = Files.newInputStream(file)) {
                        byte[] buffer = new byte[1 << 16];
                        int n;
                        while ((n = in.read(buffer)) > 0) fileMd.update(buffer, 0, n);
                    }
                    assertThat(HexFormat.of().formatHex(fileMd.digest())).as(file.toString()).isEqualTo(file.getFileName().toString());
                }
            }
        } finally {
            TempFiles.deleteRecursively(root);
        }
    }

    /**
     * A chunk is answered 202 once its bytes are received and hashed, while they are still being written; a
     * kill -9 right after can leave the session shorter than the client was told. The client's next chunk
     * then gets 416 with the session's true Range, it resends from there, and the blob it finishes is exact.
     */
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aKillRightAfterA202LeavesASessionTheClientResumesFromItsTrueRange() throws Exception {
        long chunk = 64L << 20;
        long total = 2 * chunk;
        String digest = digestOf(11, total);
        Path root = Files.createTempDirectory("cairn-crash-202-");
        try (CairnProcess cairn = CairnProcess.start(root.resolve("data"))) {
            OciClient client = new OciClient(cairn.hostPort());
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String location = client.post("/v2/crash/resume/blobs/uploads/", null).headers().firstValue("Location").orElseThrow();
            byte[] first;
            try (InputStream in = bigBody(11, total)) {
                first = in.readNBytes((int) chunk);
            }
            HttpResponse<byte[]> accepted = client.patch(location, first, "Content-Range", "0-" + (chunk - 1),
                    "Content-Type", "application/octet-stream");
            assertThat(accepted.statusCode()).isEqualTo(202);
            assertThat(accepted.headers().firstValue("Range")).hasValue("0-" + (chunk - 1));
            cairn.kill(); // at once: the writer may still have had part of the chunk to write

            cairn.restart();
            long durable = Long.parseLong(client.get(location).headers().firstValue("Range").orElseThrow().split("-")[1]) + 1;
            assertThat(durable).isBetween(0L, chunk);
            long resumeAt = chunk;
            HttpResponse<String> next = http.send(HttpRequest.newBuilder(URI.create("http://" + cairn.hostPort() + location))
                    .method("PATCH", HttpRequest.BodyPublishers.ofInputStream(() -> slice(11, total, chunk, total)))
                    .header("Content-Range", chunk + "-" + (total - 1)).header("Content-Type", "application/octet-stream").build(),
                    HttpResponse.BodyHandlers.ofString());
            if (durable < chunk) {
                // what the client was told is not all there: it is told where the session really ends
                assertThat(next.statusCode()).isEqualTo(416);
                assertThat(next.headers().firstValue("Range")).hasValue("0-" + (durable - 1));
                resumeAt = durable;
                HttpResponse<String> resent = http.send(HttpRequest.newBuilder(URI.create("http://" + cairn.hostPort() + location))
                        .method("PATCH", HttpRequest.BodyPublishers.ofInputStream(() -> slice(11, total, durable, total)))
                        .header("Content-Range", durable + "-" + (total - 1)).header("Content-Type", "application/octet-stream").build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(resent.statusCode()).isEqualTo(202);
            } else {
                assertThat(next.statusCode()).isEqualTo(202);
            }
            assertThat(client.put(location + "?digest=" + digest, null).statusCode()).isEqualTo(201);
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(client.get("/v2/crash/resume/blobs/" + digest).body());
            assertThat("sha256:" + HexFormat.of().formatHex(md.digest())).isEqualTo(digest);
            System.out.printf("kill after a 202: %d of %d bytes were on disk; the client resumed from %d%n", durable, chunk, resumeAt);
        } finally {
            TempFiles.deleteRecursively(root);
        }
    }

    /** Bytes {@code from} (inclusive) to {@code to} (exclusive) of the seeded body. */
    private static InputStream slice(long seed, long length, long from, long to) {
        InputStream in = bigBody(seed, length);
        try {
            in.skipNBytes(from);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return new java.io.FilterInputStream(in) {
            private long left = to - from;

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (left <= 0) return -1;
                int n = super.read(b, off, (int) Math.min(len, left));
                if (n > 0) left -= n;
                return n;
            }

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }
        };
    }
}
