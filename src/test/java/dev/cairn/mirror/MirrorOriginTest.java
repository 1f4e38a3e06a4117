package dev.cairn.mirror;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.SharedStore;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static dev.cairn.mirror.MirrorUpstreamFaultsTest.image;
import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Whose a repository is under the default mirror, from a review that tried to break it (written by the reviewer): a push
 * and a mirrored pull of one new name at once, on one node and on two, end with one owner both nodes agree on; a user
 * who may only pull cannot take a name its pushers write to; names the upstream lacks are never taken.
 */
class MirrorOriginTest {
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX;

    static Map<String, String> defaultMirror(StubUpstream stub) {
        return Map.of("mirrors", "[{prefix: '', upstream: '" + stub.url() + "', ttl: 1h, max-stale: 1h}]");
    }

    /** What a push came to: ok, or the first refusal. */
    static String push(OciClient client, String repository, String tag, byte[] layer, String... auth) {
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"pushed\":\"" + System.nanoTime() + "\"}").getBytes();
        for (byte[] b : List.of(config, layer)) {
            String d = OciClient.sha256(b);
            String[] headers = concat(auth, "Content-Type", "application/octet-stream");
            HttpResponse<byte[]> r = client.post("/v2/" + repository + "/blobs/uploads/?digest=" + d, b, headers);
            if (r.statusCode() != 201) return "blob " + r.statusCode() + " " + OciClient.errorCode(r);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("schemaVersion", 2);
        m.put("mediaType", OCI_MANIFEST);
        m.put("config", OciClient.descriptor("application/vnd.oci.image.config.v1+json", OciClient.sha256(config), config.length));
        m.put("layers", List.of(OciClient.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", OciClient.sha256(layer), layer.length)));
        byte[] manifest = OciClient.json(m);
        HttpResponse<byte[]> r = client.put("/v2/" + repository + "/manifests/" + tag, manifest, concat(auth, "Content-Type", OCI_MANIFEST));
        if (r.statusCode() != 201) return "manifest " + r.statusCode() + " " + OciClient.errorCode(r);
        return "ok " + OciClient.sha256(manifest);
    }

    static String[] concat(String[] a, String... b) {
        String[] all = new String[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    record Round(String name, String push, int pullStatus, String pulled, String upstreamDigest, String after, String secondPush) {
        String pushedDigest() {
            return push.startsWith("ok ") ? push.substring(3) : null;
        }
    }

    static List<String> inconsistencies(List<Round> rounds) {
        List<String> bad = new ArrayList<>();
        for (Round r : rounds) {
            boolean pushed = r.pushedDigest() != null;
            boolean mirrored = r.pullStatus() == 200 && r.upstreamDigest().equals(r.pulled());
            if (pushed && mirrored) bad.add(r + ": both the push and the mirror's pull won");
            if (pushed && !r.pushedDigest().equals(r.after())) bad.add(r + ": the push won but the tag now names " + r.after());
            if (mirrored && !r.upstreamDigest().equals(r.after())) bad.add(r + ": the mirror won but the tag now names " + r.after());
            if (mirrored && r.secondPush().startsWith("ok")) bad.add(r + ": a mirrored repository took a push afterwards");
            if (pushed && !r.secondPush().startsWith("ok")) bad.add(r + ": the clients' repository refused their next push");
        }
        return bad;
    }

    static List<Round> race(StubUpstream stub, OciClient pusher, OciClient puller, OciClient checker, String prefix, int rounds) throws Exception {
        List<Round> out = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int i = 0; i < rounds; i++) {
                String name = prefix + "/app" + i;
                String upstreamDigest = OciClient.sha256(image(stub, name, "v1", SeededBytes.of(2_000, 1000 + i)));
                byte[] layer = SeededBytes.of(2_000 + ThreadLocalRandom.current().nextInt(200_000), 5000 + i);
                CountDownLatch go = new CountDownLatch(1);
                // either side gets a head start of up to 25 ms, so that each wins some rounds and they meet in between
                long skew = ThreadLocalRandom.current().nextLong(-25, 25);
                long pullDelay = Math.max(0, skew);
                long pushDelay = Math.max(0, -skew);
                CompletableFuture<String> p = CompletableFuture.supplyAsync(() -> {
                    await(go);
                    sleep(pushDelay);
                    return push(pusher, name, "v1", layer);
                }, pool);
                CompletableFuture<HttpResponse<byte[]>> g = CompletableFuture.supplyAsync(() -> {
                    await(go);
                    sleep(pullDelay);
                    return puller.get("/v2/" + name + "/manifests/v1", "Accept", ACCEPT);
                }, pool);
                go.countDown();
                String pushed = p.get(60, TimeUnit.SECONDS);
                HttpResponse<byte[]> pulled = g.get(60, TimeUnit.SECONDS);
                HttpResponse<byte[]> after = checker.get("/v2/" + name + "/manifests/v1", "Accept", ACCEPT);
                String second = push(checker, name, "v2", SeededBytes.of(1_000, 9000 + i));
                out.add(new Round(name, pushed, pulled.statusCode(), pulled.statusCode() == 200 ? OciClient.sha256(pulled.body()) : OciClient.errorCode(pulled),
                        upstreamDigest, after.statusCode() == 200 ? OciClient.sha256(after.body()) : after.statusCode() + "", second));
            }
        } finally {
            pool.shutdownNow();
        }
        return out;
    }

    static void await(CountDownLatch l) {
        try {
            l.await();
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    @Test
    void aPushAndADefaultMirrorPullOfOneNewNameAtOnceEndWithOneOwner() throws Exception {
        try (StubUpstream stub = new StubUpstream(); RunningCairn cairn = RunningCairn.start(defaultMirror(stub))) {
            List<Round> rounds = race(stub, new OciClient(cairn), new OciClient(cairn), new OciClient(cairn), "race", 60);
            long pushes = rounds.stream().filter(r -> r.pushedDigest() != null).count();
            System.out.println("one node: " + pushes + " of " + rounds.size() + " won by the push");
            rounds.stream().limit(5).forEach(System.out::println);
            assertThat(inconsistencies(rounds)).isEmpty();
        }
    }

    @Test
    void twoNodesDecidingOneNewNameAtOnceAgree() throws Exception {
        SharedStore store = SharedStore.fresh();
        try (StubUpstream stub = new StubUpstream()) {
            List<RunningCairn> nodes = store.startNodes(2, defaultMirror(stub));
            try {
                List<Round> rounds = race(stub, new OciClient(nodes.get(0)), new OciClient(nodes.get(1)), new OciClient(nodes.get(0)), "two", 25);
                long pushes = rounds.stream().filter(r -> r.pushedDigest() != null).count();
                System.out.println("two nodes: " + pushes + " of " + rounds.size() + " won by the push");
                List<String> bad = new ArrayList<>(inconsistencies(rounds));
                // the other node agrees with what the first decided
                OciClient other = new OciClient(nodes.get(1));
                for (Round r : rounds) {
                    HttpResponse<byte[]> seen = other.get("/v2/" + r.name() + "/manifests/v1", "Accept", ACCEPT);
                    String d = seen.statusCode() == 200 ? OciClient.sha256(seen.body()) : seen.statusCode() + "";
                    if (!d.equals(r.after())) bad.add(r + ": the other node sees " + d);
                    String third = push(other, r.name(), "v3", SeededBytes.of(1_000, 7000 + rounds.indexOf(r)));
                    if (third.startsWith("ok") != r.secondPush().startsWith("ok")) bad.add(r + ": the other node's push came to " + third);
                }
                assertThat(bad).isEmpty();
            } finally {
                for (RunningCairn n : nodes) n.close();
                store.drop();
            }
        }
    }

    /**
     * A user who may only pull (anything) makes a name that another user may push into the mirror's, by pulling it
     * first while the upstream holds that name (anyone can put a name on Docker Hub): the pusher is locked out for
     * good and every puller of that name gets the upstream's image. Expectation stated by this test: a pull by a
     * caller without push rights on a name must not take the name from those who have them. (It failed before: the
     * default mirror now leaves alone every name access rules let clients push to.)
     */
    @Test
    void aPullOnlyUserCannotTakeANameFromItsPushers(@TempDir Path dir) throws Exception {
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("reader", "r-secret", "writer", "w-secret"));
        try (StubUpstream stub = new StubUpstream()) {
            String squatted = OciClient.sha256(image(stub, "acme/app", "latest", SeededBytes.of(1_000, 1)));
            Map<String, String> settings = new LinkedHashMap<>(defaultMirror(stub));
            settings.put("auth.mode", "basic");
            settings.put("auth.htpasswd", htpasswd.toString());
            settings.put("auth.rules", "[{users: [writer], repositories: 'acme/**', actions: [pull, push]},"
                    + " {users: [reader, writer], repositories: '**', actions: [pull]}]");
            try (RunningCairn cairn = RunningCairn.start(settings)) {
                OciClient client = new OciClient(cairn);
                String reader = TestUsers.basic("reader", "r-secret");
                String writer = TestUsers.basic("writer", "w-secret");
                assertThat(client.post("/v2/acme/app/blobs/uploads/", new byte[0], "Authorization", reader).statusCode())
                        .as("the reader may not push").isEqualTo(403);
                HttpResponse<byte[]> pulled = client.get("/v2/acme/app/manifests/latest", "Accept", ACCEPT, "Authorization", reader);
                String pushed = push(client, "acme/app", "latest", SeededBytes.of(5_000, 2), "Authorization", writer);
                HttpResponse<byte[]> after = client.get("/v2/acme/app/manifests/latest", "Accept", ACCEPT, "Authorization", writer);
                System.out.println("reader's pull " + pulled.statusCode() + "; writer's push: " + pushed + "; writer now reads "
                        + (after.statusCode() == 200 ? OciClient.sha256(after.body()) : after.statusCode()) + " (squatted " + squatted + ")");
                assertThat(pushed).as("the writer's push of its own namespace after a pull-only user pulled the name").startsWith("ok");
                assertThat(pulled.statusCode()).as("a name access rules let clients push to is not the default mirror's").isEqualTo(404);
                assertThat(OciClient.sha256(after.body())).as("the writer reads its own image").isNotEqualTo(squatted);
            }
        }
    }

    /** A name the upstream does not have (404, 401, 403 there) is not claimed by pulls of any kind; pushers keep it. */
    @Test
    void pullsOfANameTheUpstreamLacksDoNotClaimIt() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            String someDigest = OciClient.sha256(SeededBytes.of(100, 1));
            stub.on("GET /v2/denied/app/manifests/v1", x -> StubUpstream.send(x, 401, "application/json", "{}".getBytes()));
            stub.on("GET /v2/forbidden/app/manifests/v1", x -> StubUpstream.send(x, 403, "application/json", "{}".getBytes()));
            try (RunningCairn cairn = RunningCairn.start(defaultMirror(stub))) {
                OciClient client = new OciClient(cairn);
                for (String name : List.of("missing/app", "denied/app", "forbidden/app")) {
                    for (String path : List.of("/manifests/v1", "/manifests/" + someDigest, "/blobs/" + someDigest, "/tags/list", "/referrers/" + someDigest)) {
                        client.get("/v2/" + name + path, "Accept", ACCEPT);
                        client.head("/v2/" + name + path, "Accept", ACCEPT);
                    }
                    assertThat(push(client, name, "v1", SeededBytes.of(3_000, 3))).as(name).startsWith("ok");
                }
            }
        }
    }
}
