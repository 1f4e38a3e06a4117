package dev.cairn.cli;

import dev.cairn.testing.CairnCli;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Replication between two Cairns: {@code cairn replicate --from} once, copying only what is missing, and the
 * {@code replicate:} rules on a schedule, which pick up a new tag on their next round and, with the source
 * stopped, fail, say so in /metrics, and catch up once it is back.
 */
class ReplicationTest {
    static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    static String push(OciClient client, String repository, String tag, byte[] shared, long seed) {
        OciClient.Image image = client.prepareImage(repository, "application/vnd.oci.image.config.v1+json", shared, random(3_000, seed));
        return client.pushManifest(repository, tag, OCI_MANIFEST, image.manifest());
    }

    static String digestAt(RunningCairn node, String repository, String tag) {
        HttpResponse<byte[]> r = new OciClient(node).get("/v2/" + repository + "/manifests/" + tag, "Accept", OCI_MANIFEST);
        return r.statusCode() == 200 ? OciClient.sha256(r.body()) : null;
    }

    private static void waitFor(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("not within 30 s: " + what);
            Thread.sleep(100);
        }
    }

    @Test
    void onceCopiesOnlyWhatIsMissing() throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            OciClient client = new OciClient(source);
            byte[] shared = random(200_000, 1);
            String first = push(client, "team/app", "1", shared, 2);
            push(client, "other/app", "1", shared, 3);
            String[] args = {"replicate", "--server", "http://" + target.hostPort(), "--from", "http://" + source.hostPort(), "team/**"};

            CairnCli.Run run = CairnCli.run(args);
            assertThat(run.exit()).as(run.err()).isZero();
            assertThat(run.out()).contains("1 copied, 0 up to date; 3 blobs");
            assertThat(digestAt(target, "team/app", "1")).isEqualTo(first);
            assertThat(digestAt(target, "other/app", "1")).as("not selected").isNull();

            CairnCli.Run again = CairnCli.run(args);
            assertThat(again.out()).contains("0 copied, 1 up to date; 0 blobs");

            String second = push(client, "team/app", "2", shared, 4);
            CairnCli.Run next = CairnCli.run(args);
            assertThat(next.out()).as("the shared layer is not sent again").contains("1 copied, 1 up to date; 2 blobs");
            assertThat(digestAt(target, "team/app", "2")).isEqualTo(second);

            CairnCli.Run unreachable = CairnCli.run("replicate", "--server", "http://" + target.hostPort(), "--from", "http://127.0.0.1:1", "team/**");
            assertThat(unreachable.exit()).isEqualTo(1);
            assertThat(unreachable.err()).contains("cannot reach");
        }
    }

    @Test
    void aBlobTwoRepositoriesShareCrossesOnceAndAnEntryAlreadyHereKeepsItsOwnUses() throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            OciClient client = new OciClient(source);
            byte[] shared = random(150_000, 9);
            String digest = push(client, "team/one", "1", shared, 10);
            byte[] manifest = client.get("/v2/team/one/manifests/1", "Accept", OCI_MANIFEST).body();
            // the same image in a second repository of the source: its blobs are linked there, not pushed again
            OciClient.Image twin = client.prepareImage("team/two", "application/vnd.oci.image.config.v1+json", shared, random(3_000, 10));
            client.pushManifest("team/two", "1", OCI_MANIFEST, twin.manifest());
            String[] args = {"replicate", "--server", "http://" + target.hostPort(), "--from", "http://" + source.hostPort(), "team/**"};
            CairnCli.Run first = CairnCli.run(args);
            assertThat(first.exit()).as(first.err()).isZero();
            assertThat(first.out()).as("shared and the layer once, a config each").contains("2 copied, 0 up to date; 4 blobs");

            // builds read team/one:1 on the target; then the source tags it again and its times say 2020
            OciClient to = new OciClient(target);
            assertThat(to.get("/v2/team/one/manifests/1", "Accept", OCI_MANIFEST).statusCode()).isEqualTo(200);
            target.node().lastUse().flush();
            client.pushManifest("team/one", "alias", OCI_MANIFEST, manifest);
            byte[] old = "{\"pushedAt\":\"2020-01-01T00:00:00Z\",\"lastUsed\":\"2020-01-01T00:00:00Z\"}".getBytes();
            assertThat(client.put("/api/v1/repositories/team/one/entries/" + digest + "/times", old, "Content-Type", "application/json")
                    .statusCode()).isEqualTo(204);
            CairnCli.Run alias = CairnCli.run(args);
            assertThat(alias.out()).contains("1 copied");
            String lastUse = "";
            for (var e : OciClient.json(to.get("/api/v1/repositories/team/one/entries")).path("entries")) {
                if (e.path("digest").asText().equals(digest)) lastUse = e.path("lastUsed").asText();
            }
            assertThat(java.time.Instant.parse(lastUse)).as("the target's own read stays its last use").isAfter(java.time.Instant.parse("2026-01-01T00:00:00Z"));
        }
    }

    @Test
    void scheduledRoundsPickUpNewTagsAndCatchUpAfterTheSourceWasDown() throws Exception {
        try (RunningCairn source = RunningCairn.start()) {
            OciClient client = new OciClient(source);
            byte[] shared = random(100_000, 5);
            String first = push(client, "team/app", "1", shared, 6);
            String rule = "[{from: 'http://" + source.hostPort() + "', repositories: ['team/**'], every: 1s}]";
            try (RunningCairn target = RunningCairn.start(Map.of("replicate", rule))) {
                waitFor("team/app:1 replicated", () -> first.equals(digestAt(target, "team/app", "1")));
                waitFor("the copy in the audit log", () -> auditLines(target).stream().anyMatch(l -> l.contains("\"reason\":\"replicated\"")
                        && l.contains("\"repository\":\"team/app\"") && l.contains(first) && l.contains("\"tags\":[\"1\"]")));
                String second = push(client, "team/app", "2", shared, 7);
                waitFor("team/app:2 picked up by the next round", () -> second.equals(digestAt(target, "team/app", "2")));

                String failing = "source=\"" + source.hostPort() + "\"";
                source.restart(() -> waitFor("a failed round counted and the rule shown failing", () ->
                        value(target, "cairn_replication_rounds_total", "result=\"failed\"") >= 1
                                && value(target, "cairn_replication_failing", failing) == 1));
                String third = push(new OciClient(source), "team/app", "3", shared, 8);
                waitFor("team/app:3 caught up with after the source came back", () -> third.equals(digestAt(target, "team/app", "3")));
                waitFor("the failing gauge back to 0", () -> value(target, "cairn_replication_failing", failing) == 0);
            }
        }
    }

    /**
     * Two nodes on one S3 + PostgreSQL store with the same rule: one of them runs the rounds (each entry copied and
     * audited once, where both copying at once pushed it twice and wrote two lines); when that node stops, the
     * other takes the rules over and picks up the next tag.
     */
    @Test
    void nodesSharingAStoreReplicateOnceAndTheOtherTakesOverWhenTheFirstStops() throws Exception {
        dev.cairn.testing.SharedStore store = dev.cairn.testing.SharedStore.fresh();
        try (RunningCairn source = RunningCairn.start()) {
            OciClient client = new OciClient(source);
            byte[] shared = random(100_000, 21);
            String first = push(client, "team/app", "1", shared, 22);
            Map<String, String> settings = Map.of("replicate", "[{from: 'http://" + source.hostPort() + "', repositories: ['team/**'], every: 1s}]",
                    "metadata.postgres.pool-size", "4");
            RunningCairn a = RunningCairn.startOn(store, settings);
            RunningCairn b = RunningCairn.startOn(store, settings);
            java.util.List<RunningCairn> running = new java.util.ArrayList<>(java.util.List.of(a, b));
            try {
                waitFor("team/app:1 replicated", () -> first.equals(digestAt(b, "team/app", "1")));
                String second = push(client, "team/app", "2", shared, 23);
                waitFor("team/app:2 replicated", () -> second.equals(digestAt(a, "team/app", "2")));
                Thread.sleep(2_500); // a few more rounds, which must find nothing to copy
                assertThat(value(a, "cairn_replication_leading", "") + value(b, "cairn_replication_leading", ""))
                        .as("exactly one node runs the rules").isEqualTo(1);
                waitFor("the copies audited", () -> replicatedLines(first, a, b) >= 1 && replicatedLines(second, a, b) >= 1);
                assertThat(replicatedLines(first, a, b)).as("team/app:1 copied once across both nodes").isEqualTo(1);
                assertThat(replicatedLines(second, a, b)).as("team/app:2 copied once across both nodes").isEqualTo(1);

                RunningCairn leader = value(a, "cairn_replication_leading", "") == 1 ? a : b;
                RunningCairn other = leader == a ? b : a;
                running.remove(leader);
                leader.close();
                String third = push(client, "team/app", "3", shared, 24);
                waitFor("team/app:3 copied by the node that took over", () -> third.equals(digestAt(other, "team/app", "3")));
                assertThat(value(other, "cairn_replication_leading", "")).isEqualTo(1);
            } finally {
                for (RunningCairn node : running) node.close();
                store.drop();
            }
        }
    }

    private static long replicatedLines(String digest, RunningCairn... nodes) {
        long lines = 0;
        for (RunningCairn node : nodes) {
            lines += auditLines(node).stream().filter(l -> l.contains("\"reason\":\"replicated\"") && l.contains(digest)).count();
        }
        return lines;
    }

    private static java.util.List<String> auditLines(RunningCairn node) {
        try {
            java.nio.file.Path log = node.dataDir().resolve("audit.log");
            return java.nio.file.Files.exists(log) ? java.nio.file.Files.readAllLines(log) : java.util.List.of();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The value of the first sample of {@code name} whose labels contain {@code label}; -1 when there is none. */
    private static double value(RunningCairn node, String name, String label) {
        String metrics = new String(new OciClient(node).get("/metrics").body());
        return metrics.lines().filter(l -> (l.startsWith(name + "{") || l.startsWith(name + " ")) && l.contains(label))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(-1);
    }
}
