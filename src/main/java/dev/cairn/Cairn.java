package dev.cairn;

import dev.cairn.config.CairnConfig;
import dev.cairn.http.HttpServer;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.registry.Registry;
import dev.cairn.storage.FileBlobStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Clock;

/**
 * One running Cairn node: the stores, the registry over them and the HTTP server in front, started in
 * that order and stopped in the reverse one (HTTP drains first, then last-use times are flushed).
 */
public final class Cairn implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Cairn.class);

    private final FileBlobStore blobs;
    private final JdbcMetadataStore metadata;
    private final LastUseRecorder lastUse;
    private final Registry registry;
    private final HttpServer http;

    private Cairn(CairnConfig config) throws IOException {
        Files.createDirectories(config.dataDir());
        this.blobs = new FileBlobStore(config.dataDir());
        this.metadata = JdbcMetadataStore.sqlite(config.dataDir().resolve("cairn.db"));
        this.lastUse = new LastUseRecorder(metadata, Clock.systemUTC(), config.lastUseFlushInterval());
        this.registry = new Registry(blobs, metadata, lastUse, Clock.systemUTC(), config.maxManifestBytes());
        this.http = new HttpServer(registry, config.listenHost(), config.listenPort(), config.accessLog(), config.shutdownTimeout());
    }

    /** Builds and starts a node; on failure, releases whatever was opened. */
    public static Cairn start(CairnConfig config) throws Exception {
        Cairn cairn = new Cairn(config);
        try {
            cairn.http.start();
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

    public LastUseRecorder lastUse() {
        return lastUse;
    }

    @Override
    public void close() throws Exception {
        try {
            http.close();
        } finally {
            lastUse.close();
            metadata.close();
            blobs.close();
        }
    }
}
