package dev.cairn.cli;

import dev.cairn.testing.CairnCli;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * cairn export and cairn import between two running nodes, as an operator moves a cache: images that share
 * layers, a multi-platform index and a BuildKit cache index (layers listed as index entries) round-trip through
 * a directory and through plain, gzip and zstd tars with their digests unchanged; an import run twice sends
 * nothing the second time; corrupt, truncated and incomplete archives are refused with nothing linked.
 */
class TransferCommandsTest {
    static RunningCairn source;
    static OciClient client;
    /** What the source holds, by name: the manifest's digest. */
    static final Map<String, String> pushed = new LinkedHashMap<>();

    /** A process id no process has now. */
    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    private static CairnCli.Run cairn(String... args) {
        return CairnCli.run(args);
    }

    private static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    @BeforeAll
    static void fill() throws Exception {
        source = RunningCairn.start();
        client = new OciClient(source);
        byte[] shared = random(300_000, 1);
        OciClient.Image one = client.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", shared, random(5_000, 2));
        pushed.put("team/app:1", client.pushManifest("team/app", "1", OCI_MANIFEST, one.manifest()));
        OciClient.Image two = client.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", shared, random(7_000, 3));
        pushed.put("team/app:2", client.pushManifest("team/app", "2", OCI_MANIFEST, two.manifest()));

        // a multi-platform index over two images pushed by digest
        List<Map<String, Object>> platforms = new ArrayList<>();
        for (String arch : List.of("amd64", "arm64")) {
            OciClient.Image image = client.prepareImage("team/multi", "application/vnd.oci.image.config.v1+json", random(20_000, arch.hashCode()));
            client.pushManifest("team/multi", image.digest(), OCI_MANIFEST, image.manifest());
            Map<String, Object> d = OciClient.descriptor(OCI_MANIFEST, image.digest(), image.manifest().length);
            d.put("platform", Map.of("architecture", arch, "os", "linux"));
            platforms.add(d);
        }
        byte[] index = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", platforms));
        pushed.put("team/multi:latest", client.pushManifest("team/multi", "latest", OCI_INDEX, index));

        // BuildKit's cache index: its layers and its cache config are entries of the index itself
        byte[] layer = random(40_000, 4);
        String layerDigest = client.pushBlob("cache/app", layer);
        byte[] cacheConfig = "{\"layers\":[{\"blob\":\"x\"}],\"records\":[]}".getBytes(StandardCharsets.UTF_8);
        String configDigest = client.pushBlob("cache/app", cacheConfig);
        byte[] cacheIndex = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(
                OciClient.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layerDigest, layer.length),
                OciClient.descriptor("application/vnd.buildkit.cacheconfig.v0", configDigest, cacheConfig.length))));
        pushed.put("cache/app:buildcache", client.pushManifest("cache/app", "buildcache", OCI_INDEX, cacheIndex));
    }

    @AfterAll
    static void stop() throws Exception {
        if (source != null) source.close();
    }

    private static String server(RunningCairn node) {
        return "http://" + node.hostPort();
    }

    /** The target serves every pushed name with the source's bytes, and every blob those name. */
    private static void assertHoldsEverything(RunningCairn target) throws Exception {
        OciClient to = new OciClient(target);
        for (var e : pushed.entrySet()) {
            String repository = e.getKey().substring(0, e.getKey().indexOf(':'));
            String tag = e.getKey().substring(e.getKey().indexOf(':') + 1);
            HttpResponse<byte[]> there = to.get("/v2/" + repository + "/manifests/" + tag, "Accept", OCI_MANIFEST + ", " + OCI_INDEX);
            assertThat(there.statusCode()).as(e.getKey()).isEqualTo(200);
            assertThat(OciClient.sha256(there.body())).as(e.getKey()).isEqualTo(e.getValue());
            HttpResponse<byte[]> here = client.get("/v2/" + repository + "/manifests/" + tag, "Accept", OCI_MANIFEST + ", " + OCI_INDEX);
            assertThat(there.body()).isEqualTo(here.body());
            var manifest = OciClient.JSON.readTree(there.body());
            List<String> named = new ArrayList<>();
            manifest.path("layers").forEach(l -> named.add(l.path("digest").asText()));
            if (manifest.has("config")) named.add(manifest.path("config").path("digest").asText());
            manifest.path("manifests").forEach(m -> named.add(m.path("digest").asText()));
            for (String digest : named) {
                String kind = manifest.path("manifests").findValuesAsText("mediaType").contains(OCI_MANIFEST) ? "manifests" : "blobs";
                HttpResponse<byte[]> blob = to.get("/v2/" + repository + "/" + kind + "/" + digest, "Accept", OCI_MANIFEST);
                assertThat(blob.statusCode()).as(e.getKey() + " " + digest).isEqualTo(200);
                assertThat(OciClient.sha256(blob.body())).isEqualTo(digest);
            }
        }
    }

    @Test
    void roundTripsThroughDirectoryAndEveryTarWithDigestsUnchanged(@TempDir Path work) throws Exception {
        for (String output : List.of("layout", "cache.tar", "cache.tar.gz", "cache.tar.zst")) {
            Path path = work.resolve(output);
            CairnCli.Run export = cairn("export", "--server", server(source), "-o", path.toString(), "team/**", "cache/app:buildcache");
            assertThat(export.exit()).as(export.err()).isZero();
            assertThat(export.out()).contains("4 entries").contains("shared between entries");
            try (var left = Files.list(work)) {
                assertThat(left.map(p -> p.getFileName().toString())).as("no partial tar or scratch blob left")
                        .noneMatch(n -> n.endsWith(".partial") || n.endsWith(".blob"));
            }
            try (RunningCairn target = RunningCairn.start()) {
                CairnCli.Run first = cairn("import", "--server", server(target), path.toString());
                assertThat(first.exit()).as(first.err()).isZero();
                assertThat(first.out()).contains("4 entries").contains("0 already there");
                assertHoldsEverything(target);

                CairnCli.Run again = cairn("import", "--server", server(target), path.toString());
                assertThat(again.exit()).as(again.err()).isZero();
                assertThat(again.out()).as("a second import sends nothing").contains("0 blobs sent");
            }
        }
    }

    @Test
    void anEmptyBlobAndAnIndexPastFourMiBRoundTrip(@TempDir Path work) throws Exception {
        OciClient.Image empty = client.prepareImage("edge/empty", "application/vnd.oci.image.config.v1+json", new byte[0]);
        String emptyDigest = client.pushManifest("edge/empty", "v1", OCI_MANIFEST, empty.manifest());
        byte[] layer = random(500, 20);
        String layerDigest = client.pushBlob("edge/big", layer);
        List<Map<String, Object>> entries = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) {
            Map<String, Object> d = OciClient.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layerDigest, layer.length);
            d.put("annotations", Map.of("note", i + "-" + "x".repeat(5_000)));
            entries.add(d);
        }
        byte[] bigIndex = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", entries));
        assertThat(bigIndex.length).isGreaterThan(4 << 20);
        String bigDigest = client.pushManifest("edge/big", "latest", OCI_INDEX, bigIndex);
        for (String output : List.of("edge.tar.gz", "edge-dir")) {
            Path path = work.resolve(output);
            CairnCli.Run export = cairn("export", "--server", server(source), "-o", path.toString(), "edge/**");
            assertThat(export.exit()).as(export.err()).isZero();
            try (RunningCairn target = RunningCairn.start()) {
                CairnCli.Run imported = cairn("import", "--server", server(target), path.toString());
                assertThat(imported.exit()).as(imported.err()).isZero();
                assertThat(digestAt(target, "edge/empty", "v1")).isEqualTo(emptyDigest);
                assertThat(digestAt(target, "edge/big", "latest")).isEqualTo(bigDigest);
            }
        }
    }

    private static String digestAt(RunningCairn node, String repository, String tag) {
        HttpResponse<byte[]> r = new OciClient(node).get("/v2/" + repository + "/manifests/" + tag, "Accept", OCI_MANIFEST + ", " + OCI_INDEX);
        return r.statusCode() == 200 ? OciClient.sha256(r.body()) : null;
    }

    @Test
    void overlappingPatternsDigestGlobsAndOutputsThatCannotBeWritten(@TempDir Path work) throws Exception {
        String one = pushed.get("team/app:1");
        CairnCli.Run overlap = cairn("export", "--server", server(source), "-o", work.resolve("o").toString(), "team/app", "team/app:1", "team/**@" + one);
        assertThat(overlap.exit()).as(overlap.err()).isZero();
        assertThat(OciClient.JSON.readTree(work.resolve("o/index.json").toFile()).path("manifests").findValuesAsText("org.opencontainers.image.ref.name"))
                .containsExactly("team/app:1", "team/app:2", "team/app@" + one);

        Path fresh = work.resolve("fresh");
        assertThat(cairn("export", "--server", server(source), "-o", fresh.toString(), "nothing/**").exit()).isEqualTo(1);
        assertThat(fresh).as("a failed export into a new directory leaves none").doesNotExist();

        Files.createDirectories(work.resolve("taken.tar"));
        CairnCli.Run onDirectory = cairn("export", "--server", server(source), "-o", work.resolve("taken.tar").toString(), "team/app:1");
        assertThat(onDirectory.exit()).isEqualTo(1);
        assertThat(onDirectory.err()).contains("is a directory");

        // what an export killed outright left (its process gone) goes with the next export to that name; one of an
        // export still running stays; --server may name the API's root
        Path upper = work.resolve("UP.TAR");
        String host = java.net.InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9-]", "-");
        Path abandoned = Files.createFile(work.resolve(".UP.TAR." + deadPid() + "-" + host + ".1234.partial"));
        Path running = Files.createFile(work.resolve(".UP.TAR." + ProcessHandle.current().pid() + "-" + host + ".5678.partial"));
        Path elsewhere = Files.createFile(work.resolve(".UP.TAR." + deadPid() + "-another-host.9999.partial"));
        assertThat(cairn("export", "--server", server(source) + "/v2/", "-o", upper.toString(), "team/app:1").exit()).isZero();
        assertThat(upper).isRegularFile();
        assertThat(abandoned).doesNotExist();
        assertThat(running).exists();
        assertThat(elsewhere).as("another host's: its processes cannot be seen from here").exists();
        Files.delete(running);
        Files.delete(elsewhere);
        try (var left = Files.list(work)) {
            assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.endsWith(".partial") || n.endsWith(".blob"));
        }
    }

    @Test
    void selectsByTagGlobAndDigestAndRefusesAPatternThatMatchesNothing(@TempDir Path work) throws Exception {
        Path layout = work.resolve("some");
        String multi = pushed.get("team/multi:latest");
        CairnCli.Run export = cairn("export", "--server", server(source), "-o", layout.toString(), "team/app:2", "team/multi@" + multi);
        assertThat(export.exit()).as(export.err()).isZero();
        var index = OciClient.JSON.readTree(layout.resolve("index.json").toFile());
        assertThat(index.path("manifests").findValuesAsText("org.opencontainers.image.ref.name"))
                .containsExactly("team/app:2", "team/multi@" + multi);

        CairnCli.Run none = cairn("export", "--server", server(source), "-o", work.resolve("none").toString(), "nothing/**");
        assertThat(none.exit()).isEqualTo(1);
        assertThat(none.err()).contains("nothing in the registry matches nothing/**");
    }

    @Test
    void refusesCorruptTruncatedAndIncompleteArchivesWithNothingLinked(@TempDir Path work) throws Exception {
        Path layout = work.resolve("layout");
        assertThat(cairn("export", "--server", server(source), "-o", layout.toString(), "team/app:1").exit()).isZero();
        Path tar = work.resolve("app.tar.gz");
        assertThat(cairn("export", "--server", server(source), "-o", tar.toString(), "team/app:1").exit()).isZero();
        var manifest = OciClient.JSON.readTree(client.get("/v2/team/app/manifests/1").body());
        String layer = manifest.path("layers").get(1).path("digest").asText();
        Path layerFile = layout.resolve("blobs/sha256/" + layer.substring(7));

        try (RunningCairn target = RunningCairn.start()) {
            OciClient to = new OciClient(target);
            Path truncated = work.resolve("truncated.tar.gz");
            byte[] whole = Files.readAllBytes(tar);
            Files.write(truncated, java.util.Arrays.copyOf(whole, whole.length / 2));
            CairnCli.Run cut = cairn("import", "--server", server(target), truncated.toString());
            assertThat(cut.exit()).isEqualTo(1);
            assertThat(cut.err()).contains(truncated.toString());

            byte[] original = Files.readAllBytes(layerFile);
            byte[] corrupt = original.clone();
            corrupt[corrupt.length / 2] ^= 1;
            Files.write(layerFile, corrupt);
            CairnCli.Run bad = cairn("import", "--server", server(target), layout.toString());
            assertThat(bad.exit()).isEqualTo(1);
            assertThat(bad.err()).contains(layer);
            assertThat(to.get("/v2/team/app/manifests/1").statusCode()).as("nothing linked").isEqualTo(404);
            assertThat(to.head("/v2/team/app/blobs/" + layer).statusCode()).isEqualTo(404);

            Files.delete(layerFile);
            CairnCli.Run missing = cairn("import", "--server", server(target), layout.toString());
            assertThat(missing.exit()).isEqualTo(1);
            assertThat(missing.err()).contains("lacks the blob " + layer);
            assertThat(to.get("/v2/team/app/manifests/1").statusCode()).isEqualTo(404);

            // the interrupted import, mended and run again, sends only what did not arrive
            Files.write(layerFile, original);
            List<String> blobs = new ArrayList<>();
            manifest.path("layers").forEach(l -> blobs.add(l.path("digest").asText()));
            blobs.add(manifest.path("config").path("digest").asText());
            long arrived = blobs.stream().filter(b -> to.head("/v2/team/app/blobs/" + b).statusCode() == 200).count();
            CairnCli.Run mended = cairn("import", "--server", server(target), layout.toString());
            assertThat(mended.exit()).as(mended.err()).isZero();
            assertThat(mended.out()).contains((blobs.size() - arrived) + " blobs sent").contains(arrived + " already there");
            assertThat(OciClient.sha256(to.get("/v2/team/app/manifests/1").body())).isEqualTo(pushed.get("team/app:1"));
        }
    }

    /** A source that answers blob reads with a redirect to S3's signed URL (storage.redirect): export follows it. */
    @Test
    void anExportFollowsBlobRedirectsToTheStorage(@TempDir Path work) throws Exception {
        dev.cairn.testing.SharedStore store = dev.cairn.testing.SharedStore.fresh();
        try (RunningCairn redirecting = RunningCairn.startOn(store, Map.of("storage.redirect", "true"))) {
            OciClient to = new OciClient(redirecting);
            byte[] layer = random(200_000, 42);
            OciClient.Image image = to.prepareImage("team/far", "application/vnd.oci.image.config.v1+json", layer);
            to.pushManifest("team/far", "1", OCI_MANIFEST, image.manifest());
            assertThat(to.get("/v2/team/far/blobs/" + image.layerDigests().getFirst()).statusCode()).as("blob reads are redirected").isEqualTo(307);
            Path layout = work.resolve("far");
            try (var target = dev.cairn.transfer.LayoutTarget.create(layout)) {
                new dev.cairn.transfer.Export(new dev.cairn.http.RegistryClient(server(redirecting), java.util.Optional.of("ci-1"), "secret"),
                        target, false, java.util.Optional.empty(), line -> { }).run(List.of(dev.cairn.transfer.Export.Selector.parse("team/far")));
            }
            assertThat(Files.readAllBytes(layout.resolve("blobs/sha256/" + image.layerDigests().getFirst().substring(7)))).isEqualTo(layer);
        } finally {
            store.drop();
        }
    }

    @Test
    void aDockerArchiveListsTheAmd64ImageOfAnIndexAndRefusesACacheIndex(@TempDir Path work) throws Exception {
        Path layout = work.resolve("docker");
        CairnCli.Run export = cairn("export", "--server", server(source), "--format", "docker-archive", "-o", layout.toString(), "team/multi:latest", "team/app:1");
        assertThat(export.exit()).as(export.err()).isZero();
        var images = OciClient.JSON.readTree(layout.resolve("manifest.json").toFile());
        assertThat(images).hasSize(2);
        var index = OciClient.JSON.readTree(client.get("/v2/team/multi/manifests/latest", "Accept", OCI_INDEX).body());
        String amd64 = index.path("manifests").get(0).path("digest").asText();
        var image = OciClient.JSON.readTree(client.get("/v2/team/multi/manifests/" + amd64, "Accept", OCI_MANIFEST).body());
        assertThat(images.get(0).path("RepoTags").get(0).asText()).isEqualTo("team/multi:latest");
        assertThat(images.get(0).path("Config").asText()).isEqualTo("blobs/sha256/" + image.path("config").path("digest").asText().substring(7));
        for (var layer : images.get(0).path("Layers")) assertThat(layout.resolve(layer.asText())).isRegularFile();
        assertThat(images.get(1).path("RepoTags").get(0).asText()).isEqualTo("team/app:1");

        CairnCli.Run cache = cairn("export", "--server", server(source), "--format", "docker-archive", "-o", work.resolve("c.tar").toString(), "cache/app:buildcache");
        assertThat(cache.exit()).isEqualTo(1);
        assertThat(cache.err()).contains("docker load takes images");
        assertThat(work.resolve("c.tar")).doesNotExist();
        assertThat(work.resolve(".c.tar.partial")).doesNotExist();
    }

    @Test
    void entriesKeepTheirPushAndLastUseAndSinceLeavesOutWhatWasNotUsedLately(@TempDir Path work) throws Exception {
        OciClient.Image oldImage = client.prepareImage("aged/app", "application/vnd.oci.image.config.v1+json", random(1_000, 10));
        String old = client.pushManifest("aged/app", "old", OCI_MANIFEST, oldImage.manifest());
        OciClient.Image newImage = client.prepareImage("aged/app", "application/vnd.oci.image.config.v1+json", random(1_000, 11));
        String fresh = client.pushManifest("aged/app", "new", OCI_MANIFEST, newImage.manifest());
        java.time.Instant pushed = java.time.Instant.now().minus(java.time.Duration.ofDays(40)).truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
        java.time.Instant used = pushed.plus(java.time.Duration.ofDays(10));
        String times = "{\"pushedAt\":\"" + pushed + "\",\"lastUsed\":\"" + used + "\"}";
        String timesPath = "/api/v1/repositories/aged/app/entries/" + old + "/times";
        assertThat(client.put(timesPath, times.getBytes(StandardCharsets.UTF_8), "Content-Type", "application/json").statusCode()).isEqualTo(204);
        // once: an entry not pushed within the hour takes no other times (and none ever later than it has)
        String later = "{\"pushedAt\":\"2099-01-01T00:00:00Z\",\"lastUsed\":\"2099-01-01T00:00:00Z\"}";
        assertThat(client.put(timesPath, later.getBytes(StandardCharsets.UTF_8), "Content-Type", "application/json").statusCode()).isEqualTo(400);
        // an entry a build has read keeps that read: read protection counts on it
        assertThat(client.get("/v2/aged/app/manifests/new", "Accept", OCI_MANIFEST).statusCode()).isEqualTo(200);
        String freshPath = "/api/v1/repositories/aged/app/entries/" + fresh + "/times";
        HttpResponse<byte[]> readAlready = client.put(freshPath, times.getBytes(StandardCharsets.UTF_8), "Content-Type", "application/json");
        assertThat(readAlready.statusCode()).isEqualTo(400);
        assertThat(OciClient.text(readAlready)).contains("not read since");
        assertThat(client.put(timesPath, "{\"pushedAt\":\"-999999999-01-01T00:00:00Z\",\"lastUsed\":\"2020-01-01T00:00:00Z\"}"
                .getBytes(StandardCharsets.UTF_8), "Content-Type", "application/json").statusCode()).as("a time past the records' range").isEqualTo(400);
        // bad requests change nothing either
        assertThat(client.put(timesPath, times.getBytes(StandardCharsets.UTF_8)).statusCode()).isEqualTo(400);
        assertThat(client.put(timesPath, "{".getBytes(StandardCharsets.UTF_8), "Content-Type", "application/json").statusCode()).isEqualTo(400);
        assertThat(client.put(timesPath, "{\"pushedAt\":\"yesterday\",\"lastUsed\":\"x\"}".getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode()).isEqualTo(400);
        assertThat(client.put("/api/v1/repositories/aged/app/entries/sha256:" + "0".repeat(64) + "/times", times.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode()).isEqualTo(404);

        var listed = OciClient.json(client.get("/api/v1/repositories/aged/app/entries"));
        var oldEntry = entryOf(listed, old);
        assertThat(oldEntry.path("pushedAt").asText()).isEqualTo(pushed.toString());
        assertThat(oldEntry.path("lastUsed").asText()).isEqualTo(used.toString());
        assertThat(oldEntry.path("tags").get(0).asText()).isEqualTo("old");

        Path recent = work.resolve("recent");
        CairnCli.Run since = cairn("export", "--server", server(source), "--since", "7d", "-o", recent.toString(), "aged/**");
        assertThat(since.exit()).as(since.err()).isZero();
        assertThat(OciClient.JSON.readTree(recent.resolve("index.json").toFile()).path("manifests").findValuesAsText("org.opencontainers.image.ref.name"))
                .containsExactly("aged/app:new");

        Path all = work.resolve("all.tar");
        assertThat(cairn("export", "--server", server(source), "-o", all.toString(), "aged/app").exit()).isZero();
        source.node().lastUse().flush();
        assertThat(entryOf(OciClient.json(client.get("/api/v1/repositories/aged/app/entries")), old).path("lastUsed").asText())
                .as("an export's reads are not uses: the source's order stays").isEqualTo(used.toString());
        try (RunningCairn target = RunningCairn.start()) {
            CairnCli.Run imported = cairn("import", "--server", server(target), all.toString());
            assertThat(imported.exit()).as(imported.err()).isZero();
            var there = OciClient.json(new OciClient(target).get("/api/v1/repositories/aged/app/entries"));
            assertThat(entryOf(there, old).path("pushedAt").asText()).as("the imported entry keeps its age").isEqualTo(pushed.toString());
            assertThat(entryOf(there, old).path("lastUsed").asText()).isEqualTo(used.toString());
            assertThat(java.time.Instant.parse(entryOf(there, fresh).path("lastUsed").asText())).isAfter(used);

            // imported again after a build read it there: the entry was there already, and keeps its own last use
            OciClient to = new OciClient(target);
            assertThat(to.get("/v2/aged/app/manifests/old", "Accept", OCI_MANIFEST).statusCode()).isEqualTo(200);
            target.node().lastUse().flush();
            assertThat(cairn("import", "--server", server(target), all.toString()).exit()).isZero();
            assertThat(java.time.Instant.parse(entryOf(OciClient.json(to.get("/api/v1/repositories/aged/app/entries")), old)
                    .path("lastUsed").asText())).as("the read on this node stays its last use").isAfter(used);
        }
    }

    @Test
    void warmRanksImagesByLastUseAndLeavesOutBuildCaches() throws Exception {
        java.time.Instant now = java.time.Instant.now();
        Map<String, Integer> hoursAgo = Map.of("rank/a", 2, "rank/b", 3, "rank/c", 1);
        for (var e : hoursAgo.entrySet()) {
            OciClient.Image image = client.prepareImage(e.getKey(), "application/vnd.oci.image.config.v1+json", random(2_000, e.getKey().hashCode()));
            String digest = client.pushManifest(e.getKey(), "v1", OCI_MANIFEST, image.manifest());
            String when = now.minus(java.time.Duration.ofHours(e.getValue())).toString();
            String times = "{\"pushedAt\":\"" + when + "\",\"lastUsed\":\"" + when + "\"}";
            assertThat(client.put("/api/v1/repositories/" + e.getKey() + "/entries/" + digest + "/times", times.getBytes(StandardCharsets.UTF_8),
                    "Content-Type", "application/json").statusCode()).isEqualTo(204);
        }
        // a BuildKit cache index, the most recent of all: not an image, never pulled
        byte[] layer = random(1_000, 99);
        String layerDigest = client.pushBlob("rank/cache", layer);
        byte[] cacheIndex = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(
                OciClient.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layerDigest, layer.length))));
        client.pushManifest("rank/cache", "buildcache", OCI_INDEX, cacheIndex);

        CairnCli.Run plan = cairn("warm", "--server", server(source), "--engine", "podman", "--dry-run", "--top", "3", "rank/**");
        assertThat(plan.exit()).as(plan.err()).isZero();
        List<String> listed = plan.out().lines().filter(l -> l.startsWith("  ")).map(l -> l.strip().split("\\s+")[0]).toList();
        assertThat(listed).containsExactly("rank/c:v1", "rank/a:v1", "rank/b:v1");
        assertThat(plan.out()).contains("3 images").contains("dry run: nothing pulled");

        CairnCli.Run recent = cairn("warm", "--server", server(source), "--engine", "docker", "--dry-run", "--since", "150m", "rank/**");
        assertThat(recent.out().lines().filter(l -> l.startsWith("  ")).map(l -> l.strip().split("\\s+")[0]).toList())
                .containsExactly("rank/c:v1", "rank/a:v1");
        assertThat(cairn("warm", "--server", server(source), "--engine", "rkt", "--dry-run").err()).contains("docker, podman or buildah");
    }

    private static com.fasterxml.jackson.databind.JsonNode entryOf(com.fasterxml.jackson.databind.JsonNode listing, String digest) {
        for (var e : listing.path("entries")) if (e.path("digest").asText().equals(digest)) return e;
        throw new AssertionError(digest + " not listed in " + listing);
    }

    @Test
    void anIndexJsonThatNamesOneEntryTwiceOrMisnamesADigestIsRefused(@TempDir Path work) throws Exception {
        Path layout = work.resolve("layout");
        assertThat(cairn("export", "--server", server(source), "-o", layout.toString(), "team/app:1", "team/app:2").exit()).isZero();
        Path indexFile = layout.resolve("index.json");
        String index = Files.readString(indexFile);
        try (RunningCairn target = RunningCairn.start()) {
            Files.writeString(indexFile, index.replace("\"team/app:2\"", "\"team/app:1\""));
            CairnCli.Run twice = cairn("import", "--server", server(target), layout.toString());
            assertThat(twice.exit()).isEqualTo(1);
            assertThat(twice.err()).contains("names team/app:1 twice");
            Files.writeString(indexFile, index.replace("\"team/app:2\"", "\"team/app@" + pushed.get("team/app:1") + "\""));
            CairnCli.Run misnamed = cairn("import", "--server", server(target), layout.toString());
            assertThat(misnamed.exit()).isEqualTo(1);
            assertThat(misnamed.err()).contains("is " + pushed.get("team/app:2"));
            assertThat(digestAt(target, "team/app", "1")).as("nothing linked").isNull();
        }
    }

    @Test
    void aDockerSaveTarInDockersOwnFormatImports(@TempDir Path work) throws Exception {
        // as Docker before 25 writes it: manifest.json (a list), the config by its hex, each layer an uncompressed tar by path
        byte[] layer = random(10_000, 30);
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}".getBytes(StandardCharsets.UTF_8);
        String configHex = OciClient.sha256(config).substring(7);
        byte[] manifest = ("[{\"Config\":\"" + configHex + ".json\",\"RepoTags\":[\"localhost:5000/saved/app:v1\"],"
                + "\"Layers\":[\"abc123/layer.tar\"]}]").getBytes(StandardCharsets.UTF_8);
        Path tar = work.resolve("saved.tar");
        try (var out = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(Files.newOutputStream(tar))) {
            for (var file : List.of(Map.entry("abc123/layer.tar", layer), Map.entry(configHex + ".json", config), Map.entry("manifest.json", manifest))) {
                var entry = new org.apache.commons.compress.archivers.tar.TarArchiveEntry(file.getKey());
                entry.setSize(file.getValue().length);
                out.putArchiveEntry(entry);
                out.write(file.getValue());
                out.closeArchiveEntry();
            }
        }
        try (RunningCairn target = RunningCairn.start()) {
            CairnCli.Run imported = cairn("import", "--server", server(target), tar.toString());
            assertThat(imported.exit()).as(imported.err()).isZero();
            assertThat(imported.out()).contains("imported saved/app:v1");
            OciClient to = new OciClient(target);
            var pushedManifest = OciClient.JSON.readTree(to.get("/v2/saved/app/manifests/v1", "Accept", OCI_MANIFEST).body());
            assertThat(pushedManifest.path("config").path("digest").asText()).isEqualTo("sha256:" + configHex);
            assertThat(pushedManifest.path("layers").get(0).path("digest").asText()).isEqualTo(OciClient.sha256(layer));
            assertThat(pushedManifest.path("layers").get(0).path("mediaType").asText()).isEqualTo("application/vnd.oci.image.layer.v1.tar");
            assertThat(to.get("/v2/saved/app/blobs/" + OciClient.sha256(layer)).body()).isEqualTo(layer);
        }
    }

    @Test
    void anEntryNamedByATagAloneGoesWhereRepoSays(@TempDir Path work) throws Exception {
        Path layout = work.resolve("buildkit-local");
        assertThat(cairn("export", "--server", server(source), "-o", layout.toString(), "cache/app:buildcache").exit()).isZero();
        // as BuildKit's --cache-to type=local writes it: the entry named by its tag alone
        Path indexFile = layout.resolve("index.json");
        Files.writeString(indexFile, Files.readString(indexFile).replace("\"cache/app:buildcache\"", "\"latest\""));
        try (RunningCairn target = RunningCairn.start()) {
            CairnCli.Run nowhere = cairn("import", "--server", server(target), layout.toString());
            assertThat(nowhere.exit()).isEqualTo(1);
            assertThat(nowhere.err()).contains("--repo");
            CairnCli.Run placed = cairn("import", "--server", server(target), "--repo", "ci/cache", layout.toString());
            assertThat(placed.exit()).as(placed.err()).isZero();
            OciClient to = new OciClient(target);
            HttpResponse<byte[]> index = to.get("/v2/ci/cache/manifests/latest", "Accept", OCI_INDEX);
            assertThat(index.statusCode()).isEqualTo(200);
            assertThat(OciClient.sha256(index.body())).isEqualTo(pushed.get("cache/app:buildcache"));
            // what --cache-from type=registry,ref=HOST/ci/cache:latest reads next: the cache config and the layers it names
            for (var entry : OciClient.JSON.readTree(index.body()).path("manifests")) {
                HttpResponse<byte[]> blob = to.get("/v2/ci/cache/blobs/" + entry.path("digest").asText());
                assertThat(blob.statusCode()).as(entry.path("mediaType").asText()).isEqualTo(200);
                assertThat(OciClient.sha256(blob.body())).isEqualTo(entry.path("digest").asText());
            }
        }
    }
}
