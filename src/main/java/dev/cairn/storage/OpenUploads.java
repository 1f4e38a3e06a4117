package dev.cairn.storage;

import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Upload sessions a {@link FileBlobStore} has written to in this process, each with the bytes accepted so
 * far and their running hash, and, while it is among the {@link #MAX_SESSIONS_WITH_FILES} most recently
 * written, its file open and its writer, so that a PATCH is answered once its bytes are received and hashed
 * while the writer goes on writing them, as the next PATCH arrives. Requests of one session never overlap
 * (the registry holds the session's lock). A session not here (after a restart, or after a failed chunk) is
 * reopened from its file: its size is the upload's size and it is hashed again when committed.
 */
final class OpenUploads {
    /**
     * At most this many sessions hold their files open (two descriptors each: buffered and direct) at
     * once; the least recently written of the others is parked (its writes finished, its files closed) and
     * reopened at its next chunk. Without the bound, clients that leave sessions open (builds cancelled
     * mid-push, or one client opening thousands) would hold every descriptor of the process.
     */
    static final int MAX_SESSIONS_WITH_FILES = 128;

    private final Map<String, OpenUpload> openUploads = new ConcurrentHashMap<>();
    /** The sessions holding files, least recently written first; guarded by itself. */
    private final LinkedHashMap<String, OpenUpload> withFiles = new LinkedHashMap<>(16, 0.75f, true);
    private final boolean directWrites;

    OpenUploads(boolean directWrites) {
        this.directWrites = directWrites;
    }

    /** The session if this process has it open, else null. */
    OpenUpload get(String id) {
        return openUploads.get(id);
    }

    /**
     * The session for a request that writes to it, holding its files (reopened if it was parked) and marked
     * busy; parks the least recently written idle sessions beyond {@link #MAX_SESSIONS_WITH_FILES}.
     */
    OpenUpload claim(String id, Path path) throws IOException {
        OpenUpload open = openUploads.get(id);
        if (open == null) {
            open = new OpenUpload(id, path, directWrites);
            OpenUpload raced = openUploads.putIfAbsent(id, open);
            if (raced != null) {
                open.finish();
                open = raced;
            }
        }
        synchronized (open) {
            open.busy = true;
            if (!open.holdsFiles()) {
                try {
                    open.openFiles();
                } catch (IOException | RuntimeException e) {
                    open.busy = false;
                    throw e;
                }
            }
        }
        List<OpenUpload> toPark = new ArrayList<>();
        synchronized (withFiles) {
            withFiles.put(id, open);
            var eldest = withFiles.entrySet().iterator();
            int excess = withFiles.size() - MAX_SESSIONS_WITH_FILES;
            while (excess > 0 && eldest.hasNext()) {
                OpenUpload candidate = eldest.next().getValue();
                if (candidate == open) continue;
                eldest.remove();
                toPark.add(candidate);
                excess--;
            }
        }
        for (OpenUpload idle : toPark) park(idle);
        return open;
    }

    /**
     * Finishes an idle session's writes and closes its files. One that a request claimed meanwhile keeps
     * them, and is counted among the sessions with files again (after its monitor is let go: the order of
     * the two locks is always the list's first).
     */
    private void park(OpenUpload idle) {
        boolean busy;
        synchronized (idle) {
            busy = idle.busy;
            if (!busy) {
                try {
                    idle.finish();
                } catch (IOException e) {
                    // Its bytes could not all be written: the next chunk finds the file's true size (416), or the
                    // digest check at the end fails; nothing unverified is ever published.
                    LoggerFactory.getLogger(FileBlobStore.class).warn("parking upload {}: {}", idle.path.getFileName(), e.toString());
                }
            }
        }
        if (busy && openUploads.get(idle.id) == idle) {
            synchronized (withFiles) {
                withFiles.putIfAbsent(idle.id, idle);
            }
        }
    }

    /** Forgets the session: its next request reopens it from its file. */
    void forget(String id) {
        openUploads.remove(id);
        synchronized (withFiles) {
            withFiles.remove(id);
        }
    }

    /**
     * Takes the session out of those open, for the sweep of abandoned files, and returns it (or null). It
     * stays counted among the sessions with files until the bound parks it, which then finds nothing to do.
     */
    OpenUpload removeAbandoned(String id) {
        return openUploads.remove(id);
    }

    /** Writes out every open session's accepted bytes, so a restart finds each session's file complete. */
    void finishAll() throws IOException {
        IOException first = null;
        for (String id : List.copyOf(openUploads.keySet())) {
            OpenUpload open = openUploads.get(id);
            forget(id);
            if (open == null) continue;
            synchronized (open) {
                try {
                    open.finish();
                } catch (IOException e) {
                    if (first == null) first = e; else first.addSuppressed(e);
                }
            }
        }
        if (first != null) throw first;
    }
}
