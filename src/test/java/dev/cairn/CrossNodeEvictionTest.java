package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.SharedStore;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Invariant 7 across nodes: a build that read a manifest through one node gets everything that manifest
 * references (the child manifests of an index, every blob) through that node, while another node's
 * collector evicts under budget pressure. Two ways a read reaches the collector, one run each: with a flush
 * interval longer than the grace window every read is written before it is answered; with a short one most
 * reads are batched, and what protects the build is that an eviction retires what was read recently enough.
 */
class CrossNodeEvictionTest {
    private static final int MIB = 1 << 20;
    private static final Duration RUN_FOR = Duration.ofSeconds(40);
    private static final int ENOUGH_READS = 300;

    /** What a pusher made: a tag, and the digests a puller reads after it, in order. */
    private record Pushed(String tag, List<String> childManifests, List<String> blobs) {
    }

    @ParameterizedTest(name = "grace {0}, flush every {1}")
    @CsvSource({"2s, 10s", "4s, 500ms"})
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aManifestReadOnOneNodeKeepsWhatItReferencesWhileAnotherNodeEvicts(String grace, String flushInterval) throws Exception {
        SharedStore store = SharedStore.fresh();
        Map<String, String> common = Map.of("retention.max-bytes", "24MiB", "retention.grace", grace,
                "registry.last-use-flush-interval", flushInterval, "storage.s3.part-size", "5MiB", "metadata.postgres.pool-size", "8");
        Map<String, String> collecting = new java.util.HashMap<>(common);
        collecting.put("retention.gc-interval", "1s");
        Map<String, String> serving = new java.util.HashMap<>(common);
        serving.put("retention.gc-interval", "1h");
        try (RunningCairn a = RunningCairn.startOn(store, collecting); RunningCairn b = RunningCairn.startOn(store, serving)) {
            OciClient pusher = new OciClient(a);
            OciClient puller = new OciClient(b);
            List<Pushed> pushed = Collections.synchronizedList(new ArrayList<>());
            List<String> failures = new CopyOnWriteArrayList<>();
            AtomicBoolean done = new AtomicBoolean();
            AtomicInteger fullReads = new AtomicInteger();
            AtomicInteger evictedBeforeRead = new AtomicInteger();
            long deadline = System.nanoTime() + RUN_FOR.toNanos();

            Thread pushing = Thread.ofPlatform().name("pusher").start(() -> {
                for (int i = 0; !done.get() && System.nanoTime() < deadline && i < 2000; i++) {
                    try {
                        pushed.add(push(pusher, i));
                        Thread.sleep(120);
                    } catch (Throwable e) {
                        failures.add("push " + i + ": " + e);
                    }
                }
            });
            List<Thread> pullers = new ArrayList<>();
            for (int p = 0; p < 3; p++) {
                pullers.add(Thread.ofPlatform().name("puller-" + p).start(() -> {
                    while (!done.get() && System.nanoTime() < deadline) {
                        Pushed target;
                        synchronized (pushed) {
                            // The oldest images still likely there: the next ones the budget takes.
                            int n = pushed.size();
                            if (n < 12) {
                                target = null;
                            } else {
                                target = pushed.get(n - 12 + ThreadLocalRandom.current().nextInt(4));
                            }
                        }
                        if (target == null) {
                            sleep(50);
                            continue;
                        }
                        HttpResponse<byte[]> manifest = puller.get("/v2/soak/w1/manifests/" + target.tag(),
                                "Accept", OCI_INDEX + ", " + OCI_MANIFEST);
                        if (manifest.statusCode() == 404) {
                            evictedBeforeRead.incrementAndGet();
                            continue;
                        }
                        if (manifest.statusCode() != 200) {
                            failures.add("GET manifest " + target.tag() + ": " + manifest.statusCode());
                            continue;
                        }
                        // A build takes a moment between the manifest and its layers.
                        sleep(50 + ThreadLocalRandom.current().nextInt(250));
                        for (String child : target.childManifests()) {
                            HttpResponse<byte[]> r = puller.get("/v2/soak/w1/manifests/" + child, "Accept", OCI_MANIFEST);
                            if (r.statusCode() != 200) failures.add("child manifest " + child + " of " + target.tag() + ": " + r.statusCode());
                        }
                        for (String blob : target.blobs()) {
                            HttpResponse<byte[]> r = puller.get("/v2/soak/w1/blobs/" + blob);
                            if (r.statusCode() != 200) failures.add("blob " + blob + " of " + target.tag() + ": " + r.statusCode());
                        }
                        if (fullReads.incrementAndGet() >= ENOUGH_READS) done.set(true);
                    }
                }));
            }
            pushing.join();
            done.set(true);
            for (Thread t : pullers) t.join();

            assertThat(failures).as("reads of something a manifest read through node B referenced").isEmpty();
            assertThat(fullReads.get()).as("manifests read whole through node B").isGreaterThanOrEqualTo(150);
            assertThat(evictedBeforeRead.get()).as("reads that found their image already evicted (the budget was pressing)").isPositive();
            // What recent reads kept stays at most the batching lag (half the window) and one grace window;
            // then the budget holds again.
            Thread.sleep(a.node().lastUse().protection().batchedLag().plus(a.node().lastUse().protection().grace()).toMillis() + 1000);
            a.node().keeper().collect(false);
            a.node().keeper().collect(false);
            assertThat(a.node().keeper().storedBytes()).as("stored bytes once the reads' grace windows have passed")
                    .isLessThanOrEqualTo(24L * MIB);
        } finally {
            store.drop();
        }
    }

    /** An image of two 1 MiB layers; every other one is pushed as an index over that image, as multi-platform builds are. */
    private static Pushed push(OciClient client, int i) {
        byte[] first = SeededBytes.of(MIB, 2L * i);
        byte[] second = SeededBytes.of(MIB, 2L * i + 1);
        OciClient.Image image = client.prepareImage("soak/w1", "application/vnd.oci.image.config.v1+json", first, second);
        List<String> blobs = new ArrayList<>();
        blobs.add(image.configDigest());
        blobs.addAll(image.layerDigests());
        String tag = "t" + i;
        if (i % 2 == 0) {
            client.pushManifest("soak/w1", tag, OCI_MANIFEST, image.manifest());
            return new Pushed(tag, List.of(), blobs);
        }
        String child = client.pushManifest("soak/w1", image.digest(), OCI_MANIFEST, image.manifest());
        byte[] index = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX,
                "manifests", List.of(Map.of("mediaType", OCI_MANIFEST, "digest", child, "size", image.manifest().length,
                        "platform", Map.of("architecture", "arm64", "os", "linux")))));
        client.pushManifest("soak/w1", tag, OCI_INDEX, index);
        return new Pushed(tag, List.of(child), blobs);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
