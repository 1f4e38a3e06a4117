package dev.cairn.auth;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.StoreSnapshot;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/** auth.mode basic: users, groups, rules, admins, anonymous pull, and the cooling-off after failures. */
class BasicAuthTest {
    static final String RULES = """
            - groups: [runners]
              repositories: "cache/**"
              actions: [pull, push]
            - groups: [devs]
              repositories: "**"
              actions: [pull]
            - groups: [ops]
              repositories: "**"
              actions: [pull, push, delete]
            - anonymous: true
              repositories: "public/**"
              actions: [pull]
            """;
    static Path dir;
    static RunningCairn cairn;
    static OciClient client;
    static String runner;
    static String developer;
    static String ops;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("cairn-auth-");
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("ci-1", "runner-secret", "alice", "developer-secret", "root", "ops-secret",
                "long", "p".repeat(100)));
        cairn = RunningCairn.start(Map.of("auth.mode", "basic", "auth.htpasswd", htpasswd.toString(),
                "auth.groups", "{runners: [ci-1], devs: [alice], ops: [root]}", "auth.rules", RULES,
                "auth.admins", "{groups: [ops]}", "auth.max-failures", "5", "auth.cooldown", "3s"));
        client = new OciClient(cairn);
        runner = TestUsers.basic("ci-1", "runner-secret");
        developer = TestUsers.basic("alice", "developer-secret");
        ops = TestUsers.basic("root", "ops-secret");
        // content for the read checks, pushed by ops
        pushImage("cache/app", "v1", ops);
        pushImage("public/base", "v1", ops);
        pushImage("private/app", "v1", ops);
    }

    @AfterAll
    static void stop() throws Exception {
        cairn.close();
        dev.cairn.testing.TempFiles.deleteRecursively(dir);
    }

    static String pushImage(String repository, String tag, String authorization) {
        byte[] layer = (repository + tag).getBytes();
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes();
        for (byte[] blob : List.of(layer, config)) {
            HttpResponse<byte[]> r = client.post("/v2/" + repository + "/blobs/uploads/?digest=" + sha256(blob), blob, "Authorization", authorization);
            assertThat(r.statusCode()).as(OciClient.text(r)).isEqualTo(201);
        }
        byte[] manifest = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                "config", OciClient.descriptor("application/vnd.oci.image.config.v1+json", sha256(config), config.length),
                "layers", List.of(OciClient.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", sha256(layer), layer.length))));
        HttpResponse<byte[]> r = client.put("/v2/" + repository + "/manifests/" + tag, manifest, "Content-Type", OCI_MANIFEST,
                "Authorization", authorization);
        assertThat(r.statusCode()).as(OciClient.text(r)).isEqualTo(201);
        return sha256(manifest);
    }

    @Test
    void anImportIntoARepositoryTheCallerMayNotPushToIsRefusedBeforeAnythingIsSent(@org.junit.jupiter.api.io.TempDir Path work) throws Exception {
        String server = "http://" + cairn.hostPort();
        Path layout = work.resolve("layout");
        try (var target = dev.cairn.transfer.LayoutTarget.create(layout)) {
            new dev.cairn.transfer.Export(new dev.cairn.http.RegistryClient(server, Optional.of("root"), "ops-secret"), target, false,
                    Optional.empty(), line -> { }).run(List.of(dev.cairn.transfer.Export.Selector.parse("public/base:v1"),
                    dev.cairn.transfer.Export.Selector.parse("cache/app:v1")));
        }
        var asRunner = new dev.cairn.http.RegistryClient(server, Optional.of("ci-1"), "runner-secret");
        // runners push cache/** only: under cache/moved both may go; as they were named, public/base may not
        var importer = new dev.cairn.transfer.Import(asRunner, Optional.of(dev.cairn.values.RepositoryName.of("cache/moved")), line -> { });
        importer.run(dev.cairn.transfer.LayoutArchive.open(layout));
        assertThat(client.get("/v2/cache/moved/public/base/manifests/v1", "Authorization", ops).statusCode()).isEqualTo(200);
        var refused = new dev.cairn.transfer.Import(asRunner, Optional.empty(), line -> { });
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> refused.run(dev.cairn.transfer.LayoutArchive.open(layout)))
                .hasMessageContaining("may push into public/base").hasMessageContaining("403");
    }

    @Test
    void entryTimesAreListedToWhoMayPullAndChangedByAdminsOnly() throws Exception {
        String digest = pushImage("cache/fresh", "v1", ops);
        String times = "/api/v1/repositories/cache/fresh/entries/" + digest + "/times";
        byte[] body = "{\"pushedAt\":\"2026-01-01T00:00:00Z\",\"lastUsed\":\"2026-01-02T00:00:00Z\"}".getBytes();
        assertThat(client.get("/api/v1/repositories/private/app/entries", "Authorization", developer).statusCode()).isEqualTo(200);
        HttpResponse<byte[]> denied = client.put(times, body, "Authorization", developer, "Content-Type", "application/json");
        assertThat(denied.statusCode()).as("pull is not enough to change times").isEqualTo(403);
        assertThat(errorCode(denied)).isEqualTo("DENIED");
        assertThat(client.put(times, body, "Authorization", runner, "Content-Type", "application/json").statusCode())
                .as("nor is push: what goes first is an admin's to change").isEqualTo(403);
        assertThat(client.get("/api/v1/repositories/private/app/entries", "Authorization", runner).statusCode()).isEqualTo(403);
        assertThat(client.get("/api/v1/repositories/public/base/entries").statusCode()).as("anonymous pull").isEqualTo(200);
        assertThat(client.get("/api/v1/repositories/private/app/entries").statusCode()).isEqualTo(401);
        assertThat(client.get("/api/v1/repositories/cache/app/entries", "Authorization", runner).statusCode()).isEqualTo(200);
        assertThat(client.put(times, body, "Authorization", ops, "Content-Type", "application/json").statusCode()).isEqualTo(204);
        var listed = OciClient.json(client.get("/api/v1/repositories/cache/fresh/entries", "Authorization", runner));
        List<String> lastUses = new ArrayList<>();
        listed.path("entries").forEach(e -> { if (e.path("digest").asText().equals(digest)) lastUses.add(e.path("lastUsed").asText()); });
        assertThat(lastUses).containsExactly("2026-01-02T00:00:00Z");
    }

    @Test
    void buildToolCacheKeysAreListedAndReadByWhoMayPullTheirNamespaceAndRetimedByAdminsOnly() {
        byte[] content = "an object file".getBytes();
        assertThat(client.put("/cache/teamkeys/k1", content, "Authorization", ops).statusCode()).isEqualTo(201);
        String blob = "/api/v1/keyed/cache/teamkeys/blobs/" + sha256(content);
        assertThat(OciClient.json(client.get("/api/v1/keyed", "Authorization", runner)).path("namespaces").toString())
                .as("runners pull cache/** only, which names no namespace").doesNotContain("teamkeys");
        assertThat(OciClient.json(client.get("/api/v1/keyed", "Authorization", developer)).path("namespaces").toString()).contains("teamkeys");
        assertThat(client.get("/api/v1/keyed").statusCode()).isEqualTo(401);
        assertThat(client.get("/api/v1/keyed/cache/teamkeys/entries", "Authorization", runner).statusCode()).isEqualTo(403);
        assertThat(client.get(blob, "Authorization", runner).statusCode()).isEqualTo(403);
        assertThat(client.get(blob, "Authorization", developer).body()).isEqualTo(content);
        assertThat(client.get("/api/v1/keyed/cache/teamkeys/blobs/" + sha256("cache/appv1".getBytes()), "Authorization", developer).statusCode())
                .as("a blob no key of the namespace holds (an image's layer) is not read through it").isEqualTo(404);
        byte[] keys = "{\"keys\":[\"k1\",\"k2\"]}".getBytes();
        assertThat(OciClient.json(client.post("/api/v1/keyed/cache/teamkeys/lookup", keys, "Authorization", developer, "Content-Type", "application/json"))
                .path("found").toString()).isEqualTo("{\"k1\":\"" + sha256(content) + "\"}");
        byte[] times = "{\"entries\":[{\"key\":\"k1\",\"pushedAt\":\"2026-01-01T00:00:00Z\",\"lastUsed\":\"2026-01-02T00:00:00Z\"}]}".getBytes();
        assertThat(client.post("/api/v1/keyed/cache/teamkeys/times", times, "Authorization", developer, "Content-Type", "application/json")
                .statusCode()).isEqualTo(403);
        HttpResponse<byte[]> moved = client.post("/api/v1/keyed/cache/teamkeys/times", times, "Authorization", ops, "Content-Type", "application/json");
        assertThat(OciClient.json(moved).path("backdated").asInt()).isEqualTo(1);
        assertThat(client.post("/api/v1/keyed/cache/teamkeys/times", "not json".getBytes(), "Authorization", ops, "Content-Type", "application/json")
                .statusCode()).isEqualTo(400);
        assertThat(client.get("/api/v1/keyed/Bad_Kind/teamkeys/entries", "Authorization", ops).statusCode()).isEqualTo(400);
    }

    @Test
    void noCredentialsIsA401WithABasicChallenge() {
        for (String path : List.of("/v2/", "/v2/cache/app/manifests/v1", "/v2/_catalog", "/v2/cache/app/tags/list")) {
            HttpResponse<byte[]> r = client.get(path);
            assertThat(r.statusCode()).as(path).isEqualTo(401);
            assertThat(errorCode(r)).isEqualTo("UNAUTHORIZED");
            assertThat(r.headers().firstValue("WWW-Authenticate")).hasValue("Basic realm=\"cairn\"");
        }
        assertThat(client.get("/v2/", "Authorization", runner).statusCode()).isEqualTo(200);
    }

    @Test
    void passwordsLongerThanBcryptsLimitWorkAsHtpasswdMadeThem() {
        assertThat(client.get("/v2/", "Authorization", TestUsers.basic("long", "p".repeat(100))).statusCode()).isEqualTo(200);
        assertThat(client.get("/v2/", "Authorization", TestUsers.basic("long", "q".repeat(100))).statusCode()).isEqualTo(401);
    }

    @Test
    void knownUsersKeepWhatAnonymousCallersMayPull() {
        assertThat(client.get("/v2/public/base/manifests/v1", "Authorization", runner).statusCode()).isEqualTo(200);
    }

    @Test
    void aWrongPasswordIsA401() {
        HttpResponse<byte[]> r = client.get("/v2/", "Authorization", TestUsers.basic("alice", "guess"));
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(errorCode(r)).isEqualTo("UNAUTHORIZED");
        assertThat(OciClient.text(r)).doesNotContain("guess").doesNotContain("developer-secret");
        assertThat(client.get("/v2/", "Authorization", TestUsers.basic("nobody", "x")).statusCode()).isEqualTo(401);
    }

    @Test
    void aUserWithoutPushGets403AndNothingIsStored() throws Exception {
        StoreSnapshot before = StoreSnapshot.of(cairn);
        byte[] blob = "from a developer".getBytes();
        HttpResponse<byte[]> r = client.post("/v2/cache/app/blobs/uploads/?digest=" + sha256(blob), blob, "Authorization", developer);
        assertThat(r.statusCode()).isEqualTo(403);
        assertThat(errorCode(r)).isEqualTo("DENIED");
        assertThat(client.post("/v2/cache/app/blobs/uploads/", null, "Authorization", developer).statusCode()).isEqualTo(403);
        assertThat(client.put("/v2/cache/app/manifests/v2", "{}".getBytes(), "Content-Type", OCI_MANIFEST, "Authorization", developer).statusCode())
                .isEqualTo(403);
        assertThat(client.delete("/v2/cache/app/manifests/v1", "Authorization", runner).statusCode()).isEqualTo(403);
        assertThat(StoreSnapshot.of(cairn).changesSince(before)).isEmpty();
        // but the developer pulls
        assertThat(client.get("/v2/cache/app/manifests/v1", "Authorization", developer).statusCode()).isEqualTo(200);
    }

    @Test
    void runnersPushAndPullTheirGlobOnly() {
        pushImage("cache/runner-made", "v1", runner);
        assertThat(client.get("/v2/cache/runner-made/manifests/v1", "Authorization", runner).statusCode()).isEqualTo(200);
        HttpResponse<byte[]> elsewhere = client.get("/v2/private/app/manifests/v1", "Authorization", runner);
        assertThat(elsewhere.statusCode()).isEqualTo(403);
        assertThat(errorCode(elsewhere)).isEqualTo("DENIED");
    }

    @Test
    void anonymousCallersPullOnlyWhatARulePermits() {
        assertThat(client.get("/v2/public/base/manifests/v1").statusCode()).isEqualTo(200);
        assertThat(client.get("/v2/public/base/tags/list").statusCode()).isEqualTo(200);
        // skopeo and buildah without credentials send an empty Basic login: anonymous, not a failed login
        for (int i = 0; i < 8; i++) {
            assertThat(client.get("/v2/public/base/manifests/v1", "Authorization", "Basic Og==").statusCode()).isEqualTo(200);
        }
        assertThat(client.get("/v2/", "Authorization", runner).statusCode()).as("no cooling-off from anonymous pulls").isEqualTo(200);
        assertThat(client.get("/v2/private/app/manifests/v1").statusCode()).isEqualTo(401);
        byte[] blob = "anonymous push".getBytes();
        assertThat(client.post("/v2/public/base/blobs/uploads/?digest=" + sha256(blob), blob).statusCode()).isEqualTo(401);
    }

    @Test
    void theCatalogListsOnlyWhatTheCallerMayPull() {
        List<String> asRunner = new ArrayList<>();
        OciClient.json(client.get("/v2/_catalog", "Authorization", runner)).path("repositories").forEach(n -> asRunner.add(n.asText()));
        assertThat(asRunner).contains("cache/app", "public/base").doesNotContain("private/app");
        List<String> asDev = new ArrayList<>();
        OciClient.json(client.get("/v2/_catalog", "Authorization", developer)).path("repositories").forEach(n -> asDev.add(n.asText()));
        assertThat(asDev).contains("cache/app", "private/app", "public/base");
    }

    @Test
    void theCatalogPaginatesOverWhatTheCallerMayPullAndItsLinksNameNothingElse() {
        List<String> whole = new ArrayList<>();
        OciClient.json(client.get("/v2/_catalog", "Authorization", runner)).path("repositories").forEach(n -> whole.add(n.asText()));
        List<String> walked = new ArrayList<>();
        String next = "/v2/_catalog?n=1";
        for (int page = 0; next != null && page < 100; page++) {
            HttpResponse<byte[]> r = client.get(next, "Authorization", runner);
            assertThat(r.statusCode()).isEqualTo(200);
            List<String> names = new ArrayList<>();
            OciClient.json(r).path("repositories").forEach(n -> names.add(n.asText()));
            assertThat(names).as("page " + page).hasSizeLessThanOrEqualTo(1);
            walked.addAll(names);
            Optional<String> link = r.headers().firstValue("Link");
            link.ifPresent(l -> assertThat(l).doesNotContain("private"));
            next = link.map(l -> l.substring(l.indexOf('<') + 1, l.indexOf('>'))).orElse(null);
            if (next != null) assertThat(names).as("a page with a next page is full").hasSize(1);
        }
        assertThat(walked).isEqualTo(whole).doesNotContain("private/app").contains("cache/app");
    }

    @Test
    void aMountNeedsPullOnTheSource() {
        byte[] layer = "private/appv1".getBytes();
        HttpResponse<byte[]> r = client.post("/v2/cache/mounted/blobs/uploads/?mount=" + sha256(layer) + "&from=private/app", null,
                "Authorization", runner);
        assertThat(r.statusCode()).as("falls back to an upload session").isEqualTo(202);
        assertThat(client.head("/v2/cache/mounted/blobs/" + sha256(layer), "Authorization", runner).statusCode()).isEqualTo(404);
    }

    @Test
    void theAdminApiAndMetricsNeedTheAdminRight() {
        for (String path : List.of("/api/v1/stats", "/metrics")) {
            assertThat(client.get(path).statusCode()).as(path).isEqualTo(401);
            HttpResponse<byte[]> denied = client.get(path, "Authorization", developer);
            assertThat(denied.statusCode()).as(path).isEqualTo(403);
            assertThat(errorCode(denied)).isEqualTo("DENIED");
            assertThat(client.get(path, "Authorization", ops).statusCode()).as(path).isEqualTo(200);
        }
        assertThat(client.post("/api/v1/gc?dry-run=true", null, "Authorization", runner).statusCode()).isEqualTo(403);
        assertThat(client.get("/healthz").statusCode()).isEqualTo(200);
        assertThat(client.get("/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void theHtpasswdFileIsReadAgainWhenItChanges() throws Exception {
        String newcomer = TestUsers.basic("ci-2", "new-secret");
        assertThat(client.get("/v2/", "Authorization", newcomer).statusCode()).isEqualTo(401);
        Thread.sleep(1100); // a visibly newer modification time
        TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("ci-1", "runner-secret", "alice", "developer-secret", "root", "ops-secret",
                "long", "p".repeat(100), "ci-2", "new-secret"));
        assertThat(client.get("/v2/", "Authorization", newcomer).statusCode()).isEqualTo(200);
    }

    @Test
    void aScanOfEveryEndpointWithoutCredentialsFindsOnlyTheAllowedAnonymousReads() {
        String someDigest = sha256("cache/appv1".getBytes());
        String publicLayer = sha256("public/basev1".getBytes());
        List<String> paths = new ArrayList<>();
        for (String repo : List.of("cache/app", "private/app", "public/base")) {
            String layer = sha256((repo + "v1").getBytes());
            paths.addAll(List.of("/v2/" + repo + "/manifests/v1", "/v2/" + repo + "/blobs/" + layer, "/v2/" + repo + "/blobs/uploads/",
                    "/v2/" + repo + "/blobs/uploads/00000000-0000-4000-8000-000000000000", "/v2/" + repo + "/tags/list",
                    "/v2/" + repo + "/referrers/" + someDigest));
        }
        paths.addAll(List.of("/v2/", "/v2/_catalog", "/api/v1/stats", "/api/v1/gc", "/api/v1/invalidate", "/metrics", "/token",
                "/v2/nothing/here", "/"));
        List<String> reached = new ArrayList<>();
        for (String path : paths) {
            for (String method : List.of("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")) {
                HttpResponse<byte[]> r = client.send(method, path, method.equals("GET") || method.equals("HEAD") ? null : new byte[]{1});
                if (r.statusCode() / 100 == 2) reached.add(method + " " + path);
            }
        }
        assertThat(reached).allSatisfy(hit -> assertThat(hit).matches("(GET|HEAD) /v2/public/base/(manifests/v1|blobs/" + publicLayer
                + "|tags/list|referrers/.*)|GET /healthz|GET /readyz"));
        assertThat(reached).contains("GET /v2/public/base/manifests/v1", "HEAD /v2/public/base/blobs/" + publicLayer);
    }
}
