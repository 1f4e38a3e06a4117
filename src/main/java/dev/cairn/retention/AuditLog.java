package dev.cairn.retention;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.OutputStream;
import java.io.FileOutputStream;
import java.io.RandomAccessFile;
import dev.cairn.metadata.ClusterLocks;
import dev.cairn.metadata.RetentionRecords;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
    /**
     * Appends through a plain file stream, fsynced through its descriptor: a {@code FileChannel} closes itself for good
     * when the thread writing is interrupted (a node stopping while its collector sweeps), and the log would take
     * nothing more until a restart.
     */
    private FileOutputStream stream;
    private OutputStream out;
    /** The file's length at its last fsync: what a failed chunk is cut back to, so the file holds whole lines only. */
    private long syncedLength;
    private long lastWrittenId;

    public AuditLog(Path file, ClusterLocks locks) throws IOException {
        this.file = file;
        this.locks = locks;
        if (!Files.exists(file)) Files.createFile(file);
        this.syncedLength = wholeLines(file);
        this.lastWrittenId = lastId(file);
        open();
    }

    private void open() throws IOException {
        stream = new FileOutputStream(file.toFile(), true);
        out = new java.io.BufferedOutputStream(stream, 1 << 16);
    }

    /**
     * Cuts a torn last line off (a crash or a full disk mid-chunk: that chunk was never fsynced, so its events are still
     * in the database and are copied again) and makes what stays durable; returns the length.
     */
    private static long wholeLines(Path file) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            long length = f.length();
            long end = length;
            byte[] tail = new byte[8192];
            while (end > 0) {
                int n = (int) Math.min(tail.length, end);
                f.seek(end - n);
                f.readFully(tail, 0, n);
                int i = n - 1;
                while (i >= 0 && tail[i] != '\n') i--;
                if (i >= 0) {
                    end = end - n + i + 1;
                    break;
                }
                end -= n;
            }
            if (end != length) f.setLength(end);
            f.getFD().sync();
            return end;
        }
    }

    /** The id of the last event in the file, so a restart does not copy it twice. */
    private static long lastId(Path file) throws IOException {
        long size = Files.size(file);
        if (size == 0) return 0;
        try (RandomAccessFile in = new RandomAccessFile(file.toFile(), "r")) {
            int tail = (int) Math.min(size, 64 * 1024);
            byte[] buffer = new byte[tail];
            in.seek(size - tail);
            in.readFully(buffer);
            String text = new String(buffer, StandardCharsets.UTF_8).stripTrailing();
            String last = text.substring(text.lastIndexOf('\n') + 1);
            return JSON.readTree(last).path("id").asLong(0);
        } catch (IOException | RuntimeException e) {
            return 0; // not one of ours: at worst one event is copied twice
        }
    }

    /**
     * Copies the audit events the database holds (written in the same transactions as the deletions they
     * explain) to the file, fsyncs it, then lets the database forget exactly those. A crash in between repeats a
     * line rather than losing one; a failure mid-chunk (a full disk) cuts the file back to whole lines.
     */
    public synchronized void drain(RetentionRecords records) {
        locks.whileCopyingAudit(() -> copy(records));
    }

    private void copy(RetentionRecords records) {
        if (lastWrittenId > 0) {
            records.forgetAuditEvents(0, lastWrittenId); // copied before a crash that came before the database forgot them
            lastWrittenId = 0;
        }
        // Chunks of 10,000: each costs an fsync of the file and a transaction to forget it (a collection of 5,000,000
        // blobs leaves a million events). Each event is written as it is read: a chunk held in memory outlived the
        // young collections its copying set off, and a million events left the old generation 60 MiB fuller for good.
        while (true) {
            // The ids copied, as runs of consecutive ones: on PostgreSQL an event may commit after this read with a lower
            // id than one copied, so "everything up to the last" would forget it uncopied.
            List<long[]> runs = new ArrayList<>();
            int read;
            try {
                read = records.readAuditEvents(10_000, e -> {
                    write(e);
                    long[] run = runs.isEmpty() ? null : runs.getLast();
                    if (run != null && run[1] + 1 == e.id()) run[1] = e.id();
                    else runs.add(new long[]{e.id(), e.id()});
                });
                if (read == 0) return;
                out.flush();
                stream.getFD().sync();
                syncedLength = Files.size(file);
            } catch (IOException | RuntimeException e) {
                cutBackToWholeLines();
                throw e instanceof IOException io ? new UncheckedIOException("cannot write the audit log " + file, io) : (RuntimeException) e;
            }
            lastWrittenId = runs.getLast()[1]; // on the disk: a failure to forget now repeats nothing after a restart...
            for (long[] run : runs) records.forgetAuditEvents(run[0], run[1]);
            lastWrittenId = 0; // ...and nothing now
        }
    }

    /** After a failed chunk: its lines, whole or torn, go (their events are still in the database), and so does the buffer. */
    private void cutBackToWholeLines() {
        try {
            stream.close();
        } catch (IOException ignored) {
            // the buffer could not be written either: dropped with the stream
        }
        try {
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                if (f.length() > syncedLength) f.setLength(syncedLength);
            }
            open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reopen the audit log " + file, e);
        }
    }

    private void write(RetentionRecords.AuditEvent e) {
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
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
