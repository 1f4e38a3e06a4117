package dev.cairn.http;

import dev.cairn.auth.Gatekeeper;
import dev.cairn.auth.Pem;
import dev.cairn.config.TlsSettings;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.Registry;
import dev.cairn.retention.CacheKeeper;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;

/**
 * Jetty, set up for a registry: request handling on virtual threads (blocking code, no reactive
 * plumbing), raw paths handed to our own route parser, graceful stop that drains in-flight requests.
 * With TLS it speaks HTTP/2 and HTTP/1.1 and picks up a renewed certificate without a restart.
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpServer.class);
    private static final char[] KEYSTORE_PASSWORD = "cairn".toCharArray(); // in-memory only
    /**
     * Bytes read from a connection per system call (Jetty's default is 8 KiB). Blob uploads arrive in chunks
     * of this size and are hashed and written from them; 64 KiB (the largest size Jetty's buffer pool keeps)
     * makes a GiB 16,000 reads instead of 131,000. A connection holds the buffer only while bytes wait in it.
     */
    private static final int INPUT_BUFFER_SIZE = 64 * 1024;

    private final Server server;
    private final ServerConnector connector;
    private final Optional<Thread> certificateWatcher;
    private final boolean tls;

    /** Everything the HTTP edge serves. */
    public record Services(Registry registry, dev.cairn.keyed.KeyedCache keyedCache, CacheKeeper keeper, RetentionRecords records, CacheMetrics metrics,
                           Gatekeeper gatekeeper, Optional<String> tokenRealm, Optional<Duration> blobRedirectFor,
                           List<dev.cairn.config.AddressRange> trustedProxies, Optional<dev.cairn.mirror.Mirror> mirror) {
    }

    public HttpServer(Services services, String host, int port, boolean accessLog, Duration shutdownTimeout, TlsSettings tlsSettings)
            throws IOException {
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("cairn-http");
        threads.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server = new Server(threads);

        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        // Our route parser validates the raw path itself (names with '..' or '%2f' are NAME_INVALID with
        // an OCI body), so Jetty must hand such paths over instead of answering a bare 400.
        http.setUriCompliance(UriCompliance.UNSAFE);
        http.setRequestHeaderSize(64 * 1024);

        this.tls = tlsSettings.enabled();
        if (tls) {
            SslContextFactory.Server ssl = new SslContextFactory.Server();
            ssl.setKeyStore(keyStore(tlsSettings.cert().get(), tlsSettings.key().get()));
            ssl.setKeyStorePassword(new String(KEYSTORE_PASSWORD));
            ssl.setSniRequired(false);
            if (tlsSettings.clientCa().isPresent()) {
                ssl.setTrustStore(trustStore(tlsSettings.clientCa().get()));
                if (tlsSettings.clientCrl().isPresent()) {
                    Path crl = tlsSettings.clientCrl().get();
                    checkCrl(crl, tlsSettings.clientCa().get());
                    // Jetty checks peers against the CRLs only with this flag; the file is read again at each reload.
                    ssl.setCrlPath(crl.toString());
                    ssl.setValidatePeerCerts(true);
                }
                ssl.setWantClientAuth(true); // a certificate is one way in; passwords and tokens still work
            }
            HttpConfiguration https = new HttpConfiguration(http);
            https.addCustomizer(new SecureRequestCustomizer(false));
            HttpConnectionFactory http1 = new HttpConnectionFactory(https);
            http1.setInputBufferSize(INPUT_BUFFER_SIZE);
            HTTP2ServerConnectionFactory http2 = new HTTP2ServerConnectionFactory(https);
            ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory();
            alpn.setDefaultProtocol(http1.getProtocol());
            connector = new ServerConnector(server, new SslConnectionFactory(ssl, alpn.getProtocol()), alpn, http2, http1);
            certificateWatcher = Optional.of(Thread.ofVirtual().name("cairn-certificate-watch").unstarted(
                    () -> reloadWhenChanged(ssl, tlsSettings)));
        } else {
            // A plain-HTTP connector: a TLS ClientHello (clients probe TLS first with --tls-verify=false)
            // is not HTTP, so Jetty answers it 400 and closes that connection only.
            HttpConnectionFactory http1 = new HttpConnectionFactory(http);
            http1.setInputBufferSize(INPUT_BUFFER_SIZE);
            connector = new ServerConnector(server, http1);
            certificateWatcher = Optional.empty();
        }
        connector.setHost(host == null || host.isEmpty() ? null : host);
        connector.setPort(port);
        connector.setIdleTimeout(Duration.ofMinutes(5).toMillis());
        server.addConnector(connector);

        AccessGate gate = new AccessGate(services.gatekeeper(), services.tokenRealm(), new ClientAddress(services.trustedProxies()));
        // One front per protocol; a request goes to the first that claims its path.
        server.setHandler(new GracefulHandler(new FrontChain(gate, List.of(
                new OciFront(services.registry(), gate, services.blobRedirectFor(), services.mirror()),
                new KeyedCacheFront(services.keyedCache()),
                new BazelFront(new dev.cairn.keyed.BazelCache(services.keyedCache())),
                new TurborepoFront(new dev.cairn.keyed.TurborepoCache(services.keyedCache()), services.metrics()),
                new OperationsFront(services.registry(), services.keeper(), services.metrics()),
                new EntryTimesResource(services.registry().manifests()),
                new KeyedEntriesResource(services.keyedCache()),
                new AdminResource(services.keeper(), services.records(), services.metrics(), services.mirror()),
                new TokenResource(gate)))));
        server.setErrorHandler(new OciErrorPages());
        if (accessLog) server.setRequestLog(new AccessLog());
        server.setStopTimeout(shutdownTimeout.toMillis());
        server.setStopAtShutdown(false); // Cairn's own shutdown hook stops us, then the stores
    }

    public void start() throws Exception {
        server.start();
        certificateWatcher.ifPresent(Thread::start);
    }

    /** The port actually bound (useful when 0 was asked for). */
    public int port() {
        return connector.getLocalPort();
    }

    public InetSocketAddress address() {
        return new InetSocketAddress(connector.getHost() == null ? "0.0.0.0" : connector.getHost(), port());
    }

    @Override
    public void close() throws Exception {
        certificateWatcher.ifPresent(Thread::interrupt);
        server.stop();
    }

    /**
     * Polls the certificate, key, client CA and CRL files; when any changes, new handshakes use what they
     * now hold (a renewed certificate, a rotated client CA, a runner's certificate revoked).
     */
    private static void reloadWhenChanged(SslContextFactory.Server ssl, TlsSettings tls) {
        List<Path> watched = new java.util.ArrayList<>(List.of(tls.cert().get(), tls.key().get()));
        tls.clientCa().ifPresent(watched::add);
        tls.clientCrl().ifPresent(watched::add);
        List<FileTime> seen = watched.stream().map(HttpServer::modified).toList();
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(tls.reloadCheck());
            } catch (InterruptedException e) {
                return;
            }
            List<FileTime> now = watched.stream().map(HttpServer::modified).toList();
            if (now.equals(seen)) continue;
            try {
                KeyStore renewed = keyStore(tls.cert().get(), tls.key().get());
                Optional<KeyStore> clients = tls.clientCa().isPresent() ? Optional.of(trustStore(tls.clientCa().get())) : Optional.empty();
                if (tls.clientCrl().isPresent()) checkCrl(tls.clientCrl().get(), tls.clientCa().get());
                ssl.reload(factory -> {
                    factory.setKeyStore(renewed);
                    clients.ifPresent(factory::setTrustStore);
                });
                seen = now;
                log.info("TLS files reloaded: {}", watched);
            } catch (Exception e) {
                // Half-written files during a rotation are common: keep serving the old ones, try again next round.
                log.warn("cannot load the new TLS files yet ({}); still serving the previous ones", e.getMessage());
            }
        }
    }

    /**
     * Reads the CRL file as Jetty will, so a broken one is refused before it replaces a good one. With
     * revocation checked, a certificate whose CA has no CRL cannot be checked and is refused: the file must
     * hold a CRL of every client CA, or every runner of the missing one would be locked out. An expired CRL
     * is still used (a revoked certificate must not come back), but said loudly: every certificate of its CA
     * is refused until a fresh one is there.
     */
    private static void checkCrl(Path crlFile, Path caFile) throws IOException {
        java.util.Collection<? extends java.security.cert.CRL> crls;
        try (java.io.InputStream in = Files.newInputStream(crlFile)) {
            crls = java.security.cert.CertificateFactory.getInstance("X.509").generateCRLs(in);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot read the CRL " + crlFile + ": " + e.getMessage(), e);
        }
        java.time.Instant now = java.time.Instant.now();
        for (X509Certificate ca : Pem.certificates(caFile)) {
            java.util.Optional<java.security.cert.X509CRL> ofCa = crls.stream().map(java.security.cert.X509CRL.class::cast)
                    .filter(crl -> crl.getIssuerX500Principal().equals(ca.getSubjectX500Principal())).findFirst();
            if (ofCa.isEmpty()) {
                throw new IOException(crlFile + " holds no CRL of the client CA " + ca.getSubjectX500Principal().getName()
                        + ": every certificate of that CA would be refused; add one (it may list nothing)");
            }
            if (ofCa.get().getNextUpdate() != null && ofCa.get().getNextUpdate().toInstant().isBefore(now)) {
                log.warn("the CRL of client CA {} in {} expired at {}: every certificate of that CA is refused until a fresh CRL is there",
                        ca.getSubjectX500Principal().getName(), crlFile, ofCa.get().getNextUpdate().toInstant());
            }
        }
    }

    private static FileTime modified(Path file) {
        try {
            return Files.getLastModifiedTime(file);
        } catch (IOException e) {
            return FileTime.fromMillis(0);
        }
    }

    private static KeyStore keyStore(Path cert, Path key) throws IOException {
        try {
            List<X509Certificate> chain = Pem.certificates(cert);
            java.security.PrivateKey privateKey = Pem.privateKey(key);
            requireMatchingPair(chain.getFirst(), privateKey, cert, key);
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("cairn", privateKey, KEYSTORE_PASSWORD, chain.toArray(X509Certificate[]::new));
            return store;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use " + cert + " with " + key + ": " + e.getMessage(), e);
        }
    }

    /**
     * A rotation replaces two files one after the other; in between, the certificate and key do not belong
     * together, and serving them would fail every handshake. Sign and verify a probe to be sure they do.
     */
    private static void requireMatchingPair(X509Certificate certificate, java.security.PrivateKey key, Path cert, Path keyFile)
            throws GeneralSecurityException, IOException {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> throw new IOException(keyFile + ": unsupported key algorithm " + key.getAlgorithm());
        };
        byte[] probe = "cairn certificate and key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        java.security.Signature signer = java.security.Signature.getInstance(algorithm);
        signer.initSign(key);
        signer.update(probe);
        byte[] signature = signer.sign();
        java.security.Signature verifier = java.security.Signature.getInstance(algorithm);
        verifier.initVerify(certificate.getPublicKey());
        verifier.update(probe);
        if (!verifier.verify(signature)) {
            throw new IOException(cert + " and " + keyFile + " do not belong together");
        }
    }

    private static KeyStore trustStore(Path caFile) throws IOException {
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            int i = 0;
            for (X509Certificate ca : Pem.certificates(caFile)) store.setCertificateEntry("ca-" + i++, ca);
            return store;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use " + caFile + " as client CA: " + e.getMessage(), e);
        }
    }
}
