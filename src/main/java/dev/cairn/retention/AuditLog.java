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
    /**
     * Ids of events in the file (fsynced) that the database may not have forgotten yet: a failure, or a crash, between
     * the fsync and the forget. Exact ids, never a range: on PostgreSQL an event may commit late with a lower id.
     */
    private List<Long> unforgotten;
    /** Held while the log is open: one writer only (a restart overlapping the old process, nodes sharing a directory). */
    private final RandomAccessFile lockHolder;

    public AuditLog(Path file, ClusterLocks locks) throws IOException {
        this.file = file;
        this.locks = locks;
        if (!Files.exists(file)) Files.createFile(file);
        // a file of its own: on Linux, closing any descriptor of the log itself (reading its tail, cutting a torn line)
        // would drop a lock held on it
        this.lockHolder = new RandomAccessFile(file.resolveSibling(file.getFileName() + ".lock").toFile(), "rw");
        try {
            claim(lockHolder);
            this.syncedLength = wholeLines(file);
            this.unforgotten = idsAtTheEnd(file);
            open();
        } catch (IOException | RuntimeException e) {
            lockHolder.close();
            throw e;
        }
    }

    /**
     * Locks the file against another process writing it, for as long as {@code holder} is open; takes nothing when this
     * process holds the lock already (the JVM keeps one lock per file for all its channels: tests that open several logs
     * on one file).
     */
    private void claim(RandomAccessFile holder) throws IOException {
        try {
            if (holder.getChannel().tryLock() == null) throw new IOException("the audit log " + file + " is open in another process");
        } catch (java.nio.channels.OverlappingFileLockException e) {
            // this process has it
        }
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
            if (end != length) {
                byte[] rest = new byte[(int) Math.min(length - end, 64)];
                f.seek(end);
                f.readFully(rest);
                if (new String(rest, StandardCharsets.UTF_8).startsWith("{\"id\":")) {
                    f.setLength(end); // one of ours, torn: its chunk was never fsynced, so its events are still in the database
                } else {
                    f.seek(length); // not ours (an edited file): kept, and ours starts on a line of its own
                    f.write('\n');
                    end = length + 1;
                    log.warn("the audit log {} did not end with a line break; added one", file);
                }
            }
            f.getFD().sync();
            return end;
        }
    }

    /** Events in one chunk at most: an fsync of the file and a transaction to forget them each. */
    private static final int CHUNK = 10_000;

    /**
     * The ids of the file's last chunk of lines at most: events a crash between fsync and forget may have left in the
     * database too, forgotten at the first copy (forgetting an id already gone costs nothing).
     */
    private static List<Long> idsAtTheEnd(Path file) throws IOException {
        long size = Files.size(file);
        List<Long> ids = new ArrayList<>();
        if (size == 0) return ids;
        try (RandomAccessFile in = new RandomAccessFile(file.toFile(), "r")) {
            int tail = (int) Math.min(size, 4L << 20); // a chunk's lines are ~2.5 MB
            byte[] buffer = new byte[tail];
            in.seek(size - tail);
            in.readFully(buffer);
            String[] lines = new String(buffer, StandardCharsets.UTF_8).split("\n");
            for (int i = Math.max(0, lines.length - CHUNK); i < lines.length; i++) {
                java.util.regex.Matcher id = ID.matcher(lines[i]);
                if (id.lookingAt()) ids.add(Long.parseLong(id.group(1)));
            }
        }
        return ids;
    }

    private static final java.util.regex.Pattern ID = java.util.regex.Pattern.compile("\\{\"id\":(\\d{1,18})[,}]");

    /**
     * Copies the audit events the database holds (written in the same transactions as the deletions they
     * explain) to the file, fsyncs it, then lets the database forget exactly those. A crash in between repeats a
     * line rather than losing one; a failure mid-chunk (a full disk) cuts the file back to whole lines.
     */
    public synchronized void drain(RetentionRecords records) {
        locks.whileCopyingAudit(() -> copy(records));
    }

    private void copy(RetentionRecords records) {
        if (!unforgotten.isEmpty()) {
            records.forgetAuditEvents(unforgotten); // copied before a failure or crash that came before the database forgot them
            unforgotten = List.of();
        }
        // Chunks of 10,000: each costs an fsync of the file and a transaction to forget it (a collection of 5,000,000
        // blobs leaves a million events). Each event is written as it is read: a chunk held in memory outlived the
        // young collections its copying set off, and a million events left the old generation 60 MiB fuller for good.
        while (true) {
            List<Long> copied = new ArrayList<>();
            try {
                if (records.readAuditEvents(CHUNK, e -> {
                    write(e);
                    copied.add(e.id());
                }) == 0) {
                    return;
                }
                out.flush();
                stream.getFD().sync();
                syncedLength = Files.size(file);
            } catch (IOException | RuntimeException e) {
                cutBackToWholeLines();
                throw e instanceof IOException io ? new UncheckedIOException("cannot write the audit log " + file, io) : (RuntimeException) e;
            }
            unforgotten = copied; // on the disk: if forgetting fails, the next copy forgets them first instead of copying them again
            records.forgetAuditEvents(copied);
            unforgotten = List.of();
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
            log.info("{} {}", "replicated".equals(e.reason()) ? "replicated" : "deleted", line);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot write the audit log " + file, ex);
        }
    }

    @Override
    public synchronized void close() throws IOException {
        try {
            out.close();
        } finally {
            lockHolder.close(); // and the lock with it
        }
    }
}
