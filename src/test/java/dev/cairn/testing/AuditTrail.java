package dev.cairn.testing;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** The lines of a node's {@code <data>/audit.log}, parsed; a line still being written (no newline yet) is left out. */
public record AuditTrail(List<Entry> entries) {
    /** The reasons DESIGN.md invariant 4 allows a deletion to give. */
    /** Strict: a line holding more than one object (a torn line continued after a restart) is an error. */
    private static final ObjectReader LINE = OciClient.JSON.readerFor(JsonNode.class).with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    public static final Set<String> REASONS = Set.of("budget", "max-age", "max-idle", "untagged", "invalidated", "manual",
            "unreferenced", "orphan");

    /** One deletion: {@code kind} is "manifest" or "blob"; {@code repository} is empty for blobs. */
    public record Entry(String time, String kind, String repository, String digest, long bytes, String reason, String line) {
        public boolean isManifest() {
            return "manifest".equals(kind);
        }

        public boolean isBlob() {
            return "blob".equals(kind);
        }

        /** {@code repository@digest}, how the tests name a manifest. */
        public String manifestKey() {
            return repository + "@" + digest;
        }

        public boolean hasKnownReason() {
            return reason != null && !reason.isBlank() && REASONS.contains(reason);
        }
    }

    public static AuditTrail read(Path dataDir) throws IOException {
        Path file = dataDir.resolve("audit.log");
        if (!Files.exists(file)) return new AuditTrail(List.of());
        String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        int end = text.lastIndexOf('\n');
        List<Entry> entries = new ArrayList<>();
        if (end < 0) return new AuditTrail(entries);
        for (String line : text.substring(0, end).split("\n")) {
            if (line.isBlank()) continue;
            JsonNode n;
            try {
                n = LINE.readValue(line);
            } catch (IOException e) {
                throw new AssertionError("audit.log holds a line that is not one JSON object: " + line, e);
            }
            entries.add(new Entry(n.path("time").asText(), n.path("kind").asText(), n.path("repository").asText(""),
                    n.path("digest").asText(), n.path("bytes").asLong(), n.path("reason").asText(""), line));
        }
        return new AuditTrail(entries);
    }

    /** How many complete blob-deletion lines the log holds, counted cheaply (for polling while a sweep runs). */
    public static long blobLines(Path dataDir) throws IOException {
        Path file = dataDir.resolve("audit.log");
        if (!Files.exists(file)) return 0;
        String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        int end = text.lastIndexOf('\n');
        if (end < 0) return 0;
        long count = 0;
        int at = 0;
        String marker = "\"kind\":\"blob\"";
        while ((at = text.indexOf(marker, at)) >= 0 && at < end) {
            count++;
            at += marker.length();
        }
        return count;
    }

    public List<Entry> manifests() {
        return entries.stream().filter(Entry::isManifest).toList();
    }

    public List<Entry> blobs() {
        return entries.stream().filter(Entry::isBlob).toList();
    }
}
