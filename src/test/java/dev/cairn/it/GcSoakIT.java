package dev.cairn.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.AuditTrail;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.StoreInventory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.descriptor;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * DESIGN.md invariants 3 and 4 under load: six CI clients push and pull images while the collector runs
 * back to back over a budget so small that eviction never stops. Each image is a shared base layer
 * (checked with HEAD and uploaded only when missing, as builders do), one to three fresh layers and a
 * config; the manifest follows after a pause of up to the grace window, then the client pulls it back and
 * verifies every digest. Failures: a manifest refused although all its blobs were uploaded (or confirmed
 * by HEAD) less than the grace window before; a blob missing from a manifest that is still there; a
 * deletion the audit log does not explain; a store left inconsistent.
 */
class GcSoakIT {
    private static final Duration GRACE = Duration.ofSeconds(3);
    private static final Duration SOAK = Duration.ofSeconds(75);
    private static final int CLIENTS = 6;
    private static final int REPOSITORIES = 3;
    private static final int BASE_LAYERS = 8;
    private static final int MAX_ITERATIONS = 400;
    private static final int MIN_LAYER = 16 << 10;
    private static final int MAX_LAYER = 256 << 10;
    private static final String LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static final String CONFIG = "application/vnd.oci.image.config.v1+json";

    /** A manifest a client pushed: where, under which tag, and every blob it references. */
    private record Pushed(String repository, String tag, String digest, List<String> blobs) {
        String key() {
            return repository + "@" + digest;
        }
    }

    /** Stops one client iteration after a failure was recorded. */
    private static final class Abandon extends RuntimeException {
        Abandon() {
            super(null, null, false, false);
        }
    }

    private final long started = System.nanoTime();
    private final Queue<String> failures = new ConcurrentLinkedQueue<>();
    private final Queue<Pushed> pushed = new ConcurrentLinkedQueue<>();
    private final Set<String> uploadedBlobs = ConcurrentHashMap.newKeySet();
    /** Manifests found gone while their client pulled them; the audit log must explain each. */
    private final Set<String> goneWhilePulling = ConcurrentHashMap.newKeySet();
    /** What the GC API said it deleted: manifest key or blob digest -> reasons. */
    private final Map<String, Set<String>> apiManifests = new ConcurrentHashMap<>();
    private final Map<String, Set<String>> apiBlobs = new ConcurrentHashMap<>();
    private final AtomicInteger pushes = new AtomicInteger();
    private final AtomicInteger pulls = new AtomicInteger();
    private final AtomicInteger blobsPulled = new AtomicInteger();
    private final AtomicInteger headHits = new AtomicInteger();
    private final AtomicInteger lateRefusals = new AtomicInteger();
    private final AtomicInteger goneBeforePull = new AtomicInteger();
    private final AtomicInteger goneDuringPull = new AtomicInteger();
    private final AtomicInteger gcRuns = new AtomicInteger();
    private final AtomicLong gcMillis = new AtomicLong();
    private volatile boolean stop;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void pushesAndPullsNeverLoseABlobToTheCollectorAndEveryDeletionIsExplained() throws Exception {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("retention.max-bytes", "12MiB");
        settings.put("retention.grace", GRACE.toSeconds() + "s");
        settings.put("retention.gc-interval", "1s");
        settings.put("retention.untagged", "delete-after 4s");
        try (RunningCairn cairn = RunningCairn.start(settings)) {
            List<Thread> clients = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                int id = i;
                clients.add(Thread.ofPlatform().name("soak-client-" + i).start(() -> runClient(cairn, id)));
            }
            Thread collector = Thread.ofPlatform().name("soak-gc").start(() -> runCollections(cairn));

            long deadline = System.nanoTime() + SOAK.toNanos();
            for (Thread client : clients) {
                client.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()) + 20_000));
            }
            stop = true;
            for (Thread client : clients) client.join(30_000);
            collector.join(30_000);
            assertThat(clients).as("clients stopped").noneMatch(Thread::isAlive);
            assertThat(collector.isAlive()).as("collector loop stopped").isFalse();
            long soakSeconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);

            OciClient client = new OciClient(cairn);
            HttpResponse<byte[]> last = client.post("/api/v1/gc?dry-run=false", null);
            if (last.statusCode() == 200) record(OciClient.json(last)); else failures.add("final GC: " + last.statusCode() + " " + OciClient.text(last));

            int[] consistency = checkStoreConsistent(cairn, client);
            AuditTrail audit = checkEveryDeletionExplained(cairn, client);

            long metricRuns = gcRunsFromMetrics(client);
            Map<String, Integer> byReason = new TreeMap<>();
            audit.manifests().forEach(e -> byReason.merge(e.reason(), 1, Integer::sum));
            System.out.printf("soak: %d pushes, %d pulls (%d blobs verified), %d GC runs (%d by the API loop, avg %d ms; "
                            + "cairn_gc_duration_seconds_count=%d), %d manifests evicted %s, %d blobs deleted, "
                            + "%d HEAD hits on shared layers, %d manifest PUTs refused after the grace window (expected), "
                            + "%d images evicted before their pull and %d during it, %d tags / %d manifests checked at the end, "
                            + "%d failures, in %d s%n",
                    pushes.get(), pulls.get(), blobsPulled.get(), metricRuns, gcRuns.get(),
                    gcRuns.get() == 0 ? 0 : gcMillis.get() / gcRuns.get(), metricRuns, audit.manifests().size(), byReason,
                    audit.blobs().size(), headHits.get(), lateRefusals.get(), goneBeforePull.get(), goneDuringPull.get(),
                    consistency[0], consistency[1], failures.size(), soakSeconds);
            failures.stream().limit(50).forEach(f -> System.out.println("soak failure: " + f));

            assertThat(pushes.get()).as("the soak pushed images").isGreaterThan(100);
            assertThat(audit.manifests()).as("eviction happened").hasSizeGreaterThan(50);
            assertThat(failures).as("failures (first 50 printed above)").isEmpty();
        }
    }

    // ---- the clients ----

    private void runClient(RunningCairn cairn, int id) {
        OciClient client = new OciClient(cairn);
        Random random = new Random(1000 + id);
        long deadline = started + SOAK.toNanos();
        for (int i = 0; i < MAX_ITERATIONS && !stop && System.nanoTime() < deadline; i++) {
            try {
                iteration(client, random, id, i);
            } catch (Abandon recorded) {
                // the failure is in the list; go on with the next image
            } catch (Throwable t) {
                failures.add("client " + id + " iteration " + i + " at " + Instant.now() + ": " + t);
            }
        }
    }

    private void iteration(OciClient client, Random random, int id, int i) throws InterruptedException {
        String repository = "soak/app-" + (id % REPOSITORIES);
        String tag = "c" + id + "-" + (i % 3); // re-tagged every third image: old manifests become untagged
        Map<String, Long> confirmedAt = new LinkedHashMap<>(); // digest -> System.nanoTime() when the client knew it was there
        Map<String, String> how = new HashMap<>();
        List<Map<String, Object>> layers = new ArrayList<>();

        byte[] base = baseLayer(random.nextInt(BASE_LAYERS));
        String baseDigest = sha256(base);
        long t = System.nanoTime();
        HttpResponse<byte[]> head = client.head("/v2/" + repository + "/blobs/" + baseDigest);
        if (head.statusCode() == 200) {
            headHits.incrementAndGet();
            how.put(baseDigest, "HEAD 200");
        } else if (head.statusCode() == 404) {
            upload(client, random, repository, base);
            how.put(baseDigest, "uploaded");
        } else {
            fail("HEAD " + repository + " " + baseDigest + ": " + head.statusCode());
        }
        confirmedAt.put(baseDigest, t);
        layers.add(descriptor(LAYER, baseDigest, base.length));

        int fresh = 1 + random.nextInt(3);
        for (int l = 0; l < fresh; l++) {
            byte[] layer = new byte[MIN_LAYER + random.nextInt(MAX_LAYER - MIN_LAYER + 1)];
            random.nextBytes(layer);
            t = System.nanoTime();
            String digest = upload(client, random, repository, layer);
            confirmedAt.put(digest, t);
            how.put(digest, "uploaded");
            layers.add(descriptor(LAYER, digest, layer.length));
        }
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"client\":" + id + ",\"image\":" + i
                + ",\"nonce\":" + random.nextLong() + "}").getBytes(StandardCharsets.UTF_8);
        t = System.nanoTime();
        String configDigest = upload(client, random, repository, config);
        confirmedAt.put(configDigest, t);
        how.put(configDigest, "uploaded");

        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", OCI_MANIFEST);
        manifest.put("config", descriptor(CONFIG, configDigest, config.length));
        manifest.put("layers", layers);
        byte[] manifestBytes = OciClient.json(manifest);
        String manifestDigest = sha256(manifestBytes);

        // Most builds push the manifest right after the blobs, some take up to the whole grace window.
        Thread.sleep(random.nextInt(3) == 0 ? random.nextLong(GRACE.toMillis()) : random.nextLong(300));
        long putAt = System.nanoTime();
        Instant putWall = Instant.now();
        HttpResponse<byte[]> put = client.put("/v2/" + repository + "/manifests/" + tag, manifestBytes, "Content-Type", OCI_MANIFEST);
        long answeredAt = System.nanoTime();
        if (put.statusCode() == 400 && "MANIFEST_BLOB_UNKNOWN".equals(OciClient.errorCode(put))) {
            String missing = OciClient.json(put).path("errors").get(0).path("detail").path("digest").asText();
            long oldest = confirmedAt.values().stream().mapToLong(Long::longValue).min().orElseThrow();
            // Measured to the answer: Cairn checked the references at some moment before it, so a refusal
            // within the window is a real loss, while a PUT that took long on a busy machine may rightly
            // have been checked after the window ended.
            long windowMillis = TimeUnit.NANOSECONDS.toMillis(answeredAt - oldest);
            if (windowMillis < GRACE.toMillis()) {
                Long missingAt = confirmedAt.get(missing);
                fail("manifest PUT " + repository + ":" + tag + " (" + manifestDigest + ") at " + putWall + " refused with "
                        + "MANIFEST_BLOB_UNKNOWN for " + missing + " (" + how.get(missing) + " "
                        + (missingAt == null ? "?" : TimeUnit.NANOSECONDS.toMillis(putAt - missingAt)) + " ms before the PUT); "
                        + "every blob was confirmed within " + windowMillis + " ms of the PUT's answer, grace " + GRACE.toMillis() + " ms: "
                        + OciClient.text(put));
            }
            lateRefusals.incrementAndGet();
            return;
        }
        if (put.statusCode() != 201) {
            fail("manifest PUT " + repository + ":" + tag + " at " + putWall + ": " + put.statusCode() + " " + OciClient.text(put));
        }
        if (!manifestDigest.equals(put.headers().firstValue("Docker-Content-Digest").orElse(""))) {
            fail("manifest PUT answered digest " + put.headers().firstValue("Docker-Content-Digest") + ", expected " + manifestDigest);
        }
        List<String> blobs = new ArrayList<>(confirmedAt.keySet());
        Pushed image = new Pushed(repository, tag, manifestDigest, List.copyOf(blobs));
        pushed.add(image);
        pushes.incrementAndGet();
        pull(client, image);
    }

    /** Uploads a blob, monolithically or as POST, PATCH, PUT, and returns its digest. */
    private String upload(OciClient client, Random random, String repository, byte[] content) {
        String digest = sha256(content);
        if (random.nextBoolean()) {
            HttpResponse<byte[]> r = client.post("/v2/" + repository + "/blobs/uploads/?digest=" + digest, content,
                    "Content-Type", "application/octet-stream");
            if (r.statusCode() != 201) fail("monolithic upload of " + digest + " to " + repository + ": " + r.statusCode() + " " + OciClient.text(r));
        } else {
            HttpResponse<byte[]> started = client.post("/v2/" + repository + "/blobs/uploads/", null);
            if (started.statusCode() != 202) fail("upload start in " + repository + ": " + started.statusCode() + " " + OciClient.text(started));
            String location = started.headers().firstValue("Location").orElseThrow();
            HttpResponse<byte[]> patched = client.patch(location, content, "Content-Type", "application/octet-stream");
            if (patched.statusCode() != 202) fail("PATCH of " + digest + ": " + patched.statusCode() + " " + OciClient.text(patched));
            location = patched.headers().firstValue("Location").orElse(location);
            HttpResponse<byte[]> done = client.put(location + (location.contains("?") ? "&" : "?") + "digest=" + digest, null);
            if (done.statusCode() != 201) fail("upload PUT of " + digest + ": " + done.statusCode() + " " + OciClient.text(done));
        }
        uploadedBlobs.add(digest);
        return digest;
    }

    /** Pulls the image back by tag and verifies every digest; a missing blob is fine only when the manifest is gone too. */
    private void pull(OciClient client, Pushed image) {
        pulls.incrementAndGet();
        HttpResponse<byte[]> m = client.get("/v2/" + image.repository() + "/manifests/" + image.tag(), "Accept", OCI_MANIFEST);
        if (m.statusCode() == 404) {
            if (manifestPresent(client, image)) {
                fail("tag " + image.repository() + ":" + image.tag() + " is gone at " + Instant.now() + " but its manifest "
                        + image.digest() + " is still there");
            }
            goneBeforePull.incrementAndGet();
            goneWhilePulling.add(image.key());
            return;
        }
        if (m.statusCode() != 200) fail("manifest GET " + image.repository() + ":" + image.tag() + ": " + m.statusCode() + " " + OciClient.text(m));
        String served = m.headers().firstValue("Docker-Content-Digest").orElse("");
        if (!served.equals(image.digest()) || !sha256(m.body()).equals(image.digest())) {
            fail("tag " + image.repository() + ":" + image.tag() + " served " + served + " hashing to " + sha256(m.body())
                    + ", but the client had just pushed " + image.digest());
        }
        for (String blob : image.blobs()) {
            HttpResponse<byte[]> b = client.get("/v2/" + image.repository() + "/blobs/" + blob);
            if (b.statusCode() == 200) {
                if (!sha256(b.body()).equals(blob)) fail("blob " + blob + " of " + image.key() + " served bytes hashing to " + sha256(b.body()));
                blobsPulled.incrementAndGet();
                continue;
            }
            if (b.statusCode() == 404) {
                Instant missingAt = Instant.now();
                if (manifestPresent(client, image)) {
                    fail("blob " + blob + " of the live manifest " + image.key() + " (tag " + image.tag() + ") answered 404 at "
                            + missingAt + ": " + OciClient.text(b));
                }
                goneDuringPull.incrementAndGet();
                goneWhilePulling.add(image.key());
                return;
            }
            fail("blob GET " + blob + " of " + image.key() + ": " + b.statusCode() + " " + OciClient.text(b));
        }
    }

    private boolean manifestPresent(OciClient client, Pushed image) {
        HttpResponse<byte[]> again = client.get("/v2/" + image.repository() + "/manifests/" + image.digest(), "Accept", OCI_MANIFEST);
        if (again.statusCode() == 200) return true;
        if (again.statusCode() == 404) return false;
        fail("manifest GET " + image.key() + ": " + again.statusCode() + " " + OciClient.text(again));
        return true;
    }

    private void fail(String failure) {
        failures.add(failure);
        throw new Abandon();
    }

    /** The shared base layers: the same bytes for every client and repository, 16-256 KiB each. */
    private static byte[] baseLayer(int index) {
        Random seeded = new Random(4_242L + index);
        byte[] layer = new byte[MIN_LAYER + seeded.nextInt(MAX_LAYER - MIN_LAYER + 1)];
        seeded.nextBytes(layer);
        return layer;
    }

    // ---- the collector loop ----

    private void runCollections(RunningCairn cairn) {
        OciClient client = new OciClient(cairn);
        while (!stop) {
            try {
                HttpResponse<byte[]> r = client.post("/api/v1/gc?dry-run=false", null);
                if (r.statusCode() != 200) {
                    failures.add("POST /api/v1/gc at " + Instant.now() + ": " + r.statusCode() + " " + OciClient.text(r));
                    Thread.sleep(100);
                    continue;
                }
                gcRuns.incrementAndGet();
                JsonNode report = OciClient.json(r);
                gcMillis.addAndGet(report.path("tookMillis").asLong());
                record(report);
            } catch (Throwable t) {
                failures.add("GC loop at " + Instant.now() + ": " + t);
            }
        }
    }

    private void record(JsonNode report) {
        for (JsonNode unit : report.path("evicted")) {
            String reason = unit.path("reason").asText("");
            if (!AuditTrail.REASONS.contains(reason)) failures.add("GC report evicted with reason '" + reason + "': " + unit);
            for (JsonNode digest : unit.path("manifests")) {
                apiManifests.computeIfAbsent(unit.path("repository").asText() + "@" + digest.asText(), k -> ConcurrentHashMap.newKeySet()).add(reason);
            }
        }
        for (JsonNode blob : report.path("blobs")) {
            String reason = blob.path("reason").asText("");
            if (!AuditTrail.REASONS.contains(reason)) failures.add("GC report deleted a blob with reason '" + reason + "': " + blob);
            apiBlobs.computeIfAbsent(blob.path("digest").asText(), k -> ConcurrentHashMap.newKeySet()).add(reason);
        }
    }

    // ---- the checks after the soak ----

    /**
     * Every tagged manifest, and every manifest the clients pushed that is still there, pulls completely with
     * its digests verified; every blob record has its file and every file its record. Returns {tags, manifests} checked.
     */
    private int[] checkStoreConsistent(RunningCairn cairn, OciClient client) throws Exception {
        int tags = 0;
        HttpResponse<byte[]> catalog = client.get("/v2/_catalog");
        assertThat(catalog.statusCode()).isEqualTo(200);
        for (JsonNode repository : OciClient.json(catalog).path("repositories")) {
            HttpResponse<byte[]> list = client.get("/v2/" + repository.asText() + "/tags/list");
            assertThat(list.statusCode()).isEqualTo(200);
            for (JsonNode tag : OciClient.json(list).path("tags")) {
                tags++;
                HttpResponse<byte[]> m = client.get("/v2/" + repository.asText() + "/manifests/" + tag.asText(), "Accept", OCI_MANIFEST);
                if (m.statusCode() == 404) continue; // evicted since the listing; the audit check below covers it
                if (m.statusCode() != 200) {
                    failures.add("after the soak: manifest " + repository.asText() + ":" + tag.asText() + " answered " + m.statusCode());
                    continue;
                }
                String digest = m.headers().firstValue("Docker-Content-Digest").orElse("");
                checkPullable(client, new Pushed(repository.asText(), tag.asText(), digest, referencedBlobs(m.body())), "tag " + tag.asText());
            }
        }
        int manifests = 0;
        for (Pushed image : pushed) {
            HttpResponse<byte[]> m = client.get("/v2/" + image.repository() + "/manifests/" + image.digest(), "Accept", OCI_MANIFEST);
            if (m.statusCode() != 200) continue;
            manifests++;
            checkPullable(client, image, "digest");
        }

        StoreInventory store = new StoreInventory(cairn.dataDir());
        Set<String> records = store.blobRecords();
        Set<String> files = store.blobFiles();
        Set<String> recordsWithoutFile = new HashSet<>(records);
        recordsWithoutFile.removeAll(files);
        Set<String> filesWithoutRecord = new HashSet<>(files);
        filesWithoutRecord.removeAll(records);
        if (!recordsWithoutFile.isEmpty() || !filesWithoutRecord.isEmpty()) {
            Thread.sleep(500); // a deletion or publication in flight between the two reads settles
            Set<String> recordsNow = store.blobRecords();
            for (String digest : recordsWithoutFile) {
                if (recordsNow.contains(digest) && !Files.exists(store.blobFile(digest))) {
                    failures.add("after the soak: blob record " + digest + " has no file");
                }
            }
            for (String digest : filesWithoutRecord) {
                if (!recordsNow.contains(digest) && Files.exists(store.blobFile(digest))) {
                    failures.add("after the soak: blob file " + digest + " has no record (orphan)");
                }
            }
        }
        return new int[]{tags, manifests};
    }

    private void checkPullable(OciClient client, Pushed image, String how) {
        for (String blob : image.blobs()) {
            HttpResponse<byte[]> b = client.get("/v2/" + image.repository() + "/blobs/" + blob);
            if (b.statusCode() == 200 && sha256(b.body()).equals(blob)) continue;
            HttpResponse<byte[]> again = client.get("/v2/" + image.repository() + "/manifests/" + image.digest(), "Accept", OCI_MANIFEST);
            if (again.statusCode() == 404) return; // evicted meanwhile by the background collector; audited below
            failures.add("after the soak: blob " + blob + " of the live manifest " + image.key() + " (found by " + how + ") answered "
                    + b.statusCode() + (b.statusCode() == 200 ? " with bytes hashing to " + sha256(b.body()) : " " + OciClient.text(b)));
        }
    }

    private static List<String> referencedBlobs(byte[] manifest) {
        JsonNode json;
        try {
            json = OciClient.JSON.readTree(manifest);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        List<String> blobs = new ArrayList<>();
        if (json.has("config")) blobs.add(json.path("config").path("digest").asText());
        for (JsonNode layer : json.path("layers")) blobs.add(layer.path("digest").asText());
        return blobs;
    }

    /**
     * Invariant 4: every manifest that went and every blob deleted is in the audit log with a known reason.
     * What is gone is looked up first and the log read after, since the background collector keeps running
     * and writes its audit line just after each deletion. Returns the log as read.
     */
    private AuditTrail checkEveryDeletionExplained(RunningCairn cairn, OciClient client) throws Exception {
        Map<String, Pushed> goneManifests = new LinkedHashMap<>();
        for (Pushed image : pushed) {
            HttpResponse<byte[]> m = client.get("/v2/" + image.repository() + "/manifests/" + image.digest(), "Accept", OCI_MANIFEST);
            if (m.statusCode() == 404) goneManifests.put(image.key(), image);
        }
        StoreInventory store = new StoreInventory(cairn.dataDir());
        Set<String> records = store.blobRecords();
        List<String> goneBlobs = new ArrayList<>();
        for (String digest : uploadedBlobs) {
            if (!records.contains(digest) && !Files.exists(store.blobFile(digest))) goneBlobs.add(digest);
        }
        Thread.sleep(1_000);
        AuditTrail audit = AuditTrail.read(cairn.dataDir());

        for (AuditTrail.Entry entry : audit.entries()) {
            if (!entry.hasKnownReason()) failures.add("audit line without a known reason: " + entry.line());
            if (!entry.isManifest() && !entry.isBlob()) failures.add("audit line of unknown kind: " + entry.line());
            if (entry.isManifest() && entry.repository().isBlank()) failures.add("audit manifest line without a repository: " + entry.line());
        }
        Map<String, String> auditedManifests = new HashMap<>();
        audit.manifests().forEach(e -> auditedManifests.put(e.manifestKey(), e.reason()));
        Set<String> auditedBlobs = new HashSet<>();
        audit.blobs().forEach(e -> auditedBlobs.add(e.digest()));

        for (Pushed image : goneManifests.values()) {
            if (!auditedManifests.containsKey(image.key())) {
                failures.add("manifest " + image.key() + " (tag " + image.tag() + ") disappeared without an audit line");
            }
        }
        for (String key : goneWhilePulling) {
            if (!auditedManifests.containsKey(key)) failures.add("manifest " + key + " vanished during its pull without an audit line");
        }
        for (Map.Entry<String, Set<String>> e : apiManifests.entrySet()) {
            if (!e.getValue().contains(auditedManifests.get(e.getKey()))) {
                failures.add("GC API evicted " + e.getKey() + " for " + e.getValue() + " but the audit log says " + auditedManifests.get(e.getKey()));
            }
        }
        for (String digest : apiBlobs.keySet()) {
            if (!auditedBlobs.contains(digest)) failures.add("GC API deleted blob " + digest + " but the audit log does not say so");
        }
        for (String digest : goneBlobs) {
            if (!auditedBlobs.contains(digest)) failures.add("blob " + digest + " was deleted without an audit line");
        }
        return audit;
    }

    private static long gcRunsFromMetrics(OciClient client) {
        for (String line : OciClient.text(client.get("/metrics")).split("\n")) {
            if (line.startsWith("cairn_gc_duration_seconds_count")) {
                return (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return -1;
    }
}
