package dev.cairn.keyed;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RawHttp;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.cairn.testing.OciClient.errorCode;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The keyed cache over HTTP, as ccache, Gradle and WebDAV clients use it: keys written, read, replaced and
 * deleted; misses; the size limit with and without a declared length; keys that are path tricks; writes
 * killed mid-body and racing writes of one key; the WebDAV listing; the counts in the stats and metrics.
 */
class KeyedCacheTest {
    private static final int LIMIT = 100_000;

    @Test
    void keysAreWrittenReadReplacedAndDeletedAndIdenticalContentIsStoredOnce() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("cache.max-entry-bytes", Integer.toString(LIMIT)))) {
            OciClient client = new OciClient(cairn);
            byte[] object = SeededBytes.of(50_000, 1);
            assertThat(client.get("/cache/gradle/0a1b2c").statusCode()).as("a miss").isEqualTo(404);
            assertThat(errorCode(client.get("/cache/gradle/0a1b2c"))).isEqualTo("ENTRY_UNKNOWN");

            assertThat(client.put("/cache/gradle/0a1b2c", object, "Content-Type", "application/vnd.gradle.build-cache-artifact.v1")
                    .statusCode()).isEqualTo(201);
            HttpResponse<byte[]> hit = client.get("/cache/gradle/0a1b2c");
            assertThat(hit.statusCode()).isEqualTo(200);
            assertThat(hit.body()).isEqualTo(object);
            assertThat(hit.headers().firstValue("ETag")).hasValue("\"sha256:" + OciClient.sha256(object).substring(7) + "\"");
            assertThat(hit.headers().firstValue("Last-Modified").orElseThrow()).matches("[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT");
            HttpResponse<byte[]> head = client.head("/cache/gradle/0a1b2c");
            assertThat(head.statusCode()).isEqualTo(200);
            assertThat(head.headers().firstValue("Content-Length")).hasValue("50000");

            long before = cairn.node().keeper().storedBytes();
            assertThat(client.put("/cache/ccache/ab/cdef0123", object).statusCode()).as("same bytes, other key").isEqualTo(201);
            assertThat(cairn.node().keeper().storedBytes()).as("the content is kept once").isEqualTo(before);
            assertThat(client.get("/cache/ccache/ab/cdef0123").body()).isEqualTo(object);

            byte[] replacement = SeededBytes.of(30_000, 2);
            assertThat(client.put("/cache/gradle/0a1b2c", replacement).statusCode()).isEqualTo(201);
            assertThat(client.get("/cache/gradle/0a1b2c").body()).isEqualTo(replacement);
            assertThat(client.get("/cache/ccache/ab/cdef0123").body()).as("the other key keeps the first content").isEqualTo(object);

            assertThat(client.delete("/cache/gradle/0a1b2c").statusCode()).isEqualTo(204);
            assertThat(client.get("/cache/gradle/0a1b2c").statusCode()).isEqualTo(404);
            assertThat(client.delete("/cache/gradle/0a1b2c").statusCode()).isEqualTo(404);
            assertThat(client.put("/cache/gradle/empty", new byte[0]).statusCode()).as("an empty entry is an entry").isEqualTo(201);
            assertThat(client.get("/cache/gradle/empty").statusCode()).isEqualTo(200);
            JsonNode deletion = audit(cairn).stream().filter(r -> r.path("digest").asText().equals("0a1b2c")).findFirst().orElseThrow();
            assertThat(deletion.path("kind").asText()).isEqualTo("cache");
            assertThat(deletion.path("repository").asText()).isEqualTo("gradle");
            assertThat(deletion.path("reason").asText()).isEqualTo("manual");
            assertThat(deletion.path("bytes").asLong()).as("the bytes the key stood for").isEqualTo(30_000);

            JsonNode stats = OciClient.json(client.get("/api/v1/stats"));
            JsonNode gradle = namespace(stats, "gradle");
            assertThat(gradle.path("kind").asText()).isEqualTo("cache");
            assertThat(gradle.path("keys").asLong()).isEqualTo(1);
            assertThat(gradle.path("hits").asLong()).as("two GETs, one HEAD, the empty one").isEqualTo(4);
            assertThat(gradle.path("misses").asLong()).as("after the delete (the two before its first write count under '(other)')").isEqualTo(1);
            assertThat(gradle.path("bytesRead").asLong()).isEqualTo(50_000 + 30_000);
            assertThat(gradle.path("bytesWritten").asLong()).isEqualTo(50_000 + 30_000);
            assertThat(gradle.path("hitRatio").asDouble()).isEqualTo(4.0 / 5);
            assertThat(gradle.path("byteHitRatio").asDouble()).isEqualTo(0.5);
            assertThat(namespace(stats, "ccache").path("bytes").asLong()).isEqualTo(50_000);
            String metrics = OciClient.text(client.get("/metrics"));
            assertThat(metrics).contains("cairn_cache_lookups_total{kind=\"cache\",namespace=\"gradle\",result=\"hit\"} 4.0");
            assertThat(metrics).contains("cairn_cache_bytes_total{direction=\"written\",kind=\"cache\",namespace=\"gradle\"} 80000.0");
        }
    }

    @Test
    void entriesOverTheLimitAndKeysThatArePathTricksAreRefusedAndChangeNothing() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("cache.max-entry-bytes", Integer.toString(LIMIT)))) {
            OciClient client = new OciClient(cairn);
            assertThat(client.put("/cache/ns/kept", SeededBytes.of(1000, 3)).statusCode()).isEqualTo(201);
            long stored = cairn.node().keeper().storedBytes();

            HttpResponse<byte[]> declared = client.put("/cache/ns/big", SeededBytes.of(LIMIT + 1, 4));
            assertThat(declared.statusCode()).isEqualTo(413);
            assertThat(OciClient.text(declared)).contains(Integer.toString(LIMIT + 1)).contains(Integer.toString(LIMIT)).contains("cache.max-entry-bytes");
            // No declared length: the body is refused once it passes the limit, not read to its end.
            String chunked = chunkedPut(cairn.port(), "/cache/ns/big", LIMIT + 50_000);
            assertThat(RawHttp.status(chunked)).isEqualTo(413);
            assertThat(RawHttp.body(chunked)).contains("more than " + LIMIT + " bytes");
            assertThat(client.put("/cache/ns/exact", SeededBytes.of(LIMIT, 5)).statusCode()).as("at the limit").isEqualTo(201);

            for (String path : List.of("/cache/ns/a/../b", "/cache/ns/a/./b", "/cache/ns/a//b", "/cache/ns/a%2Fb", "/cache/ns/a%01b", "/cache/ns/a%ffb",
                    "/cache/NS/a", "/cache/n%73/a", "/cache//a", "/cache/ns/" + "k".repeat(1100))) {
                String answer = RawHttp.exchange(cairn.port(), ("PUT " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
                        + "Connection: close\r\n\r\nabc").getBytes(StandardCharsets.ISO_8859_1));
                assertThat(RawHttp.status(answer)).as(path).isEqualTo(400);
                assertThat(RawHttp.body(answer)).as(path).contains("KEY_INVALID");
            }
            assertThat(RawHttp.status(RawHttp.exchange(cairn.port(), ("PUT /cache/ns/a%zzb HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
                    + "Connection: close\r\n\r\nabc").getBytes(StandardCharsets.ISO_8859_1)))).as("malformed percent-encoding (Jetty's own check)").isEqualTo(400);
            assertThat(client.put("/cache/ns/dir/", new byte[]{1}).statusCode()).as("a directory is not a key").isEqualTo(400);
            assertThat(client.send("PATCH", "/cache/ns/kept", new byte[]{1}).statusCode()).isEqualTo(405);
            assertThat(cairn.node().keeper().storedBytes()).as("only the entry at the limit was added").isEqualTo(stored + LIMIT);
            assertThat(client.get("/cache/ns/big").statusCode()).isEqualTo(404);
            assertThat(stagedFiles(cairn)).as("nothing of the refused bodies left").isEmpty();
        }
    }

    @Test
    void aWriteKilledMidBodyLeavesNothingAndRacingWritesOfOneKeyEachLeaveAWholeBody() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("cache.max-entry-bytes", "10MiB"))) {
            OciClient client = new OciClient(cairn);
            long stored = cairn.node().keeper().storedBytes();
            try (Socket socket = new Socket("127.0.0.1", cairn.port())) {
                OutputStream out = socket.getOutputStream();
                out.write("PUT /cache/ns/killed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                out.write(SeededBytes.of(1_000_000, 6));
                out.flush();
            } // closed half-way through the body
            // the server may not have staged anything yet when the client hangs up: wait until nothing is staged for
            // half a second on end (a first empty look, before the server read the body, once passed a file it made after)
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            long emptySince = -1;
            while (System.nanoTime() < deadline) {
                if (!stagedFiles(cairn).isEmpty()) emptySince = -1;
                else if (emptySince < 0) emptySince = System.nanoTime();
                else if (System.nanoTime() - emptySince > Duration.ofMillis(500).toNanos()) break;
                Thread.sleep(50);
            }
            assertThat(stagedFiles(cairn)).as("the staged half is dropped").isEmpty();
            assertThat(client.get("/cache/ns/killed").statusCode()).isEqualTo(404);
            assertThat(cairn.node().keeper().storedBytes()).isEqualTo(stored);

            List<byte[]> bodies = new ArrayList<>();
            for (int i = 0; i < 8; i++) bodies.add(SeededBytes.of(700_000 + i, 10 + i));
            try (ExecutorService writers = Executors.newFixedThreadPool(8)) {
                for (int round = 0; round < 3; round++) {
                    List<Future<Integer>> writes = new ArrayList<>();
                    for (byte[] body : bodies) writes.add(writers.submit(() -> new OciClient(cairn).put("/cache/ns/raced", body).statusCode()));
                    List<Future<byte[]>> reads = new ArrayList<>();
                    for (int i = 0; i < 8; i++) reads.add(writers.submit(() -> new OciClient(cairn).get("/cache/ns/raced").body()));
                    for (Future<Integer> write : writes) assertThat(write.get()).as("every racing write succeeds").isEqualTo(201);
                    for (Future<byte[]> read : reads) {
                        byte[] got = read.get();
                        if (got.length < 1000) continue; // a read before the first write of the first round: a miss
                        assertThat(bodies).as("a read gets one whole body, never a mix").anySatisfy(b -> assertThat(got).isEqualTo(b));
                    }
                }
            }
            byte[] last = client.get("/cache/ns/raced").body();
            assertThat(bodies).anySatisfy(b -> assertThat(last).isEqualTo(b));
        }
    }

    @Test
    void webDavClientsListDirectoriesOfKeysAndMakeThemWithoutEffect() throws Exception {
        try (RunningCairn cairn = RunningCairn.start()) {
            OciClient client = new OciClient(cairn);
            for (String key : List.of("a.txt", "sub/b.txt", "sub/deeper/c.txt", "sub/deeper/d.txt", "sub2/e", "sub-f")) {
                assertThat(client.put("/cache/dav/" + key, key.getBytes(StandardCharsets.UTF_8)).statusCode()).isEqualTo(201);
            }
            assertThat(client.put("/cache/dav/with%20space/%C3%A9t%C3%A9", new byte[]{7}).statusCode()).isEqualTo(201);
            assertThat(client.get("/cache/dav/with%20space/%C3%A9t%C3%A9").body()).containsExactly(7);

            HttpResponse<byte[]> root = client.send("PROPFIND", "/cache/dav/", new byte[0], "Depth", "1");
            assertThat(root.statusCode()).isEqualTo(207);
            assertThat(hrefs(root)).containsExactly("/cache/dav/", "/cache/dav/a.txt", "/cache/dav/sub-f", "/cache/dav/sub/",
                    "/cache/dav/sub2/", "/cache/dav/with%20space/");
            assertThat(OciClient.text(root)).contains("<D:getcontentlength>5</D:getcontentlength>");
            assertThat(hrefs(client.send("PROPFIND", "/cache/dav/sub", new byte[0], "Depth", "1")))
                    .containsExactly("/cache/dav/sub/", "/cache/dav/sub/b.txt", "/cache/dav/sub/deeper/");
            HttpResponse<byte[]> file = client.send("PROPFIND", "/cache/dav/sub/b.txt", new byte[0], "Depth", "0");
            assertThat(hrefs(file)).containsExactly("/cache/dav/sub/b.txt");
            assertThat(OciClient.text(file)).contains("<D:resourcetype/>").contains("<D:getcontentlength>9</D:getcontentlength>");
            assertThat(hrefs(client.send("PROPFIND", "/cache/dav/with%20space/", new byte[0], "Depth", "1")))
                    .containsExactly("/cache/dav/with%20space/", "/cache/dav/with%20space/%C3%A9t%C3%A9");
            assertThat(client.send("PROPFIND", "/cache/dav/nothing", new byte[0], "Depth", "0").statusCode()).isEqualTo(404);
            assertThat(client.send("PROPFIND", "/cache/dav/su", new byte[0], "Depth", "0").statusCode())
                    .as("a prefix of a directory's name is not a directory").isEqualTo(404);

            assertThat(client.send("MKCOL", "/cache/dav/new/dir/", new byte[0]).statusCode()).isEqualTo(201);
            assertThat(client.send("MKCOL", "/cache/dav/a.txt", new byte[0]).statusCode()).as("a key is there").isEqualTo(405);
            assertThat(client.send("MKCOL", "/cache/dav/sub/", new byte[0]).statusCode()).as("a directory is there").isEqualTo(405);
            assertThat(client.send("MKCOL", "/cache/dav/other/", new byte[]{1}).statusCode()).as("MKCOL takes no body").isEqualTo(415);
            assertThat(client.send("PROPFIND", "/cache/dav/", new byte[0], "Depth", "infinity").statusCode()).isEqualTo(403);
            assertThat(client.send("PROPFIND", "/cache/dav/a.txt/", new byte[0], "Depth", "0").statusCode()).as("a key is no directory").isEqualTo(404);
            // A name that is a key and a directory at once: a path ending in '/' names the directory.
            assertThat(client.put("/cache/dav/both", new byte[]{1}).statusCode()).isEqualTo(201);
            assertThat(client.put("/cache/dav/both/inner", new byte[]{2}).statusCode()).isEqualTo(201);
            assertThat(hrefs(client.send("PROPFIND", "/cache/dav/both/", new byte[0], "Depth", "1")))
                    .containsExactly("/cache/dav/both/", "/cache/dav/both/inner");
            assertThat(OciClient.text(client.send("PROPFIND", "/cache/dav/both", new byte[0], "Depth", "0"))).contains("<D:resourcetype/>");
            HttpResponse<byte[]> options = client.send("OPTIONS", "/cache/dav/", new byte[0]);
            assertThat(options.headers().firstValue("DAV")).hasValue("1");
            assertThat(client.delete("/cache/dav/sub/deeper/").statusCode()).as("a directory with keys").isEqualTo(405);
            assertThat(client.delete("/cache/dav/sub/deeper/c.txt").statusCode()).isEqualTo(204);
            assertThat(client.delete("/cache/dav/sub/deeper/d.txt").statusCode()).isEqualTo(204);
            assertThat(client.delete("/cache/dav/sub/deeper/").statusCode()).as("emptied, it is gone").isEqualTo(404);
            assertThat(hrefs(client.send("PROPFIND", "/cache/dav/sub", new byte[0], "Depth", "1")))
                    .containsExactly("/cache/dav/sub/", "/cache/dav/sub/b.txt");
        }
    }

    private static List<String> hrefs(HttpResponse<byte[]> multistatus) {
        List<String> hrefs = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("<D:href>([^<]*)</D:href>").matcher(OciClient.text(multistatus));
        while (m.find()) hrefs.add(m.group(1));
        return hrefs;
    }

    private static JsonNode namespace(JsonNode stats, String name) {
        for (JsonNode n : stats.path("namespaces")) if (n.path("namespace").asText().equals(name)) return n;
        throw new AssertionError("no namespace " + name + " in " + stats);
    }

    static List<JsonNode> audit(RunningCairn cairn) throws Exception {
        List<JsonNode> records = new ArrayList<>();
        for (String line : Files.readAllLines(cairn.dataDir().resolve("audit.log"))) records.add(OciClient.JSON.readTree(line));
        return records;
    }

    private static List<Path> stagedFiles(RunningCairn cairn) throws Exception {
        try (var files = Files.list(cairn.dataDir().resolve("tmp"))) {
            return files.toList();
        }
    }

    /** A PUT whose body comes in chunks, with no declared length, of {@code size} bytes; the answer as text. */
    private static String chunkedPut(int port, String path, int size) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("PUT " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            byte[] chunk = SeededBytes.of(10_000, 7);
            try {
                for (int sent = 0; sent < size; sent += chunk.length) {
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
            } catch (java.io.IOException e) {
                // the server answered and closed before the end: read what it said
            }
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    @Test
    void aListingOfMoreNamesThanOneMayHoldIsRefusedWholeNotCut() throws Exception {
        try (RunningCairn cairn = RunningCairn.start()) {
            OciClient client = new OciClient(cairn);
            assertThat(client.put("/cache/big/seed", new byte[]{42}).statusCode()).isEqualTo(201);
            // More keys than a listing holds, written straight into the records (over HTTP it would take a minute),
            // all naming the seed's content.
            String content = cairn.node().metadata().content("cache", dev.cairn.values.RepositoryName.of("big"), "seed").orElseThrow().digest().toString();
            try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + cairn.dataDir().resolve("cairn.db"))) {
                c.setAutoCommit(false);
                try (java.sql.PreparedStatement entry = c.prepareStatement("INSERT INTO keyed_entries (kind, namespace, entry_key, size, pushed_at, "
                        + "last_used_at, content) VALUES ('cache', 'big', ?, 0, 1, 1, ?)");
                     java.sql.PreparedStatement held = c.prepareStatement("INSERT INTO keyed_entry_blobs (kind, namespace, entry_key, digest) "
                             + "VALUES ('cache', 'big', ?, ?)")) {
                    for (int i = 0; i < KeyedCache.MAX_LISTED; i++) {
                        String key = String.format("flat/k%05d", i);
                        entry.setString(1, key);
                        entry.setString(2, content);
                        entry.addBatch();
                        held.setString(1, key);
                        held.setString(2, content);
                        held.addBatch();
                    }
                    entry.executeBatch();
                    held.executeBatch();
                }
                c.commit();
            }
            HttpResponse<byte[]> exactly = client.send("PROPFIND", "/cache/big/flat/", new byte[0], "Depth", "1");
            assertThat(exactly.statusCode()).as("at the limit").isEqualTo(207);
            assertThat(hrefs(exactly)).hasSize(KeyedCache.MAX_LISTED + 1);
            assertThat(client.put("/cache/big/flat/one-more", new byte[]{1}).statusCode()).isEqualTo(201);
            HttpResponse<byte[]> over = client.send("PROPFIND", "/cache/big/flat/", new byte[0], "Depth", "1");
            assertThat(over.statusCode()).isEqualTo(507);
            assertThat(OciClient.text(over)).contains("more than " + KeyedCache.MAX_LISTED);
            assertThat(client.send("PROPFIND", "/cache/big/", new byte[0], "Depth", "1").statusCode()).as("its parent lists it as one directory")
                    .isEqualTo(207);
            assertThat(client.get("/cache/big/flat/k09999").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void missesOnNamesNobodyWroteShareOneSeries() throws Exception {
        try (RunningCairn cairn = RunningCairn.start()) {
            OciClient client = new OciClient(cairn);
            int names = dev.cairn.metrics.CacheMetrics.MAX_NAMESPACE_SERIES + 20;
            for (int i = 0; i < names; i++) assertThat(client.get("/cache/n" + i + "/k").statusCode()).isEqualTo(404);
            String metrics = OciClient.text(client.get("/metrics"));
            long series = metrics.lines().filter(l -> l.startsWith("cairn_cache_lookups_total{")).count();
            assertThat(series).as("a miss starts no series of its own").isLessThanOrEqualTo(2);
            assertThat(metrics).contains("cairn_cache_lookups_total{kind=\"cache\",namespace=\"(other)\",result=\"miss\"} " + names + ".0");
            // A namespace that is written has its own series and figures.
            assertThat(client.put("/cache/legit/k", new byte[]{1}).statusCode()).isEqualTo(201);
            assertThat(client.get("/cache/legit/k").statusCode()).isEqualTo(200);
            assertThat(client.get("/cache/legit/none").statusCode()).isEqualTo(404);
            assertThat(OciClient.text(client.get("/metrics"))).contains("cairn_cache_lookups_total{kind=\"cache\",namespace=\"legit\",result=\"miss\"} 1.0");
            assertThat(namespace(OciClient.json(client.get("/api/v1/stats")), "legit").path("hits").asLong()).isEqualTo(1);
        }
    }
}
