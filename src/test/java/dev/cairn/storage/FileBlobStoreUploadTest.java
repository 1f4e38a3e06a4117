package dev.cairn.storage;

import dev.cairn.testing.SeededBytes;
import dev.cairn.values.Digest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Upload sessions on local disk: a chunk is answered before all of it is written (the writer goes on while
 * the next one arrives), so what the store reports, keeps across a restart and publishes must still be
 * exactly the bytes accepted. What every blob store does with uploads is in {@link BlobStoreContractTest}.
 */
class FileBlobStoreUploadTest {
    /** A body that delivers {@code bytes} and then fails, as a client that goes away mid-chunk. */
    private static InputStream cutAfter(byte[] bytes) {
        return new java.io.SequenceInputStream(new ByteArrayInputStream(bytes), new InputStream() {
            @Override
            public int read() throws IOException {
                throw new IOException("client went away");
            }
        });
    }

    @Test
    void chunksAcceptedBackToBackAreAllOnDiskAfterTheStoreClosesAndPublishWithTheirDigest(@TempDir Path root) throws Exception {
        ByteArrayOutputStream whole = new ByteArrayOutputStream();
        try (FileBlobStore store = new FileBlobStore(root)) {
            store.startUpload("s1");
            for (int i = 0; i < 6; i++) {
                byte[] chunk = SeededBytes.of(3_000_000 + i, i); // three 1 MiB buffers and more per chunk: writes still queued on return
                long length = store.appendUpload("s1", OptionalLong.of(whole.size()), new ByteArrayInputStream(chunk));
                whole.write(chunk);
                assertThat(length).isEqualTo(whole.size());
                assertThat(store.uploadSize("s1")).hasValue(whole.size());
            }
        }
        // what the closed store leaves is what a restarted one resumes from
        assertThat(Files.size(root.resolve("uploads/s1"))).isEqualTo(whole.size());
        try (FileBlobStore restarted = new FileBlobStore(root)) {
            assertThat(restarted.uploadSize("s1")).hasValue(whole.size());
            byte[] tail = SeededBytes.of(1234, 99);
            restarted.appendUpload("s1", OptionalLong.of(whole.size()), new ByteArrayInputStream(tail));
            whole.write(tail);
            Digest digest = Digest.sha256(whole.toByteArray());
            StagedBlob staged = restarted.stageUpload("s1", digest); // hashed from disk: the running hash did not survive
            restarted.publish(staged);
            try (InputStream in = restarted.open(digest, 0)) {
                assertThat(in.readAllBytes()).isEqualTo(whole.toByteArray());
            }
        }
    }

    @Test
    void aChunkThatFailsMidwayIsCutFromTheFileBehindQueuedWrites(@TempDir Path root) throws Exception {
        try (FileBlobStore store = new FileBlobStore(root)) {
            store.startUpload("s2");
            byte[] first = SeededBytes.of(4_000_000, 1);
            store.appendUpload("s2", OptionalLong.of(0), new ByteArrayInputStream(first));
            assertThatThrownBy(() -> store.appendUpload("s2", OptionalLong.of(first.length), cutAfter(SeededBytes.of(2_500_000, 2))))
                    .isInstanceOf(IOException.class);
            // what the session reports (BlobStoreContractTest) is also what lies on disk for a restart to resume from
            assertThat(Files.size(root.resolve("uploads/s2"))).isEqualTo(first.length);
        }
    }

    /** A request body as the HTTP server hands it over: its bytes in buffers of the size they arrived in. */
    private static final class ArrivingBody extends InputStream implements ChunkedBody {
        private final java.nio.ByteBuffer bytes;
        private final int piece;

        ArrivingBody(byte[] bytes, int piece) {
            this.bytes = java.nio.ByteBuffer.wrap(bytes);
            this.piece = piece;
        }

        @Override
        public java.nio.ByteBuffer nextChunk() {
            if (!bytes.hasRemaining()) return null;
            int n = Math.min(piece, bytes.remaining());
            java.nio.ByteBuffer chunk = bytes.slice(bytes.position(), n);
            bytes.position(bytes.position() + n);
            return chunk;
        }

        @Override
        public long length() {
            return bytes.capacity();
        }

        @Override
        public int read() {
            throw new UnsupportedOperationException("read through nextChunk()");
        }
    }

    @Test
    void aLargeMonolithicBodyIsWrittenAroundThePageCacheAndPublishedExactly() throws Exception {
        // Under target/, on the checkout's disk: /tmp may be a tmpfs, which takes no O_DIRECT.
        Path root = Files.createTempDirectory(Files.createDirectories(Path.of("target", "direct-write-test")), "store");
        try (FileBlobStore store = new FileBlobStore(root)) {
            assertThat(store.writesDirect()).as("O_DIRECT on %s: the checkout must be on a filesystem that takes it (ext4, XFS)", root).isTrue();
            byte[] blob = SeededBytes.of(5 * (1 << 20) + 12345, 7); // five direct buffers and a tail through the page cache
            Digest digest = Digest.sha256(blob);
            StagedBlob staged = store.stage(digest, new ArrivingBody(blob, 65_536 + 17));
            store.publish(staged);
            try (InputStream in = store.open(digest, 0)) {
                assertThat(in.readAllBytes()).isEqualTo(blob);
            }
            assertThatThrownBy(() -> store.stage(Digest.sha256(new byte[1]), new ArrivingBody(blob, 1 << 20)))
                    .isInstanceOf(DigestMismatchException.class);
            try (var left = Files.list(root.resolve("tmp"))) {
                assertThat(left).isEmpty(); // a refused body leaves nothing staged
            }
        } finally {
            try (var files = Files.walk(root)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
    }

    private static long openDescriptors() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void sessionsBeyondTheBoundParkTheirFilesAndResumeWhereTheyStopped(@TempDir Path root) throws Exception {
        int sessions = OpenUploads.MAX_SESSIONS_WITH_FILES * 3;
        long before = openDescriptors();
        try (FileBlobStore store = new FileBlobStore(root)) {
            for (int i = 0; i < sessions; i++) {
                store.startUpload("s" + i);
                store.appendUpload("s" + i, OptionalLong.of(0), new ByteArrayInputStream(new byte[]{(byte) i}));
            }
            assertThat(openDescriptors() - before).as("descriptors held by %d idle sessions", sessions)
                    .isLessThanOrEqualTo(2L * OpenUploads.MAX_SESSIONS_WITH_FILES + 16);
            // the first session was parked long ago: it takes its next chunk where it stopped and publishes exactly
            assertThat(store.uploadSize("s0")).hasValue(1);
            byte[] rest = SeededBytes.of(3_000_000, 5);
            assertThatThrownBy(() -> store.appendUpload("s0", OptionalLong.of(0), new ByteArrayInputStream(rest)))
                    .isInstanceOf(UploadOffsetException.class);
            store.appendUpload("s0", OptionalLong.of(1), new ByteArrayInputStream(rest));
            ByteArrayOutputStream whole = new ByteArrayOutputStream();
            whole.write(0);
            whole.write(rest);
            Digest digest = Digest.sha256(whole.toByteArray());
            store.publish(store.stageUpload("s0", digest));
            try (InputStream in = store.open(digest, 0)) {
                assertThat(in.readAllBytes()).isEqualTo(whole.toByteArray());
            }
        }
        assertThat(openDescriptors()).as("closing the store closes every session's files").isLessThanOrEqualTo(before + 4);
    }
}
