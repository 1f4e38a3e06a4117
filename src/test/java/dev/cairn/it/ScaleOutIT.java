package dev.cairn.it;

import dev.cairn.testing.SeededBytes;
import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Postgres;
import dev.cairn.testing.S3Server;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue #5 with nodes as processes of their own over one S3 bucket (S3Proxy) and one PostgreSQL database:
 * a node killed with SIGKILL in the middle of a chunk loses that chunk and nothing else, and the client
 * finishes the same upload session on the other nodes; a node killed while it collects takes the
 * collector lock with it, and a surviving node collects at once; while PostgreSQL is down every request
 * fails fast with 503, nothing half-done becomes visible, and service resumes by itself when it is back.
 */
class ScaleOutIT {
    private static final int MIB = 1 << 20;
    /** The nodes' S3 part size (S3's smallest), so a few MiB make a multipart upload. */
    private static final Map<String, String> SMALL_PARTS = Map.of("storage.s3.part-size", "5MiB");
    /** Advisory lock keys of JdbcMetadataStore: the collector's (one bigint) and the class of the per-digest locks (two ints). */
    private static final long COLLECTOR_LOCK = 4242002;
    private static final int DIGEST_LOCK_CLASS = 4242;
    /** JdbcMetadataStore's pool waits this long for a connection before it gives up (HikariCP connectionTimeout). */
    private static final Duration POOL_CONNECTION_TIMEOUT = Duration.ofSeconds(10);

    private static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.1f s", nanos / 1e9);
    }

    /** Waits up to {@code limit} for {@code condition}; returns how long it took, or fails saying what did not happen. */
    private static long await(Duration limit, String what, BooleanSupplier condition) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError(what + " did not happen within " + limit);
            Thread.sleep(50);
        }
        return System.nanoTime() - start;
    }

    // ---- kill -9 in the middle of a chunked upload ----

    /**
     * A chunk body that sends {@code first} and then stalls, as a client on a slow link would, until
     * {@link #fail()}: the request stays in flight, with its first bytes on the node, for as long as the test needs.
     */
    private static final class StalledBody extends InputStream {
        private final byte[] first;
        private final CountDownLatch failed = new CountDownLatch(1);
        private int sent;

        StalledBody(byte[] first) {
            this.first = first;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (sent < first.length) {
                int n = Math.min(len, first.length - sent);
                System.arraycopy(first, sent, b, off, n);
                sent += n;
                return n;
            }
            try {
                failed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("the client gave up on this chunk");
        }

        void fail() {
            failed.countDown();
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aNodeKilledMidChunkLosesThatChunkOnlyAndTheClientFinishesTheSameSessionOnTheOtherNodes() throws Exception {
        try (ScaleOutNodes nodes = ScaleOutNodes.start(S3Server.shared(), Postgres.shared(), 3, SMALL_PARTS)) {
            S3Server s3 = S3Server.shared();
            byte[] content = SeededBytes.of(16 * MIB, 11);
            String digest = sha256(content);
            String repository = "team/killed";

            // opened and two chunks acknowledged by node 1: one 5 MiB part in S3 and a 4 MiB tail object
            HttpResponse<byte[]> opened = nodes.client(1).post("/v2/" + repository + "/blobs/uploads/", null);
            assertThat(opened.statusCode()).isEqualTo(202);
            String location = opened.headers().firstValue("Location").orElseThrow();
            String id = opened.headers().firstValue("Docker-Upload-UUID").orElseThrow();
            int acknowledged = 0;
            for (int end : new int[]{6 * MIB, 9 * MIB}) {
                HttpResponse<byte[]> patched = nodes.client(1).patch(location, Arrays.copyOfRange(content, acknowledged, end),
                        "Content-Range", acknowledged + "-" + (end - 1), "Content-Type", "application/octet-stream");
                assertThat(patched.statusCode()).as(OciClient.text(patched)).isEqualTo(202);
                assertThat(patched.headers().firstValue("Range")).hasValue("0-" + (end - 1));
                acknowledged = end;
            }
            String sessionKeys = nodes.prefix() + "/uploads/" + id + "/";
            List<S3Server.OpenUpload> multipart = s3.openUploads(sessionKeys);
            assertThat(multipart).hasSize(1);
            assertThat(s3.parts(multipart.getFirst())).hasSize(1);

            // a third chunk in flight on node 1: its first 3 MiB arrive, the rest never comes
            StalledBody stalled = new StalledBody(Arrays.copyOfRange(content, acknowledged, acknowledged + 3 * MIB));
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            CompletableFuture<HttpResponse<String>> inFlight = http.sendAsync(
                    HttpRequest.newBuilder(URI.create("http://" + nodes.node(1).hostPort() + location))
                            .header("Content-Type", "application/octet-stream")
                            .method("PATCH", HttpRequest.BodyPublishers.ofInputStream(() -> stalled)).build(),
                    HttpResponse.BodyHandlers.ofString());
            try {
                // Node 1 is mid-chunk for sure once it has written a part of this chunk to S3: the 4 MiB tail
                // and the chunk's first MiB make part 2. Only the session's row says what counts, and node 1
                // records the chunk when the chunk ends.
                long took = await(Duration.ofSeconds(30), "node 1 uploading part 2 from the chunk in flight",
                        () -> s3.parts(multipart.getFirst()).size() == 2);
                System.out.println("node 1 wrote part 2 of the chunk in flight after " + seconds(took) + "; kill -9 node 1");
                nodes.node(1).kill();
                assertThat(inFlight).as("the chunk in flight on the killed node").failsWithin(30, TimeUnit.SECONDS);
            } finally {
                stalled.fail();
            }

            // node 2 knows the same session: exactly the two acknowledged chunks survived
            HttpResponse<byte[]> status = nodes.client(2).get(location);
            assertThat(status.statusCode()).isEqualTo(204);
            assertThat(status.headers().firstValue("Range")).as("what survived").hasValue("0-" + (acknowledged - 1));
            assertThat(status.headers().firstValue("Docker-Upload-UUID")).hasValue(id);

            // The client resumes from there: the next chunk on node 2 (it writes part 2 again), the last with the
            // PUT on node 3. The dead node's claim on the session holds the chunk back until it lapses (20 s).
            int next = 14 * MIB;
            long resuming = System.nanoTime();
            HttpResponse<byte[]> resumed = nodes.client(2).patch(location, Arrays.copyOfRange(content, acknowledged, next),
                    "Content-Range", acknowledged + "-" + (next - 1), "Content-Type", "application/octet-stream");
            long resumeTook = System.nanoTime() - resuming;
            System.out.println("the resumed chunk on node 2 answered " + resumed.statusCode() + " in " + seconds(resumeTook));
            assertThat(resumed.statusCode()).as(OciClient.text(resumed)).isEqualTo(202);
            assertThat(resumeTook).as("held back no longer than the dead node's claim").isLessThan(Duration.ofSeconds(30).toNanos());
            assertThat(resumed.headers().firstValue("Range")).hasValue("0-" + (next - 1));
            HttpResponse<byte[]> finished = nodes.client(3).put(location + "?digest=" + digest,
                    Arrays.copyOfRange(content, next, content.length), "Content-Type", "application/octet-stream");
            assertThat(finished.statusCode()).as(OciClient.text(finished)).isEqualTo(201);
            assertThat(finished.headers().firstValue("Docker-Content-Digest")).hasValue(digest);

            // the blob is whole: its digest verified again from what the surviving nodes serve and from the bucket
            for (int n : new int[]{2, 3}) {
                HttpResponse<byte[]> pulled = nodes.client(n).get("/v2/" + repository + "/blobs/" + digest);
                assertThat(pulled.statusCode()).isEqualTo(200);
                assertThat(sha256(pulled.body())).as("blob served by node " + n).isEqualTo(digest);
            }
            String key = nodes.prefix() + "/blobs/sha256/" + digest.substring(7, 9) + "/" + digest.substring(7);
            byte[] stored = s3.client().getObjectAsBytes(b -> b.bucket(s3.bucket()).key(key)).asByteArray();
            assertThat(sha256(stored)).isEqualTo(digest);
            // and the session left nothing behind: no staging object, no tail, no open multipart upload
            assertThat(s3.objects(sessionKeys)).isEmpty();
            assertThat(s3.openUploads(nodes.prefix() + "/")).isEmpty();
            assertThat(nodes.client(2).get(location).statusCode()).as("the session is over").isEqualTo(404);
        }
    }

    // ---- the collector lock passes on ----

    /** The first eight hex digits of the digest, as JdbcMetadataStore keys a digest's advisory lock. */
    private static int digestLockKey(String digest) {
        return (int) Long.parseLong(digest.substring(7, 15), 16);
    }

    /** Which nodes (by application name) hold the collector lock now. */
    private static List<String> collectorLockHolders(Connection c) throws SQLException {
        return strings(c, "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                + "WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                + "AND l.objsubid = 1 AND l.classid = " + (COLLECTOR_LOCK >>> 32) + " AND l.objid = " + (COLLECTOR_LOCK & 0xffffffffL)
                + " AND l.granted");
    }

    /** Which nodes (by application name) wait for the digest lock {@code key}. */
    private static List<String> digestLockWaiters(Connection c, int key) throws SQLException {
        return strings(c, "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                + "WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                + "AND l.objsubid = 2 AND l.classid = " + DIGEST_LOCK_CLASS + " AND l.objid = " + Integer.toUnsignedLong(key)
                + " AND NOT l.granted");
    }

    private static List<String> strings(Connection c, String sql) throws SQLException {
        List<String> values = new ArrayList<>();
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            while (r.next()) values.add(r.getString(1));
        }
        return values;
    }

    private static BooleanSupplier query(SqlCondition condition) {
        return () -> {
            try {
                return condition.holds();
            } catch (SQLException e) {
                throw new AssertionError(e);
            }
        };
    }

    private interface SqlCondition {
        boolean holds() throws SQLException;
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void whenTheCollectingNodeIsKilledASurvivingNodeCollectsAtOnce() throws Exception {
        Map<String, String> settings = new LinkedHashMap<>(SMALL_PARTS);
        settings.put("retention.grace", "1s");
        settings.put("retention.gc-interval", "1h"); // only the test starts collections
        Postgres postgres = Postgres.shared();
        try (ScaleOutNodes nodes = ScaleOutNodes.start(S3Server.shared(), postgres, 2, settings);
             Connection observer = postgres.connect(nodes.jdbcUrl());
             Connection pusher = postgres.connect(nodes.jdbcUrl())) {
            // a blob nothing references: the next collection deletes it once the grace second has passed
            String repository = "team/collected";
            String garbage = nodes.client(2).pushBlob(repository, SeededBytes.of(4096, 21));
            Thread.sleep(1500);

            // This connection stands for a push of the same blob on another node, holding the blob's digest
            // lock while it publishes: node 1's collection must wait for it in its sweep, holding the collector lock.
            int key = digestLockKey(garbage);
            try (PreparedStatement s = pusher.prepareStatement("SELECT pg_advisory_lock(?, ?)")) {
                s.setInt(1, DIGEST_LOCK_CLASS);
                s.setInt(2, key);
                s.executeQuery().close();
            }
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            CompletableFuture<HttpResponse<String>> collectionOnNode1 = http.sendAsync(HttpRequest.newBuilder(
                    URI.create("http://" + nodes.node(1).hostPort() + "/api/v1/gc")).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            String node1 = ScaleOutNodes.applicationName(1);
            await(Duration.ofSeconds(20), "node 1 holding the collector lock and waiting in its sweep for the blob's lock",
                    query(() -> collectorLockHolders(observer).equals(List.of(node1)) && digestLockWaiters(observer, key).contains(node1)));
            try (Statement s = observer.createStatement(); ResultSet r = s.executeQuery("SELECT pg_try_advisory_lock(" + COLLECTOR_LOCK + ")")) {
                r.next();
                assertThat(r.getBoolean(1)).as("nobody else may take the collector lock now").isFalse();
            }
            assertThat(collectionOnNode1).as("node 1's collection is still running").isNotDone();

            nodes.node(1).kill();
            long killed = System.nanoTime();
            assertThat(collectionOnNode1).as("the collection on the killed node never answers").failsWithin(30, TimeUnit.SECONDS);
            long released = await(Duration.ofSeconds(10), "PostgreSQL dropping the killed node's collector lock",
                    query(() -> collectorLockHolders(observer).isEmpty()));
            try (Statement s = pusher.createStatement()) {
                s.execute("SELECT pg_advisory_unlock_all()"); // the "push" is done
            }

            long asked = System.nanoTime();
            HttpResponse<byte[]> collection = nodes.client(2).post("/api/v1/gc", null);
            long collected = System.nanoTime();
            System.out.println("collector lock released " + seconds(released) + " after kill -9; node 2's collection answered "
                    + collection.statusCode() + " in " + seconds(collected - asked) + " (" + seconds(collected - killed) + " after the kill)");
            assertThat(collection.statusCode()).as(OciClient.text(collection)).isEqualTo(200);
            assertThat(collected - asked).as("node 2 did not wait for a lock").isLessThan(Duration.ofSeconds(10).toNanos());
            JsonNode report = OciClient.json(collection);
            List<String> deleted = new ArrayList<>();
            report.path("blobs").forEach(b -> deleted.add(b.path("digest").asText()));
            assertThat(deleted).as("node 2 finished what node 1 began: " + report).contains(garbage);
            assertThat(nodes.client(2).head("/v2/" + repository + "/blobs/" + garbage).statusCode()).isEqualTo(404);
            String key0 = nodes.prefix() + "/blobs/sha256/" + garbage.substring(7, 9) + "/" + garbage.substring(7);
            assertThat(S3Server.shared().objects(key0)).as("the blob's object is gone from the bucket").isEmpty();
        }
    }

    // ---- PostgreSQL down ----

    /** One request's answer during the outage and how long it took. */
    private record Timed(String what, int status, String body, boolean retryAfter, long nanos) {
    }

    private static Timed timed(String what, java.util.function.Supplier<HttpResponse<byte[]>> request) {
        long start = System.nanoTime();
        HttpResponse<byte[]> answer = request.get();
        return new Timed(what, answer.statusCode(), OciClient.text(answer), answer.headers().firstValue("Retry-After").isPresent(),
                System.nanoTime() - start);
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void whilePostgresIsDownRequestsFailFastWith503NothingHalfDoneShowsAndServiceResumesWhenItIsBack() throws Exception {
        S3Server s3 = S3Server.shared();
        try (Postgres postgres = Postgres.startOwn();
             ScaleOutNodes nodes = ScaleOutNodes.start(s3, postgres, 1, SMALL_PARTS)) {
            OciClient client = nodes.client(1);
            String repository = "team/outage";
            OciClient.Image before = client.prepareImage(repository, "application/vnd.oci.image.config.v1+json",
                    SeededBytes.of(3000, 31), SeededBytes.of(6 * MIB, 32));
            client.pushManifest(repository, "v1", OCI_MANIFEST, before.manifest());
            // an upload under way when the database goes: 2 MiB acknowledged
            byte[] sessionBlob = SeededBytes.of(7 * MIB, 33);
            String location = client.post("/v2/" + repository + "/blobs/uploads/", null).headers().firstValue("Location").orElseThrow();
            assertThat(client.patch(location, Arrays.copyOfRange(sessionBlob, 0, 2 * MIB), "Content-Range", "0-" + (2 * MIB - 1),
                    "Content-Type", "application/octet-stream").statusCode()).isEqualTo(202);

            byte[] lost = SeededBytes.of(6 * MIB, 34); // pushed during the outage: more than a part, so it streams to S3 first
            String lostDigest = sha256(lost);
            OciClient.Image unpushed = client.prepareImage(repository, "application/vnd.oci.image.config.v1+json", SeededBytes.of(100, 35));

            postgres.stop();
            long down = System.nanoTime();
            List<Future<Timed>> during = new ArrayList<>();
            Future<Timed> ready;
            Future<Timed> health;
            try (ExecutorService parallel = Executors.newVirtualThreadPerTaskExecutor()) {
                ready = parallel.submit(() -> timed("GET /readyz", () -> client.get("/readyz")));
                health = parallel.submit(() -> timed("GET /healthz", () -> client.get("/healthz")));
                during.add(parallel.submit(() -> timed("GET manifest", () -> client.get("/v2/" + repository + "/manifests/v1",
                        "Accept", OCI_MANIFEST))));
                during.add(parallel.submit(() -> timed("HEAD blob", () -> client.head("/v2/" + repository + "/blobs/" + before.layerDigests().get(1)))));
                during.add(parallel.submit(() -> timed("GET blob", () -> client.get("/v2/" + repository + "/blobs/" + before.layerDigests().get(0)))));
                during.add(parallel.submit(() -> timed("monolithic push", () -> client.post("/v2/" + repository + "/blobs/uploads/?digest=" + lostDigest,
                        lost, "Content-Type", "application/octet-stream"))));
                during.add(parallel.submit(() -> timed("PUT manifest", () -> client.put("/v2/" + repository + "/manifests/v2",
                        unpushed.manifest(), "Content-Type", OCI_MANIFEST))));
                during.add(parallel.submit(() -> timed("PATCH", () -> client.patch(location, Arrays.copyOfRange(sessionBlob, 2 * MIB, 4 * MIB),
                        "Content-Range", 2 * MIB + "-" + (4 * MIB - 1), "Content-Type", "application/octet-stream"))));
                during.add(parallel.submit(() -> timed("POST upload", () -> client.post("/v2/" + repository + "/blobs/uploads/", null))));
                during.add(parallel.submit(() -> timed("GET tags", () -> client.get("/v2/" + repository + "/tags/list"))));
            }
            List<Timed> answers = new ArrayList<>();
            for (Future<Timed> f : during) answers.add(f.get());
            System.out.println("with PostgreSQL down: " + java.util.stream.Stream.concat(answers.stream(), java.util.stream.Stream.of(ready.get(), health.get()))
                    .map(t -> t.what() + " " + t.status() + " in " + seconds(t.nanos())).toList());
            long limit = POOL_CONNECTION_TIMEOUT.plusSeconds(5).toNanos();
            for (Timed t : answers) {
                assertThat(t.status()).as(t.toString()).isEqualTo(503);
                assertThat(t.retryAfter()).as(t + ": Retry-After").isTrue();
                if (!t.what().equals("HEAD blob")) {
                    assertThat(t.body()).as(t.what()).contains("the metadata store is unavailable");
                }
                assertThat(t.nanos()).as(t.what() + " answered within the pool's connection timeout").isLessThan(limit);
            }
            assertThat(ready.get().status()).as("/readyz tells the load balancer").isEqualTo(503);
            assertThat(ready.get().body()).startsWith("not ready");
            assertThat(ready.get().nanos()).isLessThan(limit);
            assertThat(health.get().status()).as("the process itself is up").isEqualTo(200);
            assertThat(health.get().nanos()).isLessThan(Duration.ofSeconds(1).toNanos());

            postgres.startAgain();
            long back = System.nanoTime();
            long resumed = await(Duration.ofSeconds(30), "/readyz answering 200 again", () -> client.get("/readyz").statusCode() == 200);
            System.out.println("PostgreSQL down for " + seconds(back - down) + "; Cairn ready again " + seconds(resumed) + " after it came back");

            // nothing of what was attempted during the outage shows
            assertThat(client.head("/v2/" + repository + "/blobs/" + lostDigest).statusCode()).isEqualTo(404);
            String lostKey = nodes.prefix() + "/blobs/sha256/" + lostDigest.substring(7, 9) + "/" + lostDigest.substring(7);
            assertThat(s3.objects(lostKey)).as("the refused push's bytes are not in the bucket").isEmpty();
            assertThat(s3.openUploads(nodes.prefix() + "/blobs/")).as("nor in an open multipart upload").isEmpty();
            assertThat(client.get("/v2/" + repository + "/manifests/v2", "Accept", OCI_MANIFEST).statusCode()).isEqualTo(404);
            assertThat(OciClient.json(client.get("/v2/" + repository + "/tags/list")).path("tags").toString()).isEqualTo("[\"v1\"]");
            HttpResponse<byte[]> session = client.get(location);
            assertThat(session.statusCode()).isEqualTo(204);
            assertThat(session.headers().firstValue("Range")).as("the refused PATCH added nothing").hasValue("0-" + (2 * MIB - 1));

            // what was there before is intact, and everything works again without a restart
            HttpResponse<byte[]> manifest = client.get("/v2/" + repository + "/manifests/v1", "Accept", OCI_MANIFEST);
            assertThat(manifest.statusCode()).isEqualTo(200);
            assertThat(manifest.body()).isEqualTo(before.manifest());
            for (String layer : before.layerDigests()) {
                assertThat(sha256(client.get("/v2/" + repository + "/blobs/" + layer).body())).isEqualTo(layer);
            }
            assertThat(client.patch(location, Arrays.copyOfRange(sessionBlob, 2 * MIB, 4 * MIB), "Content-Range", 2 * MIB + "-" + (4 * MIB - 1),
                    "Content-Type", "application/octet-stream").statusCode()).isEqualTo(202);
            HttpResponse<byte[]> finished = client.put(location + "?digest=" + sha256(sessionBlob),
                    Arrays.copyOfRange(sessionBlob, 4 * MIB, sessionBlob.length), "Content-Type", "application/octet-stream");
            assertThat(finished.statusCode()).as(OciClient.text(finished)).isEqualTo(201);
            assertThat(sha256(client.get("/v2/" + repository + "/blobs/" + sha256(sessionBlob)).body())).isEqualTo(sha256(sessionBlob));
            assertThat(client.pushBlob(repository, lost)).isEqualTo(lostDigest);
            client.pushManifest(repository, "v2", OCI_MANIFEST, unpushed.manifest());
            assertThat(client.get("/v2/" + repository + "/manifests/v2", "Accept", OCI_MANIFEST).body()).isEqualTo(unpushed.manifest());
        }
    }
}
