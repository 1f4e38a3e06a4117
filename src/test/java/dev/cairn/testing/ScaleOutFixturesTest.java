package dev.cairn.testing;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The scale-out fixtures do what the S3 store and PostgreSQL metadata tests rely on, with real calls. */
class ScaleOutFixturesTest {
    private static final int PART = 5 << 20;
    private static S3Server s3;

    @BeforeAll
    static void startS3() throws Exception {
        s3 = S3Server.start();
    }

    @AfterAll
    static void stopS3() throws Exception {
        s3.close();
    }

    private static byte[] get(String key) {
        return s3.client().getObjectAsBytes(b -> b.bucket(s3.bucket()).key(key)).asByteArray();
    }

    private static void put(String key, byte[] bytes) {
        s3.client().putObject(b -> b.bucket(s3.bucket()).key(key), RequestBody.fromBytes(bytes));
    }

    @Test
    void putGetRangeCopyAndDelete() {
        byte[] bytes = "hello, bucket".getBytes(StandardCharsets.UTF_8);
        put("plain/a", bytes);
        assertThat(get("plain/a")).isEqualTo(bytes);
        assertThat(s3.client().getObjectAsBytes(b -> b.bucket(s3.bucket()).key("plain/a").range("bytes=7-12")).asUtf8String())
                .isEqualTo("bucket");

        s3.client().copyObject(b -> b.sourceBucket(s3.bucket()).sourceKey("plain/a").destinationBucket(s3.bucket()).destinationKey("plain/b"));
        assertThat(get("plain/b")).isEqualTo(bytes);
        assertThat(s3.objects("plain/")).extracting(S3Server.StoredObject::key, S3Server.StoredObject::size)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("plain/a", 13L), org.assertj.core.groups.Tuple.tuple("plain/b", 13L));

        s3.deleteAll("plain/");
        assertThat(s3.objects("plain/")).isEmpty();
        assertThatThrownBy(() -> get("plain/a")).isInstanceOf(NoSuchKeyException.class);
    }

    @Test
    void wrongSecretIsRefused() {
        try (S3Client wrong = S3Client.builder()
                .endpointOverride(URI.create(s3.endpoint()))
                .region(software.amazon.awssdk.regions.Region.US_EAST_1)
                .forcePathStyle(true)
                .httpClientBuilder(software.amazon.awssdk.http.apache5.Apache5HttpClient.builder())
                .credentialsProvider(software.amazon.awssdk.auth.credentials.StaticCredentialsProvider.create(
                        software.amazon.awssdk.auth.credentials.AwsBasicCredentials.create(s3.accessKey(), "not-the-secret")))
                .build()) {
            assertThatThrownBy(() -> wrong.listObjectsV2(b -> b.bucket(s3.bucket())))
                    .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.statusCode()).isEqualTo(403));
        }
    }

    @Test
    void multipartUploadOfThreePartsIsReadBackWhole() {
        S3Client client = s3.client();
        byte[] whole = SeededBytes.of(3 * PART, 1);
        String key = "mpu/whole";
        String uploadId = client.createMultipartUpload(b -> b.bucket(s3.bucket()).key(key)).uploadId();
        assertThat(s3.openUploads("mpu/")).containsExactly(new S3Server.OpenUpload(key, uploadId));
        List<CompletedPart> parts = new ArrayList<>();
        for (int n = 1; n <= 3; n++) {
            int number = n;
            byte[] part = Arrays.copyOfRange(whole, (n - 1) * PART, n * PART);
            String etag = client.uploadPart(b -> b.bucket(s3.bucket()).key(key).uploadId(uploadId).partNumber(number),
                    RequestBody.fromBytes(part)).eTag();
            parts.add(CompletedPart.builder().partNumber(number).eTag(etag).build());
        }
        assertThat(s3.parts(s3.openUploads("mpu/").getFirst())).extracting(p -> p.size()).containsExactly((long) PART, (long) PART, (long) PART);
        client.completeMultipartUpload(b -> b.bucket(s3.bucket()).key(key).uploadId(uploadId).multipartUpload(m -> m.parts(parts)));

        assertThat(get(key)).isEqualTo(whole);
        assertThat(s3.objects("mpu/")).singleElement().satisfies(o -> {
            assertThat(o.size()).isEqualTo(3L * PART);
            assertThat(o.etag()).as("multipart ETag, as S3 forms it").endsWith("-3");
        });
        assertThat(s3.openUploads("mpu/")).isEmpty();
        s3.deleteAll("mpu/");
    }

    @Test
    void abortedMultipartUploadIsGoneFromTheList() {
        S3Client client = s3.client();
        String kept = client.createMultipartUpload(b -> b.bucket(s3.bucket()).key("abort/kept")).uploadId();
        String aborted = client.createMultipartUpload(b -> b.bucket(s3.bucket()).key("abort/dropped")).uploadId();
        client.uploadPart(b -> b.bucket(s3.bucket()).key("abort/dropped").uploadId(aborted).partNumber(1), RequestBody.fromBytes(SeededBytes.of(1000, 2)));
        assertThat(s3.openUploads("abort/")).containsExactlyInAnyOrder(
                new S3Server.OpenUpload("abort/kept", kept), new S3Server.OpenUpload("abort/dropped", aborted));

        client.abortMultipartUpload(b -> b.bucket(s3.bucket()).key("abort/dropped").uploadId(aborted));

        assertThat(s3.openUploads("abort/")).containsExactly(new S3Server.OpenUpload("abort/kept", kept));
        assertThat(s3.objects("abort/")).as("an aborted upload leaves no object").isEmpty();
        s3.deleteAll("abort/");
        assertThat(s3.openUploads("abort/")).isEmpty();
    }

    @Test
    void uploadPartCopyAssemblesAnObjectFromRangesOfAnother() {
        S3Client client = s3.client();
        byte[] source = SeededBytes.of(2 * PART + 100, 3);
        put("copy/source", source);
        String key = "copy/assembled";
        String uploadId = client.createMultipartUpload(b -> b.bucket(s3.bucket()).key(key)).uploadId();
        String first = client.uploadPartCopy(b -> b.sourceBucket(s3.bucket()).sourceKey("copy/source")
                .copySourceRange("bytes=0-" + (PART - 1))
                .destinationBucket(s3.bucket()).destinationKey(key).uploadId(uploadId).partNumber(1)).copyPartResult().eTag();
        String second = client.uploadPartCopy(b -> b.sourceBucket(s3.bucket()).sourceKey("copy/source")
                .copySourceRange("bytes=" + PART + "-" + (source.length - 1))
                .destinationBucket(s3.bucket()).destinationKey(key).uploadId(uploadId).partNumber(2)).copyPartResult().eTag();
        byte[] tail = "and a new tail".getBytes(StandardCharsets.UTF_8);
        String third = client.uploadPart(b -> b.bucket(s3.bucket()).key(key).uploadId(uploadId).partNumber(3), RequestBody.fromBytes(tail)).eTag();
        client.completeMultipartUpload(b -> b.bucket(s3.bucket()).key(key).uploadId(uploadId).multipartUpload(m -> m.parts(
                CompletedPart.builder().partNumber(1).eTag(first).build(),
                CompletedPart.builder().partNumber(2).eTag(second).build(),
                CompletedPart.builder().partNumber(3).eTag(third).build())));

        byte[] expected = Arrays.copyOf(source, source.length + tail.length);
        System.arraycopy(tail, 0, expected, source.length, tail.length);
        assertThat(get(key)).isEqualTo(expected);
        s3.deleteAll("copy/");
    }

    /** As AWS does, S3Proxy refuses to complete an upload whose parts other than the last are under 5 MiB. */
    @Test
    void smallMiddlePartsAreRefusedAsOnAws() {
        S3Client client = s3.client();
        String key = "small/parts";
        String uploadId = client.createMultipartUpload(b -> b.bucket(s3.bucket()).key(key)).uploadId();
        String one = client.uploadPart(b -> b.bucket(s3.bucket()).key(key).uploadId(uploadId).partNumber(1), RequestBody.fromString("tiny ")).eTag();
        String two = client.uploadPart(b -> b.bucket(s3.bucket()).key(key).uploadId(uploadId).partNumber(2), RequestBody.fromString("parts")).eTag();
        assertThatThrownBy(() -> client.completeMultipartUpload(b -> b.bucket(s3.bucket()).key(key).uploadId(uploadId).multipartUpload(m -> m.parts(
                CompletedPart.builder().partNumber(1).eTag(one).build(), CompletedPart.builder().partNumber(2).eTag(two).build()))))
                .isInstanceOfSatisfying(S3Exception.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(400);
                    assertThat(e.awsErrorDetails().errorCode()).isEqualTo("EntityTooSmall");
                });
        s3.deleteAll("small/");
        assertThat(s3.openUploads("small/")).isEmpty();
    }

    @Test
    void presignedGetUrlWorksWithAPlainHttpClient() throws Exception {
        byte[] bytes = SeededBytes.of(100_000, 4);
        put("presigned/blob", bytes);
        URI url;
        try (S3Presigner presigner = s3.presigner()) {
            url = presigner.presignGetObject(p -> p.signatureDuration(Duration.ofMinutes(5))
                    .getObjectRequest(g -> g.bucket(s3.bucket()).key("presigned/blob"))).url().toURI();
        }
        assertThat(url.toString()).startsWith(s3.endpoint() + "/" + s3.bucket() + "/presigned/blob?").contains("X-Amz-Signature=");
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<byte[]> response = http.send(HttpRequest.newBuilder(url).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEqualTo(bytes);

        URI tampered = URI.create(url.toString().replace("presigned/blob", "presigned/other"));
        assertThat(http.send(HttpRequest.newBuilder(tampered).build(), HttpResponse.BodyHandlers.discarding()).statusCode()).isEqualTo(403);
        s3.deleteAll("presigned/");
    }

    @Test
    void aStoppedServerRefusesConnectionsAndComesBackWithItsData() throws Exception {
        try (S3Server own = S3Server.start()) {
            int port = own.port();
            own.client().putObject(b -> b.bucket(own.bucket()).key("kept"), RequestBody.fromString("still here"));
            byte[] first = SeededBytes.of(PART, 5);
            String uploadId = own.client().createMultipartUpload(b -> b.bucket(own.bucket()).key("open")).uploadId();
            String etag = own.client().uploadPart(b -> b.bucket(own.bucket()).key("open").uploadId(uploadId).partNumber(1),
                    RequestBody.fromBytes(first)).eTag();

            own.stop();
            assertThat(own.running()).isFalse();
            assertThatThrownBy(() -> own.client().getObjectAsBytes(b -> b.bucket(own.bucket()).key("kept")))
                    .isInstanceOf(SdkClientException.class)
                    .hasRootCauseInstanceOf(ConnectException.class);

            own.startAgain();
            assertThat(own.port()).isEqualTo(port);
            assertThat(own.client().getObjectAsBytes(b -> b.bucket(own.bucket()).key("kept")).asUtf8String()).isEqualTo("still here");
            assertThat(own.openUploads("")).containsExactly(new S3Server.OpenUpload("open", uploadId));
            String etag2 = own.client().uploadPart(b -> b.bucket(own.bucket()).key("open").uploadId(uploadId).partNumber(2),
                    RequestBody.fromString("finished after it")).eTag();
            own.client().completeMultipartUpload(b -> b.bucket(own.bucket()).key("open").uploadId(uploadId).multipartUpload(m -> m.parts(
                    CompletedPart.builder().partNumber(1).eTag(etag).build(), CompletedPart.builder().partNumber(2).eTag(etag2).build())));
            byte[] whole = own.client().getObjectAsBytes(b -> b.bucket(own.bucket()).key("open")).asByteArray();
            assertThat(Arrays.copyOf(whole, PART)).isEqualTo(first);
            assertThat(new String(whole, PART, whole.length - PART, StandardCharsets.UTF_8)).isEqualTo("finished after it");
        }
    }

    @Test
    void cairnSettingsNameTheBucketAndPrefix() {
        assertThat(s3.cairnSettings("node-1/"))
                .containsEntry("storage.type", "s3")
                .containsEntry("storage.s3.bucket", s3.bucket())
                .containsEntry("storage.s3.prefix", "node-1/")
                .containsEntry("storage.s3.region", "us-east-1")
                .containsEntry("storage.s3.endpoint", s3.endpoint())
                .containsEntry("storage.s3.path-style", "true")
                .containsEntry("storage.s3.access-key", s3.accessKey())
                .containsEntry("storage.s3.secret-key", s3.secretKey());
    }

    @Test
    void newDatabaseGivesIndependentDatabasesThatCairnsRoleOwns() throws Exception {
        Postgres postgres = Postgres.shared();
        String first = postgres.newDatabase();
        String second = postgres.newDatabase();
        assertThat(first).isNotEqualTo(second).startsWith("jdbc:postgresql://127.0.0.1:" + postgres.port() + "/");
        try (Connection a = DriverManager.getConnection(first, postgres.user(), postgres.password());
             Connection b = DriverManager.getConnection(second, postgres.user(), postgres.password());
             Statement sa = a.createStatement(); Statement sb = b.createStatement()) {
            sa.execute("CREATE TABLE blobs (digest TEXT PRIMARY KEY)");
            sa.execute("INSERT INTO blobs VALUES ('sha256:aa')");
            sb.execute("CREATE TABLE blobs (digest TEXT PRIMARY KEY)");
            assertThat(count(sa, "blobs")).isEqualTo(1);
            assertThat(count(sb, "blobs")).isZero();
        }
        postgres.dropDatabase(first);
        postgres.dropDatabase(second);
        assertThatThrownBy(() -> DriverManager.getConnection(first, postgres.user(), postgres.password()).close())
                .isInstanceOf(SQLException.class).hasMessageContaining("does not exist");
    }

    @Test
    void loginsNeedThePassword() throws Exception {
        Postgres postgres = Postgres.shared();
        String url = postgres.newDatabase();
        assertThatThrownBy(() -> DriverManager.getConnection(url, postgres.user(), "wrong").close())
                .isInstanceOf(SQLException.class).hasMessageContaining("password authentication failed");
        assertThat(postgres.cairnSettings(url)).containsExactly(
                org.assertj.core.api.Assertions.entry("metadata.type", "postgres"),
                org.assertj.core.api.Assertions.entry("metadata.postgres.url", url),
                org.assertj.core.api.Assertions.entry("metadata.postgres.user", postgres.user()),
                org.assertj.core.api.Assertions.entry("metadata.postgres.password", postgres.password()));
        postgres.dropDatabase(url);
    }

    @Test
    void anOwnServerKeepsItsRowsAcrossStopAndStart() throws Exception {
        try (Postgres own = Postgres.startOwn()) {
            int port = own.port();
            String url = own.newDatabase();
            try (Connection c = own.connect(url); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE manifests (digest TEXT PRIMARY KEY, content BYTEA)");
                s.execute("INSERT INTO manifests VALUES ('sha256:01', 'a'::bytea), ('sha256:02', 'b'::bytea)");
            }
            Connection open = own.connect(url);

            own.stop();
            assertThat(own.running()).isFalse();
            try (Statement s = open.createStatement()) {
                assertThatThrownBy(() -> s.executeQuery("SELECT 1")).as("a connection across the outage").isInstanceOf(SQLException.class);
            } finally {
                open.close();
            }
            assertThatThrownBy(() -> own.connect(url).close()).isInstanceOf(SQLException.class)
                    .hasRootCauseInstanceOf(ConnectException.class);

            own.startAgain();
            assertThat(own.port()).isEqualTo(port);
            try (Connection c = own.connect(url); Statement s = c.createStatement()) {
                assertThat(count(s, "manifests")).isEqualTo(2);
            }
        }
    }

    private static int count(Statement s, String table) throws SQLException {
        try (ResultSet r = s.executeQuery("SELECT count(*) FROM " + table)) {
            r.next();
            return r.getInt(1);
        }
    }

    @Test
    void aSharedStoreSnapshotSeesObjectsUploadsAndRowsAndDropRemovesThem() throws Exception {
        SharedStore store = SharedStore.fresh(s3, Postgres.shared());
        SharedStore neighbour = SharedStore.fresh(s3, Postgres.shared());
        assertThat(store.keyPrefix()).isNotEqualTo(neighbour.keyPrefix());
        assertThat(store.cairnSettings()).containsEntry("storage.type", "s3").containsEntry("metadata.type", "postgres")
                .containsEntry("storage.s3.prefix", store.keyPrefix()).containsEntry("metadata.postgres.url", store.jdbcUrl());
        java.nio.file.Path dataDir = java.nio.file.Files.createTempDirectory("cairn-snapshot-");
        try {
            put(store.keyPrefix() + "/blobs/sha256/aa/" + "a".repeat(64), "layer".getBytes(StandardCharsets.UTF_8));
            put(neighbour.keyPrefix() + "/blobs/sha256/bb/" + "b".repeat(64), "not ours".getBytes(StandardCharsets.UTF_8));
            String uploadId = s3.client().createMultipartUpload(b -> b.bucket(s3.bucket()).key(store.keyPrefix() + "/uploads/u1")).uploadId();
            s3.client().uploadPart(b -> b.bucket(s3.bucket()).key(store.keyPrefix() + "/uploads/u1").uploadId(uploadId).partNumber(1),
                    RequestBody.fromString("first"));
            try (Connection c = store.postgres().connect(store.jdbcUrl()); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE blobs (digest TEXT PRIMARY KEY, size BIGINT, last_used_at BIGINT)");
                s.execute("INSERT INTO blobs VALUES ('sha256:" + "a".repeat(64) + "', 5, 1000)");
            }

            StoreSnapshot before = StoreSnapshot.of(dataDir, java.util.Optional.of(store));
            assertThat(before.files()).containsOnlyKeys(
                    "s3:" + store.keyPrefix() + "/blobs/sha256/aa/" + "a".repeat(64),
                    "s3-upload:" + store.keyPrefix() + "/uploads/u1 " + uploadId);
            assertThat(before.files().get("s3-upload:" + store.keyPrefix() + "/uploads/u1 " + uploadId)).startsWith("1:5:");
            assertThat(before.tables()).containsOnlyKeys("blobs");
            assertThat(before.tables().get("blobs")).singleElement().asString().contains("last_used_at=1000");
            assertThat(StoreSnapshot.of(dataDir, java.util.Optional.of(store)).changesSince(before)).as("nothing changed").isEmpty();

            s3.client().uploadPart(b -> b.bucket(s3.bucket()).key(store.keyPrefix() + "/uploads/u1").uploadId(uploadId).partNumber(2),
                    RequestBody.fromString("second"));
            try (Connection c = store.postgres().connect(store.jdbcUrl()); Statement s = c.createStatement()) {
                s.execute("UPDATE blobs SET last_used_at = 2000");
            }
            assertThat(StoreSnapshot.of(dataDir, java.util.Optional.of(store)).changesSince(before)).hasSize(3)
                    .anySatisfy(change -> assertThat(change).startsWith("file s3-upload:"))
                    .anySatisfy(change -> assertThat(change).startsWith("blobs lost:").contains("last_used_at=1000"))
                    .anySatisfy(change -> assertThat(change).startsWith("blobs gained:").contains("last_used_at=2000"));

            store.drop();
            assertThat(s3.objects(store.keyPrefix())).isEmpty();
            assertThat(s3.openUploads(store.keyPrefix())).isEmpty();
            assertThat(s3.objects(neighbour.keyPrefix())).hasSize(1);
            assertThatThrownBy(() -> store.postgres().connect(store.jdbcUrl()).close()).isInstanceOf(SQLException.class);
        } finally {
            neighbour.drop();
            TempFiles.deleteRecursively(dataDir);
        }
    }

    @Test
    void nodesOnASharedStoreKeepTheirBlobsAndRowsThereAndSeeEachOthers() throws Exception {
        SharedStore store = SharedStore.fresh(s3, Postgres.shared());
        try (RunningCairn node = RunningCairn.startOn(store, java.util.Map.of())) {
            OciClient client = new OciClient(node);
            OciClient.Image image = client.prepareImage("fixture/app", "application/vnd.oci.image.config.v1+json", "layer".getBytes(StandardCharsets.UTF_8));
            client.pushManifest("fixture/app", "v1", OciClient.OCI_MANIFEST, image.manifest());
            String upload = client.post("/v2/fixture/app/blobs/uploads/", null).headers().firstValue("Location").orElseThrow();
            assertThat(client.patch(upload, "first".getBytes(StandardCharsets.UTF_8), "Content-Range", "0-4").statusCode()).isEqualTo(202);

            StoreSnapshot snapshot = StoreSnapshot.of(node);
            String layer = image.layerDigests().getFirst().substring("sha256:".length());
            assertThat(snapshot.files()).containsKey("s3:" + store.keyPrefix() + "/blobs/sha256/" + layer.substring(0, 2) + "/" + layer);
            assertThat(snapshot.files().keySet()).allMatch(key -> key.startsWith("s3:" + store.keyPrefix() + "/")
                    || key.startsWith("s3-upload:" + store.keyPrefix() + "/") || key.startsWith("uploads/"));
            assertThat(snapshot.tables().get("manifests")).singleElement().asString().contains(image.digest());
            assertThat(node.dataDir().resolve("cairn.db")).doesNotExist();

            try (RunningCairn second = RunningCairn.startOn(store, java.util.Map.of())) {
                OciClient other = new OciClient(second);
                assertThat(other.get("/v2/fixture/app/manifests/v1").body()).isEqualTo(image.manifest());
                assertThat(other.get(upload).statusCode()).as("the upload begun on the first node").isEqualTo(204);
            }
            assertThat(StoreSnapshot.of(node).changesSince(snapshot)).as("the second node's pull, written when it stopped")
                    .hasSize(2).allSatisfy(change -> assertThat(change).startsWith("manifests ").contains(image.digest()));
        } finally {
            store.drop();
        }
        assertThat(s3.objects(store.keyPrefix())).isEmpty();
        assertThat(s3.openUploads(store.keyPrefix())).isEmpty();
    }
}
