package dev.cairn.retention;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import dev.cairn.metadata.ClusterLocks;
import dev.cairn.metadata.RetentionRecords;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One JSON object per line in {@code <data>/audit.log} for every manifest and blob Cairn deletes: what,
 * which repository, how many bytes, why, when. The same record goes to the log at INFO.
 */
public final class AuditLog implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("cairn.audit");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final ClusterLocks locks;
    private final FileChannel channel;
    private final OutputStream out;
    private long lastWrittenId;

    public AuditLog(Path file, ClusterLocks locks) throws IOException {
        this.file = file;
        this.locks = locks;
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        this.out = new java.io.BufferedOutputStream(Channels.newOutputStream(channel), 1 << 16);
        this.lastWrittenId = lastId(file);
    }

    /** The id of the last event in the file, so a restart does not copy it twice. */
    private static long lastId(Path file) throws IOException {
        long size = Files.size(file);
        if (size == 0) return 0;
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            int tail = (int) Math.min(size, 64 * 1024);
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(tail);
            in.read(buffer, size - tail);
            String text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8).stripTrailing();
            String last = text.substring(text.lastIndexOf('\n') + 1);
            return JSON.readTree(last).path("id").asLong(0);
        } catch (IOException | RuntimeException e) {
            return 0; // a torn last line: at worst one event is copied twice
        }
    }

    /**
     * Copies the audit events the database holds (written in the same transactions as the deletions they
     * explain) to the file, fsyncs it, then lets the database forget them. A crash in between repeats a
     * line rather than losing one.
     */
    public synchronized void drain(RetentionRecords records) {
        locks.whileCopyingAudit(() -> copy(records));
    }

    private void copy(RetentionRecords records) {
        if (lastWrittenId > 0) {
            records.forgetAuditEvents(lastWrittenId); // copied before a crash that came before the database forgot them
            lastWrittenId = 0;
        }
        // Chunks of 10,000: each costs an fsync of the file and a transaction to forget it (a collection of 5,000,000
        // blobs leaves a million events). Each event is written as it is read: a chunk held in memory outlived the
        // young collections its copying set off, and a million events left the old generation 60 MiB fuller for good.
        long[] last = {0};
        while (records.readAuditEvents(10_000, e -> write(e, last)) > 0) {
            try {
                out.flush();
                channel.force(false);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the audit log " + file, e);
            }
            records.forgetAuditEvents(last[0]);
        }
    }

    private void write(RetentionRecords.AuditEvent e, long[] last) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("id", e.id());
        record.put("time", e.at().toString());
        record.put("kind", e.kind());
        e.repository().ifPresent(r -> record.put("repository", r));
        record.put("digest", e.digest());
        if (e.kind().equals("manifest")) record.put("tags", e.tags());
        record.put("bytes", e.bytes());
        record.put("reason", e.reason());
        try {
            String line = JSON.writeValueAsString(record);
            out.write(line.getBytes(StandardCharsets.UTF_8));
            out.write('\n');
            log.info("deleted {}", line);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot write the audit log " + file, ex);
        }
        last[0] = e.id();
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
