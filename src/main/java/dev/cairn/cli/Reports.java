package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;

/** Prints a collection or invalidation report for people. */
final class Reports {
    private Reports() {
    }

    static void print(JsonNode report, String verb) {
        int listedUnits = 0;
        for (JsonNode unit : report.path("evicted")) {
            listedUnits++;
            System.out.printf("%s %s@%s%s (%d manifest(s), %s): %s%n", verb, unit.path("repository").asText(),
                    shortDigest(unit.path("root").asText()), unit.path("tags").isEmpty() ? "" : " " + unit.path("tags"),
                    unit.path("manifests").size(), size(unit.path("bytes").asLong()), unit.path("reason").asText());
        }
        int listedBlobs = 0;
        for (JsonNode blob : report.path("blobs")) {
            listedBlobs++;
            System.out.printf("%s blob %s (%s): %s%n", report.path("dryRun").asBoolean() ? "would delete" : "deleted",
                    shortDigest(blob.path("digest").asText()), size(blob.path("bytes").asLong()), blob.path("reason").asText());
        }
        // A report lists the first thousand of each and counts them all.
        long units = report.path("evictedCount").asLong(listedUnits);
        long blobs = report.path("blobCount").asLong(listedBlobs);
        if (units > listedUnits || blobs > listedBlobs) {
            System.out.printf("(the first %d entr(ies) and %d blob(s) are listed)%n", listedUnits, listedBlobs);
        }
        System.out.printf("%d entr(ies), %d blob(s); stored %s -> %s%n", units, blobs,
                size(report.path("storedBytesBefore").asLong()), size(report.path("storedBytesAfter").asLong()));
    }

    static String shortDigest(String digest) {
        return digest.length() > 19 ? digest.substring(0, 19) : digest;
    }

    static String size(long bytes) {
        if (bytes >= 1L << 30) return String.format("%.1fGiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 20) return String.format("%.1fMiB", bytes / (double) (1L << 20));
        if (bytes >= 1L << 10) return String.format("%.1fKiB", bytes / (double) (1L << 10));
        return bytes + "B";
    }

    /**
     * A failure as an operator reads it: file errors whose message is only a path say what went wrong with it
     * (the JDK's NoSuchFileException and AccessDeniedException carry nothing else).
     */
    static String problem(Exception e) {
        if (e instanceof java.nio.file.FileSystemException f) {
            String why = f.getReason() != null ? f.getReason() : switch (f) {
                case java.nio.file.NoSuchFileException n -> "no such file or directory";
                case java.nio.file.AccessDeniedException a -> "permission denied";
                case java.nio.file.FileAlreadyExistsException x -> "already exists";
                case java.nio.file.NotDirectoryException d -> "not a directory";
                case java.nio.file.DirectoryNotEmptyException d -> "a directory that is not empty";
                default -> f.getClass().getSimpleName();
            };
            return f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + why;
        }
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }
}
