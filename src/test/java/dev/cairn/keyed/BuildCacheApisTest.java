package dev.cairn.keyed;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.TempFiles;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Turborepo's /v8/artifacts API as turbo sends it, and access rules over the build-tool fronts: a namespace
 * (a Turborepo team) is matched by the rules as a repository name is, with the credentials each client sends
 * (basic auth for ccache, Gradle and WebDAV; a bearer token, here "user:password", for turbo).
 */
class BuildCacheApisTest {

    @Test
    void turborepoArtifactsKeepWhatTurboSaysOfThemAndTheBatchQueryAndEventsAnswer() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("cache.max-entry-bytes", "100000"))) {
            OciClient client = new OciClient(cairn);
            String bearer = "Bearer anything";
            assertThat(OciClient.json(client.get("/v8/artifacts/status?slug=web", "Authorization", bearer)).path("status").asText())
                    .isEqualTo("enabled");
            assertThat(client.get("/v8/artifacts/abc123?slug=web", "Authorization", bearer).statusCode()).isEqualTo(404);
            byte[] artifact = SeededBytes.of(20_000, 1);
            HttpResponse<byte[]> put = client.put("/v8/artifacts/abc123?slug=web", artifact, "Authorization", bearer,
                    "x-artifact-duration", "4200", "x-artifact-tag", "c2lnbmF0dXJl", "Content-Type", "application/octet-stream");
            assertThat(put.statusCode()).isEqualTo(202);
            assertThat(OciClient.json(put).path("urls").get(0).asText()).isEqualTo("/v8/artifacts/abc123");
            HttpResponse<byte[]> get = client.get("/v8/artifacts/abc123?slug=web", "Authorization", bearer);
            assertThat(get.body()).isEqualTo(artifact);
            assertThat(get.headers().firstValue("x-artifact-duration")).hasValue("4200");
            assertThat(get.headers().firstValue("x-artifact-tag")).hasValue("c2lnbmF0dXJl");
            assertThat(client.head("/v8/artifacts/abc123?slug=web").statusCode()).isEqualTo(200);
            assertThat(client.get("/v8/artifacts/abc123?slug=mobile").statusCode()).as("teams are apart").isEqualTo(404);
            assertThat(client.get("/v8/artifacts/abc123?teamId=team_web").statusCode()).isEqualTo(404);

            JsonNode query = OciClient.json(client.post("/v8/artifacts?slug=web",
                    "{\"hashes\": [\"abc123\", \"missing\"]}".getBytes(StandardCharsets.UTF_8), "Content-Type", "application/json"));
            assertThat(query.path("abc123").path("size").asLong()).isEqualTo(20_000);
            assertThat(query.path("abc123").path("taskDurationMs").asLong()).isEqualTo(4200);
            assertThat(query.path("abc123").path("tag").asText()).isEqualTo("c2lnbmF0dXJl");
            assertThat(query.has("missing") && query.path("missing").isNull()).isTrue();

            byte[] events = "[{\"sessionId\":\"s\",\"source\":\"REMOTE\",\"event\":\"HIT\",\"hash\":\"abc123\",\"duration\":4200}]".getBytes();
            assertThat(client.post("/v8/artifacts/events?slug=web", events, "Content-Type", "application/json").statusCode()).isEqualTo(200);
            assertThat(client.post("/v8/artifacts/events?slug=web", "{\"not\":\"a list\"}".getBytes(), "Content-Type", "application/json")
                    .statusCode()).isEqualTo(400);
            assertThat(client.post("/v8/artifacts?slug=web", "not json".getBytes(), "Content-Type", "application/json").statusCode()).isEqualTo(400);
            assertThat(client.put("/v8/artifacts/abc123?slug=web", artifact, "x-artifact-duration", "soon").statusCode()).isEqualTo(400);
            assertThat(client.put("/v8/artifacts/bad%2Fhash?slug=web", artifact).statusCode()).isEqualTo(400);
            assertThat(client.put("/v8/artifacts/abc123?slug=Web", artifact).statusCode()).as("a team is a lower-case namespace").isEqualTo(400);
            assertThat(client.put("/v8/artifacts/big?slug=web", SeededBytes.of(100_001, 2)).statusCode()).isEqualTo(413);
            assertThat(client.get("/v8/artifacts/abc123?slug=web").body()).as("refusals changed nothing").isEqualTo(artifact);

            HttpResponse<byte[]> preflight = client.send("OPTIONS", "/v8/artifacts/abc123?slug=web", new byte[0],
                    "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization,x-artifact-duration");
            assertThat(preflight.statusCode()).isEqualTo(200);
            assertThat(preflight.headers().firstValue("Access-Control-Allow-Headers").orElseThrow()).contains("Authorization").contains("x-artifact-duration");

            JsonNode web = null;
            for (JsonNode n : OciClient.json(client.get("/api/v1/stats")).path("namespaces")) if (n.path("namespace").asText().equals("web")) web = n;
            assertThat(web.path("kind").asText()).isEqualTo("turbo");
            assertThat(web.path("hits").asLong()).as("GET, HEAD and the last GET; the query counts nothing").isEqualTo(3);
            assertThat(web.path("savedSeconds").asDouble()).as("two GETs of a 4.2 s task; a HEAD saves nothing").isEqualTo(8.4);
            assertThat(OciClient.text(client.get("/metrics")))
                    .contains("cairn_cache_client_events_total{event=\"hit\",kind=\"turbo\",namespace=\"web\",source=\"remote\"} 1.0")
                    .contains("cairn_cache_saved_seconds_total{kind=\"turbo\",namespace=\"web\"} 8.4");
        }
    }

    @Test
    void rulesNameNamespacesAsTheyNameRepositoriesWithTheCredentialsEachClientSends() throws Exception {
        Path dir = Files.createTempDirectory("cairn-build-cache-auth-");
        try {
            Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("ci-1", "runner-secret", "alice", "dev-secret"));
            String rules = """
                    - users: [ci-1]
                      repositories: "web"
                      actions: [pull, push]
                    - users: [alice]
                      repositories: "**"
                      actions: [pull]
                    """;
            try (RunningCairn cairn = RunningCairn.start(Map.of("auth.mode", "basic", "auth.htpasswd", htpasswd.toString(), "auth.rules", rules))) {
                OciClient client = new OciClient(cairn);
                String runner = TestUsers.basic("ci-1", "runner-secret");
                String developer = TestUsers.basic("alice", "dev-secret");
                byte[] object = SeededBytes.of(1000, 3);
                assertThat(client.put("/cache/web/k", object).statusCode()).as("no credentials").isEqualTo(401);
                assertThat(client.put("/cache/web/k", object, "Authorization", runner).statusCode()).isEqualTo(201);
                assertThat(client.put("/cache/mobile/k", object, "Authorization", runner).statusCode()).as("another namespace").isEqualTo(403);
                assertThat(client.send("PROPFIND", "/cache/mobile/", new byte[0], "Authorization", runner, "Depth", "1").statusCode()).isEqualTo(403);
                assertThat(client.get("/cache/web/k", "Authorization", developer).body()).isEqualTo(object);
                assertThat(client.put("/cache/web/k2", object, "Authorization", developer).statusCode()).as("pull only").isEqualTo(403);
                assertThat(client.delete("/cache/web/k", "Authorization", runner).statusCode()).as("no delete right").isEqualTo(403);
                assertThat(client.put("/bazel/mobile/cas/" + dev.cairn.values.Digest.sha256(object).hex(), object, "Authorization", runner)
                        .statusCode()).isEqualTo(403);

                String turboToken = "Bearer ci-1:runner-secret";
                assertThat(client.put("/v8/artifacts/h1?slug=web", object, "Authorization", turboToken).statusCode()).isEqualTo(202);
                assertThat(client.put("/v8/artifacts/h1?slug=mobile", object, "Authorization", turboToken).statusCode()).isEqualTo(403);
                assertThat(client.get("/v8/artifacts/h1?slug=web", "Authorization", "Bearer ci-1:wrong").statusCode()).isEqualTo(401);
                assertThat(client.get("/v8/artifacts/h1?slug=web", "Authorization", "Bearer alice:dev-secret").body()).isEqualTo(object);
            }
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }
}
