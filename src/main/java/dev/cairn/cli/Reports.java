package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;

/** Prints a collection or invalidation report for people. */
final class Reports {
    private Reports() {
    }

    static void print(JsonNode report, String verb) {
        int units = 0;
        for (JsonNode unit : report.path("evicted")) {
            units++;
            System.out.printf("%s %s@%s%s (%d manifest(s), %s): %s%n", verb, unit.path("repository").asText(),
                    shortDigest(unit.path("root").asText()), unit.path("tags").isEmpty() ? "" : " " + unit.path("tags"),
                    unit.path("manifests").size(), size(unit.path("bytes").asLong()), unit.path("reason").asText());
        }
        int blobs = 0;
        for (JsonNode blob : report.path("blobs")) {
            blobs++;
            System.out.printf("%s blob %s (%s): %s%n", report.path("dryRun").asBoolean() ? "would delete" : "deleted",
                    shortDigest(blob.path("digest").asText()), size(blob.path("bytes").asLong()), blob.path("reason").asText());
        }
        System.out.printf("%d unit(s), %d blob(s); stored %s -> %s%n", units, blobs,
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
}
