package dev.cairn.storage;

import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The writer behind large pushes: whatever the sizes of the pieces fed to it (PATCH chunks end anywhere),
 * the file holds exactly the bytes fed, in order; aligned 1 MiB buffers go around the page cache when the
 * filesystem allows it, and a direct channel that refuses writes costs nothing but the page cache.
 */
class WritePipelineTest {
    private static final int MIB = 1 << 20;

    /** Feeds {@code pieces} one after another, as the PATCHes of one upload session, and returns what was fed. */
    private static byte[] feedAll(WritePipeline pipeline, int... pieces) throws Exception {
        ByteArrayOutputStream fed = new ByteArrayOutputStream();
        int seed = 0;
        for (int size : pieces) {
            byte[] piece = SeededBytes.of(size, seed++);
            assertThat(pipeline.feed(new ByteArrayInputStream(piece), null)).isEqualTo(size);
            fed.write(piece);
        }
        pipeline.close();
        pipeline.drain();
        return fed.toByteArray();
    }

    @Test
    void alignedBuffersGoAroundThePageCacheAndAChunkEndingOffABoundaryRealignsTheNext(@TempDir Path dir) throws Exception {
        boolean supported = WritePipeline.supportsDirectWrites(dir);
        Path file = Files.createFile(dir.resolve("blob"));
        byte[] fed;
        long direct;
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE);
             FileChannel directOut = WritePipeline.openDirect(file)) {
            assertThat(directOut != null).isEqualTo(supported);
            WritePipeline pipeline = new WritePipeline(out, supported ? directOut : null, 0);
            // 3 MiB + 5: three direct buffers and a 5-byte tail through the page cache; the next chunk's first
            // buffer holds only the 4091 bytes up to the next boundary (page cache), then four direct 1 MiB
            // buffers and the chunk's last 1 MiB - 4091 bytes, which end off a boundary (page cache).
            fed = feedAll(pipeline, 3 * MIB + 5, 5 * MIB);
            direct = pipeline.directBytes();
        }
        assertThat(Files.readAllBytes(file)).isEqualTo(fed);
        assertThat(direct).isEqualTo(supported ? 7L * MIB : 0);
    }

    @Test
    void aPipelineStartingMidFileWritesFromThere(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("blob");
        byte[] head = SeededBytes.of(MIB + 77, 42);
        Files.write(file, head);
        byte[] fed;
        WritePipeline pipeline;
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE);
             FileChannel directOut = WritePipeline.openDirect(file)) {
            pipeline = new WritePipeline(out, directOut, head.length);
            fed = feedAll(pipeline, 2 * MIB, 4096, 3);
        }
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.write(head);
        expected.write(fed);
        assertThat(Files.readAllBytes(file)).isEqualTo(expected.toByteArray());
        // 4019 bytes to the boundary, then one whole direct 1 MiB buffer (the rest of the 2 MiB ends off one)
        assertThat(pipeline.directBytes()).isEqualTo(WritePipeline.supportsDirectWrites(dir) ? MIB : 0);
    }

    @Test
    void aDirectChannelThatFailsMidBlobLeavesTheRestToThePageCache() throws Exception {
        // Under target/, on the checkout's disk: /tmp may be a tmpfs, which takes no O_DIRECT.
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target", "direct-write-test")), "pipeline");
        Path file = Files.createFile(dir.resolve("blob"));
        FileChannel directOut = WritePipeline.openDirect(file);
        assertThat(directOut).as("O_DIRECT on %s: the checkout must be on a filesystem that takes it (ext4, XFS)", dir).isNotNull();
        ByteArrayOutputStream fed = new ByteArrayOutputStream();
        WritePipeline pipeline;
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE)) {
            pipeline = new WritePipeline(out, directOut, 0);
            byte[] first = SeededBytes.of(2 * MIB, 1);
            pipeline.feed(new ByteArrayInputStream(first), null);
            pipeline.drain();
            fed.write(first);
            directOut.close(); // the direct channel fails from here on
            byte[] second = SeededBytes.of(3 * MIB + 100, 2);
            pipeline.feed(new ByteArrayInputStream(second), null);
            fed.write(second);
            pipeline.close();
            pipeline.drain();
        }
        assertThat(Files.readAllBytes(file)).isEqualTo(fed.toByteArray());
        assertThat(pipeline.directBytes()).isEqualTo(2L * MIB);
        Files.delete(file);
        Files.delete(dir);
    }

    @Test
    void aDirectChannelThatRefusesWritesLeavesEveryByteToThePageCache(@TempDir Path dir) throws Exception {
        Path file = Files.createFile(dir.resolve("blob"));
        FileChannel refusing = FileChannel.open(file, StandardOpenOption.WRITE);
        refusing.close(); // every write on it fails
        byte[] fed;
        WritePipeline pipeline;
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE)) {
            pipeline = new WritePipeline(out, refusing, 0);
            fed = feedAll(pipeline, 4 * MIB);
        }
        assertThat(Files.readAllBytes(file)).isEqualTo(fed);
        assertThat(pipeline.directBytes()).isZero();
    }
}
