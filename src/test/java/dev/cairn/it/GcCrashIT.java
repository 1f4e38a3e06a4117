package dev.cairn.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.AuditTrail;
import dev.cairn.testing.CairnProcess;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.StoreInventory;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.descriptor;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * DESIGN.md invariants 3 and 4 across a crash: a store of a few hundred images, most of them invalidated,
 * and kill -9 while the collector is deleting their thousands of blobs. After a restart every kept image
 * pulls completely, no record points at a missing file, the next collection removes the orphan files the
 * crash left and the rest of the invalidated blobs, and every deletion is in the audit log with a reason.
 * Some blobs are shared by kept and invalidated images: they must survive.
 */
class GcCrashIT {
    private static final int KEEP_REPOSITORIES = 4;
    private static final int KEEP_IMAGES = 30;
    private static final int KEEP_LAYERS = 3;
    private static final int DROP_REPOSITORIES = 10;
    private static final int DROP_IMAGES = 40;
    private static final int DROP_LAYERS = 9;
    private static final int SHARED = 60;
    /** Blob deletions seen in the audit log before the kill. */
    private static final int KILL_AFTER = 300;
    private static final String LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static final String CONFIG = "application/vnd.oci.image.config.v1+json";

    private record Image(String repository, String tag, String digest, List<String> blobs) {
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void killDuringASweepLosesNoLiveBlobAndLeavesNoOrphanOrDanglingRecord() throws Exception {
        Path root = Files.createTempDirectory("cairn-gc-crash-");
        boolean passed = false;
        Map<String, String> env = new LinkedHashMap<>();
        env.put("CAIRN_RETENTION_GRACE", "1s");
        env.put("CAIRN_RETENTION_GC_INTERVAL", "1h"); // only the test starts collections
        env.put("CAIRN_RETENTION_MAX_BYTES", "2GiB");
        env.put("CAIRN_RETENTION_RULES", "[{\"repositories\":\"keep/**\",\"evict\":\"never\"}]");
        env.put("CAIRN_LOG_ACCESS", "false");
        try (CairnProcess cairn = CairnProcess.start(root.resolve("data"), env)) {
            OciClient client = new OciClient(cairn.hostPort());
            StoreInventory store = new StoreInventory(cairn.dataDir());

            // ---- fill: kept images, invalidated images, and blobs both share ----
            long fillStarted = System.nanoTime();
            List<byte[]> shared = new ArrayList<>();
            Random seeds = new Random(7);
            for (int i = 0; i < SHARED; i++) shared.add(randomBlob(seeds));
            List<Image> keep = new ArrayList<>();
            List<Image> drop = new ArrayList<>();
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<Image>> keepPushes = new ArrayList<>();
                List<Future<Image>> dropPushes = new ArrayList<>();
                int n = 0;
                for (int r = 0; r < KEEP_REPOSITORIES; r++) {
                    for (int i = 0; i < KEEP_IMAGES; i++) {
                        String repository = "keep/app-" + r;
                        String tag = "v" + i;
                        byte[] common = shared.get(n++ % SHARED);
                        long seed = 1_000_000L * (r + 1) + i;
                        keepPushes.add(pool.submit(() -> push(client, repository, tag, seed, KEEP_LAYERS, common)));
                    }
                }
                for (int r = 0; r < DROP_REPOSITORIES; r++) {
                    for (int i = 0; i < DROP_IMAGES; i++) {
                        String repository = "drop/app-" + r;
                        String tag = "v" + i;
                        byte[] common = shared.get(n++ % SHARED);
                        long seed = 2_000_000_000L + 1_000_000L * r + i;
                        dropPushes.add(pool.submit(() -> push(client, repository, tag, seed, DROP_LAYERS, common)));
                    }
                }
                for (Future<Image> f : keepPushes) keep.add(f.get(2, TimeUnit.MINUTES));
                for (Future<Image> f : dropPushes) drop.add(f.get(2, TimeUnit.MINUTES));
            } finally {
                pool.shutdownNow();
            }
            long fillMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - fillStarted);
            Set<String> keepBlobs = new HashSet<>();
            keep.forEach(image -> keepBlobs.addAll(image.blobs()));
            Set<String> dropOnlyBlobs = new HashSet<>();
            drop.forEach(image -> dropOnlyBlobs.addAll(image.blobs()));
            dropOnlyBlobs.removeAll(keepBlobs);
            Set<String> sharedDigests = new HashSet<>();
            shared.forEach(b -> sharedDigests.add(sha256(b)));
            assertThat(keepBlobs).containsAll(sharedDigests);
            assertThat(dropOnlyBlobs).hasSize(DROP_REPOSITORIES * DROP_IMAGES * (DROP_LAYERS + 1));

            // ---- make the drop images evictable, past the grace window ----
            Thread.sleep(1_500);
            HttpResponse<byte[]> invalidated = client.post("/api/v1/invalidate", "{\"repositories\":\"drop/**\"}".getBytes(StandardCharsets.UTF_8),
                    "Content-Type", "application/json");
            assertThat(invalidated.statusCode()).as(OciClient.text(invalidated)).isEqualTo(200);
            JsonNode evicted = OciClient.json(invalidated).path("evicted");
            assertThat(evicted).hasSize(drop.size());
            evicted.forEach(unit -> assertThat(unit.path("reason").asText()).isEqualTo("invalidated"));
            assertThat(AuditTrail.blobLines(cairn.dataDir())).isZero();

            // ---- one collection with thousands of blobs to delete; kill -9 in the middle of its sweep ----
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            long sweepStarted = System.nanoTime();
            CompletableFuture<HttpResponse<String>> gc = http.sendAsync(HttpRequest.newBuilder(
                            URI.create("http://" + cairn.hostPort() + "/api/v1/gc?dry-run=false"))
                    .POST(HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofMinutes(2)).build(), HttpResponse.BodyHandlers.ofString());
            long seen = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!gc.isDone() && System.nanoTime() < deadline && (seen = AuditTrail.blobLines(cairn.dataDir())) < KILL_AFTER) {
                Thread.sleep(2);
            }
            assertThat(gc.isDone()).as("the sweep was still running when %d blob deletions were logged; it answered %s",
                    seen, gc.isDone() ? gc.join().statusCode() + " " + gc.join().body() : "-").isFalse();
            assertThat(seen).as("blob deletions logged within 90 s").isGreaterThanOrEqualTo(KILL_AFTER);
            cairn.kill();
            long killedAfterMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sweepStarted);
            assertThat(gc).failsWithin(30, TimeUnit.SECONDS);
            AuditTrail beforeRestart = AuditTrail.read(cairn.dataDir());
            long blobsDeletedBeforeKill = beforeRestart.blobs().size();
            long filesLeftAtKill = dropOnlyBlobs.stream().filter(d -> Files.exists(store.blobFile(d))).count();
            assertThat(blobsDeletedBeforeKill).as("the kill interrupted the sweep").isLessThan(dropOnlyBlobs.size());
            assertThat(filesLeftAtKill).as("drop blob files left at the kill").isPositive();

            // ---- restart: kept images intact, no record without its file ----
            cairn.restart();
            for (Image image : keep) {
                HttpResponse<byte[]> m = client.get("/v2/" + image.repository() + "/manifests/" + image.tag(), "Accept", OCI_MANIFEST);
                assertThat(m.statusCode()).as("kept manifest %s:%s", image.repository(), image.tag()).isEqualTo(200);
                assertThat(sha256(m.body())).isEqualTo(image.digest());
                assertPullable(client, image.repository(), image.digest(), image.blobs());
            }
            List<StoreInventory.ManifestRow> manifests = store.manifests();
            assertThat(manifests).as("manifests after the restart").hasSize(keep.size());
            for (StoreInventory.ManifestRow row : manifests) {
                assertThat(row.repository()).startsWith("keep/");
                assertPullable(client, row.repository(), row.digest(), referencedBlobs(row.content()));
            }
            Set<String> records = store.blobRecords();
            for (String digest : records) {
                Path file = store.blobFile(digest);
                assertThat(file).as("file of blob record %s", digest).exists();
                assertThat(sha256(Files.readAllBytes(file))).as("bytes of %s", digest).isEqualTo(digest);
            }
            for (StoreInventory.Link link : store.links()) {
                assertThat(records).as("blob record behind the link %s", link).contains(link.digest());
            }
            Set<String> filesAtRestart = store.blobFiles();
            Set<String> orphansAtRestart = new HashSet<>(filesAtRestart);
            orphansAtRestart.removeAll(records);
            Set<String> goneAtRestart = new HashSet<>(dropOnlyBlobs);
            goneAtRestart.removeAll(union(filesAtRestart, records));

            // ---- the next collections: orphan files and the rest of the invalidated blobs go ----
            int runs = 0;
            long gcDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            Set<String> dropLeft;
            do {
                HttpResponse<byte[]> r = client.post("/api/v1/gc?dry-run=false", null);
                assertThat(r.statusCode()).as(OciClient.text(r)).isEqualTo(200);
                runs++;
                dropLeft = new HashSet<>(dropOnlyBlobs);
                dropLeft.retainAll(union(store.blobFiles(), store.blobRecords()));
            } while (!dropLeft.isEmpty() && System.nanoTime() < gcDeadline);
            assertThat(dropLeft).as("invalidated blobs still stored after %d collections", runs).isEmpty();
            Set<String> files = store.blobFiles();
            records = store.blobRecords();
            assertThat(files).as("blob files == blob records (no orphan, no dangling record)").isEqualTo(records);
            assertThat(files).as("every kept blob, shared ones included").containsAll(keepBlobs);
            for (Image image : keep) assertPullable(client, image.repository(), image.digest(), image.blobs());
            for (Image image : drop) {
                assertThat(client.get("/v2/" + image.repository() + "/manifests/" + image.digest()).statusCode())
                        .as("invalidated manifest %s@%s", image.repository(), image.digest()).isEqualTo(404);
            }

            // ---- every deletion explained ----
            AuditTrail audit = AuditTrail.read(cairn.dataDir());
            assertThat(audit.entries()).allSatisfy(e -> assertThat(e.hasKnownReason()).as(e.line()).isTrue());
            Set<String> auditedManifests = new HashSet<>();
            audit.manifests().forEach(e -> {
                if (e.reason().equals("invalidated")) auditedManifests.add(e.manifestKey());
            });
            for (Image image : drop) assertThat(auditedManifests).contains(image.repository() + "@" + image.digest());
            Set<String> auditedBlobs = new HashSet<>();
            audit.blobs().forEach(e -> auditedBlobs.add(e.digest()));
            Set<String> unexplained = new HashSet<>(dropOnlyBlobs);
            unexplained.removeAll(auditedBlobs);
            assertThat(unexplained).as("invalidated blobs deleted without an audit line; at the restart %d drop blobs had neither "
                            + "record nor file while %d blob deletions were logged before the kill (last: %s); unexplained ones gone at "
                            + "the restart: %s; data kept under %s",
                    goneAtRestart.size(), blobsDeletedBeforeKill, beforeRestart.blobs().isEmpty() ? "-" : beforeRestart.blobs().getLast().line(),
                    intersection(unexplained, goneAtRestart), root).isEmpty();
            Set<String> liveAudited = new HashSet<>(keepBlobs);
            liveAudited.retainAll(auditedBlobs);
            assertThat(liveAudited).as("kept blobs the audit log says were deleted").isEmpty();
            long orphanLines = audit.blobs().stream().filter(e -> e.reason().equals("orphan")).count();
            assertThat(orphanLines).as("orphan deletions logged").isGreaterThanOrEqualTo(orphansAtRestart.size());

            System.out.printf("gc-crash: filled %d blobs in %d manifests (%d kept, %d invalidated, %d blobs shared) in %d ms; "
                            + "killed %d ms into the sweep after %d of %d blob deletions were logged (%d drop blob files left); "
                            + "after the restart %d orphan file(s), %d kept manifests verified, %d collection(s) to remove the remaining "
                            + "invalidated blobs (%d audit lines: %d blob, %d orphan)%n",
                    keepBlobs.size() + dropOnlyBlobs.size(), keep.size() + drop.size(), keep.size(), drop.size(), SHARED, fillMillis,
                    killedAfterMillis, blobsDeletedBeforeKill, dropOnlyBlobs.size(), filesLeftAtKill, orphansAtRestart.size(),
                    keep.size(), runs, audit.entries().size(), audit.blobs().size(), orphanLines);
            passed = true;
        } finally {
            if (passed) {
                TempFiles.deleteRecursively(root);
            } else {
                System.out.println("gc-crash: failed; data, audit.log and server logs kept under " + root);
            }
        }
    }

    private static Image push(OciClient client, String repository, String tag, long seed, int layers, byte[] common) {
        Random random = new Random(seed);
        List<String> blobs = new ArrayList<>();
        List<Map<String, Object>> descriptors = new ArrayList<>();
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":" + seed + "}").getBytes(StandardCharsets.UTF_8);
        String configDigest = client.pushBlob(repository, config);
        blobs.add(configDigest);
        for (int l = 0; l <= layers; l++) {
            byte[] layer = l == layers ? common : randomBlob(random);
            String digest = client.pushBlob(repository, layer);
            blobs.add(digest);
            descriptors.add(descriptor(LAYER, digest, layer.length));
        }
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", OCI_MANIFEST);
        manifest.put("config", descriptor(CONFIG, configDigest, config.length));
        manifest.put("layers", descriptors);
        String digest = client.pushManifest(repository, tag, OCI_MANIFEST, OciClient.json(manifest));
        return new Image(repository, tag, digest, List.copyOf(blobs));
    }

    private static byte[] randomBlob(Random random) {
        byte[] blob = new byte[256 + random.nextInt(1792)];
        random.nextBytes(blob);
        return blob;
    }

    private static void assertPullable(OciClient client, String repository, String manifest, List<String> blobs) {
        for (String blob : blobs) {
            HttpResponse<byte[]> b = client.get("/v2/" + repository + "/blobs/" + blob);
            assertThat(b.statusCode()).as("blob %s of %s@%s: %s", blob, repository, manifest, OciClient.text(b)).isEqualTo(200);
            assertThat(sha256(b.body())).as("bytes of %s", blob).isEqualTo(blob);
        }
    }

    private static List<String> referencedBlobs(byte[] manifest) throws IOException {
        JsonNode json = OciClient.JSON.readTree(manifest);
        List<String> blobs = new ArrayList<>();
        blobs.add(json.path("config").path("digest").asText());
        for (JsonNode layer : json.path("layers")) blobs.add(layer.path("digest").asText());
        return blobs;
    }

    private static Set<String> intersection(Set<String> a, Set<String> b) {
        Set<String> both = new HashSet<>(a);
        both.retainAll(b);
        return both;
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> both = new HashSet<>(a);
        both.addAll(b);
        return both;
    }
}
