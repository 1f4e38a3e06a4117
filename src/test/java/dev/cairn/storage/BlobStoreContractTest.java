package dev.cairn.storage;

import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.UploadSession;
import dev.cairn.testing.S3Server;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.TempFiles;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * One contract for every blob store: files on local disk, and objects in a real S3 API server (S3Proxy on
 * loopback) with the upload progress in a real SQLite ledger. Each case gets a fresh store (a directory of
 * its own, a key prefix of its own), so whatever it finds left over is its own doing. What only one backend
 * has (S3's claims across nodes and its recovery from S3 failures, the file store's writer, restarts and
 * descriptors) is tested in that backend's own class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BlobStoreContractTest {
    /** S3's smallest part, which the S3 store is given: sizes around it cross its part boundaries. */
    private static final int PART = 5 << 20;
    private static final RepositoryName REPO = RepositoryName.of("contract/blobs");

    /** A case run once on each backend, given its name. */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.METHOD)
    @ParameterizedTest
    @ValueSource(strings = {"file", "s3"})
    private @interface OnEveryBackend {
    }

    private S3Server s3;
    private Path dir;
    private JdbcMetadataStore ledger;

    @BeforeAll
    void start() throws Exception {
        s3 = S3Server.start();
        dir = Files.createTempDirectory("cairn-blob-contract-");
        ledger = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
    }

    @AfterAll
    void stop() throws Exception {
        ledger.close();
        s3.close();
        TempFiles.deleteRecursively(dir);
    }

    /** A fresh, empty store of the kind named, with the means to look at it from outside. */
    private Backend backend(String kind) throws IOException {
        return kind.equals("file") ? new FileBackend(Files.createTempDirectory(dir, "files-")) : new S3Backend("contract-" + UUID.randomUUID());
    }

    /** A store under test, and what the contract needs to know of it that no store method says. */
    private abstract static class Backend implements AutoCloseable {
        /** The sessions the registry would call open: begun and not yet ended. */
        final Set<String> openSessions = ConcurrentHashMap.newKeySet();

        abstract BlobStore store();

        /** The same store as another node sees it, where there can be another node; else the one store. */
        abstract BlobStore otherNode();

        /** Begins an upload session as the registry does: its record first, then its bytes' area. */
        String openSession() throws IOException {
            String id = UUID.randomUUID().toString();
            recordSession(id);
            openSessions.add(id);
            store().startUpload(id);
            return id;
        }

        void recordSession(String id) {
        }

        /** Ends the session's record, as the registry does once a session is finished, cancelled or lost. */
        void endSession(String id) {
            openSessions.remove(id);
        }

        /** Every piece that uploads and staging left in the store, each named after its session where it has one. */
        abstract List<String> uploadLeftovers() throws IOException;

        /** Whether the blob lies where the layout puts it: {@code blobs/<algorithm>/<first two hex>/<hex>}. */
        abstract boolean holdsAtLayoutPath(Digest digest) throws IOException;

        /** The pieces a session of more than one part leaves behind: one per file, or a multipart upload and a tail. */
        abstract int piecesOfAnUploadPastOnePart();
    }

    /** One node: the other node is the same store, since its sessions' files are written by this process. */
    private static final class FileBackend extends Backend {
        private final Path root;
        private final FileBlobStore store;

        FileBackend(Path root) throws IOException {
            this.root = root;
            this.store = new FileBlobStore(root);
        }

        @Override
        BlobStore store() {
            return store;
        }

        @Override
        BlobStore otherNode() {
            return store;
        }

        @Override
        List<String> uploadLeftovers() throws IOException {
            List<String> left = new ArrayList<>();
            for (String area : List.of("uploads", "tmp")) {
                try (var files = Files.list(root.resolve(area))) {
                    files.forEach(file -> left.add(area + "/" + file.getFileName()));
                }
            }
            return left;
        }

        @Override
        boolean holdsAtLayoutPath(Digest digest) {
            return Files.isRegularFile(root.resolve("blobs").resolve(digest.algorithm()).resolve(digest.hex().substring(0, 2)).resolve(digest.hex()));
        }

        @Override
        int piecesOfAnUploadPastOnePart() {
            return 1;
        }

        @Override
        public void close() throws IOException {
            store.close();
            TempFiles.deleteRecursively(root);
        }
    }

    /** Two nodes: two store instances over the same bucket, prefix and ledger. */
    private final class S3Backend extends Backend {
        private final String prefix;
        private final S3BlobStore nodeA;
        private final S3BlobStore nodeB;

        S3Backend(String prefix) {
            this.prefix = prefix;
            this.nodeA = node();
            this.nodeB = node();
        }

        private S3BlobStore node() {
            return new S3BlobStore(new S3BlobStore.Location(s3.bucket(), prefix, s3.region(), Optional.of(URI.create(s3.endpoint())),
                    true, Optional.of(s3.accessKey()), Optional.of(s3.secretKey()), PART, 8), ledger, Clock.systemUTC());
        }

        @Override
        BlobStore store() {
            return nodeA;
        }

        @Override
        BlobStore otherNode() {
            return nodeB;
        }

        @Override
        void recordSession(String id) {
            ledger.createUpload(new UploadSession(id, REPO, Instant.now(), "user test"));
        }

        @Override
        void endSession(String id) {
            super.endSession(id);
            ledger.deleteUpload(id);
        }

        @Override
        List<String> uploadLeftovers() {
            List<String> left = new ArrayList<>(keys(prefix + "/uploads/"));
            s3.openUploads(prefix + "/").forEach(u -> left.add("multipart " + u.key()));
            return left;
        }

        private List<String> keys(String under) {
            return s3.objects(under).stream().map(S3Server.StoredObject::key).toList();
        }

        @Override
        boolean holdsAtLayoutPath(Digest digest) {
            String under = prefix + "/blobs/" + digest.algorithm() + "/" + digest.hex().substring(0, 2) + "/";
            return keys(under).contains(under + digest.hex());
        }

        @Override
        int piecesOfAnUploadPastOnePart() {
            return 2;
        }

        @Override
        public void close() {
            nodeA.close();
            nodeB.close();
            s3.deleteAll(prefix + "/");
        }
    }

    private static byte[] read(BlobStore store, Digest digest, long offset) throws IOException {
        try (InputStream in = store.open(digest, offset)) {
            return in.readAllBytes();
        }
    }

    /** A body that delivers {@code bytes} and then fails, as a client that goes away mid-chunk. */
    private static InputStream cutAfter(byte[] bytes) {
        return new SequenceInputStream(new ByteArrayInputStream(bytes), new InputStream() {
            @Override
            public int read() throws IOException {
                throw new IOException("client went away");
            }
        });
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Ends an upload as the registry does: stages it, publishes the blob, drops what staging left, ends the session. */
    private static BlobInfo publishUpload(Backend backend, BlobStore node, String id, Digest digest) throws Exception {
        StagedBlob staged = node.stageUpload(id, digest);
        try {
            return node.publish(staged);
        } finally {
            node.discard(staged);
            backend.endSession(id);
        }
    }

    private static List<StoredBlob> listing(BlobStore store) throws IOException {
        List<StoredBlob> blobs = new ArrayList<>();
        store.forEachBlob(blobs::add);
        return blobs;
    }

    @OnEveryBackend
    void blobsPutWholeAreStoredUnderTheirDigestAndReadBackFromAnyOffset(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            for (int size : new int[]{0, 1000, PART, 2 * PART + 12345}) {
                byte[] content = SeededBytes.of(size, size);
                Digest digest = Digest.sha256(content);
                BlobInfo info = backend.store().put(digest, new ByteArrayInputStream(content));
                assertThat(info.size()).isEqualTo(size);
                assertThat(backend.holdsAtLayoutPath(digest)).isTrue();
                assertThat(backend.otherNode().stat(digest)).hasValue(new BlobInfo(digest, size));
                assertThat(read(backend.otherNode(), digest, 0)).isEqualTo(content);
                if (size > 10) {
                    assertThat(read(backend.otherNode(), digest, size - 10)).isEqualTo(Arrays.copyOfRange(content, size - 10, size));
                    assertThat(read(backend.otherNode(), digest, size)).as("a read resumed at the end").isEmpty();
                }
            }
            assertThat(backend.uploadLeftovers()).isEmpty();
        }
    }

    @OnEveryBackend
    void contentStagedWithoutADigestIsNamedByItsSha256AndPublishedOnceOrDiscardedWithoutTrace(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            for (int size : new int[]{0, 1000, PART, 2 * PART + 12345}) {
                byte[] content = SeededBytes.of(size, 50 + size);
                StagedBlob staged = store.stageByContent(new ByteArrayInputStream(content));
                assertThat(staged.digest()).isEqualTo(Digest.sha256(content));
                assertThat(staged.size()).isEqualTo(size);
                assertThat(store.stat(staged.digest())).as("not visible before it is published").isEmpty();
                assertThat(store.publish(staged)).isEqualTo(new BlobInfo(staged.digest(), size));
                store.discard(staged);
                assertThat(backend.holdsAtLayoutPath(staged.digest())).isTrue();
                assertThat(read(backend.otherNode(), staged.digest(), 0)).isEqualTo(content);
                StagedBlob again = backend.otherNode().stageByContent(new ByteArrayInputStream(content));
                assertThat(backend.otherNode().publish(again)).as("the same content again: one copy").isEqualTo(new BlobInfo(staged.digest(), size));
                backend.otherNode().discard(again);
            }
            byte[] dropped = SeededBytes.of(2 * PART + 1, 60);
            StagedBlob unpublished = store.stageByContent(new ByteArrayInputStream(dropped));
            store.discard(unpublished);
            assertThat(store.stat(unpublished.digest())).isEmpty();
            assertThat(backend.uploadLeftovers()).as("staging leaves nothing once published or discarded").isEmpty();
            assertThat(listing(store)).hasSize(4);
        }
    }

    @OnEveryBackend
    void bytesThatDoNotMatchTheirDigestAreRefusedAndLeaveNothingBehind(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            for (int size : new int[]{100, 2 * PART + 1}) {
                byte[] content = SeededBytes.of(size, 7 + size);
                Digest claimed = Digest.sha256(SeededBytes.of(size, 8 + size));
                assertThatThrownBy(() -> store.put(claimed, new ByteArrayInputStream(content))).isInstanceOf(DigestMismatchException.class);
                assertThat(store.stat(claimed)).isEmpty();
            }
            assertThat(backend.uploadLeftovers()).isEmpty();
            assertThat(listing(store)).isEmpty();
        }
    }

    @OnEveryBackend
    void aBlobPushedAgainIsKeptOnceWhetherWholeOrThroughAnUpload(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            byte[] content = SeededBytes.of(PART + 1, 31);
            Digest digest = Digest.sha256(content);
            store.put(digest, new ByteArrayInputStream(content));
            assertThat(backend.otherNode().put(digest, new ByteArrayInputStream(content))).isEqualTo(new BlobInfo(digest, content.length));
            String id = backend.openSession();
            store.appendUpload(id, OptionalLong.of(0), new ByteArrayInputStream(content));
            assertThat(publishUpload(backend, store, id, digest)).isEqualTo(new BlobInfo(digest, content.length));
            assertThat(listing(store)).extracting(StoredBlob::digest).containsExactly(digest);
            assertThat(read(store, digest, 0)).isEqualTo(content);
            assertThat(backend.uploadLeftovers()).isEmpty();
        }
    }

    @OnEveryBackend
    void theListingShowsEveryStoredBlobAndADeletedBlobIsGone(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            Instant before = Instant.now().minusSeconds(2); // S3 keeps times to the second
            byte[] first = SeededBytes.of(1000, 41);
            byte[] second = SeededBytes.of(2000, 42);
            Digest sha256 = Digest.sha256(first);
            Digest sha512 = Digest.of("sha512", MessageDigest.getInstance("SHA-512").digest(second));
            store.put(sha256, new ByteArrayInputStream(first));
            store.put(sha512, new ByteArrayInputStream(second));
            Instant after = Instant.now().plusSeconds(2);

            List<StoredBlob> listed = listing(backend.otherNode());
            assertThat(listed).extracting(StoredBlob::digest).containsExactlyInAnyOrder(sha256, sha512);
            assertThat(listed).allSatisfy(blob -> {
                assertThat(blob.size()).isEqualTo(blob.digest().equals(sha256) ? first.length : second.length);
                assertThat(blob.writtenAt()).isBetween(before, after);
            });

            backend.otherNode().delete(sha256);
            assertThat(store.stat(sha256)).isEmpty();
            assertThatThrownBy(() -> store.open(sha256, 0)).isInstanceOf(NoSuchFileException.class);
            assertThat(listing(store)).extracting(StoredBlob::digest).containsExactly(sha512);
            store.delete(sha256); // absent: not an error
            assertThat(read(store, sha512, 0)).isEqualTo(second);
        }
    }

    @OnEveryBackend
    void manyBlobsDeletedAtOnceAreGoneAndTheOthersStay(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            // more than one S3 DeleteObjects request holds (1,000 keys), and enough for the file store's threads
            List<Digest> doomed = new ArrayList<>();
            List<Digest> kept = new ArrayList<>();
            for (int i = 0; i < 1105; i++) {
                byte[] content = ("blob " + i).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                Digest digest = Digest.sha256(content);
                store.put(digest, new ByteArrayInputStream(content));
                (i % 100 == 7 ? kept : doomed).add(digest);
            }
            List<Digest> asked = new ArrayList<>(doomed);
            asked.add(1003, Digest.sha256(SeededBytes.of(10, 99))); // never stored: not an error
            backend.otherNode().deleteAll(asked);
            assertThat(listing(store)).extracting(StoredBlob::digest).containsExactlyInAnyOrderElementsOf(kept);
            for (Digest digest : kept) assertThat(store.stat(digest)).isPresent();
            assertThat(store.stat(doomed.get(1002))).isEmpty();
            backend.otherNode().deleteAll(asked); // all absent now
            backend.otherNode().deleteAll(List.of());
            assertThat(listing(store)).hasSize(kept.size());
        }
    }

    @OnEveryBackend
    void aChunkedUploadIsPublishedOnlyWhenVerifiedAndMayContinueOnAnotherNode(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            byte[] content = SeededBytes.of(2 * PART + 777_777, 42);
            Digest digest = Digest.sha256(content);
            String id = backend.openSession();
            // Chunks that straddle S3 part boundaries, alternating between the two nodes.
            int[] cuts = {0, 3 << 20, (3 << 20) + 1, PART + 100, 2 * PART + 5, content.length};
            for (int i = 0; i + 1 < cuts.length; i++) {
                BlobStore node = i % 2 == 0 ? backend.store() : backend.otherNode();
                long size = node.appendUpload(id, OptionalLong.of(cuts[i]), new ByteArrayInputStream(content, cuts[i], cuts[i + 1] - cuts[i]));
                assertThat(size).isEqualTo(cuts[i + 1]);
                assertThat((i % 2 == 0 ? backend.otherNode() : backend.store()).uploadSize(id)).hasValue(cuts[i + 1]);
            }
            assertThat(backend.store().stat(digest)).isEmpty(); // nothing is a blob before the digest is checked
            publishUpload(backend, backend.otherNode(), id, digest);
            assertThat(read(backend.store(), digest, 0)).isEqualTo(content);
            assertThat(backend.uploadLeftovers()).isEmpty();
        }
    }

    @OnEveryBackend
    void aChunkThatDoesNotStartWhereTheUploadEndsIsRefusedAndChangesNothing(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            String id = backend.openSession();
            backend.store().appendUpload(id, OptionalLong.of(0), new ByteArrayInputStream(SeededBytes.of(1000, 1)));
            assertThatThrownBy(() -> backend.otherNode().appendUpload(id, OptionalLong.of(999), new ByteArrayInputStream(SeededBytes.of(10, 2))))
                    .isInstanceOf(UploadOffsetException.class);
            assertThat(backend.otherNode().uploadSize(id)).hasValue(1000);
            backend.store().abortUpload(id);
            backend.endSession(id);
            assertThat(backend.uploadLeftovers()).isEmpty();
        }
    }

    @OnEveryBackend
    void aWrongDigestAtTheEndDiscardsTheUpload(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            byte[] content = SeededBytes.of(PART + 10, 3);
            String id = backend.openSession();
            backend.store().appendUpload(id, OptionalLong.empty(), new ByteArrayInputStream(content));
            Digest wrong = Digest.sha256(SeededBytes.of(PART + 10, 4));
            assertThatThrownBy(() -> backend.otherNode().stageUpload(id, wrong)).isInstanceOf(DigestMismatchException.class);
            backend.endSession(id);
            assertThat(backend.store().uploadSize(id)).isEmpty(); // a failed commit ends the session's bytes too
            assertThat(backend.store().stat(wrong)).isEmpty();
            assertThat(backend.uploadLeftovers()).isEmpty();
        }
    }

    @OnEveryBackend
    void anUploadVerifiedAgainstASha512DigestIsPublished(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            byte[] content = SeededBytes.of(PART + 99, 5);
            Digest digest = Digest.of("sha512", MessageDigest.getInstance("SHA-512").digest(content));
            String id = backend.openSession();
            backend.store().appendUpload(id, OptionalLong.empty(), new ByteArrayInputStream(content));
            publishUpload(backend, backend.store(), id, digest);
            assertThat(read(backend.otherNode(), digest, 0)).isEqualTo(content);
        }
    }

    @OnEveryBackend
    void aChunkThatFailsMidwayLeavesTheUploadAsItWas(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            String id = backend.openSession();
            byte[] first = SeededBytes.of(4_000_000, 1);
            store.appendUpload(id, OptionalLong.of(0), new ByteArrayInputStream(first));
            // On S3 the cut chunk fills a part (the 4 MB tail and the first bytes of the chunk) before it fails.
            assertThatThrownBy(() -> store.appendUpload(id, OptionalLong.of(first.length), cutAfter(SeededBytes.of(2_500_000, 2))))
                    .isInstanceOf(IOException.class);
            assertThat(store.uploadSize(id)).hasValue(first.length);
            assertThatThrownBy(() -> store.appendUpload(id, OptionalLong.of(first.length + 10), new ByteArrayInputStream(new byte[1])))
                    .isInstanceOf(UploadOffsetException.class);

            byte[] second = SeededBytes.of(2_500_000, 3);
            store.appendUpload(id, OptionalLong.of(first.length), new ByteArrayInputStream(second));
            byte[] whole = concat(first, second);
            Digest digest = Digest.sha256(whole);
            assertThatThrownBy(() -> store.stageUpload(id, Digest.sha256(first))).isInstanceOf(DigestMismatchException.class);
            backend.endSession(id);
            assertThat(store.uploadSize(id)).isEmpty(); // a failed commit ends the session's bytes too
            String again = backend.openSession();
            store.appendUpload(again, OptionalLong.of(0), new ByteArrayInputStream(whole));
            assertThat(publishUpload(backend, store, again, digest).size()).isEqualTo(whole.length);
            assertThat(read(store, digest, 0)).isEqualTo(whole);
        }
    }

    @OnEveryBackend
    void aCancelledUploadLeavesNothingAndTakesNoMoreChunks(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            String id = backend.openSession();
            store.appendUpload(id, OptionalLong.empty(), new ByteArrayInputStream(SeededBytes.of(3_500_000, 4)));
            store.abortUpload(id);
            backend.endSession(id);
            assertThat(store.uploadSize(id)).isEmpty();
            assertThat(backend.uploadLeftovers()).isEmpty();
            assertThatThrownBy(() -> store.appendUpload(id, OptionalLong.empty(), new ByteArrayInputStream(new byte[1])))
                    .isInstanceOf(NoSuchFileException.class);
            store.abortUpload(id); // absent: not an error
        }
    }

    @OnEveryBackend
    void anUploadsLastWriteIsWhenItLastTookBytes(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            BlobStore store = backend.store();
            assertThat(store.uploadLastWrite(UUID.randomUUID().toString())).isEmpty();
            String id = backend.openSession();
            Instant before = Instant.now().minusSeconds(2);
            store.appendUpload(id, OptionalLong.of(0), new ByteArrayInputStream(SeededBytes.of(1000, 6)));
            assertThat(backend.otherNode().uploadLastWrite(id)).hasValueSatisfying(
                    written -> assertThat(written).isBetween(before, Instant.now().plusSeconds(2)));
            store.abortUpload(id);
            backend.endSession(id);
            assertThat(store.uploadLastWrite(id)).isEmpty();
        }
    }

    @OnEveryBackend
    void abandonedUploadsAreRemovedButOpenSessionsKeepTheirs(String kind) throws Exception {
        try (Backend backend = backend(kind)) {
            String open = backend.openSession();
            backend.store().appendUpload(open, OptionalLong.empty(), new ByteArrayInputStream(SeededBytes.of(PART + 5, 21)));
            String gone = backend.openSession();
            backend.store().appendUpload(gone, OptionalLong.empty(), new ByteArrayInputStream(SeededBytes.of(PART + 5, 22)));
            backend.endSession(gone); // its node died before cleaning up: what it wrote stays behind
            Thread.sleep(1100); // S3's times have second resolution
            int removed = backend.otherNode().removeAbandonedUploads(Instant.now(), backend.openSessions::contains);
            assertThat(removed).isEqualTo(backend.piecesOfAnUploadPastOnePart());
            assertThat(backend.uploadLeftovers()).allMatch(key -> key.contains(open)).isNotEmpty();
            assertThat(backend.store().uploadSize(open)).hasValue(PART + 5);
            backend.store().abortUpload(open);
            backend.endSession(open);
            assertThat(backend.uploadLeftovers()).isEmpty();
        }
    }
}
