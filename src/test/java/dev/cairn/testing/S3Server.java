package dev.cairn.testing;

import org.gaul.s3proxy.BlobStores;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.Part;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A real S3 API server in this JVM: S3Proxy on 127.0.0.1, with AWS v4 signatures checked against a fixed
 * access key and secret, one bucket, and its objects in files under a temporary directory. {@link #stop()}
 * and {@link #startAgain()} take it down and bring it back on the same port and data, for outage tests.
 *
 * <p>Backend: S3Proxy 4.1.0 no longer uses jclouds. Its provider names {@code filesystem} and
 * {@code transient} are aliases of its own {@code filesystem-nio2} and {@code transient-nio2} stores
 * ({@code BlobStores.resolveProviderAlias}), so "filesystem" and "filesystem-nio2" are the same class,
 * {@code FilesystemNio2BlobStore}. It supports everything a blob store needs, as {@link
 * ScaleOutFixturesTest} shows with the AWS SDK v2 client: PutObject, GetObject (ranges too), CopyObject,
 * multipart upload (CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts, CompleteMultipartUpload),
 * ListMultipartUploads, AbortMultipartUpload, DeleteObjects and presigned GET URLs, and like
 * AWS it refuses to complete an upload whose parts other than the last are under 5 MiB (EntityTooSmall).
 * Object metadata (content type, user metadata) lives in extended attributes of the files; open multipart
 * uploads are {@code .mpus-*} files in the bucket directory, so both survive a restart.
 */
public final class S3Server implements AutoCloseable {
    private static final String ACCESS_KEY = "cairn-test-access-key";
    private static final String SECRET_KEY = "cairn-test-secret-key-0123456789abcdef";
    private static final String BUCKET = "cairn-test";
    private static final String REGION = "us-east-1";
    private static S3Server shared;

    static {
        // S3Proxy logs every start and (at INFO) its shaded Jetty's banner; tests want warnings only.
        quiet("org.gaul");
    }

    private final Path baseDir;
    private int port;
    private S3Proxy proxy;
    private S3Client client;

    private S3Server(Path baseDir, int port) {
        this.baseDir = baseDir;
        this.port = port;
    }

    /** Starts a server on a port it picks, over a fresh temporary directory, with the bucket created. */
    public static S3Server start() throws Exception {
        return start(0);
    }

    /** As {@link #start()}, on {@code port} (0: pick one). */
    public static S3Server start(int port) throws Exception {
        S3Server server = new S3Server(Files.createTempDirectory("cairn-s3-"), port);
        try {
            Files.createDirectories(server.baseDir);
            server.launch();
            server.client().createBucket(b -> b.bucket(BUCKET));
        } catch (Exception | Error e) {
            server.close();
            throw e;
        }
        return server;
    }

    /**
     * One server for the whole JVM, started on first use and removed when the JVM exits. Tests that share it
     * keep apart by key prefix ({@link #cairnSettings(String)}); never stop it.
     */
    public static synchronized S3Server shared() throws Exception {
        if (shared == null) {
            S3Server server = start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    server.close();
                } catch (Exception e) {
                    // the JVM is exiting; a leftover temporary directory is all that is lost
                }
            }, "s3-server-shutdown"));
            shared = server;
        }
        return shared;
    }

    private void launch() throws Exception {
        Properties properties = new Properties();
        properties.setProperty("jclouds.filesystem.basedir", baseDir.toString());
        S3Proxy started = S3Proxy.builder()
                .blobStore(BlobStores.create("filesystem", properties))
                .endpoint(URI.create("http://127.0.0.1:" + port))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
                .stopTimeout(0)
                .build();
        started.start();
        proxy = started;
        port = started.getPort();
    }

    /**
     * Takes the server down; requests fail to connect until {@link #startAgain()}. Data stays. The {@link
     * #client()} is replaced: a connection it pooled before the outage would fail with "the target server
     * failed to respond" rather than a refused connection.
     */
    public synchronized void stop() throws Exception {
        if (client != null) {
            client.close();
            client = null;
        }
        if (proxy != null) {
            proxy.stop();
            proxy = null;
        }
    }

    /** Starts the server again on the same port and data after {@link #stop()}. */
    public synchronized void startAgain() throws Exception {
        if (proxy != null) throw new IllegalStateException("already running on port " + port);
        launch();
    }

    public boolean running() {
        return proxy != null;
    }

    public int port() {
        return port;
    }

    /** {@code http://127.0.0.1:PORT}. */
    public String endpoint() {
        return "http://127.0.0.1:" + port;
    }

    public String bucket() {
        return BUCKET;
    }

    public String region() {
        return REGION;
    }

    public String accessKey() {
        return ACCESS_KEY;
    }

    public String secretKey() {
        return SECRET_KEY;
    }

    /** Where the bucket's files live (the bucket is the directory {@code <baseDir>/<bucket>}). */
    public Path baseDir() {
        return baseDir;
    }

    /**
     * Cairn config keys for a node that keeps its blobs in this bucket under {@code keyPrefix} (may be
     * empty): {@code storage.type: s3} and the connection keys.
     */
    public Map<String, String> cairnSettings(String keyPrefix) {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("storage.type", "s3");
        settings.put("storage.s3.bucket", BUCKET);
        settings.put("storage.s3.prefix", keyPrefix);
        settings.put("storage.s3.region", REGION);
        settings.put("storage.s3.endpoint", endpoint());
        settings.put("storage.s3.path-style", "true");
        settings.put("storage.s3.access-key", ACCESS_KEY);
        settings.put("storage.s3.secret-key", SECRET_KEY);
        return settings;
    }

    /**
     * An AWS SDK v2 client for this server (path-style, region us-east-1, the fixed credentials), kept
     * open until {@link #close()}. It does not retry, so a request to a stopped server fails at once.
     */
    public synchronized S3Client client() {
        if (client == null) client = newClient();
        return client;
    }

    private S3Client newClient() {
        return S3Client.builder()
                .endpointOverride(URI.create(endpoint()))
                .region(Region.of(REGION))
                .credentialsProvider(credentials())
                .forcePathStyle(true)
                // named, since two are on the class path: apache-client (HttpClient 4, deprecated in SDK 2.57)
                // and apache5-client, which the s3 artifact brings
                .httpClientBuilder(Apache5HttpClient.builder())
                .overrideConfiguration(o -> o.retryStrategy(r -> r.maxAttempts(1)))
                .build();
    }

    /** A presigner for GET/PUT URLs against this server; close it after use. */
    public S3Presigner presigner() {
        return S3Presigner.builder()
                .endpointOverride(URI.create(endpoint()))
                .region(Region.of(REGION))
                .credentialsProvider(credentials())
                .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(true).build())
                .build();
    }

    private StaticCredentialsProvider credentials() {
        return StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY));
    }

    /** An object as listed: key, size and ETag (without quotes). */
    public record StoredObject(String key, long size, String etag) {
    }

    /** A multipart upload not yet completed or aborted. */
    public record OpenUpload(String key, String uploadId) {
    }

    /** Every object whose key starts with {@code prefix}, in key order. */
    public List<StoredObject> objects(String prefix) {
        List<StoredObject> objects = new ArrayList<>();
        for (S3Object o : client().listObjectsV2Paginator(b -> b.bucket(BUCKET).prefix(prefix)).contents()) {
            objects.add(new StoredObject(o.key(), o.size(), unquote(o.eTag())));
        }
        return objects;
    }

    /** The multipart uploads open under {@code prefix}, in key order. */
    public List<OpenUpload> openUploads(String prefix) {
        List<OpenUpload> uploads = new ArrayList<>();
        for (MultipartUpload u : client().listMultipartUploadsPaginator(b -> b.bucket(BUCKET).prefix(prefix)).uploads()) {
            uploads.add(new OpenUpload(u.key(), u.uploadId()));
        }
        return uploads;
    }

    /** The parts uploaded so far to an open multipart upload, as number, size and ETag. */
    public List<Part> parts(OpenUpload upload) {
        List<Part> parts = new ArrayList<>();
        client().listPartsPaginator(b -> b.bucket(BUCKET).key(upload.key()).uploadId(upload.uploadId()))
                .parts().forEach(parts::add);
        return parts;
    }

    /** Removes every object and aborts every multipart upload under {@code prefix}. */
    public void deleteAll(String prefix) {
        for (OpenUpload u : openUploads(prefix)) {
            client().abortMultipartUpload(b -> b.bucket(BUCKET).key(u.key()).uploadId(u.uploadId()));
        }
        List<ObjectIdentifier> batch = new ArrayList<>();
        for (StoredObject o : objects(prefix)) {
            batch.add(ObjectIdentifier.builder().key(o.key()).build());
            if (batch.size() == 1000) {
                deleteBatch(batch);
                batch.clear();
            }
        }
        if (!batch.isEmpty()) deleteBatch(batch);
    }

    private void deleteBatch(List<ObjectIdentifier> keys) {
        List<ObjectIdentifier> copy = List.copyOf(keys);
        client().deleteObjects(b -> b.bucket(BUCKET).delete(d -> d.objects(copy).quiet(true)));
    }

    private static String unquote(String etag) {
        return etag != null && etag.length() >= 2 && etag.startsWith("\"") && etag.endsWith("\"")
                ? etag.substring(1, etag.length() - 1) : etag;
    }

    /** Stops the server and removes its files. */
    @Override
    public synchronized void close() throws Exception {
        try {
            stop();
        } finally {
            TempFiles.deleteRecursively(baseDir);
        }
    }

    static void quiet(String loggerName) {
        if (LoggerFactory.getLogger(loggerName) instanceof ch.qos.logback.classic.Logger logger && logger.getLevel() == null) {
            logger.setLevel(ch.qos.logback.classic.Level.WARN);
        }
    }

    @Override
    public String toString() {
        return "S3Server[" + endpoint() + ", bucket " + BUCKET + ", " + baseDir + "]";
    }
}
