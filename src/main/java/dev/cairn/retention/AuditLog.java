package dev.cairn.retention;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
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
    private final Writer out;

    public AuditLog(Path file) throws IOException {
        this.file = file;
        this.out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    public Path file() {
        return file;
    }

    public void manifestDeleted(Instant at, String repository, String digest, List<String> tags, long bytes, String reason) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("time", at.toString());
        record.put("kind", "manifest");
        record.put("repository", repository);
        record.put("digest", digest);
        record.put("tags", tags);
        record.put("bytes", bytes);
        record.put("reason", reason);
        write(record);
    }

    public void blobDeleted(Instant at, String digest, long bytes, String reason) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("time", at.toString());
        record.put("kind", "blob");
        record.put("digest", digest);
        record.put("bytes", bytes);
        record.put("reason", reason);
        write(record);
    }

    private synchronized void write(Map<String, Object> record) {
        try {
            String line = JSON.writeValueAsString(record);
            out.write(line);
            out.write('\n');
            out.flush();
            log.info("deleted {}", line);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the audit log " + file, e);
        }
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
