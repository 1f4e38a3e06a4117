package dev.cairn.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.BaseImage;
import dev.cairn.testing.DebianTools;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import dev.cairn.testing.TestPki;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real clients against Cairn with access control and TLS: skopeo (credentials, auth files, anonymous
 * pulls), buildah (--creds, login), docker login and pull through a dockerd of the test's own, the
 * token protocol as skopeo speaks it, and HTTPS verified against a CA in a {@code --cert-dir}, across a
 * certificate rotation on disk.
 */
class AuthClientsIT {
    private static final Duration LIMIT = Duration.ofMinutes(1);
    private static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

    private static final String RUNNER = "ci-1";
    private static final String RUNNER_PASSWORD = "runner-secret-4b1d";
    private static final String DEVELOPER = "alice";
    private static final String DEVELOPER_PASSWORD = "developer-secret-9e2c";
    private static final String OPS = "root";
    private static final String OPS_PASSWORD = "ops-secret-51aa";
    private static final String RULES = """
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

    /** Under /tmp with a short name: dockerd and containerd put unix sockets below it (108-byte limit). */
    static Path work;
    static Path layout;
    static String layoutDigest;
    static String configDigest;
    static Path policy;
    static Path noCredentials;
    static Path clientHome;
    static Path htpasswd;

    /** auth.mode basic over plain HTTP, holding cache/base:v1 and public/base:v1 (pushed by ops). */
    static RunningCairn basic;
    static OciClient basicClient;

    @BeforeAll
    static void start() throws Exception {
        DebianTools.skopeo();
        DebianTools.buildah();
        work = Files.createTempDirectory(Path.of("/tmp"), "cairn-ac-");
        // Hermetic clients: accept any image; no credentials from the machine (an empty default auth
        // file, and a HOME of our own so ~/.docker/config.json and ~/.config/containers stay out).
        policy = Files.writeString(work.resolve("policy.json"), "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}");
        noCredentials = Files.writeString(work.resolve("no-credentials.json"), "{}");
        clientHome = Files.createDirectories(work.resolve("home"));
        htpasswd = TestUsers.htpasswd(work.resolve("htpasswd"),
                Map.of(RUNNER, RUNNER_PASSWORD, DEVELOPER, DEVELOPER_PASSWORD, OPS, OPS_PASSWORD));

        layout = BaseImage.buildLayout();
        JsonNode index = OciClient.JSON.readTree(Files.readAllBytes(layout.resolve("index.json")));
        layoutDigest = index.path("manifests").get(0).path("digest").asText();
        JsonNode manifest = OciClient.JSON.readTree(Files.readAllBytes(
                layout.resolve("blobs/sha256").resolve(layoutDigest.substring("sha256:".length()))));
        configDigest = manifest.path("config").path("digest").asText();

        basic = RunningCairn.start(authSettings("basic"));
        basicClient = new OciClient(basic);
        for (String target : List.of("cache/base:v1", "public/base:v1")) {
            skopeoOk("copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", OPS + ":" + OPS_PASSWORD,
                    baseImage(), docker(basic, target));
        }
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (basic != null) basic.close();
        } finally {
            if (layout != null) TempFiles.deleteRecursively(layout.getParent());
            if (work != null) DockerDaemon.removeTree(work);
        }
    }

    static Map<String, String> authSettings(String mode) {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("auth.mode", mode);
        settings.put("auth.htpasswd", htpasswd.toString());
        settings.put("auth.groups", "{runners: [" + RUNNER + "], devs: [" + DEVELOPER + "], ops: [" + OPS + "]}");
        settings.put("auth.rules", RULES);
        settings.put("auth.admins", "{groups: [ops]}");
        // Every client here comes from 127.0.0.1, and the wrong-password checks are failed logins:
        // keep the cooling-off (tested in LoginThrottleTest) from locking the other tests out.
        settings.put("auth.max-failures", "1000");
        return settings;
    }

    // ---- basic mode, plain HTTP ----

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void basicSkopeoPushesWithTheRunnersCredentialsOnly() throws Exception {
        skopeoOk("copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", RUNNER + ":" + RUNNER_PASSWORD,
                baseImage(), docker(basic, "cache/base:by-runner"));
        HttpResponse<byte[]> pushed = manifest(basicClient, "cache/base", "by-runner", runnerBasic());
        assertThat(pushed.statusCode()).as(OciClient.text(pushed)).isEqualTo(200);
        assertThat(pushed.headers().firstValue("Docker-Content-Digest")).hasValue(layoutDigest);

        // alice may pull everything but push nothing: Cairn's 403 DENIED reaches skopeo's error text
        Processes.Result denied = skopeo(null, "copy", "--quiet", "--dest-tls-verify=false",
                "--dest-creds", DEVELOPER + ":" + DEVELOPER_PASSWORD, baseImage(), docker(basic, "cache/base:by-alice"));
        assertThat(denied.exitCode()).as(denied.output()).isNotZero();
        assertThat(denied.output()).contains("denied: requested access to the resource is denied")
                .contains("repository:cache/base:push");
        assertNotStored(basicClient, runnerBasic(), "cache/base", "by-alice");

        Processes.Result wrong = skopeo(null, "copy", "--quiet", "--dest-tls-verify=false",
                "--dest-creds", RUNNER + ":not-the-password", baseImage(), docker(basic, "cache/base:wrong-password"));
        assertThat(wrong.exitCode()).as(wrong.output()).isNotZero();
        assertThat(wrong.output()).containsIgnoringCase("unauthorized");
        assertNotStored(basicClient, runnerBasic(), "cache/base", "wrong-password");
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void basicSkopeoLogsInToAnAuthFileAndOut() throws Exception {
        Path authFile = work.resolve("skopeo-auth.json");
        String registry = basic.hostPort();

        Processes.Result refused = skopeo("not-the-password\n", "login", "--tls-verify=false", "--authfile", authFile.toString(),
                "-u", RUNNER, "--password-stdin", registry);
        assertThat(refused.exitCode()).as(refused.output()).isNotZero();
        assertThat(refused.output()).contains("invalid username/password");
        assertThat(authEntry(authFile, registry)).as("a refused login stores nothing").isNull();

        Processes.Result login = skopeo(RUNNER_PASSWORD + "\n", "login", "--tls-verify=false", "--authfile", authFile.toString(),
                "-u", RUNNER, "--password-stdin", registry);
        assertThat(login.exitCode()).as(login.output()).isZero();
        assertThat(login.output()).contains("Login Succeeded");
        assertThat(authEntry(authFile, registry)).isEqualTo(base64(RUNNER + ":" + RUNNER_PASSWORD));

        JsonNode inspected = OciClient.JSON.readTree(skopeoOk("inspect", "--tls-verify=false", "--authfile", authFile.toString(),
                docker(basic, "cache/base:v1")).output());
        assertThat(inspected.path("Digest").asText()).isEqualTo(layoutDigest);

        skopeoOk("logout", "--authfile", authFile.toString(), registry);
        assertThat(authEntry(authFile, registry)).as("logout removes the credentials").isNull();
        Processes.Result afterLogout = skopeo(null, "inspect", "--tls-verify=false", "--authfile", authFile.toString(),
                docker(basic, "cache/base:v1"));
        assertThat(afterLogout.exitCode()).as(afterLogout.output()).isNotZero();
        assertThat(afterLogout.output()).containsIgnoringCase("unauthorized");
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void basicAnonymousSkopeoPullsWhereAnAnonymousRuleAllowsIt() throws Exception {
        Processes.Result privateRepository = skopeo(null, "inspect", "--tls-verify=false", docker(basic, "cache/base:v1"));
        assertThat(privateRepository.exitCode()).as(privateRepository.output()).isNotZero();
        assertThat(privateRepository.output()).containsIgnoringCase("unauthorized");

        // Plain HTTP without credentials: the anonymous rule on public/** applies.
        HttpResponse<byte[]> direct = basicClient.get("/v2/public/base/manifests/v1", "Accept", OCI_MANIFEST);
        assertThat(direct.statusCode()).as(OciClient.text(direct)).isEqualTo(200);

        // containers/image, holding no credentials, answers a Basic challenge with an empty user and
        // password ("Authorization: Basic Og==") rather than none.
        Processes.Result inspect = skopeo(null, "--debug", "inspect", "--tls-verify=false", docker(basic, "public/base:v1"));
        assertThat(inspect.exitCode()).as("anonymous skopeo inspect of public/base:v1 (skopeo sent \"Authorization: Basic Og==\","
                        + " an empty user and password, which must count as anonymous):\n%s", Processes.tail(inspect.output(), 4000))
                .isZero();
        assertThat(inspect.output()).contains("No credentials for " + basic.hostPort() + "/public/base found");
        assertThat(inspect.output()).contains("\"Digest\": \"" + layoutDigest + "\"");

        Path out = work.resolve("anonymous-copy");
        skopeoOk("copy", "--quiet", "--src-tls-verify=false", docker(basic, "public/base:v1"), "dir:" + out);
        assertThat(OciClient.sha256(Files.readAllBytes(out.resolve("manifest.json")))).isEqualTo(layoutDigest);
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void basicBuildahPullsWithCredsAndPushesAfterLogin() throws Exception {
        String registry = basic.hostPort();
        String base = registry + "/cache/base:v1";
        Map<String, String> env = clientEnv();
        try (CiRunner runner = CiRunner.fresh(CiRunner.Client.BUILDAH, "auth")) {
            Processes.Result anonymous = runner.run(env, null, "pull", "--tls-verify=false", "docker://" + base);
            assertThat(anonymous.exitCode()).as(anonymous.output()).isNotZero();
            assertThat(anonymous.output()).containsIgnoringCase("unauthorized");

            Processes.Result pulled = runner.run(env, null, "pull", "--tls-verify=false",
                    "--creds", RUNNER + ":" + RUNNER_PASSWORD, "docker://" + base);
            assertThat(pulled.exitCode()).as(pulled.output()).isZero();
            assertThat(pulled.output()).as("buildah prints the image ID, the config digest")
                    .contains(configDigest.substring("sha256:".length()));

            Path authFile = work.resolve("buildah-auth.json");
            Processes.Result login = runner.run(env, RUNNER_PASSWORD + "\n", "login", "--authfile", authFile.toString(),
                    "--tls-verify=false", "-u", RUNNER, "--password-stdin", registry);
            assertThat(login.exitCode()).as(login.output()).isZero();
            assertThat(login.output()).contains("Login Succeeded");
            assertThat(authEntry(authFile, registry)).isEqualTo(base64(RUNNER + ":" + RUNNER_PASSWORD));

            Processes.Result push = runner.run(env, null, "push", "--authfile", authFile.toString(), "--tls-verify=false",
                    base, "docker://" + registry + "/cache/buildah:v1");
            assertThat(push.exitCode()).as(push.output()).isZero();
            HttpResponse<byte[]> pushed = manifest(basicClient, "cache/buildah", "v1", runnerBasic());
            assertThat(pushed.statusCode()).as(OciClient.text(pushed)).isEqualTo(200);
            assertThat(OciClient.json(pushed).path("config").path("digest").asText()).isEqualTo(configDigest);

            Processes.Result denied = runner.run(env, null, "push", "--creds", DEVELOPER + ":" + DEVELOPER_PASSWORD,
                    "--tls-verify=false", base, "docker://" + registry + "/cache/buildah:by-alice");
            assertThat(denied.exitCode()).as(denied.output()).isNotZero();
            assertThat(denied.output()).contains("denied: requested access to the resource is denied");
            assertNotStored(basicClient, runnerBasic(), "cache/buildah", "by-alice");

            Processes.Result logout = runner.run(env, null, "logout", "--authfile", authFile.toString(), registry);
            assertThat(logout.exitCode()).as(logout.output()).isZero();
            assertThat(authEntry(authFile, registry)).isNull();
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void basicDockerLogsInAndPulls() throws Exception {
        DebianTools.dockerd();
        DebianTools.docker();
        String registry = basic.hostPort();
        String image = registry + "/cache/base:v1";
        // its own short directory: unix sockets under the exec root must stay within 108 bytes
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "cairn-ad-");
        Path config = Files.createDirectories(dir.resolve("cfg"));
        try (DockerDaemon daemon = DockerDaemon.start(dir.resolve("d"), registry, config)) {
            Processes.Result before = daemon.run(LIMIT, null, "pull", image);
            assertThat(before.exitCode()).as(before.output()).isNotZero();
            assertThat(before.output()).containsAnyOf("no basic auth credentials", "unauthorized");

            Processes.Result refused = daemon.run(LIMIT, "not-the-password\n", "login", registry, "-u", RUNNER, "--password-stdin");
            assertThat(refused.exitCode()).as(refused.output()).isNotZero();
            assertThat(refused.output()).containsIgnoringCase("unauthorized");
            assertThat(authEntry(config.resolve("config.json"), registry)).isNull();

            Processes.Result login = daemon.run(LIMIT, RUNNER_PASSWORD + "\n", "login", registry, "-u", RUNNER, "--password-stdin");
            assertThat(login.exitCode()).as("%s\n--- dockerd log ---\n%s", login.output(), daemon.log()).isZero();
            assertThat(login.output()).contains("Login Succeeded");
            assertThat(authEntry(config.resolve("config.json"), registry)).isEqualTo(base64(RUNNER + ":" + RUNNER_PASSWORD));

            Processes.Result pull = daemon.docker(LIMIT, "pull", image);
            assertThat(pull.output()).contains("Digest: " + layoutDigest);
            assertThat(daemon.docker(LIMIT, "image", "inspect", "--format", "{{.Id}}", image).output().strip())
                    .isEqualTo(configDigest);

            daemon.docker(LIMIT, "logout", registry);
            assertThat(authEntry(config.resolve("config.json"), registry)).isNull();
        } finally {
            DockerDaemon.removeTree(dir);
        }
    }

    // ---- token mode ----

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void tokenModeSkopeoGetsItsTokenFromCairn() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(authSettings("token"))) {
            OciClient client = new OciClient(cairn);
            String registry = cairn.hostPort();
            HttpResponse<byte[]> ping = client.get("/v2/");
            assertThat(ping.statusCode()).isEqualTo(401);
            assertThat(ping.headers().firstValue("WWW-Authenticate"))
                    .hasValue("Bearer realm=\"http://" + registry + "/token\",service=\"cairn\"");

            Processes.Result push = skopeoOk("--debug", "copy", "--dest-tls-verify=false", "--dest-creds", RUNNER + ":" + RUNNER_PASSWORD,
                    baseImage(), docker(cairn, "cache/base:v1"));
            assertThat(push.output()).as("skopeo asked Cairn's token endpoint for pull and push")
                    .contains("GET http://" + registry + "/token?account=" + RUNNER
                            + "&scope=repository%3Acache%2Fbase%3Apull%2Cpush&service=cairn");
            String runnerToken = token(client, RUNNER, RUNNER_PASSWORD, "repository:cache/base:pull");
            HttpResponse<byte[]> pushed = manifest(client, "cache/base", "v1", runnerToken);
            assertThat(pushed.statusCode()).as(OciClient.text(pushed)).isEqualTo(200);
            assertThat(pushed.headers().firstValue("Docker-Content-Digest")).hasValue(layoutDigest);

            // alice's token carries pull only: her push is denied, her pull works
            Processes.Result denied = skopeo(null, "copy", "--quiet", "--dest-tls-verify=false",
                    "--dest-creds", DEVELOPER + ":" + DEVELOPER_PASSWORD, baseImage(), docker(cairn, "cache/base:by-alice"));
            assertThat(denied.exitCode()).as(denied.output()).isNotZero();
            assertThat(denied.output()).contains("denied: requested access to the resource is denied");
            assertNotStored(client, runnerToken, "cache/base", "by-alice");
            JsonNode inspected = OciClient.JSON.readTree(skopeoOk("inspect", "--tls-verify=false",
                    "--creds", DEVELOPER + ":" + DEVELOPER_PASSWORD, docker(cairn, "cache/base:v1")).output());
            assertThat(inspected.path("Digest").asText()).isEqualTo(layoutDigest);

            Processes.Result wrong = skopeo(null, "copy", "--quiet", "--dest-tls-verify=false",
                    "--dest-creds", RUNNER + ":not-the-password", baseImage(), docker(cairn, "cache/base:wrong-password"));
            assertThat(wrong.exitCode()).as(wrong.output()).isNotZero();
            assertThat(wrong.output()).contains("unable to retrieve auth token").containsIgnoringCase("unauthorized");
            assertNotStored(client, runnerToken, "cache/base", "wrong-password");

            // anonymous: a token for public/** but not for cache/**
            skopeoOk("copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", OPS + ":" + OPS_PASSWORD,
                    baseImage(), docker(cairn, "public/base:v1"));
            JsonNode anonymous = OciClient.JSON.readTree(skopeoOk("inspect", "--tls-verify=false", docker(cairn, "public/base:v1")).output());
            assertThat(anonymous.path("Digest").asText()).isEqualTo(layoutDigest);
            Processes.Result anonymousPrivate = skopeo(null, "inspect", "--tls-verify=false", docker(cairn, "cache/base:v1"));
            assertThat(anonymousPrivate.exitCode()).as(anonymousPrivate.output()).isNotZero();
            assertThat(anonymousPrivate.output()).containsIgnoringCase("unauthorized");
        }
    }

    // ---- TLS ----

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void tlsClientsTrustCairnThroughACertDirAcrossARotation() throws Exception {
        Path tls = Files.createDirectories(work.resolve("tls"));
        TestPki pki = new TestPki("Cairn AuthClientsIT CA");
        Path cert = tls.resolve("server.pem");
        Path key = tls.resolve("server-key.pem");
        TestPki.Issued first = pki.issue("127.0.0.1", true);
        first.writePem(cert, key);
        // containers/image reads CAs from *.crt files in --cert-dir (as in /etc/containers/certs.d/HOST:PORT/ca.crt)
        Path certDir = Files.createDirectories(tls.resolve("certs.d"));
        pki.writeCaPem(certDir.resolve("ca.crt"));

        Map<String, String> settings = authSettings("basic");
        settings.put("tls.cert", cert.toString());
        settings.put("tls.key", key.toString());
        settings.put("tls.reload-check", "200ms");
        try (RunningCairn cairn = RunningCairn.start(settings)) {
            SSLContext trustingTheCa = trusting(pki);
            assertThat(servedSerial(trustingTheCa, cairn.port())).isEqualTo(first.certificate().getSerialNumber());

            skopeoOk("copy", "--quiet", "--dest-cert-dir", certDir.toString(), "--dest-creds", RUNNER + ":" + RUNNER_PASSWORD,
                    baseImage(), docker(cairn, "cache/base:v1"));
            assertInspectOverTls(cairn, certDir);

            Processes.Result untrusted = skopeo(null, "inspect", "--creds", RUNNER + ":" + RUNNER_PASSWORD, docker(cairn, "cache/base:v1"));
            assertThat(untrusted.exitCode()).as(untrusted.output()).isNotZero();
            assertThat(untrusted.output()).contains("x509: certificate signed by unknown authority");

            try (CiRunner runner = CiRunner.fresh(CiRunner.Client.BUILDAH, "tls")) {
                Processes.Result pulled = runner.run(clientEnv(), null, "pull", "--cert-dir", certDir.toString(),
                        "--creds", RUNNER + ":" + RUNNER_PASSWORD, "docker://" + cairn.hostPort() + "/cache/base:v1");
                assertThat(pulled.exitCode()).as(pulled.output()).isZero();
                assertThat(pulled.output()).contains(configDigest.substring("sha256:".length()));
            }

            // Rotation as a certificate manager does it: the new pair, from the same CA, moved into place.
            TestPki.Issued second = pki.issue("127.0.0.1", true);
            second.writePem(tls.resolve("next.pem"), tls.resolve("next-key.pem"));
            Files.move(tls.resolve("next-key.pem"), key, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tls.resolve("next.pem"), cert, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            BigInteger served = awaitServedSerial(trustingTheCa, cairn.port(), second.certificate().getSerialNumber());
            assertThat(served).as("the certificate served after the rotation").isEqualTo(second.certificate().getSerialNumber());

            assertInspectOverTls(cairn, certDir);
            Processes.Result stillUntrusted = skopeo(null, "inspect", "--creds", RUNNER + ":" + RUNNER_PASSWORD, docker(cairn, "cache/base:v1"));
            assertThat(stillUntrusted.exitCode()).as(stillUntrusted.output()).isNotZero();
            assertThat(stillUntrusted.output()).contains("x509: certificate signed by unknown authority");
        }
    }

    private static void assertInspectOverTls(RunningCairn cairn, Path certDir) throws Exception {
        Processes.Result inspect = skopeoOk("--debug", "inspect", "--cert-dir", certDir.toString(),
                "--creds", RUNNER + ":" + RUNNER_PASSWORD, docker(cairn, "cache/base:v1"));
        assertThat(inspect.output()).as("spoken over HTTPS").contains("GET https://" + cairn.hostPort() + "/v2/cache/base/manifests/v1")
                .doesNotContain("GET http://");
        assertThat(inspect.output()).contains("\"Digest\": \"" + layoutDigest + "\"");
    }

    // ---- helpers ----

    private static SSLContext trusting(TestPki pki) throws Exception {
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(pki.trustStore());
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    private static BigInteger servedSerial(SSLContext context, int port) throws IOException {
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            socket.startHandshake();
            return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    /** Polls handshakes until {@code expected} is served (or 10 s pass); a handshake failing meanwhile is retried. */
    private static BigInteger awaitServedSerial(SSLContext context, int port, BigInteger expected) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        BigInteger served = null;
        List<String> failures = new ArrayList<>();
        while (System.nanoTime() < deadline) {
            try {
                served = servedSerial(context, port);
                if (served.equals(expected)) break;
            } catch (IOException e) {
                failures.add(e.toString());
            }
            Thread.sleep(100);
        }
        if (!failures.isEmpty()) System.out.println("handshakes failing during the rotation: " + failures);
        return served;
    }

    private static String baseImage() {
        return "oci:" + layout + ":base";
    }

    private static String docker(RunningCairn cairn, String reference) {
        return "docker://" + cairn.hostPort() + "/" + reference;
    }

    private static Map<String, String> clientEnv() {
        return Map.of("REGISTRY_AUTH_FILE", noCredentials.toString(), "HOME", clientHome.toString());
    }

    private static Processes.Result skopeo(String stdin, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(DebianTools.skopeo(), "--policy", policy.toString()));
        command.addAll(List.of(args));
        return Processes.run(command, clientEnv(), null, stdin, LIMIT);
    }

    private static Processes.Result skopeoOk(String... args) throws IOException, InterruptedException {
        Processes.Result r = skopeo(null, args);
        if (r.exitCode() != 0) {
            throw new AssertionError("skopeo failed (exit " + r.exitCode() + "): skopeo " + String.join(" ", args)
                    + "\n" + Processes.tail(r.output(), 8000));
        }
        return r;
    }

    private static String runnerBasic() {
        return TestUsers.basic(RUNNER, RUNNER_PASSWORD);
    }

    private static HttpResponse<byte[]> manifest(OciClient client, String repository, String tag, String authorization) {
        return client.get("/v2/" + repository + "/manifests/" + tag, "Accept", OCI_MANIFEST + ", " + DOCKER_MANIFEST,
                "Authorization", authorization);
    }

    /** The tag is unknown to someone who may read it: the refused push left no manifest behind. */
    private static void assertNotStored(OciClient client, String authorization, String repository, String tag) {
        HttpResponse<byte[]> r = manifest(client, repository, tag, authorization);
        assertThat(r.statusCode()).as("GET %s:%s after the refused push: %s", repository, tag, OciClient.text(r)).isEqualTo(404);
        assertThat(OciClient.errorCode(r)).isEqualTo("MANIFEST_UNKNOWN");
    }

    /** A Bearer authorization from Cairn's token endpoint, logging in with a password. */
    private static String token(OciClient client, String user, String password, String scope) {
        HttpResponse<byte[]> r = client.get("/token?service=cairn&scope=" + URLEncoder.encode(scope, StandardCharsets.UTF_8),
                "Authorization", TestUsers.basic(user, password));
        assertThat(r.statusCode()).as(OciClient.text(r)).isEqualTo(200);
        return "Bearer " + OciClient.json(r).path("token").asText();
    }

    /** The {@code auth} value an auth file (containers auth.json or docker config.json) holds for {@code registry}, or null. */
    private static String authEntry(Path file, String registry) throws IOException {
        if (!Files.exists(file)) return null;
        JsonNode entry = OciClient.JSON.readTree(Files.readAllBytes(file)).path("auths").path(registry).path("auth");
        return entry.isMissingNode() || entry.isNull() ? null : entry.asText();
    }

    private static String base64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }
}
