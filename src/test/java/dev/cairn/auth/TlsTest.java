package dev.cairn.auth;

import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import dev.cairn.testing.TestPki;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.Test;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** tls.cert/tls.key: HTTPS with HTTP/2, certificate rotation without a restart, client-certificate logins. */
class TlsTest {
    private static SSLContext trusting(TestPki pki, KeyStore clientKeys) throws Exception {
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(pki.trustStore());
        SSLContext context = SSLContext.getInstance("TLS");
        KeyManagerFactory keys = null;
        if (clientKeys != null) {
            keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(clientKeys, "x".toCharArray());
        }
        context.init(keys == null ? null : keys.getKeyManagers(), trust.getTrustManagers(), null);
        return context;
    }

    private static BigInteger servedSerial(SSLContext context, int port) throws Exception {
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port)) {
            socket.startHandshake();
            return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    @Test
    void httpsWithHttp2AndARotatedCertificatePickedUpWithoutARestart() throws Exception {
        Path dir = Files.createTempDirectory("cairn-tls-");
        TestPki pki = new TestPki("Cairn test CA");
        Path cert = dir.resolve("server.pem");
        Path key = dir.resolve("server-key.pem");
        TestPki.Issued first = pki.issue("127.0.0.1", true);
        first.writePem(cert, key);
        try (RunningCairn cairn = RunningCairn.start(Map.of("tls.cert", cert.toString(), "tls.key", key.toString(), "tls.reload-check", "200ms"))) {
            SSLContext context = trusting(pki, null);
            HttpClient client = HttpClient.newBuilder().sslContext(context).version(HttpClient.Version.HTTP_2).build();
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + cairn.port() + "/v2/")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
            HttpClient http1 = HttpClient.newBuilder().sslContext(context).version(HttpClient.Version.HTTP_1_1).build();
            assertThat(http1.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + cairn.port() + "/v2/")).build(),
                    HttpResponse.BodyHandlers.ofString()).version()).isEqualTo(HttpClient.Version.HTTP_1_1);
            assertThat(servedSerial(context, cairn.port())).isEqualTo(first.certificate().getSerialNumber());

            TestPki.Issued second = pki.issue("127.0.0.1", true);
            Thread.sleep(1100); // a visibly newer modification time
            // half-way through a rotation: the new certificate next to the old key is not loaded
            Path onlyCert = dir.resolve("second.pem");
            second.writePem(onlyCert, dir.resolve("second-key.pem"));
            Files.copy(onlyCert, cert, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Thread.sleep(800);
            assertThat(servedSerial(context, cairn.port())).isEqualTo(first.certificate().getSerialNumber());
            second.writePem(cert, key);
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!servedSerial(context, cairn.port()).equals(second.certificate().getSerialNumber()) && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertThat(servedSerial(context, cairn.port())).isEqualTo(second.certificate().getSerialNumber());
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }

    @Test
    void runnersLogInWithClientCertificates() throws Exception {
        Path dir = Files.createTempDirectory("cairn-tls-");
        TestPki pki = new TestPki("Cairn test CA");
        Path cert = dir.resolve("server.pem");
        Path key = dir.resolve("server-key.pem");
        pki.issue("127.0.0.1", true).writePem(cert, key);
        Path ca = dir.resolve("clients-ca.pem");
        pki.writeCaPem(ca);
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("alice", "dev-secret"));
        try (RunningCairn cairn = RunningCairn.start(Map.of("tls.cert", cert.toString(), "tls.key", key.toString(),
                "tls.client-ca", ca.toString(), "auth.mode", "basic", "auth.htpasswd", htpasswd.toString(),
                "auth.rules", "[{users: [ci-1], repositories: 'cache/**', actions: [pull, push]}]"))) {
            TestPki.Issued runner = pki.issue("ci-1", false);
            KeyStore clientKeys = KeyStore.getInstance("PKCS12");
            clientKeys.load(null, null);
            clientKeys.setKeyEntry("ci-1", runner.keys().getPrivate(), "x".toCharArray(), new X509Certificate[]{runner.certificate()});
            HttpClient withCertificate = HttpClient.newBuilder().sslContext(trusting(pki, clientKeys)).build();
            HttpClient without = HttpClient.newBuilder().sslContext(trusting(pki, null)).build();
            URI tags = URI.create("https://127.0.0.1:" + cairn.port() + "/v2/cache/app/blobs/uploads/");
            HttpRequest post = HttpRequest.newBuilder(tags).POST(HttpRequest.BodyPublishers.noBody()).build();
            assertThat(withCertificate.send(post, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(202);
            assertThat(without.send(post, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }

    private static KeyStore clientKeys(TestPki.Issued runner) throws Exception {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("runner", runner.keys().getPrivate(), "x".toCharArray(), new X509Certificate[]{runner.certificate()});
        return keys;
    }

    /** The status of an upload start with this client certificate over a new connection, or -1 when the handshake is refused. */
    private static int startUpload(RunningCairn cairn, TestPki serverCa, TestPki.Issued runner) throws Exception {
        HttpClient client = HttpClient.newBuilder().sslContext(trusting(serverCa, clientKeys(runner))).build();
        try {
            return client.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + cairn.port() + "/v2/cache/app/blobs/uploads/"))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
        } catch (java.io.IOException refused) {
            return -1;
        } finally {
            client.close();
        }
    }

    private static void awaitStatus(RunningCairn cairn, TestPki serverCa, TestPki.Issued runner, java.util.function.IntPredicate expected,
                                    String what) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(15);
        int status;
        while (!expected.test(status = startUpload(cairn, serverCa, runner))) {
            if (System.nanoTime() > deadline) throw new AssertionError(what + " did not happen; last status " + status);
            Thread.sleep(200);
        }
    }

    @Test
    void aRevokedRunnerCertificateAndARotatedClientCaTakeEffectWithoutARestart() throws Exception {
        Path dir = Files.createTempDirectory("cairn-tls-crl-");
        TestPki serverCa = new TestPki("Cairn server CA");
        TestPki runners = new TestPki("Runners CA");
        Path cert = dir.resolve("server.pem");
        Path key = dir.resolve("server-key.pem");
        serverCa.issue("127.0.0.1", true).writePem(cert, key);
        Path ca = dir.resolve("clients-ca.pem");
        runners.writeCaPem(ca);
        Path crl = dir.resolve("clients.crl");
        runners.writeCrlPem(crl);
        Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("alice", "dev-secret"));
        try (RunningCairn cairn = RunningCairn.start(Map.of("tls.cert", cert.toString(), "tls.key", key.toString(),
                "tls.client-ca", ca.toString(), "tls.client-crl", crl.toString(), "tls.reload-check", "200ms",
                "auth.mode", "basic", "auth.htpasswd", htpasswd.toString(),
                "auth.rules", "[{users: [ci-1, ci-2, ci-3], repositories: 'cache/**', actions: [pull, push]}]"))) {
            TestPki.Issued first = runners.issue("ci-1", false);
            TestPki.Issued second = runners.issue("ci-2", false);
            assertThat(startUpload(cairn, serverCa, first)).isEqualTo(202);
            assertThat(startUpload(cairn, serverCa, second)).isEqualTo(202);

            // ci-1's certificate leaks: the CRL revokes it, and the running server refuses it from its next connection
            runners.writeCrlPem(crl, first.certificate());
            awaitStatus(cairn, serverCa, first, status -> status != 202, "refusing the revoked certificate");
            assertThat(startUpload(cairn, serverCa, second)).as("the others still work").isEqualTo(202);

            // the runners' CA is rotated: certificates of the new one work, the old CA's no longer do
            TestPki rotated = new TestPki("Runners CA 2");
            TestPki.Issued third = rotated.issue("ci-3", false);
            Path newCrl = dir.resolve("new.crl");
            rotated.writeCrlPem(newCrl);
            rotated.writeCaPem(dir.resolve("new-ca.pem"));
            Files.move(newCrl, crl, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            Files.move(dir.resolve("new-ca.pem"), ca, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            awaitStatus(cairn, serverCa, third, status -> status == 202, "accepting a certificate of the new CA");
            assertThat(startUpload(cairn, serverCa, second)).as("a certificate of the old CA").isNotEqualTo(202);
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }

    @Test
    void aCrlThatLeavesAClientCaOutIsRefusedRatherThanLockingItsRunnersOut() throws Exception {
        Path dir = Files.createTempDirectory("cairn-tls-crl-missing-");
        TestPki serverCa = new TestPki("Cairn server CA");
        TestPki one = new TestPki("Runners CA one");
        TestPki two = new TestPki("Runners CA two");
        Path cert = dir.resolve("server.pem");
        Path key = dir.resolve("server-key.pem");
        serverCa.issue("127.0.0.1", true).writePem(cert, key);
        Path ca = dir.resolve("clients-ca.pem");
        one.writeCaPem(dir.resolve("one.pem"));
        two.writeCaPem(dir.resolve("two.pem"));
        Files.writeString(ca, Files.readString(dir.resolve("one.pem")) + Files.readString(dir.resolve("two.pem")));
        Path crl = dir.resolve("clients.crl");
        one.writeCrlPem(crl);
        try {
            assertThatThrownBy(() -> RunningCairn.start(Map.of("tls.cert", cert.toString(), "tls.key", key.toString(),
                    "tls.client-ca", ca.toString(), "tls.client-crl", crl.toString())).close())
                    .hasStackTraceContaining("holds no CRL of the client CA").hasStackTraceContaining("Runners CA two");
        } finally {
            TempFiles.deleteRecursively(dir);
        }
    }
}
