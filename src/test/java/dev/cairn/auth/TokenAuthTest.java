package dev.cairn.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;

import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/** auth.mode token: the Docker registry token protocol, scopes, expiry and an external issuer. */
class TokenAuthTest {
    static final String RULES = "[{groups: [runners], repositories: 'cache/**', actions: [pull, push]},"
            + " {groups: [devs], repositories: '**', actions: [pull]}, {anonymous: true, repositories: 'public/**', actions: [pull]}]";

    private static String token(OciClient client, String authorization, String... scopes) {
        StringBuilder query = new StringBuilder("/token?service=cairn");
        for (String scope : scopes) query.append("&scope=").append(URLEncoder.encode(scope, StandardCharsets.UTF_8));
        HttpResponse<byte[]> r = authorization == null ? client.get(query.toString()) : client.get(query.toString(), "Authorization", authorization);
        assertThat(r.statusCode()).as(OciClient.text(r)).isEqualTo(200);
        JsonNode body = OciClient.json(r);
        assertThat(body.path("access_token").asText()).isEqualTo(body.path("token").asText());
        assertThat(body.path("expires_in").asLong()).isPositive();
        return "Bearer " + body.path("token").asText();
    }

    @Test
    void aChallengeFromTheAdminApiNamesTheScopeToAskFor() throws Exception {
        Path dir = Files.createTempDirectory("cairn-token-admin-");
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("root", "ops-secret", "ci-1", "runner-secret"));
        try (RunningCairn cairn = RunningCairn.start(Map.of("auth.mode", "token", "auth.htpasswd", htpasswd.toString(),
                "auth.groups", "{runners: [ci-1], ops: [root]}", "auth.rules", RULES, "auth.admins", "{groups: [ops]}"))) {
            OciClient client = new OciClient(cairn);
            for (String path : List.of("/metrics", "/api/v1/stats")) {
                HttpResponse<byte[]> challenge = client.get(path);
                assertThat(challenge.statusCode()).isEqualTo(401);
                assertThat(challenge.headers().firstValue("WWW-Authenticate").orElseThrow()).endsWith(",scope=\"registry:admin:*\"");
            }
            String admin = token(client, TestUsers.basic("root", "ops-secret"), "registry:admin:*");
            assertThat(client.get("/metrics", "Authorization", admin).statusCode()).isEqualTo(200);
            String runner = token(client, TestUsers.basic("ci-1", "runner-secret"), "registry:admin:*");
            assertThat(client.get("/api/v1/stats", "Authorization", runner).statusCode()).as("not an admin: nothing granted").isEqualTo(403);
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }

    /** Import and export as a user of a token-mode Cairn: every upload, download and listing answers its bearer challenge. */
    @Test
    void importAndExportTakeTheirTokensForEachRepository(@org.junit.jupiter.api.io.TempDir Path work) throws Exception {
        Path htpasswd = TestUsers.htpasswd(work.resolve("htpasswd"), Map.of("ci-1", "runner-secret"));
        try (RunningCairn open = RunningCairn.start(); RunningCairn cairn = RunningCairn.start(Map.of("auth.mode", "token",
                "auth.htpasswd", htpasswd.toString(), "auth.groups", "{runners: [ci-1]}", "auth.rules", RULES))) {
            OciClient plain = new OciClient(open);
            OciClient.Image image = plain.prepareImage("cache/app", "application/vnd.oci.image.config.v1+json",
                    dev.cairn.testing.SeededBytes.of(300_000, 1), dev.cairn.testing.SeededBytes.of(5_000, 2));
            String digest = plain.pushManifest("cache/app", "v1", OciClient.OCI_MANIFEST, image.manifest());
            Path first = work.resolve("first");
            try (var target = dev.cairn.transfer.LayoutTarget.create(first)) {
                new dev.cairn.transfer.Export(new dev.cairn.http.RegistryClient("http://" + open.hostPort(), java.util.Optional.empty(), ""),
                        target, false, java.util.Optional.empty(), line -> { }).run(List.of(dev.cairn.transfer.Export.Selector.parse("cache/app")));
            }
            var runner = new dev.cairn.http.RegistryClient("http://" + cairn.hostPort(), java.util.Optional.of("ci-1"), "runner-secret");
            assertThat(new dev.cairn.transfer.Import(runner, java.util.Optional.empty(), line -> { })
                    .run(dev.cairn.transfer.LayoutArchive.open(first)).blobsSent()).isEqualTo(3);
            Path second = work.resolve("second");
            try (var target = dev.cairn.transfer.LayoutTarget.create(second)) {
                var report = new dev.cairn.transfer.Export(runner, target, false, java.util.Optional.empty(), line -> { })
                        .run(List.of(dev.cairn.transfer.Export.Selector.parse("cache/app:v1")));
                assertThat(report.entries()).isEqualTo(1);
            }
            for (String blob : image.layerDigests()) {
                assertThat(Files.readAllBytes(second.resolve("blobs/sha256/" + blob.substring(7))))
                        .isEqualTo(Files.readAllBytes(first.resolve("blobs/sha256/" + blob.substring(7))));
            }
            assertThat(sha256(Files.readAllBytes(second.resolve("blobs/sha256/" + digest.substring(7))))).isEqualTo(digest);
            // a blob read first thing, before any other request got the client a token
            var fresh = new dev.cairn.http.RegistryClient("http://" + cairn.hostPort(), java.util.Optional.of("ci-1"), "runner-secret");
            try (var in = fresh.blob(dev.cairn.values.RepositoryName.of("cache/app"), dev.cairn.values.Digest.parse(image.layerDigests().getFirst()))) {
                assertThat(sha256(in.readAllBytes())).isEqualTo(image.layerDigests().getFirst());
            }
        }
    }

    @Test
    void theTokenDanceGrantsWhatTheRulesAllowAndNoMore() throws Exception {
        Path dir = Files.createTempDirectory("cairn-token-");
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("ci-1", "runner-secret", "alice", "dev-secret"));
        try (RunningCairn cairn = RunningCairn.start(Map.of("auth.mode", "token", "auth.htpasswd", htpasswd.toString(),
                "auth.groups", "{runners: [ci-1], devs: [alice]}", "auth.rules", RULES))) {
            OciClient client = new OciClient(cairn);
            // the ping a docker login starts with
            HttpResponse<byte[]> ping = client.get("/v2/");
            assertThat(ping.statusCode()).isEqualTo(401);
            assertThat(ping.headers().firstValue("WWW-Authenticate")).hasValue(
                    "Bearer realm=\"http://" + cairn.hostPort() + "/token\",service=\"cairn\"");
            HttpResponse<byte[]> scoped = client.get("/v2/cache/app/manifests/v1");
            assertThat(scoped.headers().firstValue("WWW-Authenticate").orElseThrow()).endsWith(",scope=\"repository:cache/app:pull\"");

            String runnerToken = token(client, TestUsers.basic("ci-1", "runner-secret"), "repository:cache/app:pull,push");
            assertThat(client.get("/v2/", "Authorization", runnerToken).statusCode()).isEqualTo(200);
            byte[] blob = "layer".getBytes();
            assertThat(client.post("/v2/cache/app/blobs/uploads/?digest=" + sha256(blob), blob, "Authorization", runnerToken).statusCode())
                    .isEqualTo(201);
            assertThat(client.head("/v2/cache/app/blobs/" + sha256(blob), "Authorization", runnerToken).statusCode()).isEqualTo(200);

            // a token for one repository does not open another: the rules allow it, so the client may ask again (401)
            HttpResponse<byte[]> other = client.head("/v2/cache/other/blobs/" + sha256(blob), "Authorization", runnerToken);
            assertThat(other.statusCode()).isEqualTo(401);
            assertThat(other.headers().firstValue("WWW-Authenticate").orElseThrow())
                    .contains("scope=\"repository:cache/other:pull\"").contains("error=\"insufficient_scope\"");

            // a developer asking for push gets a token without it, and a push is then a 403
            String devToken = token(client, TestUsers.basic("alice", "dev-secret"), "repository:cache/app:pull,push");
            assertThat(client.head("/v2/cache/app/blobs/" + sha256(blob), "Authorization", devToken).statusCode()).isEqualTo(200);
            HttpResponse<byte[]> push = client.post("/v2/cache/app/blobs/uploads/", null, "Authorization", devToken);
            assertThat(push.statusCode()).isEqualTo(403);
            assertThat(errorCode(push)).isEqualTo("DENIED");

            // anonymous tokens carry only what anonymous rules allow
            String anonymous = token(client, null, "repository:public/base:pull", "repository:cache/app:pull");
            assertThat(client.get("/v2/public/base/tags/list", "Authorization", anonymous).statusCode()).isIn(200, 404);
            assertThat(client.get("/v2/cache/app/tags/list", "Authorization", anonymous).statusCode()).isEqualTo(401);

            // docker login asks for a token with no scope at all
            HttpResponse<byte[]> login = client.get("/token?account=ci-1&client_id=docker&offline_token=true&service=cairn",
                    "Authorization", TestUsers.basic("ci-1", "runner-secret"));
            assertThat(login.statusCode()).isEqualTo(200);
            assertThat(client.get("/v2/", "Authorization", "Bearer " + OciClient.json(login).path("token").asText()).statusCode()).isEqualTo(200);

            // containerd and BuildKit post an OAuth2 password form
            HttpResponse<byte[]> form = client.post("/token", ("grant_type=password&service=cairn&client_id=buildkit&username=ci-1"
                    + "&password=runner-secret&scope=" + URLEncoder.encode("repository:cache/app:pull,push", StandardCharsets.UTF_8)).getBytes(),
                    "Content-Type", "application/x-www-form-urlencoded");
            assertThat(form.statusCode()).as(OciClient.text(form)).isEqualTo(200);
            String formToken = "Bearer " + OciClient.json(form).path("access_token").asText();
            assertThat(client.head("/v2/cache/app/blobs/" + sha256(blob), "Authorization", formToken).statusCode()).isEqualTo(200);
            assertThat(client.post("/token", "grant_type=refresh_token&refresh_token=x&service=cairn".getBytes(),
                    "Content-Type", "application/x-www-form-urlencoded").statusCode()).as("no refresh tokens: fall back to GET").isEqualTo(404);
            assertThat(client.post("/token", "grant_type=password&username=ci-1&password=wrong".getBytes(),
                    "Content-Type", "application/x-www-form-urlencoded").statusCode()).isEqualTo(401);

            // the catalog lists by the rules for a token's user
            String catalogToken = token(client, TestUsers.basic("alice", "dev-secret"), "registry:catalog:*");
            assertThat(OciClient.json(client.get("/v2/_catalog", "Authorization", catalogToken)).path("repositories").toString())
                    .contains("cache/app");

            // wrong passwords get no token; forged tokens are refused
            assertThat(client.get("/token?service=cairn", "Authorization", TestUsers.basic("ci-1", "nope")).statusCode()).isEqualTo(401);
            String forged = runnerToken.substring(0, runnerToken.length() - 4) + "AAAA";
            assertThat(client.get("/v2/", "Authorization", forged).statusCode()).isEqualTo(401);
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }

    @Test
    void anExpiredTokenIs401AndAFreshOneWorks() throws Exception {
        Path dir = Files.createTempDirectory("cairn-token-");
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("ci-1", "runner-secret"));
        try (RunningCairn cairn = RunningCairn.start(Map.of("auth.mode", "token", "auth.htpasswd", htpasswd.toString(),
                "auth.groups", "{runners: [ci-1]}", "auth.rules", RULES, "auth.token.ttl", "1s", "auth.max-failures", "3"))) {
            OciClient client = new OciClient(cairn);
            String credentials = TestUsers.basic("ci-1", "runner-secret");
            String shortLived = token(client, credentials, "repository:cache/app:pull");
            assertThat(client.get("/v2/", "Authorization", shortLived).statusCode()).isEqualTo(200);
            Thread.sleep(1000 + 5000 + 500); // the lifetime plus the clock-skew allowance
            for (int i = 0; i < 5; i++) {
                assertThat(client.get("/v2/", "Authorization", shortLived).statusCode()).isEqualTo(401);
            }
            // expired tokens are normal use, not password guessing: no cooling-off for the address
            assertThat(client.get("/v2/", "Authorization", credentials).statusCode()).isEqualTo(200);
            assertThat(client.get("/v2/", "Authorization", token(client, credentials, "repository:cache/app:pull")).statusCode()).isEqualTo(200);
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }

    @Test
    void tokensOfAConfiguredExternalIssuerAreAccepted() throws Exception {
        Path dir = Files.createTempDirectory("cairn-token-");
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        var pair = generator.generateKeyPair();
        RSAKey jwk = new RSAKey.Builder((RSAPublicKey) pair.getPublic()).keyID("ext-1").build();
        Path jwks = dir.resolve("jwks.json");
        Files.writeString(jwks, new JWKSet(jwk).toString());
        try (RunningCairn cairn = RunningCairn.start(Map.of("auth.mode", "token", "auth.token.external-issuer", "https://sso.example",
                "auth.token.external-key", jwks.toString(), "auth.rules", RULES))) {
            OciClient client = new OciClient(cairn);
            JWTClaimsSet claims = new JWTClaimsSet.Builder().issuer("https://sso.example").subject("pipeline-7").audience("cairn")
                    .expirationTime(Date.from(Instant.now().plusSeconds(60))).issueTime(new Date())
                    .claim("access", List.of(Map.of("type", "repository", "name", "cache/app", "actions", List.of("pull", "push"))))
                    .build();
            SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID("ext-1").build(), claims);
            jwt.sign(new RSASSASigner((RSAPrivateKey) pair.getPrivate()));
            String bearer = "Bearer " + jwt.serialize();
            byte[] blob = "external".getBytes();
            assertThat(client.post("/v2/cache/app/blobs/uploads/?digest=" + sha256(blob), blob, "Authorization", bearer).statusCode())
                    .isEqualTo(201);
            assertThat(client.head("/v2/cache/elsewhere/blobs/" + sha256(blob), "Authorization", bearer).statusCode()).isEqualTo(401);

            // signed by someone else: refused
            var stranger = generator.generateKeyPair();
            SignedJWT forged = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID("ext-1").build(), claims);
            forged.sign(new RSASSASigner((RSAPrivateKey) stranger.getPrivate()));
            assertThat(client.get("/v2/", "Authorization", "Bearer " + forged.serialize()).statusCode()).isEqualTo(401);
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }
}
