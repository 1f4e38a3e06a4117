package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code cairn gc [--dry-run]}: one collection now, printing what goes and why. */
@Command(name = "gc", mixinStandardHelpOptions = true,
        description = "Run garbage collection on a running Cairn now and print what was (or, with --dry-run, would be) deleted and why.")
final class GcCommand implements Callable<Integer> {
    @Mixin
    AdminApi api;

    @Option(names = "--dry-run", description = "Delete nothing; print what would go.")
    boolean dryRun;

    @Override
    public Integer call() {
        try {
            JsonNode report = api.call("POST", "/api/v1/gc?dry-run=" + dryRun, null);
            Reports.print(report, dryRun ? "would evict" : "evicted");
            return 0;
        } catch (AdminApi.AdminApiException e) {
            System.err.println("cairn gc: " + e.getMessage());
            return 1;
        }
    }
}
