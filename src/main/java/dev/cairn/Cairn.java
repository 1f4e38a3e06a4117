package dev.cairn;

import dev.cairn.auth.Gatekeeper;
import dev.cairn.auth.Htpasswd;
import dev.cairn.auth.LoginThrottle;
import dev.cairn.auth.TokenService;
import dev.cairn.config.AuthSettings;
import dev.cairn.config.CairnConfig;
import dev.cairn.config.Quantities;
import dev.cairn.config.RetentionSettings;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.DigestLocks;
import dev.cairn.registry.RegistryEvents;
import dev.cairn.retention.AuditLog;
import dev.cairn.retention.CacheKeeper;
import dev.cairn.retention.RetentionPolicy;
import java.util.Optional;
import dev.cairn.http.HttpServer;
import dev.cairn.metadata.ClusterLocks;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.keyed.KeyedCache;
import dev.cairn.registry.Registry;
import dev.cairn.config.StorageSettings;
import dev.cairn.storage.BlobStore;
import dev.cairn.storage.FileBlobStore;
import dev.cairn.storage.S3BlobStore;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * One running Cairn node: the stores, the registry over them and the HTTP server in front, started in
 * that order and stopped in the reverse one (HTTP drains first, then last-use times are flushed).
 */
public final class Cairn implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Cairn.class);
    private static final String AUTO_BUDGET = "retention.auto-max-bytes";
    /** How long a redirected client has to start reading a blob from the object store. */
    private static final Duration BLOB_REDIRECT_VALIDITY = Duration.ofMinutes(5);

    private final BlobStore blobs;
    private final JdbcMetadataStore metadata;
    private final LastUseRecorder lastUse;
    private final Registry registry;
    private final CacheMetrics metrics;
    private final AuditLog audit;
    private final CacheKeeper keeper;
    private final HttpServer http;
    private final Thread uploadJanitor;
    /** The replicate: rules' rounds, once the node serves; none until then. */
    private volatile AutoCloseable replication = () -> { };
    /**
     * Present while a node runs on this data directory: found at start, it says the last run did not stop
     * cleanly, and may have left blob files no record points at (a crash between publishing and linking).
     */
    private final Path runningMarker;

    private Cairn(CairnConfig config) throws IOException {
        Files.createDirectories(config.dataDir());
        this.runningMarker = config.dataDir().resolve("cairn.running");
        this.metadata = metadataStore(config.storage(), config.dataDir());
        // A start that fails part-way closes what it opened: the metadata store holds the data directory's lock.
        BlobStore openedBlobs = null;
        LastUseRecorder startedLastUse = null;
        AuditLog openedAudit = null;
        try {
            openedBlobs = blobStore(config.storage(), config.dataDir(), metadata);
            this.blobs = openedBlobs;
            startedLastUse = new LastUseRecorder(metadata, Clock.systemUTC(), config.lastUseFlushInterval(),
                    readProtection(metadata.locks(), config.retention().grace(), config.lastUseFlushInterval()));
            this.lastUse = startedLastUse;
            // One set of digest locks for everything that publishes or deletes blob bytes: pushes and the collector.
            DigestLocks digestLocks = new DigestLocks(1024, metadata.locks()::withDigestLocks);
            this.metrics = new CacheMetrics();
            metrics.claimWaits(blobs::requestsWaitingForSessionClaims);
            metrics.collectorLockWaits(metadata.locks()::collectionsWaitingForLock);
            openedAudit = new AuditLog(config.dataDir().resolve("audit.log"), metadata.locks());
            this.audit = openedAudit;
            RetentionPolicy policy = policy(config.retention(), config.dataDir());
            this.keeper = new CacheKeeper(metadata, metadata.locks(), digestLocks, blobs, lastUse, policy, audit, metrics, Clock.systemUTC());
            this.registry = new Registry(blobs, metadata, digestLocks, lastUse, Clock.systemUTC(),
                    new Registry.Limits(config.maxManifestBytes(), config.maxUploadSessionsPerClient()),
                    RegistryEvents.both(metrics, keeper));
            KeyedCache keyedCache = new KeyedCache(blobs, metadata, metadata, lastUse, digestLocks, RegistryEvents.both(metrics, keeper),
                    config.maxEntryBytes(), Clock.systemUTC());
            Gatekeeper gatekeeper = gatekeeper(config.auth(), config.dataDir());
            Optional<dev.cairn.mirror.Mirror> mirror = mirror(config, registry, metadata, metrics);
            this.http = new HttpServer(new HttpServer.Services(registry, keyedCache, keeper, metadata, metrics, gatekeeper, config.auth().tokenRealm(),
                            config.storage().redirect() ? Optional.of(BLOB_REDIRECT_VALIDITY) : Optional.empty(), config.trustedProxies(), mirror),
                    config.listenHost(), config.listenPort(), config.accessLog(), config.shutdownTimeout(), config.tls());
            warnIfOpen(config);
            this.uploadJanitor = Thread.ofVirtual().name("cairn-upload-expiry").unstarted(() -> expireUploadsPeriodically(config.uploadExpiry()));
        } catch (IOException | RuntimeException e) {
            closeAfterFailedStart(startedLastUse, openedAudit, openedBlobs, metadata, e);
            throw e;
        }
    }

    /** The pull-through mirror of the mirrors: rules, when there are any; its scratch files under the data directory. */
    private static Optional<dev.cairn.mirror.Mirror> mirror(CairnConfig config, Registry registry, JdbcMetadataStore metadata, CacheMetrics metrics)
            throws IOException {
        if (config.mirrors().isEmpty()) return Optional.empty();
        for (var rule : config.mirrors()) rule.upstream().password("mirrors: " + rule.prefix()); // a variable not set fails the start
        return Optional.of(new dev.cairn.mirror.Mirror(config.mirrors(),
                rule -> new dev.cairn.http.UpstreamClient(rule.upstream().url().toString(), rule.upstream().user(),
                        rule.upstream().password("mirrors: " + rule.prefix()), config.maxManifestBytes()),
                registry.manifests(), registry.blobs(), metadata,
                new dev.cairn.mirror.BlobFetches(config.dataDir().resolve("mirror-scratch"), registry.blobs()), metrics.mirrorEvents(),
                Clock.systemUTC(), config.maxManifestBytes(), clientsPush(config)));
    }

    /**
     * Whether access rules let some client push to a repository: such names are the clients', and the default mirror
     * leaves them alone unless its rule lists them. With auth off anyone may push anywhere, and whoever writes into a
     * repository first decides whose it is.
     */
    private static java.util.function.Predicate<dev.cairn.values.RepositoryName> clientsPush(CairnConfig config) {
        if (config.auth().mode() == Gatekeeper.Mode.NONE) return repository -> false;
        var policy = config.auth().policy();
        config.mirrors().stream().filter(m -> m.isDefault() && !m.namesListed()).findFirst().ifPresent(m -> {
            if (policy.somebodyMayPush("library/alpine")) {
                log.warn("mirrors: the default mirror answers no name that access rules let clients "
                        + "push to, and they let clients push to library/alpine (a rule for '**'?): list the names it should answer "
                        + "in its repositories: ([\"library/**\"])");
            }
        });
        return repository -> policy.somebodyMayPush(repository.value());
    }

    private static void closeAfterFailedStart(LastUseRecorder lastUse, AuditLog audit, BlobStore blobs, JdbcMetadataStore metadata, Exception failure) {
        try {
            if (lastUse != null) lastUse.close();
            if (audit != null) audit.close();
            if (blobs != null) blobs.close();
        } catch (Exception e) {
            failure.addSuppressed(e);
        } finally {
            metadata.close();
        }
    }

    /**
     * A use is written at once, with a check that what was read is still there, when its record is older
     * than half the grace window (a sweep takes only what is older than the whole window, and an eviction
     * retires what was read within the window plus that lag). With nodes sharing the database the other
     * half must also leave more than a flush interval of margin for the batched uses, or every use is
     * written at once.
     */
    private static ReadProtection readProtection(ClusterLocks locks, Duration grace, Duration flushInterval) {
        Duration half = grace.dividedBy(2);
        if (!locks.isShared()) return new ReadProtection(grace, half);
        return new ReadProtection(grace, half.compareTo(flushInterval.multipliedBy(2)) > 0 ? half : Duration.ZERO);
    }

    private static JdbcMetadataStore metadataStore(StorageSettings storage, Path dataDir) {
        return switch (storage.metadataType()) {
            case SQLITE -> JdbcMetadataStore.sqlite(dataDir.resolve("cairn.db"));
            case POSTGRES -> {
                StorageSettings.Postgres pg = storage.postgres().orElseThrow();
                yield JdbcMetadataStore.postgres(pg.url(), pg.user(), pg.password().orElse(null), pg.poolSize());
            }
        };
    }

    private static BlobStore blobStore(StorageSettings storage, Path dataDir, JdbcMetadataStore metadata) throws IOException {
        return switch (storage.storageType()) {
            case FILE -> {
                FileBlobStore store = new FileBlobStore(dataDir);
                log.info("blobs: {} on {}", store.writesDirect()
                        ? "large bodies written with O_DIRECT (around the page cache)"
                        : "written through the page cache (the filesystem refuses O_DIRECT)", dataDir);
                yield store;
            }
            case S3 -> {
                StorageSettings.S3 s3 = storage.s3().orElseThrow();
                S3BlobStore store = new S3BlobStore(new S3BlobStore.Location(s3.bucket(), s3.prefix(), s3.region(), s3.endpoint(),
                        s3.pathStyle(), s3.accessKey(), s3.secretKey(), Math.toIntExact(s3.partSize()), s3.maxConnections()),
                        metadata, Clock.systemUTC());
                try {
                    store.checkBucket(); // fail at start, in the store's own words, when the bucket cannot be reached
                } catch (IOException e) {
                    store.close();
                    throw new IOException("cannot reach the blob store " + s3 + ": " + e.getMessage(), e);
                }
                yield store;
            }
        };
    }

    /**
     * The budget in force: the configured one, or (for "auto") 20 GiB or half the data filesystem's free
     * space at first start, whichever is smaller, remembered so that it does not drift as the cache fills.
     */
    private RetentionPolicy policy(RetentionSettings settings, java.nio.file.Path dataDir) throws IOException {
        long maxBytes;
        if (settings.maxBytes().isPresent()) {
            maxBytes = settings.maxBytes().get();
            log.info("retention: budget {} (configured)", Quantities.formatSize(maxBytes));
        } else {
            Optional<String> remembered = metadata.setting(AUTO_BUDGET);
            if (remembered.isPresent()) {
                maxBytes = Long.parseLong(remembered.get());
            } else {
                // An object store has no free space to speak of: there the budget is 20 GiB unless configured.
                long halfFree = blobs instanceof FileBlobStore ? Files.getFileStore(dataDir).getUsableSpace() / 2 : Long.MAX_VALUE;
                maxBytes = Math.min(20L << 30, halfFree);
                metadata.putSetting(AUTO_BUDGET, Long.toString(maxBytes));
            }
            log.info("retention: budget {} bytes ({}; default: 20GiB or half the free space at first start, whichever is smaller)",
                    maxBytes, Quantities.formatSize(maxBytes));
        }
        return new RetentionPolicy(maxBytes, settings.highWatermark(), settings.lowWatermark(), settings.hardLimit(),
                settings.grace(), settings.gcInterval(), settings.untaggedAfter(), settings.rules());
    }

    private static Gatekeeper gatekeeper(AuthSettings auth, java.nio.file.Path dataDir) throws IOException {
        Optional<Htpasswd> users = auth.htpasswd().map(Htpasswd::new);
        Optional<TokenService> tokens = Optional.empty();
        if (auth.mode() == Gatekeeper.Mode.TOKEN) {
            Optional<TokenService.ExternalIssuer> external = Optional.empty();
            if (auth.externalIssuer().isPresent()) {
                external = Optional.of(TokenService.ExternalIssuer.load(auth.externalIssuer().get(), auth.externalIssuerKey().get()));
            }
            tokens = Optional.of(new TokenService(TokenService.loadOrCreateKey(auth.tokenKey().orElse(dataDir.resolve("token-signing-key.pem"))),
                    "cairn", auth.tokenService(), auth.tokenTtl(), external, Clock.systemUTC()));
        }
        return new Gatekeeper(auth.mode(), auth.policy(), users, tokens,
                new LoginThrottle(auth.maxFailures(), auth.failureWindow(), auth.cooldown(), Clock.systemUTC()));
    }

    /** The first try runs without auth; on a non-loopback address that is worth saying out loud. */
    private static void warnIfOpen(CairnConfig config) {
        boolean loopback = config.listenHost().equals("127.0.0.1") || config.listenHost().equals("localhost")
                || config.listenHost().equals("::1");
        if (config.auth().mode() == Gatekeeper.Mode.NONE && !loopback) {
            log.warn("auth.mode is none and Cairn listens on {}: anyone who can reach it may push, pull and delete. "
                    + "Set auth.mode (basic or token) before exposing it to a fleet.", config.listenHost().isEmpty() ? "every address" : config.listenHost());
        }
        if (!config.tls().enabled() && !loopback) {
            log.warn("TLS is off: credentials and layers travel in the clear. Set tls.cert and tls.key.");
        }
    }

    /** Sweeps abandoned upload sessions a few times per expiry period (at most every ten minutes). */
    private void expireUploadsPeriodically(Duration expiry) {
        Duration every = Duration.ofMillis(Math.max(100, Math.min(expiry.toMillis() / 4, Duration.ofMinutes(10).toMillis())));
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(every);
            } catch (InterruptedException e) {
                return;
            }
            try {
                int expired = registry.uploads().expireUploads(Instant.now().minus(expiry));
                if (expired > 0) log.info("ended {} upload session(s) idle for more than {}", expired, expiry);
            } catch (RuntimeException e) {
                log.warn("upload expiry sweep failed; will retry: {}", e.getMessage());
            }
        }
    }

    /** Builds and starts a node; on failure, releases whatever was opened. */
    public static Cairn start(CairnConfig config) throws Exception {
        Cairn cairn = new Cairn(config);
        try {
            cairn.http.start();
            cairn.uploadJanitor.start();
            boolean stoppedCleanly = !Files.exists(cairn.runningMarker);
            Files.writeString(cairn.runningMarker, ProcessHandle.current().pid() + "\n");
            if (!stoppedCleanly) log.info("the last run on {} did not stop cleanly: the first collection looks for blob files no record points at",
                    config.dataDir());
            cairn.keeper.start(!stoppedCleanly);
            if (!config.replication().isEmpty()) {
                cairn.replication = new dev.cairn.transfer.ReplicationSchedule(config.replication(),
                        rule -> new dev.cairn.http.RegistryClient(rule.from().toString(), rule.user(),
                                rule.passwordEnv().map(name -> Optional.ofNullable(System.getenv(name)).orElseThrow(() -> new IllegalArgumentException(
                                        "replicate: the password variable " + name + " of the rule from " + rule.from() + " is not set"))).orElse("")),
                        new dev.cairn.transfer.NodeRegistry(cairn.registry), cairn.metrics,
                        (repository, tag, digest, bytes) -> cairn.keeper.recordReplicated(repository, digest,
                                tag.map(t -> java.util.List.of(t.value())).orElse(java.util.List.of()), bytes), cairn.metadata.locks());
            }
        } catch (Exception e) {
            cairn.close();
            throw e;
        }
        log.info("Cairn is serving the OCI Distribution API on {}", cairn.http.address());
        return cairn;
    }

    public int port() {
        return http.port();
    }

    public JdbcMetadataStore metadata() {
        return metadata;
    }

    public Registry registry() {
        return registry;
    }

    public CacheKeeper keeper() {
        return keeper;
    }

    public LastUseRecorder lastUse() {
        return lastUse;
    }

    @Override
    public void close() throws Exception {
        Throwable failure = null;
        uploadJanitor.interrupt();
        // each one closed whatever the others did (a failing audit log must not leave the database open); the first failure thrown after
        for (AutoCloseable part : new AutoCloseable[]{replication, http, keeper, lastUse, audit, metadata, blobs}) {
            try {
                part.close();
            } catch (Exception | Error e) {
                if (failure == null) failure = e;
                else failure.addSuppressed(e);
            }
        }
        // the running marker stays, for the next start to see
        if (failure instanceof Exception e) throw e;
        if (failure instanceof Error e) throw e;
        Files.deleteIfExists(runningMarker);
    }
}
